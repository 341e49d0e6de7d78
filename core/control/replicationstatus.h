#pragma once

#include <QList>
#include <QMetaType>
#include <QString>

namespace l0l3 {

// One region's replica as seen in one ReplicationMonitor tick.
struct RegionReplicationStatus
{
    QString region;
    QString host;
    int port = 0;
    bool reachable = false; // the replica answered this tick
    bool linkUp = false;    // master_link_status:up
    // Primary clock minus the heartbeat read on the replica (both the primary's
    // clock, so no skew). While the replica is unreachable, the age of the last
    // heartbeat it showed: it keeps growing. -1 when never measured.
    qint64 lagMs = -1;
    qint64 offset = -1;        // slave_repl_offset
    qint64 primaryOffset = -1; // master_repl_offset on the primary
    int lastIoSecondsAgo = -1; // master_last_io_seconds_ago (-1 when the link is down)
    int serveStaleData = -1;   // replica-serve-stale-data: 1 yes, 0 no, -1 unknown (CONFIG not allowed)
    QString error;             // why reachable/linkUp is false, or empty

    qint64 offsetBehind() const { return offset >= 0 && primaryOffset >= 0 ? primaryOffset - offset : -1; }
};

// The primary as seen in one ReplicationMonitor tick.
struct PrimaryReplicationStatus
{
    QString host;
    int port = 0;
    bool reachable = false;
    QString role;               // "master" expected; anything else is a misconfiguration
    int connectedReplicas = -1; // connected_slaves
    qint64 offset = -1;         // master_repl_offset
    qint64 clockMs = -1;        // the primary's clock written as the heartbeat
    QString error;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::RegionReplicationStatus)
Q_DECLARE_METATYPE(l0l3::PrimaryReplicationStatus)
