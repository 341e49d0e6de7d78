#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace l0l3 {

// The redis.conf of one node of an L0L3 deployment on loopback: a primary, a
// replica or a Sentinel, persisted as packaging/redis/ persists (or, for
// tests that want a fast empty node, not at all) and, when ACL users are
// loaded, the replication and Sentinel credentials of
// packaging/redis/users.acl. Written by the demo launcher and the test
// fixtures, so both run Redis the same way.
class RedisNodeConfig
{
public:
    enum class Role { Primary, Replica, Sentinel };

    Role role = Role::Primary;
    QString bindAddress = QStringLiteral("127.0.0.1");
    int port = 0;
    QString dir;
    QString logFile; // empty: log to stdout
    QString aclFile; // empty: no ACL users (not for a Sentinel)
    // masteruser "replication" / masterauth on data nodes; empty: none.
    QString replicationPassword;
    // Replica: replicaof. Sentinel: the monitored primary.
    QString primaryHost = QStringLiteral("127.0.0.1");
    int primaryPort = 0;
    // Sentinel only.
    QString masterName = QStringLiteral("l0l3");
    int quorum = 2;
    // 2000 ms, not less: shorter periods fail over twice on a loaded machine.
    int downAfterMs = 2000;
    int failoverTimeoutMs = 10000;
    QString sentinelPassword; // sentinel auth-user "sentinel" / auth-pass; empty: none
    // The Sentinel's own port: the password of kSentinelUser, the one ACL user
    // it accepts (peers, gateways, the console; the default user is off).
    // Empty: the Sentinel accepts anonymous clients (refused by gateways and
    // the console unless allowed explicitly).
    QString sentinelAuthPassword;
    QStringList extraLines; // appended verbatim, e.g. "maxmemory 10mb"
    // Data nodes: AOF (fsync every second) and RDB snapshots in dir, on every
    // node alike, since a replica may be promoted. False: nothing on disk, a
    // restarted node starts empty and resyncs (test stacks that never restart
    // a node from its files).
    bool persistence = true;
    // TLS (PEM files; tlsCertFile empty: plain TCP). The node then listens
    // with TLS only, on port (tls-port; the plain port is off), and speaks
    // TLS to the nodes it connects to (tls-replication: a replica to its
    // primary, a Sentinel to the nodes it monitors and its peers), showing
    // tlsCertFile as its client certificate. tlsCaFile verifies the peers.
    // tlsAuthClients: clients must present a certificate signed by tlsCaFile.
    QString tlsCertFile;
    QString tlsKeyFile;
    QString tlsCaFile;
    bool tlsAuthClients = false;

    // The ACL user on the Sentinels' own port, and what it may do there: what
    // Sentinel peers need (hello, PING, is-master-down-by-addr) and what
    // gateways and the console need (address, topology, failover,
    // +switch-master). No SENTINEL SET/MONITOR/REMOVE/CONFIG/RESET.
    static constexpr const char *kSentinelUser = "l0l3-sentinel";
    static QString sentinelUserPermissions();

    QByteArray render() const;
    // Writes render() to path, readable by the owner only (it holds passwords).
    bool write(const QString &path, QString *error = nullptr) const;
};

} // namespace l0l3
