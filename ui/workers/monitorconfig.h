#pragma once

#include <QList>
#include <QString>
#include <QUrl>

#include "core/control/redisconnection.h"

namespace l0l3 {

// What the dashboards and the topology view watch. Passwords inside the
// Options are held in memory only.
struct MonitorConfig
{
    struct Gateway
    {
        QString region;
        QUrl baseUrl; // http://host:port (the gateway; /metrics is appended)
    };
    struct Replica
    {
        QString region;
        RedisConnection::Options options;
    };
    struct Sentinel
    {
        QString host;
        int port = 0;
    };
    using Node = Sentinel; // a Redis data node, host:port

    QList<Gateway> gateways;
    QUrl prometheusUrl; // when set, metrics come from Prometheus instead of scraping
    bool hasPrimary = false;
    RedisConnection::Options primary; // for the replication heartbeat
    // The ACL user that may run REPLICAOF (packaging/redis/users.acl's
    // "topology") for a promotion without Sentinel, and the ROLE checks
    // around it. Empty: the primary's user, which users.acl does not allow
    // to change the topology (the promotion then fails with NOPERM).
    QByteArray topologyUser;
    QByteArray topologyPassword;
    QList<Replica> replicas;
    QList<Sentinel> sentinels;
    QString sentinelMaster = QStringLiteral("l0l3");
    // The Sentinels' ACL user and password. Empty: $L0L3_SENTINEL_AUTH_USER/_PASSWORD.
    QByteArray sentinelUser;
    QByteArray sentinelPassword;
    // The data nodes the console may send credentials to (ROLE, replica lag,
    // REPLICAOF). Empty: $L0L3_REDIS_HOSTS. The primary and `replicas` are
    // added to it; a replica that discovery finds elsewhere is shown, never
    // sent a password.
    QList<Node> redisHosts;
    // Outside the demo: read the fleet (FleetViewBuilder: the gateway
    // registry, INFO replication on the primary, the Sentinels' view) every
    // discoveryIntervalMs. Its gateways are scraped (unless prometheusUrl is
    // set), its replicas watched for lag, its regions offered for draining.
    bool discoverFleet = false;
    int discoveryIntervalMs = 2000;
    // The Sentinels' view is asked again 200 ms after their events
    // (SentinelClient::sentinelEvent, batched) and, as a fallback for a
    // Sentinel whose ACL refuses those channels or a lost message, this often.
    int topologyIntervalMs = 10000;

    bool isEmpty() const
    {
        return gateways.isEmpty() && !prometheusUrl.isValid() && !hasPrimary && sentinels.isEmpty() && !discoverFleet;
    }
};

} // namespace l0l3
