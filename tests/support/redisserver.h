#pragma once

#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>

#include "tests/support/childexitcheck.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcertificates.h"

namespace l0l3::test {

struct RedisServerOptions
{
    // Load packaging/redis/users.acl (default user off) with TestCredentials.
    // For a sentinel: authenticate to the monitored servers as "sentinel",
    // and accept only RedisNodeConfig::kSentinelUser on its own port (peers,
    // gateways, the console); acl = false leaves the sentinel anonymous.
    bool acl = true;
    // A primary: FUNCTION LOAD the "l0l3" library (ProposalFunction), as the
    // console does when it connects. False: gateways find no function.
    bool loadFunctions = true;
    // Start as a replica of this server (masteruser "replication").
    QString replicaOfHost;
    int replicaOfPort = 0;
    // Start `redis-server --sentinel` monitoring monitorHost:monitorPort.
    bool sentinel = false;
    QString sentinelMasterName = QStringLiteral("l0l3");
    QString monitorHost;
    int monitorPort = 0;
    int quorum = 2;
    int downAfterMs = 2000;
    int failoverTimeoutMs = 10000;
    // Extra config lines appended verbatim, e.g. "maxmemory 10mb".
    QStringList extraArgs;
    // AOF and RDB in the temporary directory, as packaging/redis/ configures
    // every data node. Off by default: most tests never reload a node from its
    // files, and an empty start is faster.
    bool persistence = false;
    // TLS (Redis' own TLS, PEM files; tlsCertFile empty: plain TCP). The
    // node then listens with TLS only on port() (tls-port, plain port 0),
    // verifies peers with tlsCaFile (required), and speaks TLS to the nodes
    // it connects to (tls-replication: a replica to its primary, a Sentinel
    // to the monitored nodes and its peers) showing tlsCertFile. The
    // fixture's own clients (client(), start-up) trust tlsCaFile and show
    // tlsCertFile as their client certificate. tlsAuthClients: every client
    // must show a certificate signed by tlsCaFile (mTLS).
    QString tlsCertFile;
    QString tlsKeyFile;
    QString tlsCaFile;
    bool tlsAuthClients = false;
    // The TestCertificates' ca.pem and good.pem/good.key (127.0.0.1, for
    // servers and clients alike).
    void useTls(const TestCertificates &certificates, bool authClients = false);
    bool tls() const { return !tlsCertFile.isEmpty(); }
};

// A real redis-server (or sentinel) on a free loopback port, in its own
// temporary directory, stopped by the destructor. Started without sleeps:
// start() polls PING (and, for a replica, master_link_status:up) until a
// deadline. Every run's end is checked like a ManagedProcess's
// (ChildExitCheck): redis-server exits 0 on SIGTERM, so a crash, another
// code, a hang on shutdown or an unexpected exit fails the running test with
// the log's tail, and the directory (config, log) is kept for inspection.
class RedisServer
{
public:
    using Options = RedisServerOptions;

    RedisServer();
    ~RedisServer();
    RedisServer(const RedisServer &) = delete;
    RedisServer &operator=(const RedisServer &) = delete;

    bool start(const Options &options = {}, QString *error = nullptr);
    // SIGTERM, bounded wait, SIGKILL fallback; leaves no process. False
    // (and the test failed) when the server did not end cleanly.
    bool stop();
    // SIGKILL, as a crash would; not a failure.
    void kill();
    // True when a run of this server ended badly (its directory is kept).
    bool failed() const { return m_failed; }
    // SIGSTOP / SIGCONT: a server that hangs without closing connections.
    void pause();
    void resume();
    // Stops (if running) and starts again on the same port with the same
    // config file (a sentinel keeps what it rewrote into it).
    bool restart(QString *error = nullptr);

    bool isRunning() const;
    int port() const { return m_port; }
    QString host() const { return QStringLiteral("127.0.0.1"); }
    // redis://user:password@127.0.0.1:port with the TestCredentials password
    // of user; redis://127.0.0.1:port for an empty user; rediss:// with TLS.
    QString url(const QString &user) const;
    // What the fixture's own clients use: disabled without TLS.
    RedisClient::Tls clientTls() const;
    qint64 pid() const;
    const Options &options() const { return m_options; }

    QString dir() const;
    QString configPath() const;
    QString logPath() const;
    // The last lines of the server log, for failure messages.
    QString logTail(int lines = 40) const;

    // A connected client as user ("console" can run INFO/ROLE/REPLICAOF and
    // write l0l3:* keys; on a sentinel use adminUser()). Empty user: no AUTH.
    // Check isConnected() on the result.
    RedisClient client(const QString &user = QStringLiteral("console"), int timeoutMs = 2000) const;
    // "master", "slave" or "sentinel" as ROLE answers it; empty when it does not answer.
    QByteArray role() const;
    // The user the fixture itself uses for PING/INFO.
    QString adminUser() const;

private:
    void waitForAofIdle() const;
    bool launch(QString *error);
    // Checks how the finished run ended and reports a failure.
    bool checkExit();
    // Ends a run that never became ready, without a verdict: start() reports it.
    void discard();
    bool waitUntilReady(QString *error);
    QString writeConfig(QString *error);

    Options m_options;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_process;
    int m_port = 0;
    ChildExit::Ending m_ending = ChildExit::Ending::OnItsOwn;
    bool m_failed = false;
};

// A primary and one replica linked to it; ACL users of users.acl unless acl is false.
bool startPrimaryAndReplica(RedisServer &primary, RedisServer &replica, bool acl, QString *error);

} // namespace l0l3::test
