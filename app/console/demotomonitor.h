#pragma once

#include "core/control/redisconnection.h"
#include "core/localstack/demotopology.h"
#include "ui/workers/monitorconfig.h"

namespace l0l3 {

// Translates what DemoStack started into the console's connection (as the
// demo's admin operator, password in memory) and its dashboards' targets.
class DemoToMonitor
{
public:
    // The primary as the demo's admin operator (op-demo-admin): the console's own writes.
    static RedisConnection::Options primaryOptions(const DemoTopology &topology);
    // The primary as the "console" service account: the autopilot (audited with its --actor).
    static RedisConnection::Options serviceOptions(const DemoTopology &topology);
    static MonitorConfig monitorConfig(const DemoTopology &topology);
    // The console's SentinelClient reads its Sentinel credentials and the
    // data nodes it may authenticate to from the environment
    // (L0L3_SENTINEL_AUTH_USER, L0L3_SENTINEL_AUTH_PASSWORD, L0L3_REDIS_HOSTS):
    // sets them for this process.
    static void exportSentinelEnvironment(const DemoTopology &topology);
};

} // namespace l0l3
