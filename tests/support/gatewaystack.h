#pragma once

#include <QString>
#include <QStringList>
#include <QUrl>

#include <memory>

#include "tests/support/managedprocess.h"
#include "tests/support/redisserver.h"

namespace l0l3::test {

struct GatewayStackOptions
{
    QString region = QStringLiteral("nyc");
    QStringList gatewayArgs; // appended to the standard flags
    QStringList stubArgs;    // e.g. --latency-ms 5
    bool startGateway = true;
};

// One region of the product on loopback, all real processes: a primary and
// a replica (ACL users from users.acl), l0l3-stub-llm and l0l3-gateway
// connected as the "gateway" user. Everything is stopped by the destructor.
class GatewayStack
{
public:
    using Options = GatewayStackOptions;

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

    int gatewayPort() const { return m_gatewayPort; }
    int stubPort() const { return m_stubPort; }
    QUrl gatewayUrl(const QString &path = QStringLiteral("/v1/chat/completions")) const;
    QUrl stubUrl(const QString &path) const;
    QString region() const { return m_options.region; }

    // Logs of every process, for failure messages.
    QString describe();

private:
    Options m_options;
    RedisServer m_primary;
    RedisServer m_replica;
    ManagedProcess m_stub;
    ManagedProcess m_gateway;
    int m_stubPort = -1;
    int m_gatewayPort = -1;
};

} // namespace l0l3::test
