#include "tests/support/gatewaystack.h"

#include <QDebug>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include "tests/support/httpclient.h"

namespace l0l3::test {

namespace {

constexpr int kListenTimeoutMs = 15000;

} // namespace

bool GatewayStack::start(const Options &options, QString *error)
{
    stop();
    m_options = options;
    for (const QString &name : {QStringLiteral("l0l3-gateway"), QStringLiteral("l0l3-stub-llm")}) {
        const QString path = ManagedProcess::binary(name);
        if (!QFileInfo::exists(path)) {
            if (error)
                *error = QStringLiteral("%1 is not built").arg(path);
            return false;
        }
    }
    RedisServer::Options primaryOptions;
    if (options.redisTls)
        primaryOptions.useTls(*options.redisTls);
    if (!m_primary.start(primaryOptions, error))
        return false;
    RedisServer::Options replicaOptions = primaryOptions;
    replicaOptions.replicaOfHost = m_primary.host();
    replicaOptions.replicaOfPort = m_primary.port();
    if (!m_replica.start(replicaOptions, error))
        return false;
    m_primaryClient = m_primary.client(QStringLiteral("console"));
    m_replicaClient = m_replica.client(QStringLiteral("console"));
    for (const RedisClient *client : {&m_primaryClient, &m_replicaClient}) {
        if (!client->isConnected()) {
            if (error)
                *error = QStringLiteral("the console user cannot connect: ") + client->lastError();
            return false;
        }
    }

    QStringList stubArgs{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")};
    stubArgs << options.stubArgs;
    if (!m_stub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")), stubArgs,
                      QProcessEnvironment::systemEnvironment(), error))
        return false;
    m_stubPort = m_stub.listenPort(kListenTimeoutMs);
    if (m_stubPort <= 0) {
        if (error)
            *error = QStringLiteral("the stub LLM did not report its port\n") + m_stub.describe();
        return false;
    }

    if (!options.startGateway)
        return true;
    if (!m_gateway.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")),
                         standardGatewayArgs(options.region) + options.gatewayArgs,
                         QProcessEnvironment::systemEnvironment(), error))
        return false;
    m_gatewayPort = m_gateway.listenPort(kListenTimeoutMs);
    if (m_gatewayPort <= 0) {
        if (error)
            *error = QStringLiteral("the gateway did not report its port\n") + m_gateway.describe();
        return false;
    }
    return true;
}

void GatewayStack::stop()
{
    m_gateway.stop();
    m_stub.stop();
    m_primaryClient.disconnect();
    m_replicaClient.disconnect();
    m_replica.stop();
    m_primary.stop();
    m_gatewayPort = -1;
    m_stubPort = -1;
}

QStringList GatewayStack::standardGatewayArgs(const QString &region) const
{
    QStringList args{QStringLiteral("--listen"),   QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("--region"),   region.isEmpty() ? m_options.region : region,
                     QStringLiteral("--replica"),  m_replica.url(QStringLiteral("gateway")),
                     QStringLiteral("--primary"),  m_primary.url(QStringLiteral("gateway")),
                     QStringLiteral("--upstream"), stubUrl(QStringLiteral("/v1")).toString()};
    if (m_options.redisTls)
        args << QStringLiteral("--redis-ca-file") << m_options.redisTls->caCert();
    return args;
}

std::unique_ptr<ManagedProcess> GatewayStack::launchGateway(const QStringList &extraArgs, QString *error,
                                                            const QString &region) const
{
    auto gateway = std::make_unique<ManagedProcess>();
    if (!gateway->start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), standardGatewayArgs(region) + extraArgs,
                        QProcessEnvironment::systemEnvironment(), error))
        return nullptr;
    if (gateway->listenPort(kListenTimeoutMs) <= 0) {
        if (error)
            *error = QStringLiteral("the gateway did not report its port\n") + gateway->describe();
        return nullptr;
    }
    return gateway;
}

QUrl GatewayStack::gatewayUrl(const QString &path) const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_gatewayPort).arg(path));
}

QUrl GatewayStack::stubUrl(const QString &path) const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_stubPort).arg(path));
}

qint64 GatewayStack::stubRequests() const
{
    HttpClient http;
    const HttpResult stats = http.get(stubUrl(QStringLiteral("/stats")));
    const QJsonValue requests = QJsonDocument::fromJson(stats.body).object().value(u"requests");
    return requests.isDouble() ? static_cast<qint64>(requests.toDouble()) : -1;
}

void GatewayStack::printLogsIfFailed(const QList<ManagedProcess *> &extra)
{
    if (!QTest::currentTestFailed())
        return;
    qWarning().noquote() << describe();
    for (ManagedProcess *process : extra) {
        if (process)
            qWarning().noquote() << process->describe();
    }
}

QString GatewayStack::describe()
{
    return m_gateway.describe() + u'\n' + m_stub.describe() + u'\n' + m_primary.logTail(15) + u'\n'
        + m_replica.logTail(15);
}

} // namespace l0l3::test
