#pragma once

#include "app/demo/demotopology.h"
#include "core/control/redisconnection.h"
#include "ui/monitorconfig.h"

namespace l0l3 {

// Translates what DemoStack started into the console's connection (as the
// `console` ACL user, password in memory) and its dashboards' targets.
class DemoToMonitor
{
public:
    static RedisConnection::Options primaryOptions(const DemoTopology &topology);
    static MonitorConfig monitorConfig(const DemoTopology &topology);
};

} // namespace l0l3
