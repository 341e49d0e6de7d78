// What each ACL user of packaging/redis/users.acl may run, on a real
// redis-server that loaded the rendered file: NOPERM or not.

#include <QTest>

#include "core/common/proposal.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "tests/control/controltestsupport.h"

using namespace l0l3;
using namespace l0l3::test;

class TestRedisAcl : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void permissions_data();
    void permissions();
    void gatewayProposesThroughTheFunction();
    void gatewayCannotDrainTheInbox();
    void gatewayHeartbeatNeverMovesBackwards();

private:
    RedisServer m_server;
};

void TestRedisAcl::initTestCase()
{
    QString error;
    QVERIFY2(m_server.start({}, &error), qPrintable(error));
    // Something to trim, delete or rename in every stream the rows name.
    RedisClient console = m_server.client(QStringLiteral("console"));
    QVERIFY(!console.command({"XADD", qb(RedisSchema::kAudit), "*", "action", "approve"}).isError());
    QVERIFY(!console.command({"XADD", qb(RedisSchema::kProposals), "*", "key", "k"}).isError());
    RedisClient gateway = m_server.client(QStringLiteral("gateway"));
    QVERIFY(!gateway.command({"RPUSH", qb(RedisSchema::kProposalInbox), "element"}).isError());
}

void TestRedisAcl::cleanupTestCase()
{
    QVERIFY(m_server.stop());
}

void TestRedisAcl::permissions_data()
{
    QTest::addColumn<QString>("user");
    QTest::addColumn<QList<QByteArray>>("argv");
    QTest::addColumn<bool>("allowed");
    const QByteArray audit = qb(RedisSchema::kAudit);
    const QByteArray proposals = qb(RedisSchema::kProposals);
    const QByteArray inbox = qb(RedisSchema::kProposalInbox);
    const QByteArray entry = qb(RedisSchema::entryKey("0123456789abcdef0123456789abcdef"));
    const QByteArray seen = qb(RedisSchema::seenKey("0123456789abcdef0123456789abcdef"));
    const QByteArray library = qb(ProposalFunction::kLibrary);
    const QString gateway = QStringLiteral("gateway");
    const QString console = QStringLiteral("console");
    const QString sentinel = QStringLiteral("sentinel");
    const QString topology = QStringLiteral("topology");

    // Gateways: propose through the function into the inbox; never touch the stream, never take
    // anything out of the inbox, never write entries.
    QTest::newRow("gateway FCALL l0l3_propose")
        << gateway << QList<QByteArray>{"FCALL", "l0l3_propose", "0", "x", ""} << true;
    QTest::newRow("gateway RPUSH inbox") << gateway << QList<QByteArray>{"RPUSH", inbox, "x"} << true;
    QTest::newRow("gateway LLEN inbox") << gateway << QList<QByteArray>{"LLEN", inbox} << true;
    QTest::newRow("gateway XADD proposals")
        << gateway << QList<QByteArray>{"XADD", proposals, "*", "key", "k"} << false;
    QTest::newRow("gateway XADD MAXLEN 0 proposals")
        << gateway << QList<QByteArray>{"XADD", proposals, "MAXLEN", "0", "*", "key", "k"} << false;
    QTest::newRow("gateway XADD MINID proposals")
        << gateway << QList<QByteArray>{"XADD", proposals, "MINID", "99999999999999", "*", "key", "k"} << false;
    QTest::newRow("gateway XLEN proposals") << gateway << QList<QByteArray>{"XLEN", proposals} << false;
    QTest::newRow("gateway LPOP inbox") << gateway << QList<QByteArray>{"LPOP", inbox, "1000"} << false;
    QTest::newRow("gateway RPOP inbox") << gateway << QList<QByteArray>{"RPOP", inbox} << false;
    QTest::newRow("gateway LTRIM inbox") << gateway << QList<QByteArray>{"LTRIM", inbox, "1", "0"} << false;
    QTest::newRow("gateway LREM inbox") << gateway << QList<QByteArray>{"LREM", inbox, "0", "element"} << false;
    QTest::newRow("gateway LSET inbox") << gateway << QList<QByteArray>{"LSET", inbox, "0", "forged"} << false;
    QTest::newRow("gateway LMOVE inbox") << gateway << QList<QByteArray>{"LMOVE", inbox, inbox, "LEFT", "RIGHT"}
                                         << false;
    QTest::newRow("gateway BLPOP inbox") << gateway << QList<QByteArray>{"BLPOP", inbox, "1"} << false;
    QTest::newRow("gateway LRANGE inbox") << gateway << QList<QByteArray>{"LRANGE", inbox, "0", "-1"} << false;
    QTest::newRow("gateway DEL inbox") << gateway << QList<QByteArray>{"DEL", inbox} << false;
    QTest::newRow("gateway UNLINK inbox") << gateway << QList<QByteArray>{"UNLINK", inbox} << false;
    QTest::newRow("gateway PEXPIRE inbox") << gateway << QList<QByteArray>{"PEXPIRE", inbox, "1"} << false;
    QTest::newRow("gateway RENAME inbox") << gateway << QList<QByteArray>{"RENAME", inbox, seen} << false;
    QTest::newRow("gateway RPUSH other key") << gateway << QList<QByteArray>{"RPUSH", seen, "x"} << false;
    QTest::newRow("gateway XTRIM proposals")
        << gateway << QList<QByteArray>{"XTRIM", proposals, "MAXLEN", "0"} << false;
    QTest::newRow("gateway XDEL proposals") << gateway << QList<QByteArray>{"XDEL", proposals, "1-0"} << false;
    QTest::newRow("gateway DEL proposals") << gateway << QList<QByteArray>{"DEL", proposals} << false;
    QTest::newRow("gateway UNLINK proposals") << gateway << QList<QByteArray>{"UNLINK", proposals} << false;
    QTest::newRow("gateway PEXPIRE proposals") << gateway << QList<QByteArray>{"PEXPIRE", proposals, "1"} << false;
    QTest::newRow("gateway XGROUP DESTROY")
        << gateway << QList<QByteArray>{"XGROUP", "DESTROY", proposals, "console"} << false;
    QTest::newRow("gateway XRANGE proposals") << gateway << QList<QByteArray>{"XRANGE", proposals, "-", "+"} << false;
    QTest::newRow("gateway SET entry") << gateway << QList<QByteArray>{"SET", entry, "{}"} << false;
    QTest::newRow("gateway DEL entry") << gateway << QList<QByteArray>{"DEL", entry} << false;
    QTest::newRow("gateway DEL seen") << gateway << QList<QByteArray>{"DEL", seen} << false;
    QTest::newRow("gateway SET limits") << gateway
                                        << QList<QByteArray>{"HSET", qb(RedisSchema::kProposalLimits), "max_len", "1"}
                                        << false;
    QTest::newRow("gateway FUNCTION LOAD")
        << gateway << QList<QByteArray>{"FUNCTION", "LOAD", "REPLACE", library} << false;
    QTest::newRow("gateway FUNCTION FLUSH") << gateway << QList<QByteArray>{"FUNCTION", "FLUSH"} << false;
    QTest::newRow("gateway EVAL") << gateway << QList<QByteArray>{"EVAL", "return 1", "0"} << false;
    // Fleet: the heartbeat (through the function or a plain SET) and registry records, written but
    // never read back; no other key, no DEL.
    const QByteArray heartbeat = qb(RedisSchema::kHeartbeat);
    const QByteArray record = qb(RedisSchema::fleetGatewayKey("gw-1"));
    QTest::newRow("gateway FCALL l0l3_heartbeat")
        << gateway << QList<QByteArray>{"FCALL", "l0l3_heartbeat", "0"} << true;
    QTest::newRow("gateway SET heartbeat") << gateway << QList<QByteArray>{"SET", heartbeat, "1"} << true;
    QTest::newRow("gateway SET registry record")
        << gateway << QList<QByteArray>{"SET", record, "{}", "PX", "15000"} << true;
    QTest::newRow("gateway SET another gateway's record")
        << gateway << QList<QByteArray>{"SET", qb(RedisSchema::fleetGatewayKey("gw-2")), "{}", "PX", "15000"} << true;
    QTest::newRow("gateway GET registry record") << gateway << QList<QByteArray>{"GET", record} << false;
    QTest::newRow("gateway SET GET registry record")
        << gateway << QList<QByteArray>{"SET", record, "{}", "GET"} << false;
    QTest::newRow("gateway MGET registry records")
        << gateway << QList<QByteArray>{"MGET", record, qb(RedisSchema::fleetGatewayKey("gw-2"))} << false;
    // SCAN is granted for the L1 index (it lists vector:* on the replica at
    // start). It names keys but reads no value: the record itself stays refused.
    QTest::newRow("gateway SCAN") << gateway << QList<QByteArray>{"SCAN", "0", "MATCH", "l0l3:v1:fleet:*"} << true;
    QTest::newRow("gateway DEL registry record") << gateway << QList<QByteArray>{"DEL", record} << false;
    QTest::newRow("gateway PEXPIRE registry record") << gateway << QList<QByteArray>{"PEXPIRE", record, "1"} << false;
    QTest::newRow("gateway SET outside the registry")
        << gateway << QList<QByteArray>{"SET", "l0l3:v1:fleet:other", "{}"} << false;
    QTest::newRow("gateway SET frozen") << gateway << QList<QByteArray>{"SET", qb(RedisSchema::kFrozen), "1"} << false;
    QTest::newRow("gateway SET drained") << gateway << QList<QByteArray>{"SET", qb(RedisSchema::kDrained), "1"}
                                         << false;
    QTest::newRow("gateway DEL heartbeat") << gateway << QList<QByteArray>{"DEL", heartbeat} << false;
    QTest::newRow("console SCAN registry")
        << console << QList<QByteArray>{"SCAN", "0", "MATCH", qb(RedisSchema::kFleetGatewayPattern)} << true;
    QTest::newRow("console GET registry record") << console << QList<QByteArray>{"GET", record} << true;
    QTest::newRow("console GETRANGE registry record")
        << console << QList<QByteArray>{"GETRANGE", record, "0", "2048"} << true;
    QTest::newRow("console STRLEN registry record") << console << QList<QByteArray>{"STRLEN", record} << true;
    QTest::newRow("console PTTL registry record") << console << QList<QByteArray>{"PTTL", record} << true;
    QTest::newRow("console SET registry record") << console << QList<QByteArray>{"SET", record, "{}"} << false;

    // The console: writes entries and appends audit records; nothing may trim or delete the audit.
    QTest::newRow("console SET entry") << console << QList<QByteArray>{"SET", entry, "{}"} << true;
    QTest::newRow("console XADD audit") << console << QList<QByteArray>{"XADD", audit, "*", "action", "approve"}
                                        << true;
    QTest::newRow("console XREVRANGE audit")
        << console << QList<QByteArray>{"XREVRANGE", audit, "+", "-", "COUNT", "1"} << true;
    // The live audit tail: a blocking read from the last id seen, on a connection of its own.
    QTest::newRow("console XREAD BLOCK audit")
        << console << QList<QByteArray>{"XREAD", "COUNT", "10", "BLOCK", "1", "STREAMS", audit, "0-0"} << true;
    QTest::newRow("console FUNCTION LOAD")
        << console << QList<QByteArray>{"FUNCTION", "LOAD", "REPLACE", library} << true;
    QTest::newRow("console LPOP inbox") << console << QList<QByteArray>{"LPOP", inbox, "1"} << true;
    QTest::newRow("console FCALL l0l3_drain") << console << QList<QByteArray>{"FCALL", "l0l3_drain", "0", "10"} << true;
    QTest::newRow("console XTRIM audit") << console << QList<QByteArray>{"XTRIM", audit, "MAXLEN", "0"} << false;
    QTest::newRow("console XDEL audit") << console << QList<QByteArray>{"XDEL", audit, "1-0"} << false;
    // An L1 review verdict takes its item out of the queue; nothing else of the console's is XDELed.
    QTest::newRow("console XDEL l1-review")
        << console << QList<QByteArray>{"XDEL", qb(RedisSchema::kL1Review), "1-0"} << true;
    QTest::newRow("console XDEL proposals") << console << QList<QByteArray>{"XDEL", proposals, "1-0"} << false;
    QTest::newRow("console DEL audit") << console << QList<QByteArray>{"DEL", audit} << false;
    QTest::newRow("console UNLINK audit") << console << QList<QByteArray>{"UNLINK", audit} << false;
    QTest::newRow("console EXPIRE audit") << console << QList<QByteArray>{"EXPIRE", audit, "1"} << false;
    QTest::newRow("console RENAME audit") << console << QList<QByteArray>{"RENAME", audit, entry} << false;
    QTest::newRow("console CLIENT PAUSE") << console << QList<QByteArray>{"CLIENT", "PAUSE", "1"} << false;
    QTest::newRow("console CLIENT KILL") << console << QList<QByteArray>{"CLIENT", "KILL", "TYPE", "normal"} << false;
    QTest::newRow("console SWAPDB") << console << QList<QByteArray>{"SWAPDB", "0", "1"} << false;
    QTest::newRow("console MIGRATE") << console << QList<QByteArray>{"MIGRATE", "127.0.0.1", "1", entry, "0", "10"}
                                     << false;
    QTest::newRow("console REPLICAOF") << console << QList<QByteArray>{"REPLICAOF", "NO", "ONE"} << false;
    QTest::newRow("console FAILOVER") << console << QList<QByteArray>{"FAILOVER", "ABORT"} << false;
    QTest::newRow("console SCRIPT FLUSH") << console << QList<QByteArray>{"SCRIPT", "FLUSH"} << false;
    QTest::newRow("console FUNCTION FLUSH") << console << QList<QByteArray>{"FUNCTION", "FLUSH"} << false;
    QTest::newRow("console FUNCTION DELETE") << console << QList<QByteArray>{"FUNCTION", "DELETE", "l0l3"} << false;
    QTest::newRow("console FLUSHALL") << console << QList<QByteArray>{"FLUSHALL"} << false;
    QTest::newRow("console KEYS") << console << QList<QByteArray>{"KEYS", "*"} << false;
    QTest::newRow("console CONFIG SET") << console << QList<QByteArray>{"CONFIG", "SET", "maxmemory", "1"} << false;
    QTest::newRow("console other key") << console << QList<QByteArray>{"SET", "other", "1"} << false;

    // Sentinel: exactly what it needs on a monitored instance.
    QTest::newRow("sentinel INFO") << sentinel << QList<QByteArray>{"INFO", "replication"} << true;
    QTest::newRow("sentinel CLIENT SETNAME")
        << sentinel << QList<QByteArray>{"CLIENT", "SETNAME", "sentinel-1"} << true;
    QTest::newRow("sentinel CONFIG SET") << sentinel << QList<QByteArray>{"CONFIG", "SET", "maxmemory", "1"} << false;
    QTest::newRow("sentinel CONFIG GET") << sentinel << QList<QByteArray>{"CONFIG", "GET", "maxmemory"} << false;
    QTest::newRow("sentinel GET") << sentinel << QList<QByteArray>{"GET", entry} << false;
    QTest::newRow("sentinel CLIENT PAUSE") << sentinel << QList<QByteArray>{"CLIENT", "PAUSE", "1"} << false;

    // Topology: a promotion without Sentinel, nothing else.
    QTest::newRow("topology ROLE") << topology << QList<QByteArray>{"ROLE"} << true;
    QTest::newRow("topology SET") << topology << QList<QByteArray>{"SET", entry, "{}"} << false;
    QTest::newRow("topology CONFIG SET") << topology << QList<QByteArray>{"CONFIG", "SET", "maxmemory", "1"} << false;
    QTest::newRow("topology FLUSHALL") << topology << QList<QByteArray>{"FLUSHALL"} << false;
}

void TestRedisAcl::permissions()
{
    QFETCH(QString, user);
    QFETCH(QList<QByteArray>, argv);
    QFETCH(bool, allowed);
    RedisClient client = m_server.client(user);
    QVERIFY2(client.isConnected(), qPrintable(user + QStringLiteral(": ") + client.lastError()));
    RedisClient console = m_server.client(QStringLiteral("console"));
    const auto length = [&console](const char *command, std::string_view key) {
        return console.command({command, qb(key)}).integer;
    };
    const qint64 inboxBefore = length("LLEN", RedisSchema::kProposalInbox);
    const qint64 proposalsBefore = length("XLEN", RedisSchema::kProposals);
    const RedisValue reply = client.command(argv);
    const bool denied = reply.isError() && reply.str.startsWith("NOPERM");
    QVERIFY2(denied != allowed, qPrintable(reply.toString()));
    // Nothing that was refused took effect on the audit stream.
    QVERIFY(length("XLEN", RedisSchema::kAudit) >= 1);
    // A gateway takes nothing out of the inbox or the proposals stream.
    if (user == u"gateway") {
        QVERIFY(length("LLEN", RedisSchema::kProposalInbox) >= inboxBefore);
        QCOMPARE(length("XLEN", RedisSchema::kProposals), proposalsBefore);
    }
}

// The whole path a gateway takes, as the gateway user: one FCALL.
void TestRedisAcl::gatewayProposesThroughTheFunction()
{
    Proposal p = makeProposal("acl-propose", "Who may propose?");
    RedisClient gateway = m_server.client(QStringLiteral("gateway"));
    const RedisValue r = gateway.command(
        {"FCALL", qb(ProposalFunction::kProposeName), "0", qb(p.key), qb(ProposalCodec::encode(p).at(1).second)});
    QVERIFY2(r.isStatus() && r.str == qb(ProposalFunction::kProposed), qPrintable(r.toString()));
    // The console moves it into the stream.
    RedisClient console = m_server.client(QStringLiteral("console"));
    const RedisValue drained = console.command({"FCALL", qb(ProposalFunction::kDrainName), "0", "1000"});
    QVERIFY2(!drained.isError() && drained.elements.value(0).integer >= 1, qPrintable(drained.toString()));
    const RedisValue last = console.command({"XREVRANGE", qb(RedisSchema::kProposals), "+", "-", "COUNT", "1"});
    QCOMPARE(last.elements.value(0).elements.value(1).elements.value(1).str, qb(p.key));
}

// l0l3_drain runs LPOP with the caller's ACL: a gateway cannot use it to empty the inbox.
void TestRedisAcl::gatewayCannotDrainTheInbox()
{
    RedisClient gateway = m_server.client(QStringLiteral("gateway"));
    RedisClient console = m_server.client(QStringLiteral("console"));
    QVERIFY(!gateway.command({"RPUSH", qb(RedisSchema::kProposalInbox), "element"}).isError());
    const qint64 before = console.command({"LLEN", qb(RedisSchema::kProposalInbox)}).integer;
    QVERIFY(before >= 1);
    const RedisValue r = gateway.command({"FCALL", qb(ProposalFunction::kDrainName), "0", "1000"});
    QVERIFY2(r.isError() && r.str.contains("can't run this command"), qPrintable(r.toString()));
    QCOMPARE(console.command({"LLEN", qb(RedisSchema::kProposalInbox)}).integer, before);
}

// l0l3_heartbeat as the gateway user: the primary's clock, never backwards; a value far in the
// future (forged, or another primary's clock) does not stop it.
void TestRedisAcl::gatewayHeartbeatNeverMovesBackwards()
{
    RedisClient gateway = m_server.client(QStringLiteral("gateway"));
    RedisClient console = m_server.client(QStringLiteral("console"));
    const QByteArray key = qb(RedisSchema::kHeartbeat);
    const QList<QByteArray> fcall{"FCALL", qb(ProposalFunction::kHeartbeatName), "0"};
    const auto stored = [&] { return console.command({"GET", key}).str.toLongLong(); };
    const auto primaryMs = [&] {
        const RedisValue t = console.command({"TIME"});
        return t.elements.value(0).str.toLongLong() * 1000 + t.elements.value(1).str.toLongLong() / 1000;
    };

    QVERIFY(!console.command({"DEL", key}).isError());
    const RedisValue first = gateway.command(fcall);
    QVERIFY2(first.isInteger(), qPrintable(first.toString()));
    QCOMPARE(stored(), first.integer);
    QVERIFY(qAbs(first.integer - primaryMs()) < 1000);
    const RedisValue second = gateway.command(fcall);
    QVERIFY(second.integer >= first.integer);

    // A little ahead (another writer's clock step): kept, not moved back.
    const qint64 ahead = primaryMs() + 3000;
    QVERIFY(!console.command({"SET", key, QByteArray::number(ahead)}).isError());
    QCOMPARE(gateway.command(fcall).integer, ahead);
    QCOMPARE(stored(), ahead);

    // Far ahead or not a number: replaced by the primary's clock.
    for (const QByteArray &bad : {QByteArray::number(primaryMs() + 3600000), QByteArray("garbage"),
                                  QByteArray("99999999999999999999999"), QByteArray("-5")}) {
        QVERIFY(!console.command({"SET", key, bad}).isError());
        const RedisValue r = gateway.command(fcall);
        QVERIFY2(r.isInteger() && qAbs(r.integer - primaryMs()) < 1000,
                 qPrintable(QString::fromLatin1(bad) + QStringLiteral(" -> ") + r.toString()));
        QCOMPARE(stored(), r.integer);
    }
    QVERIFY(gateway.command({"FCALL", qb(ProposalFunction::kHeartbeatName), "0", "extra"}).isError());
}

QTEST_GUILESS_MAIN(TestRedisAcl)
#include "tst_redisacl.moc"
