#include "app/console/demotomonitor.h"

namespace l0l3 {

static RedisConnection::Options consoleOptions(const DemoTopology &t, int port)
{
    RedisConnection::Options o;
    o.host = t.host;
    o.port = port;
    o.user = QByteArrayLiteral("console");
    o.password = t.credentials.console.toUtf8();
    return o;
}

RedisConnection::Options DemoToMonitor::primaryOptions(const DemoTopology &topology)
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

} // namespace l0l3
