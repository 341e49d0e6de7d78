#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>

#include <functional>

#include "core/control/redisconnection.h"
#include "core/control/sentineltopology.h"

namespace l0l3 {

class RedisSubscriber;

// Talks to the Sentinels watching the primary: discovery
// (SENTINEL get-master-addr-by-name, checked with ROLE on the answer),
// +switch-master following, the topology view (master, replicas, Sentinels,
// CKQUORUM), Sentinel failover and manual promotion when there is no quorum.
//
// Any Sentinel will do for a command: they are tried in order until one
// answers. Every Sentinel gets a pub/sub link for +switch-master, so one
// dead Sentinel does not hide a switch.
//
// Thread affinity: owns its connections; lives on a worker thread (or the
// thread that created it). Results are queued-safe value types.
class SentinelClient : public QObject
{
    Q_OBJECT
public:
    struct Address
    {
        QString host;
        int port = 0;
    };
    struct Options
    {
        QString masterName = QStringLiteral("l0l3");
        QList<Address> sentinels;
        // Sentinels usually accept the default user; set these if they require AUTH.
        QByteArray sentinelUser;
        QByteArray sentinelPassword;
        // The data nodes (ROLE checks, REPLICAOF for manual promotion): the console user.
        QByteArray serverUser;
        QByteArray serverPassword;
        int commandTimeoutMs = 3000;
    };

    explicit SentinelClient(const Options &options, QObject *parent = nullptr);
    ~SentinelClient() override;

    const Options &options() const { return m_options; }
    // Connects, subscribes to +switch-master and discovers the primary.
    void start();
    void stop();

    // Asks the Sentinels for the primary; primaryChanged() if it differs from
    // the known one, discoveryFailed() when no Sentinel gives a primary that
    // ROLE confirms.
    void discover();
    // topologyUpdated() with master, replicas, Sentinels and CKQUORUM.
    void refreshTopology();
    // SENTINEL FAILOVER: failoverFinished() once a Sentinel accepted (or
    // refused) it; the switch itself arrives as primaryChanged().
    void failover();
    // Without Sentinel quorum: REPLICAOF NO ONE on newPrimary, then
    // REPLICAOF newPrimary on each of others (as the console user).
    // failoverFinished() with the outcome; primaryChanged() on success.
    void promoteManually(const Address &newPrimary, const QList<Address> &others);

    QString primaryHost() const { return m_primaryHost; }
    int primaryPort() const { return m_primaryPort; }
    bool hasPrimary() const { return m_primaryPort > 0; }

signals:
    void primaryChanged(const QString &host, int port);
    void discoveryFailed(const QString &reason);
    // A +switch-master message from a Sentinel (before the ROLE check).
    void switchMasterObserved(const QString &oldHost, int oldPort, const QString &newHost, int newPort);
    void topologyUpdated(const l0l3::SentinelTopology &topology);
    void failoverFinished(const l0l3::FailoverResult &result);

private:
    using SentinelReplies = std::function<void(int sentinelIndex, const QList<RedisReply> &replies)>;
    void onSentinels(const QList<QList<QByteArray>> &commands, SentinelReplies done, int from = 0);
    // ROLE on host:port; cb(true) when it is a master; `tries` attempts 200 ms apart.
    void checkRole(const QString &host, int port, int tries, std::function<void(bool, QString)> cb);
    void onSwitchMessage(const QByteArray &payload);
    void setPrimary(const QString &host, int port);
    void discoverFrom(int sentinelIndex, QString lastError);
    RedisConnection::Options serverOptions(const QString &host, int port) const;

    Options m_options;
    QList<RedisConnection *> m_sentinels;
    QList<RedisSubscriber *> m_subscribers;
    QString m_primaryHost;
    int m_primaryPort = 0;
    bool m_discovering = false;
};

} // namespace l0l3
