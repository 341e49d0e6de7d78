#pragma once

#include <QObject>
#include <QPointer>
#include <QString>

namespace l0l3 {

class RedisConnection;
class ReplicationMonitor;
class SentinelClient;

// Keeps the console's write connection (the one ApprovalService uses) on the
// current primary: on SentinelClient::primaryChanged it closes the
// connection, points it at the new address and reopens it. primaryChanged
// comes only for a primary a majority of the Sentinels names, on an allowed
// host, whose ROLE is master: a +switch-master message alone never moves it. Writes in flight
// during the switch fail with the connection's error (ApprovalService reports
// them as NotConnected) and can be retried by the operator; the next write
// goes to the new primary. A ReplicationMonitor, if given, follows as well.
//
// Thread affinity: the thread of the connection and of the SentinelClient
// (the same worker thread).
class PrimaryTracker : public QObject
{
    Q_OBJECT
public:
    PrimaryTracker(RedisConnection *connection, SentinelClient *sentinels, QObject *parent = nullptr);

    void setReplicationMonitor(ReplicationMonitor *monitor);
    // Re-points now (also used for a primary chosen by manual promotion).
    void repoint(const QString &host, int port);

    QString host() const;
    int port() const;

signals:
    // The connection now targets host:port (it is reconnecting).
    void primaryRepointed(const QString &host, int port);

private:
    QPointer<RedisConnection> m_connection;
    QPointer<ReplicationMonitor> m_monitor;
};

} // namespace l0l3
