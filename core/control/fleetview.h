#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

#include "core/control/fleetregistry.h"
#include "core/control/redisconnection.h"
#include "core/control/sentineltopology.h"

namespace l0l3 {

// A gateway in the fleet view: its record and whether it still announces.
struct FleetGateway
{
    GatewayRecord record;
    // Not rewritten for more than two of its periods (its key outlives that
    // until its expiry, then it disappears from the registry).
    bool stale = false;
    qint64 ageMs = -1; // since its last announcement; -1 unknown
};

// A replica of the primary, from INFO replication on the primary and, when
// given, Sentinel's view.
struct FleetReplica
{
    QString host;
    int port = 0;
    QString region;           // from the gateways that name it as their replica; empty: unknown
    QString state;            // INFO replication's state (online, wait_bgsave, ...); empty when only Sentinel knows it
    bool linkUp = false;      // online on the primary, or Sentinel's master-link-status ok
    qint64 offset = -1;       // replica offset
    qint64 offsetBehind = -1; // primary offset - replica offset; -1 unknown
    int ackLagSeconds = -1;   // INFO replication's lag: seconds since the replica's last ACK
    QString sentinelFlags;    // Sentinel's flags for it, empty when Sentinel was not asked or does not know it
};

struct FleetSentinel
{
    QString host;
    int port = 0;
    QString runId;
    QString flags;
    bool linkUp = false;
    bool answered = false; // the Sentinel that gave the topology
};

struct FleetRegion
{
    QString name;
    QList<FleetGateway> gateways;
    QList<FleetReplica> replicas;
};

// The fleet: regions → gateways and replicas, plus Sentinels. Built from the
// registry, INFO replication of the primary and (optionally) a
// SentinelTopology. Every string is untrusted text.
struct FleetView
{
    QString primaryHost;
    int primaryPort = 0;
    QString primaryRole; // INFO replication's role; "master" expected
    qint64 primaryOffset = -1;
    QList<FleetRegion> regions; // sorted by name; replicas of unknown region are only in `replicas`
    QList<FleetGateway> gateways;
    QList<FleetReplica> replicas;
    QList<FleetSentinel> sentinels;
    int malformedRecords = 0;
    QStringList errors; // what could not be read (registry, INFO, Sentinel)
    qint64 builtAtMs = 0;

    // Pure: combines what was read. infoReplication is INFO replication's
    // text (empty when not read); topology may be null.
    static FleetView build(const QList<GatewayRecord> &records, const QByteArray &infoReplication,
                           const SentinelTopology *topology, qint64 nowMs);
};

// Reads the registry and INFO replication on the primary connection and
// builds a FleetView with the latest topology given (SentinelClient's
// topologyUpdated). Lives on the connection's thread.
class FleetViewBuilder : public QObject
{
    Q_OBJECT
public:
    explicit FleetViewBuilder(RedisConnection *primary, QObject *parent = nullptr);

    void setSentinelTopology(const SentinelTopology &topology) { m_topology = topology; }
    void clearSentinelTopology() { m_topology.reset(); }

    // done is not called when context is destroyed first.
    void build(QObject *context, std::function<void(const FleetView &)> done);

private:
    QPointer<RedisConnection> m_primary;
    FleetRegistry *m_registry = nullptr;
    std::optional<SentinelTopology> m_topology;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::FleetView)
