#pragma once

#include <QList>
#include <QMetaType>
#include <QString>
#include <QUrl>

#include "core/control/redistls.h"

namespace l0l3 {

// Passwords of the ACL users of packaging/redis/users.acl, random per demo
// run and held in memory only (the rendered ACL file has their SHA-256).
struct DemoCredentials
{
    QString gateway;
    QString console;
    QString replication;
    QString sentinel;
    QString topology; // ACL user "topology": REPLICAOF for a promotion without Sentinel
    // The Sentinels' own ACL user (RedisNodeConfig::kSentinelUser): peers,
    // gateways and the console authenticate to the Sentinels with it.
    QString sentinelAuth;
    // The admin operator the demo console logs in as (ACL user "op-" + name,
    // role admin, recorded in l0l3:v1:operators); the autopilot and the
    // headless stand-in use the "console" service account.
    QString operatorName = QStringLiteral("demo-admin");
    QString operatorPassword;
};

struct DemoRedisNode
{
    QString name;   // "primary", "replica-nyc", "sentinel-1"
    QString region; // empty for Sentinels
    quint16 port = 0;
    qint64 pid = 0;
};

struct DemoRegion
{
    QString name; // "nyc", "tokyo", "eu"
    DemoRedisNode replica;
    QUrl gatewayUrl; // http://127.0.0.1:PORT
    qint64 gatewayPid = 0;
};

// What DemoStack started, for the console (connections, topology view) and tests.
struct DemoTopology
{
    QString host = QStringLiteral("127.0.0.1");
    QString masterName = QStringLiteral("l0l3"); // the Sentinel master name
    DemoRedisNode primary;                       // starts in region nyc
    QList<DemoRegion> regions;
    QList<DemoRedisNode> sentinels;
    QUrl upstreamUrl; // stub LLM, http://127.0.0.1:PORT/v1
    qint64 upstreamPid = 0;
    DemoCredentials credentials;
    QString dataDir; // configs, logs, ACL file
    // The CA of a TLS demo (DemoOptions::tls), a PEM file in dataDir; empty:
    // every Redis link is plain TCP.
    QString tlsCaFile;

    // TLS for a control-plane link to a node of this stack: verified against
    // tlsCaFile; disabled in a plain demo.
    RedisTls redisTls() const
    {
        RedisTls tls;
        tls.enabled = !tlsCaFile.isEmpty();
        tls.caFile = tlsCaFile;
        return tls;
    }

    // Every process the stack started (for leak checks).
    QList<qint64> pids() const
    {
        QList<qint64> all;
        if (primary.pid)
            all.append(primary.pid);
        for (const DemoRegion &r : regions) {
            if (r.replica.pid)
                all.append(r.replica.pid);
            if (r.gatewayPid)
                all.append(r.gatewayPid);
        }
        for (const DemoRedisNode &s : sentinels)
            if (s.pid)
                all.append(s.pid);
        if (upstreamPid)
            all.append(upstreamPid);
        return all;
    }
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::DemoTopology)
