#pragma once

#include <QList>
#include <QObject>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "core/localstack/demotopology.h"

class QNetworkAccessManager;
class QProcess;
class QTemporaryDir;

namespace l0l3 {

class RedisConnection;
class TrafficGenerator;

struct DemoOptions
{
    QStringList regions{QStringLiteral("nyc"), QStringLiteral("tokyo"), QStringLiteral("eu")};
    bool startTraffic = true;
    double trafficRate = 20;        // requests/s across all gateways
    quint64 seed = 1;
    QString datasetPath;            // empty: the dataset built into l0l3_localstack
    int upstreamLatencyMs = 350;    // stub LLM: base latency ...
    int upstreamJitterMs = 400;     // ... plus a long-tailed jitter
    QString binDir;                 // only there when set; else $L0L3_BIN_DIR, then next to the running executable
    bool keepDataDir = false;       // also when $L0L3_DEMO_KEEP_DATA is set: keep configs and logs
    int stepTimeoutMs = 30000;      // per startup step
};

// The local three-region demo on loopback: a Redis primary (region nyc), one
// replica per region, three Sentinels, the stub LLM, one l0l3-gateway per
// region and an in-process TrafficGenerator, with the ACL users of
// packaging/redis/users.acl and random per-run passwords. Ports are free
// ones, data lives under a temporary directory.
//
// start() is asynchronous (the console's UI thread never blocks on it) and
// reports progress(), then ready() or failed(). Every process it started is
// stopped by stop() or the destructor (SIGTERM, bounded wait, SIGKILL), and
// is killed by the kernel if this process dies first (PR_SET_PDEATHSIG).
class DemoStack : public QObject
{
    Q_OBJECT
public:
    enum class State { Idle, Starting, Ready, Failed, Stopped };
    Q_ENUM(State)

    explicit DemoStack(DemoOptions options = {}, QObject *parent = nullptr);
    ~DemoStack() override;

    void start();
    // Blocks for at most a few seconds (bounded waits on the child processes).
    void stop();

    State state() const { return m_state; }
    DemoTopology topology() const { return m_topology; }
    // The in-process traffic generator once ready (nullptr without traffic).
    TrafficGenerator *traffic() const { return m_traffic; }
    QString lastError() const { return m_error; }
    static int stepCount() { return 7; }

    // A program of the build: binDir/name when binDir is given; else
    // $L0L3_BIN_DIR/name, then next to the running executable. Empty when absent.
    static QString findBinary(const QString &name, const QString &binDir = {});

signals:
    void progress(int step, int total, const QString &text);
    void ready();
    void failed(const QString &error);
    // A child exited while the stack was up (not during stop()).
    void processExited(const QString &name, int exitCode);

private:
    struct Child;
    using Check = std::function<void(std::function<void(bool ok, const QString &detail)>)>;

    void step(int index, const QString &text);
    void fail(const QString &error);
    void failLater(const QString &error);
    bool writeConfigs(QString *error);
    QProcess *startChild(const QString &name, const QString &program, const QStringList &args, bool parseListenPort,
                         const QProcessEnvironment &env = {});
    Child *child(const QString &name) const;
    QString logTail(const QString &name, int lines = 15) const;
    void waitUntil(const QString &what, const Check &check, std::function<void()> next, qint64 deadlineMs = -1);
    void waitForListenPorts(const QStringList &names, std::function<void()> next);
    // One reused connection per Redis node for the readiness checks.
    RedisConnection *connectTo(quint16 port, const QString &user, const QString &password);

    void startPrimary();
    void startReplicas();
    void startSentinels();
    void startUpstream();
    void startGateways();
    void startTraffic();

    DemoOptions m_options;
    State m_state = State::Idle;
    QString m_error;
    DemoTopology m_topology;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_aclPath;
    std::vector<std::unique_ptr<Child>> m_children;
    std::map<quint16, std::unique_ptr<RedisConnection>> m_redis;
    QNetworkAccessManager *m_http = nullptr;
    TrafficGenerator *m_traffic = nullptr;
    quint64 m_generation = 0;   // bumped by stop(): pending callbacks of an earlier run return early
    bool m_stopping = false;
};

} // namespace l0l3
