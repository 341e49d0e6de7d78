#pragma once

#include <QString>
#include <QStringList>
#include <QUrl>

#include <memory>

#include "tests/support/managedprocess.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcertificates.h"

namespace l0l3::test {

struct GatewayStackOptions
{
    QString region = QStringLiteral("nyc");
    QStringList gatewayArgs; // appended to the standard flags
    QStringList stubArgs;    // e.g. --latency-ms 5
    bool startGateway = true;
    // TLS-only primary and replica (RedisServerOptions::useTls): the gateway
    // gets rediss:// URLs and --redis-ca-file. Null: plain TCP.
    const TestCertificates *redisTls = nullptr;
};

// One region of the product on loopback, all real processes: a primary and
// a replica (ACL users from users.acl), l0l3-stub-llm and l0l3-gateway
// connected as the "gateway" user. Everything is stopped by the destructor.
// What the gateway's integration tests share: one start() in initTestCase(),
// printLogsIfFailed() in cleanup().
class GatewayStack
{
public:
    using Options = GatewayStackOptions;

    // Checks that l0l3-gateway and l0l3-stub-llm are built, starts the
    // servers, the stub and (with options.startGateway) the gateway, and
    // connects primaryClient() and replicaClient(); false and the reason in
    // *error otherwise.
    bool start(const Options &options = {}, QString *error = nullptr);
    void stop();

    // The flags the stack's gateway runs with (without extra options.gatewayArgs).
    QStringList standardGatewayArgs(const QString &region) const;
    // Another gateway against the same Redis and stub, started and listening;
    // nullptr and a reason (with its output) in *error otherwise.
    std::unique_ptr<ManagedProcess> launchGateway(const QStringList &extraArgs, QString *error = nullptr,
                                                  const QString &region = QString()) const;

    RedisServer &primary() { return m_primary; }
    RedisServer &replica() { return m_replica; }
    ManagedProcess &stub() { return m_stub; }
    ManagedProcess &gateway() { return m_gateway; }
    // Connected as the "console" ACL user by start(): what an operator may do.
    RedisClient &primaryClient() { return m_primaryClient; }
    RedisClient &replicaClient() { return m_replicaClient; }

    int gatewayPort() const { return m_gatewayPort; }
    int stubPort() const { return m_stubPort; }
    QUrl gatewayUrl(const QString &path = QStringLiteral("/v1/chat/completions")) const;
    QUrl stubUrl(const QString &path) const;
    QString region() const { return m_options.region; }

    // Requests the stub LLM has answered so far (its /stats); -1 when it does not say.
    qint64 stubRequests() const;

    // Logs of every process, for failure messages.
    QString describe();
    // For a test's cleanup(): when the test function failed, prints describe()
    // and the output of each of extra (the test's own processes; null ones are skipped).
    void printLogsIfFailed(const QList<ManagedProcess *> &extra = {});

private:
    Options m_options;
    RedisServer m_primary;
    RedisServer m_replica;
    ManagedProcess m_stub;
    ManagedProcess m_gateway;
    RedisClient m_primaryClient;
    RedisClient m_replicaClient;
    int m_stubPort = -1;
    int m_gatewayPort = -1;
};

} // namespace l0l3::test
