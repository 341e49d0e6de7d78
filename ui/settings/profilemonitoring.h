#pragma once

#include <QString>

#include "core/control/redisconnection.h"
#include "ui/settings/connectionprofile.h"
#include "ui/workers/monitorconfig.h"

namespace l0l3 {

// What a connection profile watches: the fleet discovered from the primary
// (gateways, replicas, regions), the profile's Sentinels and data nodes, and
// its metrics source. Passwords are passed in, held in memory only.
MonitorConfig monitorConfigForProfile(const ConnectionProfile &profile, const RedisConnection::Options &primary,
                                      const QString &topologyPassword, const QString &sentinelPassword);

} // namespace l0l3
