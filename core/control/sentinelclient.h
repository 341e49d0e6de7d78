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

// Talks to the Sentinels watching the primary: discovery, +switch-master
// following, the topology view (master, replicas, Sentinels, CKQUORUM),
// Sentinel failover and manual promotion when there is no quorum.
//
// Sentinels are trusted to elect a primary only together, never one alone:
// - every Sentinel must require AUTH (sentinelUser/sentinelPassword): before
//   any credential is sent it is asked PING, and one that answers is refused
//   (sentinelRefused) unless allowAnonymousSentinel;
// - the primary is the host:port that more than half of the configured
//   Sentinels name (SENTINEL get-master-addr-by-name, asked of all at once);
// - the data nodes' credentials (serverUser/serverPassword, for ROLE) go only
//   to serverHosts, the operator's list: with the default user off, ROLE
//   cannot be asked before AUTH, so a named address off the list is refused;
// - ROLE on that address must say master.
// A +switch-master message only starts such rounds (every 100 ms, up to
// switchConfirmTimeoutMs); primaryChanged() follows when they confirm a new
// primary, switchRejected() when they do not.
//
// Topology and failover commands go to the first accepted Sentinel that
// answers. Every accepted Sentinel gets a pub/sub link for +switch-master, so
// one dead Sentinel does not hide a switch, and another for the events that
// change the topology view (topologyEventChannels(): sdown/odown, peers and
// replicas found, failover steps), reported as sentinelEvent().
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
        // The Sentinels' ACL user. Empty: $L0L3_SENTINEL_AUTH_USER and $L0L3_SENTINEL_AUTH_PASSWORD.
        QByteArray sentinelUser;
        QByteArray sentinelPassword;
        // Accept Sentinels that answer without AUTH (or $L0L3_ALLOW_ANONYMOUS_SENTINEL=1).
        bool allowAnonymousSentinel = false;
        // The data nodes (ROLE checks, REPLICAOF for manual promotion): the console user.
        QByteArray serverUser;
        QByteArray serverPassword;
        // Where serverUser/serverPassword may be sent when the Sentinels name a
        // primary. Empty: $L0L3_REDIS_HOSTS ("host:port,host:port").
        QList<Address> serverHosts;
        int commandTimeoutMs = 3000;
        int switchConfirmTimeoutMs = 15000;
        // TLS for every link, to the Sentinels (their tls-port) and to the
        // data nodes alike: one private CA in a deployment.
        RedisTls tls;
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
    // REPLICAOF newPrimary on each of others (as serverUser). When
    // serverHosts is set, a node off that list is sent nothing and its step
    // says why (callers may pass nodes that discovery or a Sentinel named);
    // with no list the caller's nodes are the operator's. failoverFinished()
    // with one PromotionStep per node; primaryChanged() once newPrimary is
    // promoted.
    void promoteManually(const Address &newPrimary, const QList<Address> &others);

    // The Sentinel event channels besides +switch-master that sentinelEvent()
    // reports; the Sentinels' ACL user must be allowed to read them.
    static QList<QByteArray> topologyEventChannels();

    QString primaryHost() const { return m_primaryHost; }
    int primaryPort() const { return m_primaryPort; }
    bool hasPrimary() const { return m_primaryPort > 0; }

signals:
    void primaryChanged(const QString &host, int port);
    void discoveryFailed(const QString &reason);
    // A +switch-master message from a Sentinel (before any check).
    void switchMasterObserved(const QString &oldHost, int oldPort, const QString &newHost, int newPort);
    // The rounds after a +switch-master to newHost:newPort did not confirm a
    // new primary within switchConfirmTimeoutMs: the primary is unchanged.
    void switchRejected(const QString &newHost, int newPort, const QString &reason);
    // A configured Sentinel answered before AUTH and is not used.
    void sentinelRefused(const QString &host, int port, const QString &reason);
    void topologyUpdated(const l0l3::SentinelTopology &topology);
    // A Sentinel event this client listens to (+switch-master and
    // topologyEventChannels()): the topology changed, ask refreshTopology()
    // (batched: a failover sends a dozen). Channel and payload are untrusted
    // text, cut to 64 and 1024 bytes.
    void sentinelEvent(const QByteArray &channel, const QByteArray &payload);
    void failoverFinished(const l0l3::FailoverResult &result);

private:
    enum class Admission { Probing, Accepted, Refused };
    // ok: the majority's address, confirmed by ROLE; else why not.
    using RoundResult = std::function<void(bool ok, const QString &host, int port, const QString &why)>;
    using SentinelReplies = std::function<void(int sentinelIndex, const QList<RedisReply> &replies)>;
    void onSentinels(const QList<QList<QByteArray>> &commands, SentinelReplies done, int from = 0);
    void probe(int index);
    void admit(int index);
    void majorityRound(RoundResult done);
    void onRoundAnswers(const QList<RedisReply> &answers, RoundResult done);

    bool mayReceiveCredentials(const QString &host, int port) const;
    bool mayPromote(const QString &host, int port) const;
    // ROLE on host:port; cb(true) when it is a master; `tries` attempts 200 ms apart.
    void checkRole(const QString &host, int port, int tries, std::function<void(bool, QString)> cb);
    void onSwitchMessage(const QByteArray &payload);
    void confirmSwitch();
    void setPrimary(const QString &host, int port);
    RedisConnection::Options serverOptions(const QString &host, int port) const;

    Options m_options;
    QList<RedisConnection *> m_sentinels;
    QList<RedisSubscriber *> m_subscribers;      // +switch-master, per Sentinel
    QList<RedisSubscriber *> m_eventSubscribers; // topologyEventChannels(), per Sentinel
    QList<Admission> m_admission;
    QString m_primaryHost;
    int m_primaryPort = 0;
    bool m_running = false;
    bool m_discovering = false;
    bool m_discoverAgain = false;
    // The latest unconfirmed +switch-master: its target and when confirming stops.
    QString m_switchHost;
    int m_switchPort = 0;
    qint64 m_switchDeadlineMs = 0;
    bool m_confirming = false;
};

} // namespace l0l3
