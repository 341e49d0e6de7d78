#pragma once

#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/common/proposal.h"
#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "core/control/sentinelclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/redisserver.h"

namespace l0l3::test {

struct E2eStackOptions
{
    QStringList regions{QStringLiteral("nyc"), QStringLiteral("tokyo"), QStringLiteral("eu")};
    int sentinels = 0;      // 0: no Sentinel; else this many, quorum 2
    int downAfterMs = 2000; // not less: shorter periods fail over twice on a loaded machine
    int failoverTimeoutMs = 10000;
    QStringList gatewayArgs;  // appended to every gateway's flags
    bool persistence = false; // AOF + RDB on the primary and replicas (RedisServerOptions::persistence)
    QStringList stubArgs{QStringLiteral("--latency-ms"), QStringLiteral("5")};
    // The port a region's replica replicates from (e.g. a proxy in front of
    // the primary); called once the primary is up. Unset: the primary's port.
    std::function<int(const QString &region, int primaryPort)> replicaOfPort;
    // TLS-only primary, replicas and Sentinels (RedisServerOptions::useTls):
    // the gateways get rediss:// links and --redis-ca-file, consoleOptions()
    // and sentinelClientOptions() the CA. Null: plain TCP. Not owned.
    const TestCertificates *redisTls = nullptr;
};

// Several regions of the product on loopback, all real processes: one
// primary, one replica per region (ACL users), optional Sentinels (which the
// gateways follow), the stub LLM and one l0l3-gateway per region reading its replica. Unlike
// GatewayStack, a gateway can be restarted on its port and servers can be
// killed, paused and restarted one by one. Everything is stopped by stop()
// and the destructor.
class E2eStack
{
public:
    using Options = E2eStackOptions;

    E2eStack();
    ~E2eStack();
    E2eStack(const E2eStack &) = delete;
    E2eStack &operator=(const E2eStack &) = delete;

    bool start(const Options &options, QString *error);
    void stop();

    const Options &options() const { return m_options; }
    QStringList regions() const { return m_options.regions; }

    // The server started as primary (it may be a replica after a failover).
    RedisServer &primary() { return *m_primary; }
    RedisServer &replica(const QString &region);
    QList<RedisServer *> sentinels();
    // Primary and replicas.
    QList<RedisServer *> dataServers();
    RedisServer *serverOnPort(int port);

    ManagedProcess &gateway(const QString &region);
    int gatewayPort(const QString &region) const { return m_gatewayPorts.value(region, -1); }
    QUrl gatewayUrl(const QString &region, const QString &path = QStringLiteral("/v1/chat/completions")) const;
    // Starts the region's gateway again on the port it had.
    bool restartGateway(const QString &region, QString *error);

    // The console user on a data server, for RedisConnection / ApprovalService
    // (plain TCP; consoleOptionsFor() adds the stack's TLS).
    static RedisConnection::Options consoleOptions(int port);
    RedisConnection::Options consoleOptionsFor(int port) const;
    // What a client of this stack's nodes needs: enabled with the CA over TLS.
    RedisTls redisTls() const;
    // The primary's URL for --primary of l0l3-ctl (redis[s]://console@HOST:PORT),
    // and the flags it needs besides (--redis-ca-file over TLS).
    QString ctlPrimaryUrl() const;
    QStringList ctlTlsArgs() const;
    // The console's view of the Sentinels: their ACL user, the console user
    // for ROLE, and every data server as a host it may authenticate to.
    SentinelClient::Options sentinelClientOptions();

    // XADDs a proposal as a gateway would (the console user may, too); its
    // stream id, or empty when the server refused.
    static QByteArray addProposal(RedisClient &primary, const Proposal &proposal);
    // Proposals of key in the stream, oldest first.
    static std::vector<Proposal> proposalsFor(RedisClient &primary, const QByteArray &key);
    // What the console does before it reads the stream: move the gateways'
    // proposals from the inbox into it (FCALL l0l3_drain, as the console user).
    static void drainInbox(RedisClient &primary);
    // Runs one ApprovalService call and processes events until its result
    // arrives; nullopt when it did not within timeoutMs.
    static std::optional<ApprovalResult> await(const std::function<void(ApprovalService::ResultCallback)> &call,
                                               int timeoutMs = 15000);

    // Polls every Sentinel until it sees the primary with all replicas and
    // the other Sentinels (hello messages every 2 s, INFO every 10 s).
    bool waitForSentinels(int timeoutMs, QString *error);

    // Logs of every process, for failure messages.
    QString describe();

private:
    bool startGateway(const QString &region, int port, QString *error);
    QStringList gatewayArgs(const QString &region, int port) const;
    // --sentinel with every Sentinel, like the demo: the gateways follow a failover.
    QStringList sentinelArgs() const;

    Options m_options;
    std::unique_ptr<RedisServer> m_primary;
    std::vector<std::unique_ptr<RedisServer>> m_replicas; // in region order
    std::vector<std::unique_ptr<RedisServer>> m_sentinels;
    std::unique_ptr<ManagedProcess> m_stub;
    std::vector<std::unique_ptr<ManagedProcess>> m_gateways; // in region order
    QHash<QString, int> m_gatewayPorts;
    int m_stubPort = -1;
};

} // namespace l0l3::test
