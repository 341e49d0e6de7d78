#pragma once

#include <QHash>
#include <QMap>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>

#include <memory>

#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

namespace l0l3::test {

inline QByteArray qb(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

inline RedisConnection::Options optionsFor(const RedisServer &server, const QString &user = QStringLiteral("console"))
{
    RedisConnection::Options o;
    o.host = server.host();
    o.port = server.port();
    o.user = user.toUtf8();
    o.password = TestCredentials::get().password(user).toUtf8();
    o.reconnectMinMs = 50;
    o.reconnectMaxMs = 400;
    return o;
}

// A primary, one replica linked to it (ACL users) and a "console" client of
// the primary: the rig of the tests that write through the control plane and
// read the result back.
struct ReplicatedRedis
{
    RedisServer primary;
    RedisServer replica;
    RedisClient client;

    bool start(QString *error)
    {
        if (!startPrimaryAndReplica(primary, replica, true, error))
            return false;
        client = primary.client();
        if (!client.isConnected())
            *error = QStringLiteral("no console client: ") + client.lastError();
        return client.isConnected();
    }
    void stop()
    {
        client.disconnect();
        replica.stop();
        primary.stop();
    }
};

// ReplicatedRedis with the control plane on top: a RedisConnection to the
// primary as the console user and an ApprovalService over it (default actor
// "alice", replica acknowledgements awaited 3 s), for the tests that decide
// through ApprovalService and read the outcome back with `client`.
struct ApprovalRig : ReplicatedRedis
{
    std::unique_ptr<RedisConnection> connection;
    std::unique_ptr<ApprovalService> service;

    bool start(QString *error)
    {
        if (!ReplicatedRedis::start(error))
            return false;
        connection = std::make_unique<RedisConnection>(optionsFor(primary));
        QSignalSpy connected(connection.get(), &RedisConnection::connected);
        connection->open();
        if (!connected.wait(TimeScale::ms(5000))) {
            *error = QStringLiteral("console connection: ") + connection->lastError();
            return false;
        }
        service = std::make_unique<ApprovalService>(connection.get());
        service->setDefaultActor(QStringLiteral("alice"));
        service->setWaitTimeoutMs(3000);
        return true;
    }
    void stop()
    {
        service.reset();
        connection.reset();
        ReplicatedRedis::stop();
    }
    // The console user may not FLUSHALL: deletes every l0l3:* key one by one.
    void wipe()
    {
        const RedisValue keys = client.command({"SCAN", "0", "MATCH", "l0l3:*", "COUNT", "10000"});
        for (const RedisValue &k : keys.elements.value(1).elements)
            client.command({"DEL", k.str});
    }
};

// What a gateway does on a miss (see RedisSchema): count demand per region,
// then XADD the proposal (only the first time, when "_total" became 1), with
// the stream id Redis picks unless one is given.
inline QString seedProposal(RedisClient &client, const Proposal &p, const QMap<QString, int> &demand = {},
                            const QByteArray &streamId = "*")
{
    const QByteArray seen = qb(RedisSchema::seenKey(p.key));
    bool first = false;
    const QMap<QString, int> counts = demand.isEmpty() ? QMap<QString, int>{{QString::fromStdString(p.region), 1}}
                                                       : demand;
    for (auto it = counts.cbegin(); it != counts.cend(); ++it) {
        client.command({"HINCRBY", seen, it.key().toUtf8(), QByteArray::number(it.value())});
        const RedisValue total = client.command(
            {"HINCRBY", seen, qb(RedisSchema::kSeenTotalField), QByteArray::number(it.value())});
        first = first || total.integer == it.value();
    }
    Q_UNUSED(first);
    QList<QByteArray> argv{
        "XADD",  qb(RedisSchema::kProposals), "MAXLEN", "~", QByteArray::number(RedisSchema::kProposalsMaxLen),
        streamId};
    for (const auto &[f, v] : ProposalCodec::encode(p)) {
        argv.append(qb(f));
        argv.append(qb(v));
    }
    const RedisValue id = client.command(argv);
    return QString::fromUtf8(id.str);
}

// The key of the test proposal made under this name by makeProposal (the
// console accepts only the key its fields give); the name itself for a name
// no proposal was made under (a key that was never proposed).
inline QHash<QString, QString> &proposalKeys()
{
    static QHash<QString, QString> keys;
    return keys;
}
inline QString keyOf(const QString &name)
{
    return proposalKeys().value(name, name);
}

// A proposal as a gateway makes it; its key is derived from its fields and
// recorded under name (keyOf).
inline Proposal makeProposal(const std::string &name, const std::string &prompt, const std::string &region = "nyc",
                             std::int64_t upstreamMs = 500)
{
    Proposal p;
    p.ns = "default";
    p.system = "You are a helpful support agent.";
    p.prompt = prompt;
    p.response = "Answer to: " + prompt;
    p.model = "gpt-4o";
    p.region = region;
    p.tsMs = 1700000000000;
    p.upstreamMs = upstreamMs;
    p.key = p.derivedKey();
    proposalKeys().insert(QString::fromStdString(name), QString::fromStdString(p.key));
    return p;
}

// Waits for one ApprovalService result.
inline bool waitResult(QSignalSpy &spy, ApprovalResult *out, int timeoutMs = 15000)
{
    if (spy.isEmpty() && !spy.wait(l0l3::test::TimeScale::ms(timeoutMs)))
        return false;
    *out = spy.takeFirst().at(0).value<ApprovalResult>();
    return true;
}

// A raw RESP subscriber (the sync RedisClient cannot wait for pushes).
class Subscriber
{
public:
    bool start(const RedisServer &server, const QByteArray &channel, const QString &user = QStringLiteral("console"))
    {
        m_socket.connectToHost(server.host(), quint16(server.port()));
        if (!m_socket.waitForConnected(l0l3::test::TimeScale::ms(3000)))
            return false;
        const QByteArray pw = TestCredentials::get().password(user).toUtf8();
        m_socket.write(resp({"AUTH", user.toUtf8(), pw}) + resp({"SUBSCRIBE", channel}));
        QObject::connect(&m_socket, &QTcpSocket::readyRead, [this] { m_data += m_socket.readAll(); });
        // Subscribed once the confirmation arrived.
        for (int i = 0; i < 100 && !m_data.contains("subscribe"); ++i)
            m_socket.waitForReadyRead(l0l3::test::TimeScale::ms(50));
        return m_data.contains("subscribe");
    }
    QByteArray data() const { return m_data; }

private:
    static QByteArray resp(const QList<QByteArray> &argv)
    {
        QByteArray out = "*" + QByteArray::number(argv.size()) + "\r\n";
        for (const QByteArray &a : argv)
            out += "$" + QByteArray::number(a.size()) + "\r\n" + a + "\r\n";
        return out;
    }
    QTcpSocket m_socket;
    QByteArray m_data;
};

} // namespace l0l3::test
