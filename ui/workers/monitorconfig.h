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

    bool isEmpty() const
    {
        return gateways.isEmpty() && !prometheusUrl.isValid() && !hasPrimary && sentinels.isEmpty();
    }
};

} // namespace l0l3
