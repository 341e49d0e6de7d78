#include "app/console/demotomonitor.h"

#include <QStringList>

#include "core/localstack/redisnodeconfig.h"

namespace l0l3 {

static RedisConnection::Options consoleOptions(const DemoTopology &t, int port)
{
    RedisConnection::Options o;
    o.host = t.host;
    o.port = port;
    o.user = QByteArrayLiteral("console");
    o.password = t.credentials.console.toUtf8();
    o.tls = t.redisTls(); // the Sentinels and the audit tail follow the primary's TLS
    return o;
}

RedisConnection::Options DemoToMonitor::primaryOptions(const DemoTopology &topology)
{
    RedisConnection::Options o = consoleOptions(topology, topology.primary.port);
    o.user = "op-" + topology.credentials.operatorName.toUtf8();
    o.password = topology.credentials.operatorPassword.toUtf8();
    return o;
}

RedisConnection::Options DemoToMonitor::serviceOptions(const DemoTopology &topology)
{
    return consoleOptions(topology, topology.primary.port);
}

MonitorConfig DemoToMonitor::monitorConfig(const DemoTopology &topology)
{
    MonitorConfig config;
    config.hasPrimary = true;
    config.primary = primaryOptions(topology);
    config.topologyUser = QByteArrayLiteral("topology");
    config.topologyPassword = topology.credentials.topology.toUtf8();
    config.sentinelMaster = topology.masterName;
    for (const DemoRegion &r : topology.regions) {
        config.gateways.append({r.name, r.gatewayUrl});
        config.replicas.append({r.name, consoleOptions(topology, r.replica.port)});
    }
    for (const DemoRedisNode &s : topology.sentinels)
        config.sentinels.append({topology.host, int(s.port)});
    return config;
}

void DemoToMonitor::exportSentinelEnvironment(const DemoTopology &topology)
{
    QStringList dataNodes{QStringLiteral("%1:%2").arg(topology.host).arg(topology.primary.port)};
    for (const DemoRegion &r : topology.regions)
        dataNodes.append(QStringLiteral("%1:%2").arg(topology.host).arg(r.replica.port));
    qputenv("L0L3_SENTINEL_AUTH_USER", RedisNodeConfig::kSentinelUser);
    qputenv("L0L3_SENTINEL_AUTH_PASSWORD", topology.credentials.sentinelAuth.toUtf8());
    qputenv("L0L3_REDIS_HOSTS", dataNodes.join(u',').toUtf8());
}

} // namespace l0l3
