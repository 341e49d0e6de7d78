#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QString>
#include <QTimer>

#include <map>
#include <memory>

#include "core/control/redisconnection.h"
#include "core/control/replicationstatus.h"

namespace l0l3 {

// Per region replication health: link status, offsets and lag in ms.
//
// Each tick: TIME on the primary (INFO server's server_time_usec when the
// ACL refuses TIME), FCALL l0l3_heartbeat on the primary (the function every
// gateway calls too: the primary's clock, never moved backwards; a plain SET
// of that clock where the function is missing or refused),
// then GET it on every replica together with a fresh primary TIME: lag = the
// primary's clock - the value the replica holds. A replica that does not yet
// show this tick's heartbeat is probed again a few times within the tick, so
// a caught-up replica reads a few ms, not the tick interval. INFO replication
// on every server gives link status and offsets.
//
// A tick never waits longer than its budget (80% of the interval): servers
// that did not answer by then are reported unreachable and their late
// replies are ignored.
//
// Thread affinity: owns its connections; create it on (or move it before
// start() to) a worker thread. statusUpdated carries value types.
class ReplicationMonitor : public QObject
{
    Q_OBJECT
public:
    struct Replica
    {
        QString region;
        RedisConnection::Options options;
    };

    ReplicationMonitor(const RedisConnection::Options &primary, const QList<Replica> &replicas,
                       QObject *parent = nullptr);
    ~ReplicationMonitor() override;

    void setIntervalMs(int ms);
    int intervalMs() const { return m_intervalMs; }

    void start();
    void stop();
    // One tick now (if none is running).
    void tick();
    // After a failover: the heartbeat goes to the new primary.
    void setPrimaryAddress(const QString &host, int port);
    // Replace the replica set, e.g. the old primary now runs as a replica.
    void setReplicas(const QList<Replica> &replicas);

signals:
    void statusUpdated(const QList<l0l3::RegionReplicationStatus> &regions);
    void primaryUpdated(const l0l3::PrimaryReplicationStatus &primary);

private:
    struct Tick;
    struct ReplicaLink
    {
        Replica config;
        RedisConnection *connection = nullptr;
        qint64 lastHeartbeatMs = -1; // last heartbeat value the replica showed
        bool configAllowed = true;   // CONFIG GET refused once: not asked again
    };

    RedisConnection *makeConnection(const RedisConnection::Options &options);
    void readPrimaryClock(std::shared_ptr<Tick> t, std::function<void(qint64)> done);
    void probeReplicas(std::shared_ptr<Tick> t);
    void finishTick(std::shared_ptr<Tick> t);
    bool tickOver(const std::shared_ptr<Tick> &t) const;

    RedisConnection::Options m_primaryOptions;
    RedisConnection *m_primary = nullptr;
    std::vector<std::unique_ptr<ReplicaLink>> m_replicas;
    QTimer m_timer;
    int m_intervalMs = 1000;
    bool m_timeAllowed = true; // TIME refused once: INFO server from then on
    // FCALL l0l3_heartbeat (never moves the heartbeat back, shared with the gateways) until it
    // fails (library not loaded, ACL): a plain SET from then on.
    bool m_heartbeatFunction = true;
    std::shared_ptr<Tick> m_current;
    quint64 m_tickId = 0;
};

} // namespace l0l3
