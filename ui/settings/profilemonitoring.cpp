#include "ui/settings/profilemonitoring.h"

namespace l0l3 {

MonitorConfig monitorConfigForProfile(const ConnectionProfile &profile, const RedisConnection::Options &primary,
                                      const QString &topologyPassword, const QString &sentinelPassword)
{
    MonitorConfig config;
    config.hasPrimary = true;
    config.primary = primary;
    config.discoverFleet = true;
    config.sentinelMaster = profile.sentinelMaster;
    if (profile.metricsSource == ConnectionProfile::MetricsSource::Prometheus)
        config.prometheusUrl = QUrl(profile.prometheusUrl.trimmed());
    if (!profile.topologyUser.isEmpty()) {
        config.topologyUser = profile.topologyUser.toUtf8();
        config.topologyPassword = topologyPassword.toUtf8();
    }
    if (!profile.sentinelUser.isEmpty()) {
        config.sentinelUser = profile.sentinelUser.toUtf8();
        config.sentinelPassword = sentinelPassword.toUtf8();
    }
    for (const auto &s : profile.parsedSentinels().value_or(QList<ConnectionProfile::DataNode>{}))
        config.sentinels.append({s.host, s.port});
    for (const auto &n : profile.parsedDataNodes().value_or(QList<ConnectionProfile::DataNode>{})) {
        config.redisHosts.append({n.host, n.port});
        if (n.host == primary.host && n.port == primary.port)
            continue;
        RedisConnection::Options replica = primary;
        replica.host = n.host;
        replica.port = n.port;
        config.replicas.append(
            {n.region.isEmpty() ? QStringLiteral("%1:%2").arg(n.host).arg(n.port) : n.region, replica});
    }
    return config;
}

} // namespace l0l3
