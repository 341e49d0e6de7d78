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

class QDeadlineTimer;
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
    double trafficRate = 20; // requests/s across all gateways
    quint64 seed = 1;
    QString datasetPath;         // empty: the dataset built into l0l3_localstack
    int upstreamLatencyMs = 350; // stub LLM: base latency ...
    int upstreamJitterMs = 400;  // ... plus a long-tailed jitter
    QString binDir;              // only there when set; else $L0L3_BIN_DIR, then next to the running executable
    bool keepDataDir = false;    // also when $L0L3_DEMO_KEEP_DATA is set: keep configs and logs
    int stepTimeoutMs = 30000;   // per startup step
    // Every Redis link over TLS: a CA and a node certificate are made for the
    // run (openssl CLI) in the data dir; the nodes and Sentinels listen with
    // TLS only (tls-replication), the gateways get rediss:// URLs and
    // --redis-ca-file, and DemoTopology::tlsCaFile is set.
    bool tls = false;
};

// How one child process of the stack ended, as recorded by DemoStack::stop().
struct DemoChildExit
{
    QString name; // "primary", "replica-nyc", "sentinel-1", "stub-llm", "gateway-nyc"
    qint64 pid = 0;
    bool started = true;  // false: the program could not be started
    bool crashed = false; // ended by a signal; exitCode is then the signal number
    int exitCode = 0;
    bool hungOnStop = false;     // still running after the SIGTERM grace period: SIGKILLed
    bool exitedOnItsOwn = false; // ended before stop() asked it to

    // Exit code 0 after the SIGTERM of stop(), which every child documents;
    // death by that SIGTERM is clean too, as a child stopped early in its
    // start (a failed start of the stack) may not handle it yet.
    bool clean() const;
    // One line, e.g. "gateway-nyc (pid 123) was killed by signal 9 while the stack was running".
    QString describe() const;
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
// stop() records how each child ended (childExits()) and logs, with the tail
// of its log, every child that crashed, exited non-zero, hung on SIGTERM or
// did not start, so a launcher can fail its run (uncleanExits()).
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
    // How every child of the current or last run ended, in the order stop()
    // stopped them; complete once stop() returned, cleared by start().
    QList<DemoChildExit> childExits() const { return m_exits; }
    // The entries of childExits() that are not clean().
    QList<DemoChildExit> uncleanExits() const;

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
    bool writeCertificates(const QString &dir, QString *error);
    QProcess *startChild(const QString &name, const QString &program, const QStringList &args, bool parseListenPort,
                         const QProcessEnvironment &env = {});
    Child *child(const QString &name) const;
    QString logTail(const QString &name, int lines = 15) const;
    void waitUntil(const QString &what, const Check &check, std::function<void()> next, qint64 deadlineMs = -1);
    void waitForListenPorts(const QStringList &names, std::function<void()> next);
    // One reused connection per Redis node for the readiness checks.
    RedisConnection *connectTo(quint16 port, const QString &user, const QString &password);
    void recordOperator();

    void startPrimary();
    void startReplicas();
    void startSentinels();
    void startUpstream();
    void startGateways();
    void startTraffic();
    DemoChildExit stopChild(Child &child, const QDeadlineTimer &grace);

    DemoOptions m_options;
    State m_state = State::Idle;
    QString m_error;
    DemoTopology m_topology;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_aclPath;
    std::vector<std::unique_ptr<Child>> m_children;
    QList<DemoChildExit> m_exits;
    std::map<quint16, std::unique_ptr<RedisConnection>> m_redis;
    QNetworkAccessManager *m_http = nullptr;
    TrafficGenerator *m_traffic = nullptr;
    quint64 m_generation = 0; // bumped by stop(): pending callbacks of an earlier run return early
    bool m_stopping = false;
};

} // namespace l0l3
