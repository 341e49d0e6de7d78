#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>

#include <string>

#include "core/control/approvalresult.h"

namespace l0l3 {
class ApprovalService;
}

namespace l0l3::test {

class E2eStack;

// One approval of an ApprovalStream and what the control plane said about it.
struct StreamedApproval
{
    QString key;
    bool ok = false;
    int replicasAcked = -1;
    int port = 0;    // the server the service's connection pointed at when the result arrived
    qint64 atMs = 0; // on the stream's clock
    ApprovalResult::ErrorKind error = ApprovalResult::ErrorKind::None;
    QString message;
};

// A steady stream of approvals, as an operator working through the queue:
// each proposal is approved once, the next one gapMs after the previous
// result, whatever it was (a failed approval is reported, not retried).
class ApprovalStream : public QObject
{
    Q_OBJECT
public:
    struct Item
    {
        QString proposalId;
        QString key;
    };

    ApprovalStream(ApprovalService *service, const QList<Item> &items, int gapMs, QObject *parent = nullptr);

    // Adds count proposals ("PROMPTPREFIX-i", answered ANSWER, region tokyo) to
    // the stack's proposals stream and waits until every replica has them, so
    // whichever node is promoted later can approve them. Empty on any failure.
    static QList<Item> seedReplicated(E2eStack &stack, const QString &promptPrefix, const std::string &answer,
                                      int count);

    void start();
    void stop();
    bool isIdle() const { return !m_inFlight; }
    bool exhausted() const { return m_next >= m_items.size(); }

    const QList<StreamedApproval> &results() const { return m_results; }
    // Keys whose approval was reported written and acknowledged by >= 1 replica.
    QStringList acknowledgedKeys() const;
    qint64 elapsedMs() const { return m_clock.elapsed(); }

signals:
    void resultArrived(const l0l3::test::StreamedApproval &result);

private:
    void sendNext();

    QPointer<ApprovalService> m_service;
    QList<Item> m_items;
    int m_gapMs;
    qsizetype m_next = 0;
    bool m_running = false;
    bool m_inFlight = false;
    QElapsedTimer m_clock;
    QList<StreamedApproval> m_results;
};

} // namespace l0l3::test
