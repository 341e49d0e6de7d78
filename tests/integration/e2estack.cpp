#include "tests/integration/e2estack.h"

#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/poll.h"
#include "tests/support/testcredentials.h"

namespace l0l3::test {

namespace {

constexpr int kListenTimeoutMs = 15000;

QHash<QByteArray, QByteArray> fieldsOf(const RedisValue &reply)
{
    QHash<QByteArray, QByteArray> fields;
    for (qsizetype i = 0; i + 1 < reply.elements.size(); i += 2)
        fields.insert(reply.elements.at(i).str, reply.elements.at(i + 1).str);
    return fields;
}

} // namespace

E2eStack::E2eStack() = default;

E2eStack::~E2eStack()
{
    stop();
}

bool E2eStack::start(const Options &options, QString *error)
{
    stop();
    m_options = options;
    m_primary = std::make_unique<RedisServer>();
    RedisServer::Options primaryOptions;
    primaryOptions.persistence = options.persistence;
    if (options.redisTls)
        primaryOptions.useTls(*options.redisTls);
    if (!m_primary->start(primaryOptions, error))
        return false;
    for (const QString &region : options.regions) {
        RedisServer::Options o;
        o.persistence = options.persistence;
        if (options.redisTls)
            o.useTls(*options.redisTls);
        o.replicaOfHost = m_primary->host();
        o.replicaOfPort = options.replicaOfPort ? options.replicaOfPort(region, m_primary->port()) : m_primary->port();
        auto replica = std::make_unique<RedisServer>();
        if (!replica->start(o, error)) {
            if (error)
                *error = QStringLiteral("replica %1: ").arg(region) + *error;
            return false;
        }
        m_replicas.push_back(std::move(replica));
    }
    for (int i = 0; i < options.sentinels; ++i) {
        RedisServer::Options o;
        o.sentinel = true;
        o.monitorHost = m_primary->host();
        o.monitorPort = m_primary->port();
        o.quorum = 2;
        o.downAfterMs = options.downAfterMs;
        o.failoverTimeoutMs = options.failoverTimeoutMs;
        if (options.redisTls)
            o.useTls(*options.redisTls);
        auto sentinel = std::make_unique<RedisServer>();
        if (!sentinel->start(o, error))
            return false;
        m_sentinels.push_back(std::move(sentinel));
    }

    m_stub = std::make_unique<ManagedProcess>();
    if (!m_stub->start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                       QStringList{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")} + options.stubArgs,
                       QProcessEnvironment::systemEnvironment(), error))
        return false;
    m_stubPort = m_stub->listenPort(kListenTimeoutMs);
    if (m_stubPort <= 0) {
        if (error)
            *error = QStringLiteral("the stub LLM did not report its port\n") + m_stub->describe();
        return false;
    }
    for (const QString &region : options.regions) {
        m_gateways.push_back(std::make_unique<ManagedProcess>());
        if (!startGateway(region, 0, error))
            return false;
    }
    return true;
}

void E2eStack::stop()
{
    for (auto &g : m_gateways)
        g->stop();
    m_gateways.clear();
    m_gatewayPorts.clear();
    if (m_stub)
        m_stub->stop();
    m_stub.reset();
    // Sentinels first, so none starts a failover while the servers go down.
    for (auto &s : m_sentinels)
        s->stop();
    m_sentinels.clear();
    for (auto &r : m_replicas)
        r->stop();
    m_replicas.clear();
    if (m_primary)
        m_primary->stop();
    m_primary.reset();
}

RedisServer &E2eStack::replica(const QString &region)
{
    return *m_replicas.at(std::size_t(m_options.regions.indexOf(region)));
}

QList<RedisServer *> E2eStack::sentinels()
{
    QList<RedisServer *> out;
    for (auto &s : m_sentinels)
        out.append(s.get());
    return out;
}

QList<RedisServer *> E2eStack::dataServers()
{
    QList<RedisServer *> out{m_primary.get()};
    for (auto &r : m_replicas)
        out.append(r.get());
    return out;
}

RedisServer *E2eStack::serverOnPort(int port)
{
    for (RedisServer *s : dataServers())
        if (s->port() == port)
            return s;
    return nullptr;
}

ManagedProcess &E2eStack::gateway(const QString &region)
{
    return *m_gateways.at(std::size_t(m_options.regions.indexOf(region)));
}

QUrl E2eStack::gatewayUrl(const QString &region, const QString &path) const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(gatewayPort(region)).arg(path));
}

QStringList E2eStack::gatewayArgs(const QString &region, int port) const
{
    const auto index = std::size_t(m_options.regions.indexOf(region));
    return QStringList{QStringLiteral("--listen"),   QStringLiteral("127.0.0.1:%1").arg(port),
                       QStringLiteral("--region"),   region,
                       QStringLiteral("--replica"),  m_replicas.at(index)->url(QStringLiteral("gateway")),
                       QStringLiteral("--primary"),  m_primary->url(QStringLiteral("gateway")),
                       QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:%1/v1").arg(m_stubPort),
                       QStringLiteral("--threads"),  QStringLiteral("1")}
    + sentinelArgs()
        + (m_options.redisTls ? QStringList{QStringLiteral("--redis-ca-file"), m_options.redisTls->caCert()}
                              : QStringList{})
        + m_options.gatewayArgs;
}

QStringList E2eStack::sentinelArgs() const
{
    if (m_sentinels.empty())
        return {};
    QStringList addresses;
    // Over TLS a Sentinel is named by a rediss:// URL, as in the demo.
    const QString scheme = m_options.redisTls ? QStringLiteral("rediss://") : QString();
    for (const auto &s : m_sentinels)
        addresses.append(QStringLiteral("%1%2:%3").arg(scheme, s->host()).arg(s->port()));
    // A failover may promote any replica: the gateway's credentials may go to each data server.
    QStringList servers{QStringLiteral("%1:%2").arg(m_primary->host()).arg(m_primary->port())};
    for (const auto &r : m_replicas)
        servers.append(QStringLiteral("%1:%2").arg(r->host()).arg(r->port()));
    return {QStringLiteral("--sentinel"),      addresses.join(u','),
            QStringLiteral("--sentinel-user"), m_sentinels.front()->adminUser(),
            QStringLiteral("--redis-hosts"),   servers.join(u',')};
}

bool E2eStack::startGateway(const QString &region, int port, QString *error)
{
    ManagedProcess &g = gateway(region);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    if (!m_sentinels.empty())
        env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD"), TestCredentials::get().sentinelAuth);
    if (!g.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), gatewayArgs(region, port), env, error))
        return false;
    const int listening = g.listenPort(kListenTimeoutMs);
    if (listening <= 0 || (port != 0 && listening != port)) {
        if (error)
            *error = QStringLiteral("the %1 gateway did not listen on port %2\n").arg(region).arg(port) + g.describe();
        return false;
    }
    m_gatewayPorts.insert(region, listening);
    return true;
}

bool E2eStack::restartGateway(const QString &region, QString *error)
{
    const int port = gatewayPort(region);
    gateway(region).stop();
    return startGateway(region, port, error);
}

RedisConnection::Options E2eStack::consoleOptions(int port)
{
    RedisConnection::Options o;
    o.host = QStringLiteral("127.0.0.1");
    o.port = port;
    o.user = QByteArrayLiteral("console");
    o.password = TestCredentials::get().console.toUtf8();
    o.commandTimeoutMs = 3000;
    o.connectTimeoutMs = 2000;
    o.reconnectMaxMs = 500;
    return o;
}

RedisConnection::Options E2eStack::consoleOptionsFor(int port) const
{
    RedisConnection::Options o = consoleOptions(port);
    o.tls = redisTls();
    return o;
}

RedisTls E2eStack::redisTls() const
{
    RedisTls tls;
    if (m_options.redisTls) {
        tls.enabled = true;
        tls.caFile = m_options.redisTls->caCert();
    }
    return tls;
}

QString E2eStack::ctlPrimaryUrl() const
{
    return QStringLiteral("%1://console@%2:%3")
        .arg(m_options.redisTls ? QStringLiteral("rediss") : QStringLiteral("redis"), m_primary->host())
        .arg(m_primary->port());
}

QStringList E2eStack::ctlTlsArgs() const
{
    if (!m_options.redisTls)
        return {};
    return {QStringLiteral("--redis-ca-file"), m_options.redisTls->caCert()};
}

SentinelClient::Options E2eStack::sentinelClientOptions()
{
    SentinelClient::Options o;
    o.tls = redisTls();
    for (RedisServer *s : sentinels())
        o.sentinels.append({s->host(), s->port()});
    if (!m_sentinels.empty()) {
        o.sentinelUser = m_sentinels.front()->adminUser().toUtf8();
        o.sentinelPassword = TestCredentials::get().sentinelAuth.toUtf8();
    }
    o.serverUser = QByteArrayLiteral("console");
    o.serverPassword = TestCredentials::get().console.toUtf8();
    for (RedisServer *s : dataServers())
        o.serverHosts.append({s->host(), s->port()});
    return o;
}

bool E2eStack::waitForSentinels(int timeoutMs, QString *error)
{
    const QByteArray name = QByteArrayLiteral("l0l3");
    const QByteArray replicas = QByteArray::number(m_replicas.size());
    const QByteArray others = QByteArray::number(qsizetype(m_sentinels.size()) - 1);
    QString last;
    const bool ok = Poll::until(
        [&] {
            for (auto &s : m_sentinels) {
                RedisClient client = s->client(s->adminUser());
                if (!client.isConnected()) {
                    last = client.lastError();
                    return false;
                }
                const auto master = fieldsOf(client.command({"SENTINEL", "MASTER", name}));
                if (master.value("num-slaves") != replicas || master.value("num-other-sentinels") != others
                    || master.value("flags") != "master") {
                    last = QStringLiteral("sentinel %1: flags=%2 num-slaves=%3 num-other-sentinels=%4")
                               .arg(s->port())
                               .arg(QString::fromUtf8(master.value("flags")),
                                    QString::fromUtf8(master.value("num-slaves")),
                                    QString::fromUtf8(master.value("num-other-sentinels")));
                    return false;
                }
            }
            return true;
        },
        timeoutMs, 200);
    if (!ok && error)
        *error = QStringLiteral("the Sentinels never saw the whole topology: ") + last;
    return ok;
}

void E2eStack::drainInbox(RedisClient &primary)
{
    const std::string_view drain = ProposalFunction::kDrainName;
    primary.command({"FCALL", QByteArray(drain.data(), qsizetype(drain.size())), "0",
                     QByteArray::number(ProposalFunction::kDrainMax)});
}

QByteArray E2eStack::addProposal(RedisClient &primary, const Proposal &proposal)
{
    const std::string_view stream = RedisSchema::kProposals;
    QList<QByteArray> argv{"XADD", QByteArray(stream.data(), qsizetype(stream.size())), "*"};
    for (const auto &[field, value] : ProposalCodec::encode(proposal))
        argv << QByteArray::fromStdString(field) << QByteArray::fromStdString(value);
    const RedisValue id = primary.command(argv);
    return id.isString() ? id.str : QByteArray();
}

std::vector<Proposal> E2eStack::proposalsFor(RedisClient &primary, const QByteArray &key)
{
    drainInbox(primary);
    const std::string_view stream = RedisSchema::kProposals;
    const RedisValue reply = primary.command({"XRANGE", QByteArray(stream.data(), qsizetype(stream.size())), "-", "+"});
    std::vector<Proposal> matching;
    for (Proposal &p : ChatWire::proposals(reply))
        if (p.key == key.toStdString())
            matching.push_back(std::move(p));
    return matching;
}

std::optional<ApprovalResult> E2eStack::await(const std::function<void(ApprovalService::ResultCallback)> &call,
                                              int timeoutMs)
{
    // Shared: the service may answer after this returned (it never calls back synchronously).
    auto slot = std::make_shared<std::optional<ApprovalResult>>();
    call([slot](const ApprovalResult &r) { *slot = r; });
    Poll::until([&] { return slot->has_value(); }, timeoutMs, 2);
    return *slot;
}

QString E2eStack::describe()
{
    QString out;
    for (std::size_t i = 0; i < m_gateways.size(); ++i)
        out += m_gateways[i]->describe(15) + u'\n';
    if (m_stub)
        out += m_stub->describe(10) + u'\n';
    for (RedisServer *s : dataServers())
        if (s)
            out += QStringLiteral("--- redis %1\n").arg(s->port()) + s->logTail(12) + u'\n';
    for (auto &s : m_sentinels)
        out += QStringLiteral("--- sentinel %1\n").arg(s->port()) + s->logTail(20) + u'\n';
    return out;
}

} // namespace l0l3::test
