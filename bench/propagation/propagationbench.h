#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QList>
#include <QNetworkAccessManager>
#include <QObject>
#include <QString>
#include <QTextStream>
#include <QUrl>

#include <functional>
#include <memory>
#include <vector>

#include "core/localstack/demotopology.h"

namespace l0l3 {

class ApprovalService;
class DemoStack;
class RedisConnection;

// Propagation and failover on the three-region local stack (real
// processes on loopback):
// - approve -> first hit on each region's gateway, timed from the approve
//   result callback, each gateway polled with one request in flight;
// - revoke -> gone from every region, timed from the revoke result to the
//   first miss per region, with the last L0.5 hit seen anywhere;
// - kill -9 of the primary -> first approval accepted by the new primary,
//   one fresh stack per run.
// Prints p50/p99/max tables. Runs in the thread that calls run().
class PropagationBench : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        int approvals = 200;
        int failoverRuns = 3;
        QString binDir;
    };

    PropagationBench(const Options &options, QTextStream &out, QObject *parent = nullptr);
    ~PropagationBench() override;

    // 0 when every phase ran to the end (speed is never judged), else 1.
    int run();

private:
    struct Reply
    {
        int status = 0;
        QByteArray cache;
        QByteArray tier;
        QByteArray key;
        QByteArray body;
        qint64 atNs = 0;
    };

    bool startStack(DemoStack &stack, QString *error);
    bool runPropagation(QString *error);
    bool runFailover(int run, QString *error);
    // Processes events until cond() or timeoutMs passes.
    bool spinUntil(const std::function<bool()> &cond, int timeoutMs);
    Reply chat(int region, const QString &prompt, int timeoutMs = 10000);
    // Polls every region (one request in flight each) with prompt until done()
    // holds for a reply of that region; each region's time of that reply in
    // *doneAtNs (-1 if it never did). onReply sees every reply.
    bool pollRegions(const QString &prompt, const std::function<bool(const Reply &)> &done,
                     std::vector<qint64> *doneAtNs, const std::function<void(int, const Reply &)> &onReply,
                     int timeoutMs);
    void post(int region, const QString &prompt, std::function<void(const Reply &)> cb);

    Options m_options;
    QTextStream &m_out;
    QElapsedTimer m_clock;
    DemoTopology m_topology;
    std::vector<std::unique_ptr<QNetworkAccessManager>> m_http; // one per region
    std::vector<double> m_killToSwitch;
    std::vector<double> m_switchToWrite;
    std::vector<double> m_killToWrite;
};

} // namespace l0l3
