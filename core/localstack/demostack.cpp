#include "core/localstack/demostack.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QDebug>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTimer>

#include <csignal>

#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/control/operatorstore.h"
#include "core/control/redisconnection.h"
#include "core/localstack/aclfile.h"
#include "core/localstack/dataset.h"
#include "core/localstack/parentdeathsignal.h"
#include "core/localstack/redisnodeconfig.h"
#include "core/localstack/trafficgenerator.h"

namespace l0l3 {

namespace {

constexpr int kPollMs = 100;
constexpr int kStopGraceMs = 5000;
const QString kLoopback = QStringLiteral("127.0.0.1");

// Free loopback ports, all reserved at once so they differ from each other;
// the small race with other programs is acceptable for a local demo.
QList<quint16> freePorts(int count)
{
    std::vector<std::unique_ptr<QTcpServer>> servers;
    QList<quint16> ports;
    for (int i = 0; i < count; ++i) {
        auto server = std::make_unique<QTcpServer>();
        if (!server->listen(QHostAddress::LocalHost, 0))
            return {};
        ports.append(server->serverPort());
        servers.push_back(std::move(server));
    }
    return ports;
}

// Runs the openssl CLI, bounded; *error has its output when it fails.
bool runOpenssl(const QStringList &args, QString *error)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(QStringLiteral("openssl"), args);
    const bool finished = process.waitForStarted(10000) && process.waitForFinished(30000);
    if (!finished) {
        process.kill();
        process.waitForFinished(2000);
    }
    if (!finished || process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
        *error = QStringLiteral("openssl %1 failed: %2")
                     .arg(args.value(0), QString::fromLocal8Bit(process.readAll()).trimmed().left(2000));
        return false;
    }
    return true;
}

} // namespace

struct DemoStack::Child
{
    QString name;
    std::unique_ptr<QProcess> process;
    QString logPath;
    std::unique_ptr<QFile> log; // stdout copy of processes whose stdout we parse
    QByteArray pending;         // stdout not yet split into lines
    int listenPort = -1;
    qint64 pid = 0; // kept: QProcess forgets it once the process has finished
    bool exitedOnItsOwn = false;
};

DemoStack::DemoStack(DemoOptions options, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
{
    qRegisterMetaType<DemoTopology>();
    if (qEnvironmentVariableIsSet("L0L3_DEMO_KEEP_DATA"))
        m_options.keepDataDir = true;
}

DemoStack::~DemoStack()
{
    stop();
}

QString DemoStack::findBinary(const QString &name, const QString &binDir)
{
    QStringList dirs;
    if (!binDir.isEmpty()) {
        dirs.append(binDir);
    } else {
        const QString env = qEnvironmentVariable("L0L3_BIN_DIR");
        if (!env.isEmpty())
            dirs.append(env);
        if (QCoreApplication::instance())
            dirs.append(QCoreApplication::applicationDirPath());
    }
    for (const QString &dir : std::as_const(dirs)) {
        const QFileInfo info(QDir(dir).filePath(name));
        if (info.isFile() && info.isExecutable())
            return info.absoluteFilePath();
    }
    return {};
}

void DemoStack::start()
{
    if (m_state == State::Starting || m_state == State::Ready)
        return;
    m_stopping = false;
    m_error.clear();
    m_exits.clear();
    m_state = State::Starting;
    m_topology = DemoTopology();
    if (!m_http)
        m_http = new QNetworkAccessManager(this);

    step(1, QStringLiteral("Writing Redis, Sentinel and ACL configuration (random passwords)"));
    QString error;
    if (!writeConfigs(&error))
        return fail(error);
    startPrimary();
}

void DemoStack::step(int index, const QString &text)
{
    emit progress(index, stepCount(), text);
}

void DemoStack::failLater(const QString &error)
{
    const quint64 generation = m_generation;
    QMetaObject::invokeMethod(
        this,
        [this, error, generation] {
            if (generation == m_generation)
                fail(error);
        },
        Qt::QueuedConnection);
}

void DemoStack::fail(const QString &error)
{
    if (m_state != State::Starting && m_state != State::Ready)
        return;
    m_error = error;
    stop();
    m_state = State::Failed;
    emit failed(error);
}

bool DemoStack::writeConfigs(QString *error)
{
    const QString redis = QStandardPaths::findExecutable(QStringLiteral("redis-server"));
    if (redis.isEmpty()) {
        *error = QStringLiteral("redis-server not found in PATH (install redis-server / redis-sentinel)");
        return false;
    }
    for (const QString &name : {QStringLiteral("l0l3-gateway"), QStringLiteral("l0l3-stub-llm")}) {
        if (findBinary(name, m_options.binDir).isEmpty()) {
            *error = m_options.binDir.isEmpty() ? QStringLiteral("%1 not found in $L0L3_BIN_DIR or next to %2")
                                                      .arg(name, QCoreApplication::applicationFilePath())
                                                : QStringLiteral("%1 not found in %2").arg(name, m_options.binDir);
            return false;
        }
    }

    m_dir = std::make_unique<QTemporaryDir>(QDir::temp().filePath(QStringLiteral("l0l3-demo-XXXXXX")));
    if (!m_dir->isValid()) {
        *error = QStringLiteral("cannot create a temporary directory: %1").arg(m_dir->errorString());
        return false;
    }
    m_dir->setAutoRemove(!m_options.keepDataDir);
    const QDir dir(m_dir->path());
    m_topology.dataDir = dir.path();

    DemoCredentials &c = m_topology.credentials;
    c.gateway = AclFile::randomPassword();
    c.console = AclFile::randomPassword();
    c.replication = AclFile::randomPassword();
    c.sentinel = AclFile::randomPassword();
    c.sentinelAuth = AclFile::randomPassword();
    c.topology = AclFile::randomPassword();
    c.operatorPassword = AclFile::randomPassword();
    AclFile acl;
    acl.addOperator(c.operatorName, QStringLiteral("admin"), c.operatorPassword);
    acl.setPassword(QStringLiteral("gateway"), c.gateway);
    acl.setPassword(QStringLiteral("console"), c.console);
    acl.setPassword(QStringLiteral("replication"), c.replication);
    acl.setPassword(QStringLiteral("sentinel"), c.sentinel);
    acl.setPassword(QStringLiteral("topology"), c.topology);
    m_aclPath = dir.filePath(QStringLiteral("users.acl"));
    if (!acl.write(QStringLiteral(":/l0l3/demo/users.acl"), m_aclPath, error))
        return false;

    const int regions = int(m_options.regions.size());
    const QList<quint16> ports = freePorts(1 + regions + 3);
    if (ports.size() != 1 + regions + 3) {
        *error = QStringLiteral("cannot reserve free loopback ports");
        return false;
    }
    m_topology.primary = {QStringLiteral("primary"), m_options.regions.value(0), ports.at(0), 0};
    for (int i = 0; i < regions; ++i) {
        DemoRegion region;
        region.name = m_options.regions.at(i);
        region.replica = {QStringLiteral("replica-") + region.name, region.name, ports.at(1 + i), 0};
        m_topology.regions.append(region);
    }
    for (int i = 0; i < 3; ++i)
        m_topology.sentinels.append({QStringLiteral("sentinel-%1").arg(i + 1), {}, ports.at(1 + regions + i), 0});

    if (m_options.tls && !writeCertificates(dir.filePath(QStringLiteral("tls")), error))
        return false;

    const auto writeNodeConfig = [&](const DemoRedisNode &node, RedisNodeConfig::Role role) {
        dir.mkpath(node.name);
        const QDir nodeDir(dir.filePath(node.name));
        const bool sentinel = role == RedisNodeConfig::Role::Sentinel;
        RedisNodeConfig config;
        config.role = role;
        config.port = node.port;
        config.dir = nodeDir.path();
        config.logFile = nodeDir.filePath(sentinel ? QStringLiteral("sentinel.log") : QStringLiteral("redis.log"));
        config.primaryPort = m_topology.primary.port;
        config.masterName = m_topology.masterName;
        if (sentinel) {
            config.sentinelPassword = c.sentinel;
            config.sentinelAuthPassword = c.sentinelAuth;
        } else {
            config.aclFile = m_aclPath;
            config.replicationPassword = c.replication;
        }
        if (m_options.tls) {
            const QDir tls(dir.filePath(QStringLiteral("tls")));
            config.tlsCertFile = tls.filePath(QStringLiteral("node.pem"));
            config.tlsKeyFile = tls.filePath(QStringLiteral("node.key"));
            config.tlsCaFile = m_topology.tlsCaFile;
        }
        return config.write(nodeDir.filePath(sentinel ? QStringLiteral("sentinel.conf") : QStringLiteral("redis.conf")),
                            error);
    };
    if (!writeNodeConfig(m_topology.primary, RedisNodeConfig::Role::Primary))
        return false;
    for (const DemoRegion &region : std::as_const(m_topology.regions))
        if (!writeNodeConfig(region.replica, RedisNodeConfig::Role::Replica))
            return false;
    for (const DemoRedisNode &sentinel : std::as_const(m_topology.sentinels))
        if (!writeNodeConfig(sentinel, RedisNodeConfig::Role::Sentinel))
            return false;
    return true;
}

// A CA made for this run (ca.pem, ca.key) and one certificate it signed
// (node.pem, node.key) for 127.0.0.1, shown by every Redis node and Sentinel
// as server and, on their own links (tls-replication), as client. The keys
// stay in the data dir, which only this user can read.
bool DemoStack::writeCertificates(const QString &dirPath, QString *error)
{
    if (QStandardPaths::findExecutable(QStringLiteral("openssl")).isEmpty()) {
        *error = QStringLiteral("openssl not found in PATH (needed by --tls to make the demo's CA)");
        return false;
    }
    const QDir dir(dirPath);
    if (!dir.mkpath(QStringLiteral("."))) {
        *error = QStringLiteral("cannot create %1").arg(dirPath);
        return false;
    }
    const QStringList newKey = {QStringLiteral("-newkey"), QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                                QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes")};
    QFile ext(dir.filePath(QStringLiteral("node.ext")));
    if (!ext.open(QIODevice::WriteOnly)) {
        *error = ext.fileName() + QStringLiteral(": ") + ext.errorString();
        return false;
    }
    ext.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
              "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n");
    ext.close();
    const bool ok = runOpenssl(QStringList{QStringLiteral("req"), QStringLiteral("-x509")} + newKey
                                   + QStringList{QStringLiteral("-keyout"), dir.filePath(QStringLiteral("ca.key")),
                                                 QStringLiteral("-out"), dir.filePath(QStringLiteral("ca.pem")),
                                                 QStringLiteral("-days"), QStringLiteral("30"), QStringLiteral("-subj"),
                                                 QStringLiteral("/CN=L0L3 demo CA"), QStringLiteral("-addext"),
                                                 QStringLiteral("basicConstraints=critical,CA:TRUE"),
                                                 QStringLiteral("-addext"),
                                                 QStringLiteral("keyUsage=critical,keyCertSign,cRLSign")},
                               error)
        && runOpenssl(QStringList{QStringLiteral("req"), QStringLiteral("-new")} + newKey
                          + QStringList{QStringLiteral("-keyout"), dir.filePath(QStringLiteral("node.key")),
                                        QStringLiteral("-out"), dir.filePath(QStringLiteral("node.csr")),
                                        QStringLiteral("-subj"), QStringLiteral("/CN=L0L3 demo node")},
                      error)
        && runOpenssl({QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
                       dir.filePath(QStringLiteral("node.csr")), QStringLiteral("-CA"),
                       dir.filePath(QStringLiteral("ca.pem")), QStringLiteral("-CAkey"),
                       dir.filePath(QStringLiteral("ca.key")), QStringLiteral("-CAcreateserial"),
                       QStringLiteral("-days"), QStringLiteral("30"), QStringLiteral("-extfile"), ext.fileName(),
                       QStringLiteral("-out"), dir.filePath(QStringLiteral("node.pem"))},
                      error);
    if (!ok)
        return false;
    for (const QString &key : {QStringLiteral("ca.key"), QStringLiteral("node.key")})
        QFile::setPermissions(dir.filePath(key), QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    m_topology.tlsCaFile = dir.filePath(QStringLiteral("ca.pem"));
    return true;
}

QProcess *DemoStack::startChild(const QString &name, const QString &program, const QStringList &args,
                                bool parseListenPort, const QProcessEnvironment &env)
{
    auto entry = std::make_unique<Child>();
    entry->name = name;
    entry->process = std::make_unique<QProcess>();
    QProcess *process = entry->process.get();
    Child *raw = entry.get();
    const QDir dir(m_dir->path());
    entry->logPath = dir.filePath(name + QStringLiteral(".log"));
    process->setProgram(program);
    process->setArguments(args);
    process->setWorkingDirectory(dir.path());
    if (!env.isEmpty())
        process->setProcessEnvironment(env);
    killWithParent(*process);
    if (parseListenPort) {
        // Read stdout for the "listening on 127.0.0.1:PORT" line and keep a copy in the log.
        entry->log = std::make_unique<QFile>(entry->logPath);
        entry->log->open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered);
        process->setStandardErrorFile(entry->logPath + QStringLiteral(".err"));
        connect(process, &QProcess::readyReadStandardOutput, this, [raw] {
            const QByteArray data = raw->process->readAllStandardOutput();
            raw->log->write(data);
            if (raw->listenPort > 0)
                return;
            raw->pending += data;
            static const QRegularExpression re(QStringLiteral("listening on 127\\.0\\.0\\.1:(\\d+)"));
            const QRegularExpressionMatch match = re.match(QString::fromUtf8(raw->pending));
            if (match.hasMatch())
                raw->listenPort = match.captured(1).toInt();
        });
    } else {
        process->setStandardOutputFile(entry->logPath);
        process->setStandardErrorFile(entry->logPath, QIODevice::Append);
    }
    connect(process, &QProcess::finished, this, [this, name, raw](int exitCode, QProcess::ExitStatus) {
        if (m_stopping)
            return;
        raw->exitedOnItsOwn = true;
        const QString why = QStringLiteral("%1 exited (code %2)").arg(name).arg(exitCode);
        // Queued: fail() destroys the QProcess that is emitting this signal.
        if (m_state == State::Starting)
            failLater(why + QStringLiteral(":\n") + logTail(name));
        else if (m_state == State::Ready)
            emit processExited(name, exitCode);
    });
    connect(process, &QProcess::errorOccurred, this, [this, name, program](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart && !m_stopping)
            failLater(QStringLiteral("%1 (%2) failed to start").arg(name, program));
    });
    m_children.push_back(std::move(entry));
    process->start();
    raw->pid = process->processId();
    return process;
}

DemoStack::Child *DemoStack::child(const QString &name) const
{
    for (const auto &c : m_children)
        if (c->name == name)
            return c.get();
    return nullptr;
}

QString DemoStack::logTail(const QString &name, int lines) const
{
    QStringList candidates;
    if (const Child *c = child(name))
        candidates << c->logPath << c->logPath + QStringLiteral(".err");
    if (m_dir)
        candidates << QDir(m_dir->path()).filePath(name + QStringLiteral("/redis.log"))
                   << QDir(m_dir->path()).filePath(name + QStringLiteral("/sentinel.log"));
    QString tail;
    for (const QString &path : std::as_const(candidates)) {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            continue;
        const QStringList all = QString::fromUtf8(file.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        tail += all.mid(std::max<qsizetype>(0, all.size() - lines)).join(QLatin1Char('\n'));
        if (!tail.isEmpty() && !tail.endsWith(QLatin1Char('\n')))
            tail += QLatin1Char('\n');
    }
    return tail.trimmed();
}

void DemoStack::waitUntil(const QString &what, const Check &check, std::function<void()> next, qint64 deadlineMs)
{
    if (deadlineMs < 0)
        deadlineMs = QDeadlineTimer(m_options.stepTimeoutMs).deadline();
    const quint64 generation = m_generation;
    check([this, what, check, next = std::move(next), deadlineMs, generation](bool ok, const QString &detail) mutable {
        if (generation != m_generation || m_state != State::Starting)
            return;
        if (ok)
            return next();
        if (QDeadlineTimer::current().deadline() >= deadlineMs)
            return fail(
                QStringLiteral("timed out waiting for %1%2")
                    .arg(what, detail.isEmpty() ? QString() : QStringLiteral(" (") + detail + QLatin1Char(')')));
        QTimer::singleShot(kPollMs, this,
                           [this, what, check, next = std::move(next), deadlineMs, generation]() mutable {
                               if (generation == m_generation)
                                   waitUntil(what, check, std::move(next), deadlineMs);
                           });
    });
}

void DemoStack::startPrimary()
{
    const DemoRedisNode &primary = m_topology.primary;
    step(2, QStringLiteral("Starting the Redis primary (%1) on port %2").arg(primary.region).arg(primary.port));
    const QString redis = QStandardPaths::findExecutable(QStringLiteral("redis-server"));
    QProcess *process = startChild(primary.name, redis,
                                   {QDir(m_dir->path()).filePath(primary.name + QStringLiteral("/redis.conf"))}, false);
    m_topology.primary.pid = process->processId();
    RedisConnection *connection = connectTo(primary.port, QStringLiteral("console"), m_topology.credentials.console);
    waitUntil(
        QStringLiteral("the Redis primary to answer PING"),
        [this, connection](auto done) {
            connection->command({"PING"}, this, [done](const RedisReply &reply) {
                done(reply.str == "PONG", reply.isError() ? reply.errorMessage() : QString());
            });
        },
        [this, connection] {
            // Gateways propose through this function from their first miss; the console loads it
            // again whenever it connects.
            const std::string_view library = ProposalFunction::kLibrary;
            connection->command(
                {"FUNCTION", "LOAD", "REPLACE", QByteArray(library.data(), qsizetype(library.size()))}, this,
                [this](const RedisReply &reply) {
                    if (reply.isError())
                        return fail(
                            QStringLiteral("cannot load the Redis function library: %1").arg(reply.errorMessage()));
                    recordOperator();
                });
        });
}

// The console's admin operator is in the ACL file already; its record makes it an operator
// `l0l3-ctl operators list` shows and `operators sync` keeps. Written as that operator.
void DemoStack::recordOperator()
{
    const DemoCredentials &c = m_topology.credentials;
    // Its own connection: connectTo() keeps one (the console user's) per port.
    RedisConnection::Options options;
    options.host = kLoopback;
    options.port = m_topology.primary.port;
    options.user = "op-" + c.operatorName.toUtf8();
    options.password = c.operatorPassword.toUtf8();
    options.autoReconnect = false;
    options.tls = m_topology.redisTls();
    auto *admin = new RedisConnection(options, this);
    admin->open();
    OperatorRecord record;
    record.name = c.operatorName;
    record.role = QStringLiteral("admin");
    record.passwordSha256 = AclFile::passwordHash(c.operatorPassword);
    record.createdMs = record.updatedMs = QDateTime::currentMSecsSinceEpoch();
    record.by = QStringLiteral("l0l3-demo");
    const std::string_view key = RedisSchema::kOperators;
    admin->command({"HSET", QByteArray(key.data(), qsizetype(key.size())), c.operatorName.toUtf8(), record.encode()},
                   this, [this, admin](const RedisReply &reply) {
                       admin->deleteLater();
                       if (reply.isError())
                           return fail(QStringLiteral("cannot record the demo operator: %1").arg(reply.errorMessage()));
                       startReplicas();
                   });
}

void DemoStack::startReplicas()
{
    step(3, QStringLiteral("Starting one replica per region (%1)").arg(m_options.regions.join(QStringLiteral(", "))));
    const QString redis = QStandardPaths::findExecutable(QStringLiteral("redis-server"));
    for (DemoRegion &region : m_topology.regions) {
        QProcess *process = startChild(
            region.replica.name, redis,
            {QDir(m_dir->path()).filePath(region.replica.name + QStringLiteral("/redis.conf"))}, false);
        region.replica.pid = process->processId();
    }
    QList<std::pair<quint16, RedisConnection *>> replicas;
    for (const DemoRegion &region : std::as_const(m_topology.regions))
        replicas.append({region.replica.port,
                         connectTo(region.replica.port, QStringLiteral("console"), m_topology.credentials.console)});
    waitUntil(
        QStringLiteral("every replica's link to the primary"),
        [this, replicas](auto done) {
            // All replicas must report master_link_status:up; probe them in parallel.
            auto remaining = std::make_shared<int>(int(replicas.size()));
            auto down = std::make_shared<QStringList>();
            for (const auto &replica : replicas) {
                const quint16 port = replica.first;
                replica.second->command({"INFO", "replication"}, this,
                                        [done, remaining, down, port](const RedisReply &reply) {
                                            if (!reply.isString() || !reply.str.contains("master_link_status:up"))
                                                down->append(QString::number(port));
                                            if (--*remaining == 0)
                                                done(down->isEmpty(),
                                                     down->isEmpty() ? QString()
                                                                     : QStringLiteral("link down on port ")
                                                             + down->join(QStringLiteral(", ")));
                                        });
            }
        },
        [this] { startSentinels(); });
}

void DemoStack::startSentinels()
{
    step(4, QStringLiteral("Starting three Sentinels (quorum 2)"));
    const QString redis = QStandardPaths::findExecutable(QStringLiteral("redis-server"));
    QList<std::pair<quint16, RedisConnection *>> sentinels;
    for (DemoRedisNode &sentinel : m_topology.sentinels) {
        QProcess *process = startChild(sentinel.name, redis,
                                       {QDir(m_dir->path()).filePath(sentinel.name + QStringLiteral("/sentinel.conf")),
                                        QStringLiteral("--sentinel")},
                                       false);
        sentinel.pid = process->processId();
        sentinels.append({sentinel.port,
                          connectTo(sentinel.port, QString::fromLatin1(RedisNodeConfig::kSentinelUser),
                                    m_topology.credentials.sentinelAuth)});
    }
    const QByteArray master = m_topology.masterName.toUtf8();
    const QByteArray primaryPort = QByteArray::number(m_topology.primary.port);
    waitUntil(
        QStringLiteral("the Sentinels to monitor the primary"),
        [this, sentinels, master, primaryPort](auto done) {
            auto remaining = std::make_shared<int>(int(sentinels.size()));
            auto bad = std::make_shared<QStringList>();
            for (const auto &sentinel : sentinels) {
                const quint16 port = sentinel.first;
                sentinel.second->command({"SENTINEL", "get-master-addr-by-name", master}, this,
                                         [done, remaining, bad, port, primaryPort](const RedisReply &reply) {
                                             if (reply.elements.size() != 2 || reply.elements.at(1).str != primaryPort)
                                                 bad->append(QString::number(port));
                                             if (--*remaining == 0)
                                                 done(bad->isEmpty(),
                                                      bad->isEmpty() ? QString()
                                                                     : QStringLiteral("not ready on port ")
                                                              + bad->join(QStringLiteral(", ")));
                                         });
            }
        },
        [this] { startUpstream(); });
}

void DemoStack::waitForListenPorts(const QStringList &names, std::function<void()> next)
{
    waitUntil(
        names.join(QStringLiteral(", ")) + QStringLiteral(" to listen"),
        [this, names](auto done) {
            QStringList missing;
            for (const QString &name : names) {
                const Child *c = child(name);
                if (!c || c->listenPort <= 0)
                    missing.append(name);
            }
            done(missing.isEmpty(), missing.join(QStringLiteral(", ")));
        },
        std::move(next));
}

void DemoStack::startUpstream()
{
    step(5,
         QStringLiteral("Starting the stub LLM (%1 ms + up to %2 ms jitter)")
             .arg(m_options.upstreamLatencyMs)
             .arg(m_options.upstreamJitterMs));
    QProcess *process = startChild(QStringLiteral("stub-llm"),
                                   findBinary(QStringLiteral("l0l3-stub-llm"), m_options.binDir),
                                   {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                                    QStringLiteral("--latency-ms"), QString::number(m_options.upstreamLatencyMs),
                                    QStringLiteral("--jitter-ms"), QString::number(m_options.upstreamJitterMs)},
                                   true);
    m_topology.upstreamPid = process->processId();
    waitForListenPorts({QStringLiteral("stub-llm")}, [this] {
        m_topology.upstreamUrl = QUrl(
            QStringLiteral("http://127.0.0.1:%1/v1").arg(child(QStringLiteral("stub-llm"))->listenPort));
        startGateways();
    });
}

void DemoStack::startGateways()
{
    step(6, QStringLiteral("Starting one l0l3-gateway per region"));
    const DemoCredentials &c = m_topology.credentials;
    const QString gateway = findBinary(QStringLiteral("l0l3-gateway"), m_options.binDir);
    const bool tls = !m_topology.tlsCaFile.isEmpty();
    const QString scheme = tls ? QStringLiteral("rediss://") : QStringLiteral("redis://");
    QStringList sentinels;
    for (const DemoRedisNode &sentinel : std::as_const(m_topology.sentinels))
        sentinels.append(QStringLiteral("%1%2:%3").arg(tls ? scheme : QString(), m_topology.host).arg(sentinel.port));
    // A failover may promote any replica: the gateways' credentials may go to each data node, and nowhere else.
    QStringList dataNodes{QStringLiteral("%1:%2").arg(m_topology.host).arg(m_topology.primary.port)};
    for (const DemoRegion &region : std::as_const(m_topology.regions))
        dataNodes.append(QStringLiteral("%1:%2").arg(m_topology.host).arg(region.replica.port));
    QStringList names;
    for (DemoRegion &region : m_topology.regions) {
        const QString name = QStringLiteral("gateway-") + region.name;
        names.append(name);
        // The password goes through the environment, not argv (visible to every local user in ps).
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), c.gateway);
        env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD"), c.sentinelAuth);
        QStringList args{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--region"),
                         region.name, QStringLiteral("--replica"),
                         QStringLiteral("%1gateway@127.0.0.1:%2").arg(scheme).arg(region.replica.port),
                         QStringLiteral("--primary"),
                         QStringLiteral("%1gateway@127.0.0.1:%2").arg(scheme).arg(m_topology.primary.port),
                         // Proposals follow a failover to the promoted replica.
                         QStringLiteral("--sentinel"), sentinels.join(u','), QStringLiteral("--master-name"),
                         m_topology.masterName, QStringLiteral("--sentinel-user"),
                         QString::fromLatin1(RedisNodeConfig::kSentinelUser), QStringLiteral("--redis-hosts"),
                         dataNodes.join(u','), QStringLiteral("--upstream"), m_topology.upstreamUrl.toString(),
                         // One I/O thread each: three gateways, Redis and the stub share a laptop.
                         QStringLiteral("--threads"), QStringLiteral("1"),
                         // Misses take the stub's latency plus its exponential tail (p99.9 about
                         // 6.9x the mean jitter); only slower than that is "elevated".
                         QStringLiteral("--slo-p99-ms"),
                         QString::number(m_options.upstreamLatencyMs + 8 * m_options.upstreamJitterMs + 500)};
        if (tls)
            args << QStringLiteral("--redis-ca-file") << m_topology.tlsCaFile;
        QProcess *process = startChild(name, gateway, args, true, env);
        region.gatewayPid = process->processId();
    }
    waitForListenPorts(names, [this, names] {
        for (DemoRegion &region : m_topology.regions)
            region.gatewayUrl = QUrl(
                QStringLiteral("http://127.0.0.1:%1").arg(child(QStringLiteral("gateway-") + region.name)->listenPort));
        waitUntil(
            QStringLiteral("every gateway's /healthz"),
            [this](auto done) {
                auto remaining = std::make_shared<int>(int(m_topology.regions.size()));
                auto bad = std::make_shared<QStringList>();
                for (const DemoRegion &region : std::as_const(m_topology.regions)) {
                    QUrl url = region.gatewayUrl;
                    url.setPath(QStringLiteral("/healthz"));
                    QNetworkRequest request(url);
                    request.setTransferTimeout(1000);
                    QNetworkReply *reply = m_http->get(request);
                    const QString name = region.name;
                    connect(reply, &QNetworkReply::finished, this, [reply, done, remaining, bad, name] {
                        reply->deleteLater();
                        if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 200)
                            bad->append(name);
                        if (--*remaining == 0)
                            done(bad->isEmpty(), bad->join(QStringLiteral(", ")));
                    });
                }
            },
            [this] { startTraffic(); });
    });
}

void DemoStack::startTraffic()
{
    if (m_options.startTraffic) {
        step(7,
             QStringLiteral("Starting traffic: %1 requests/s across %2 regions")
                 .arg(m_options.trafficRate)
                 .arg(m_topology.regions.size()));
        QString error;
        auto dataset = Dataset::load(m_options.datasetPath.isEmpty() ? Dataset::builtinPath() : m_options.datasetPath,
                                     &error);
        if (!dataset)
            return fail(error);
        TrafficOptions options;
        for (const DemoRegion &region : std::as_const(m_topology.regions))
            options.targets.append({region.gatewayUrl, region.name});
        options.rate = m_options.trafficRate;
        options.seed = m_options.seed;
        options.concurrency = 128;
        // Paraphrases of a staged intent come once its first one is approved: misses with a
        // shadow L1 candidate; the other intents' paraphrases come at once, as clusters.
        options.stageParaphrases = true;
        m_traffic = new TrafficGenerator(std::move(*dataset), options, this);
        m_traffic->start();
    } else {
        step(7, QStringLiteral("Traffic disabled"));
    }
    m_state = State::Ready;
    emit ready();
}

RedisConnection *DemoStack::connectTo(quint16 port, const QString &user, const QString &password)
{
    std::unique_ptr<RedisConnection> &redis = m_redis[port];
    if (!redis) {
        RedisConnection::Options options;
        options.host = kLoopback;
        options.port = port;
        options.user = user.toUtf8();
        options.password = password.toUtf8();
        options.commandTimeoutMs = 1000;
        options.connectTimeoutMs = 1000;
        // The node may not listen yet: keep trying at about the poll rate.
        options.reconnectMinMs = kPollMs;
        options.reconnectMaxMs = 4 * kPollMs;
        options.tls = m_topology.redisTls();
        redis = std::make_unique<RedisConnection>(options);
        redis->open();
    }
    return redis.get();
}

bool DemoChildExit::clean() const
{
    if (!started || hungOnStop)
        return false;
    if (crashed)
        return exitCode == SIGTERM && !exitedOnItsOwn;
    return exitCode == 0;
}

QString DemoChildExit::describe() const
{
    QString what;
    if (!started)
        what = QStringLiteral("failed to start");
    else if (hungOnStop)
        what = QStringLiteral("did not exit after SIGTERM and was killed");
    else if (crashed)
        what = QStringLiteral("was killed by signal %1").arg(exitCode);
    else
        what = QStringLiteral("exited with code %1").arg(exitCode);
    if (exitedOnItsOwn)
        what += QStringLiteral(" while the stack was running");
    return QStringLiteral("%1 (pid %2) %3").arg(name).arg(pid).arg(what);
}

QList<DemoChildExit> DemoStack::uncleanExits() const
{
    QList<DemoChildExit> unclean;
    for (const DemoChildExit &exit : m_exits)
        if (!exit.clean())
            unclean.append(exit);
    return unclean;
}

DemoChildExit DemoStack::stopChild(Child &child, const QDeadlineTimer &grace)
{
    QProcess *process = child.process.get();
    DemoChildExit exit;
    exit.name = child.name;
    exit.pid = child.pid;
    exit.exitedOnItsOwn = child.exitedOnItsOwn;
    if (process->error() == QProcess::FailedToStart) {
        exit.started = false;
        return exit;
    }
    if (process->state() != QProcess::NotRunning
        && !process->waitForFinished(int(std::max<qint64>(1, grace.remainingTime())))) {
        exit.hungOnStop = true;
        process->kill();
        process->waitForFinished(2000);
    }
    exit.crashed = process->exitStatus() == QProcess::CrashExit;
    exit.exitCode = process->exitCode();
    return exit;
}

void DemoStack::stop()
{
    ++m_generation;
    m_stopping = true;
    if (m_traffic) {
        delete m_traffic; // aborts in-flight requests
        m_traffic = nullptr;
    }
    // Before the processes go: pending checks fail now (their generation is
    // stale) instead of reconnecting to servers that are shutting down.
    m_redis.clear();
    // Gateways and the stub first, Redis last, so nothing logs a lost link
    // for long; Sentinels go before the primary so they never fail it over.
    for (auto it = m_children.rbegin(); it != m_children.rend(); ++it)
        if ((*it)->process->state() != QProcess::NotRunning)
            (*it)->process->terminate();
    const QDeadlineTimer grace(kStopGraceMs);
    for (auto it = m_children.rbegin(); it != m_children.rend(); ++it) {
        const DemoChildExit exit = stopChild(**it, grace);
        if (!exit.clean())
            qWarning().noquote() << QStringLiteral("local stack: %1\n%2").arg(exit.describe(), logTail(exit.name));
        m_exits.append(exit);
    }
    m_children.clear();
    if (m_state == State::Starting || m_state == State::Ready)
        m_state = State::Stopped;
    m_dir.reset();
}

} // namespace l0l3
