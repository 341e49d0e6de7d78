#include "tests/support/redisserver.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QHostAddress>
#include <QTcpServer>
#include <QTest>

#include <csignal>

#include "core/common/proposalfunction.h"
#include "core/localstack/redisnodeconfig.h"
#include "tests/support/childprocessguard.h"
#include "tests/support/poll.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

namespace l0l3::test {

namespace {

constexpr int kStartTimeoutMs = 15000;
constexpr int kReplicaLinkTimeoutMs = 20000;
constexpr int kStopGraceMs = 5000;
// On SIGTERM a primary waits up to shutdown-timeout (10 s by default) for
// lagging replicas (e.g. one behind a partition) before it exits 0.
constexpr int kRedisShutdownTimeoutMs = 10000;
constexpr int kPortAttempts = 5;

int freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

} // namespace

void RedisServerOptions::useTls(const TestCertificates &certificates, bool authClients)
{
    tlsCertFile = certificates.goodCert();
    tlsKeyFile = certificates.goodKey();
    tlsCaFile = certificates.caCert();
    tlsAuthClients = authClients;
}

RedisServer::RedisServer() = default;

RedisServer::~RedisServer()
{
    stop();
}

QString RedisServer::dir() const
{
    return m_dir ? m_dir->path() : QString();
}

QString RedisServer::configPath() const
{
    return m_dir ? m_dir->filePath(QStringLiteral("redis.conf")) : QString();
}

QString RedisServer::logPath() const
{
    return m_dir ? m_dir->filePath(QStringLiteral("redis.log")) : QString();
}

QString RedisServer::logTail(int lines) const
{
    QFile log(logPath());
    if (!log.open(QIODevice::ReadOnly))
        return QStringLiteral("(no log at %1)").arg(logPath());
    QList<QByteArray> all = log.readAll().split('\n');
    if (all.size() > lines)
        all = all.mid(all.size() - lines);
    return QStringLiteral("--- %1 ---\n").arg(logPath()) + QString::fromUtf8(all.join('\n'));
}

QString RedisServer::adminUser() const
{
    if (!m_options.acl)
        return {};
    return m_options.sentinel ? QString::fromLatin1(RedisNodeConfig::kSentinelUser) : QStringLiteral("console");
}

QString RedisServer::url(const QString &user) const
{
    const QString scheme = m_options.tls() ? QStringLiteral("rediss") : QStringLiteral("redis");
    if (user.isEmpty())
        return QStringLiteral("%1://127.0.0.1:%2").arg(scheme).arg(m_port);
    return QStringLiteral("%1://%2:%3@127.0.0.1:%4")
        .arg(scheme, user, TestCredentials::get().password(user))
        .arg(m_port);
}

RedisClient::Tls RedisServer::clientTls() const
{
    RedisClient::Tls tls;
    tls.enabled = m_options.tls();
    tls.caFile = m_options.tlsCaFile;
    tls.certFile = m_options.tlsCertFile;
    tls.keyFile = m_options.tlsKeyFile;
    return tls;
}

qint64 RedisServer::pid() const
{
    return m_process ? m_process->processId() : 0;
}

bool RedisServer::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

RedisClient RedisServer::client(const QString &user, int timeoutMs) const
{
    RedisClient c;
    c.setTls(clientTls());
    c.connect(host(), m_port, user, user.isEmpty() ? QString() : TestCredentials::get().password(user), timeoutMs);
    return c;
}

QByteArray RedisServer::role() const
{
    RedisClient c = client(adminUser());
    const RedisValue reply = c.command({"ROLE"});
    return reply.isArray() && !reply.elements.isEmpty() ? reply.elements.first().str : QByteArray();
}

QString RedisServer::writeConfig(QString *error)
{
    const TestCredentials &credentials = TestCredentials::get();
    RedisNodeConfig config;
    config.port = m_port;
    config.dir = m_dir->path();
    config.extraLines = m_options.extraArgs;
    config.persistence = m_options.persistence;
    config.tlsCertFile = m_options.tlsCertFile;
    config.tlsKeyFile = m_options.tlsKeyFile;
    config.tlsCaFile = m_options.tlsCaFile;
    config.tlsAuthClients = m_options.tlsAuthClients;
    if (m_options.sentinel) {
        config.role = RedisNodeConfig::Role::Sentinel;
        config.masterName = m_options.sentinelMasterName;
        config.primaryHost = m_options.monitorHost.isEmpty() ? host() : m_options.monitorHost;
        config.primaryPort = m_options.monitorPort;
        config.quorum = m_options.quorum;
        config.downAfterMs = m_options.downAfterMs;
        config.failoverTimeoutMs = m_options.failoverTimeoutMs;
        if (m_options.acl) {
            config.sentinelPassword = credentials.sentinel;
            config.sentinelAuthPassword = credentials.sentinelAuth;
        }
    } else {
        if (m_options.acl) {
            config.aclFile = credentials.renderAclFile(m_dir->path(), error);
            if (config.aclFile.isEmpty())
                return {};
            config.replicationPassword = credentials.replication;
        }
        if (!m_options.replicaOfHost.isEmpty() || m_options.replicaOfPort > 0) {
            config.role = RedisNodeConfig::Role::Replica;
            config.primaryHost = m_options.replicaOfHost.isEmpty() ? host() : m_options.replicaOfHost;
            config.primaryPort = m_options.replicaOfPort;
        }
    }
    return config.write(configPath(), error) ? configPath() : QString();
}

bool RedisServer::start(const Options &options, QString *error)
{
    stop();
    m_options = options;
    m_dir = std::make_unique<QTemporaryDir>(QDir::tempPath() + QStringLiteral("/l0l3-redis-XXXXXX"));
    if (!m_dir->isValid()) {
        if (error)
            *error = QStringLiteral("cannot create a temporary directory: ") + m_dir->errorString();
        return false;
    }
    if (qEnvironmentVariableIsSet("L0L3_KEEP_TEST_DIRS"))
        m_dir->setAutoRemove(false);

    // The probe port can be taken between probing and binding; try again then.
    QString lastError;
    for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
        m_port = freeLoopbackPort();
        if (m_port == 0) {
            lastError = QStringLiteral("no free loopback port");
            continue;
        }
        if (writeConfig(&lastError).isEmpty())
            break;
        if (launch(&lastError))
            return true;
        const bool portTaken = logTail(200).contains(QStringLiteral("Address already in use"));
        discard();
        if (!portTaken)
            break;
    }
    if (error)
        *error = lastError;
    return false;
}

bool RedisServer::restart(QString *error)
{
    if (!m_dir) {
        if (error)
            *error = QStringLiteral("restart() before start()");
        return false;
    }
    stop();
    return launch(error);
}

bool RedisServer::launch(QString *error)
{
    ChildExitCheck::arm();
    m_ending = ChildExit::Ending::OnItsOwn;
    m_process = std::make_unique<QProcess>();
    m_process->setProgram(QStringLiteral("redis-server"));
    QStringList args{configPath()};
    if (m_options.sentinel)
        args << QStringLiteral("--sentinel");
    m_process->setArguments(args);
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    m_process->setStandardOutputFile(logPath(), QIODevice::Append);
    m_process->setWorkingDirectory(m_dir->path());
    ChildProcessGuard::install(*m_process);
    m_process->start();
    if (!m_process->waitForStarted(TimeScale::ms(kStartTimeoutMs))) {
        if (error)
            *error = QStringLiteral("cannot start redis-server: ") + m_process->errorString();
        m_process.reset();
        return false;
    }
    return waitUntilReady(error);
}

bool RedisServer::waitUntilReady(QString *error)
{
    const QString user = adminUser();
    const QString password = TestCredentials::get().password(user);
    QDeadlineTimer deadline(TimeScale::ms(kStartTimeoutMs));
    RedisClient admin;
    admin.setTls(clientTls());
    QString why;
    for (;;) {
        if (!isRunning()) {
            if (error)
                *error = QStringLiteral("redis-server exited during start-up\n") + logTail();
            return false;
        }
        if (admin.isConnected() || admin.connect(host(), m_port, user, password, 500)) {
            const RedisValue pong = admin.command({QByteArrayLiteral("PING")});
            if (pong.isStatus() && pong.str == "PONG")
                break;
            why = pong.toString();
        } else {
            why = admin.lastError();
        }
        if (deadline.hasExpired()) {
            if (error)
                *error = QStringLiteral("redis-server on port %1 did not answer PING (%2)\n").arg(m_port).arg(why)
                    + logTail();
            return false;
        }
        QTest::qWait(20);
    }

    const bool replica = !m_options.sentinel && (!m_options.replicaOfHost.isEmpty() || m_options.replicaOfPort > 0);
    if (!replica && !m_options.sentinel && m_options.loadFunctions) {
        // Gateways propose through this library; in production the console loads it when it connects.
        const std::string_view library = ProposalFunction::kLibrary;
        const RedisValue loaded = admin.command(
            {"FUNCTION", "LOAD", "REPLACE", QByteArray(library.data(), qsizetype(library.size()))});
        if (loaded.isError()) {
            if (error)
                *error = QStringLiteral("cannot load the Redis function library: %1").arg(loaded.toString());
            return false;
        }
    }
    if (!replica)
        return true;
    QDeadlineTimer linkDeadline(TimeScale::ms(kReplicaLinkTimeoutMs));
    for (;;) {
        const RedisValue info = admin.command({QByteArrayLiteral("INFO"), QByteArrayLiteral("replication")});
        if (!info.isError() && info.str.contains("master_link_status:up"))
            return true;
        if (!isRunning() || linkDeadline.hasExpired()) {
            if (error)
                *error = QStringLiteral("replica on port %1 never linked to %2:%3 (%4)\n")
                             .arg(m_port)
                             .arg(m_options.replicaOfHost)
                             .arg(m_options.replicaOfPort)
                             .arg(info.toString())
                    + logTail();
            return false;
        }
        QTest::qWait(20);
    }
}

// Redis 7.0 refuses SIGTERM while it writes its initial AOF (right after the
// full sync that made it a replica: "Writing initial AOF, can't exit") and
// does not act on a later one, so a persisted node is stopped only once no
// AOF rewrite is running or scheduled. A node that cannot answer is stopped
// at once: stop() then reports what happened.
void RedisServer::waitForAofIdle() const
{
    Poll::until(
        [this] {
            const RedisValue info = client(adminUser()).command({"INFO", "persistence"});
            if (!info.isString())
                return true;
            return info.str.contains("aof_rewrite_in_progress:0") && info.str.contains("aof_rewrite_scheduled:0")
                && info.str.contains("loading:0");
        },
        kRedisShutdownTimeoutMs);
}

bool RedisServer::stop()
{
    if (!m_process)
        return !m_failed;
    if (m_process->state() != QProcess::NotRunning) {
        const qint64 p = m_process->processId();
        if (p > 0)
            ::kill(static_cast<pid_t>(p), SIGCONT); // a paused server cannot handle SIGTERM
        if (m_options.persistence)
            waitForAofIdle();
        m_process->terminate();
        m_ending = ChildExit::Ending::Terminated;
        if (!m_process->waitForFinished(TimeScale::ms(kRedisShutdownTimeoutMs + kStopGraceMs))) {
            m_ending = ChildExit::Ending::HungOnStop;
            m_process->kill();
            m_process->waitForFinished(kStopGraceMs);
        }
    }
    const bool clean = checkExit();
    m_process.reset();
    return clean;
}

void RedisServer::kill()
{
    if (!m_process)
        return;
    if (m_process->state() != QProcess::NotRunning) {
        m_ending = ChildExit::Ending::KilledByTest;
        m_process->kill();
        m_process->waitForFinished(kStopGraceMs);
    }
    checkExit();
    m_process.reset();
}

void RedisServer::discard()
{
    if (m_process && m_process->state() != QProcess::NotRunning) {
        m_process->kill();
        m_process->waitForFinished(kStopGraceMs);
    }
    m_process.reset();
}

bool RedisServer::checkExit()
{
    if (!m_process || m_process->state() != QProcess::NotRunning)
        return true;
    ChildExit exit;
    exit.name = QStringLiteral("%1 :%2")
                    .arg(m_options.sentinel ? QStringLiteral("redis-sentinel") : QStringLiteral("redis-server"))
                    .arg(m_port);
    exit.status = m_process->exitStatus();
    exit.code = m_process->exitCode();
    exit.ending = m_ending;
    const QString why = ChildExitCheck::verdict(exit);
    if (why.isEmpty())
        return true;
    m_failed = true;
    if (m_dir)
        m_dir->setAutoRemove(false);
    ChildExitCheck::report(why + QStringLiteral("; directory kept at ") + dir() + u'\n' + logTail());
    return false;
}

void RedisServer::pause()
{
    if (const qint64 p = pid(); p > 0)
        ::kill(static_cast<pid_t>(p), SIGSTOP);
}

void RedisServer::resume()
{
    if (const qint64 p = pid(); p > 0)
        ::kill(static_cast<pid_t>(p), SIGCONT);
}

bool startPrimaryAndReplica(RedisServer &primary, RedisServer &replica, bool acl, QString *error)
{
    RedisServer::Options po;
    po.acl = acl;
    if (!primary.start(po, error))
        return false;
    RedisServer::Options ro;
    ro.acl = acl;
    ro.replicaOfHost = primary.host();
    ro.replicaOfPort = primary.port();
    return replica.start(ro, error);
}

} // namespace l0l3::test
