#include "core/control/primarytracker.h"

#include "core/control/redisconnection.h"
#include "core/control/replicationmonitor.h"
#include "core/control/sentinelclient.h"

namespace l0l3 {

PrimaryTracker::PrimaryTracker(RedisConnection *connection, SentinelClient *sentinels, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
    if (sentinels)
        connect(sentinels, &SentinelClient::primaryChanged, this, &PrimaryTracker::repoint);
}

void PrimaryTracker::setReplicationMonitor(ReplicationMonitor *monitor)
{
    m_monitor = monitor;
}

QString PrimaryTracker::host() const
{
    return m_connection ? m_connection->options().host : QString();
}

int PrimaryTracker::port() const
{
    return m_connection ? m_connection->options().port : 0;
}

void PrimaryTracker::repoint(const QString &host, int port)
{
    if (m_monitor)
        m_monitor->setPrimaryAddress(host, port);
    if (!m_connection)
        return;
    RedisConnection::Options o = m_connection->options();
    if (o.host == host && o.port == port && m_connection->state() != RedisConnection::State::Closed)
        return;
    // close() fails what is pending on the old primary with a clear error
    // rather than letting it time out against a server that may be a replica now.
    m_connection->close();
    o.host = host;
    o.port = port;
    m_connection->setOptions(o);
    m_connection->open();
    emit primaryRepointed(host, port);
}

} // namespace l0l3
