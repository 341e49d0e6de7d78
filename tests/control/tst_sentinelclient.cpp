#include <QSignalSpy>
#include <QTest>

#include <algorithm>
#include <memory>

#include "core/common/redisschema.h"
#include "core/control/approvalservice.h"
#include "core/control/primarytracker.h"
#include "core/control/redisconnection.h"
#include "core/control/sentinelclient.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

RedisValue roleOf(const QString &host, int port)
{
    RedisClient c;
    if (!c.connect(host, port, QStringLiteral("console"), TestCredentials::get().console))
        return RedisValue::error("connection: " + c.lastError().toUtf8());
    return c.command({"ROLE"});
}

QByteArray roleName(const QString &host, int port)
{
    const RedisValue r = roleOf(host, port);
    return r.isArray() && !r.elements.isEmpty() ? r.elements.first().str : QByteArray();
}

} // namespace

// SentinelClient against 3 real Sentinels watching a primary and 2 replicas.
// The slots run in order on one shared rig: discover, failover, crash.
class TestSentinelClient : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void discoversPrimaryAndTopology();
    void failoverIsFollowedAndApprovalsRepoint();
    void crashedPrimaryIsFollowed();
    void manualPromotionWithoutSentinels();

private:
    SentinelClient::Options clientOptions() const;
    std::unique_ptr<RedisServer> m_servers[3]; // [0] starts as the primary
    std::unique_ptr<RedisServer> m_sentinels[3];
    std::unique_ptr<SentinelClient> m_client;
};

SentinelClient::Options TestSentinelClient::clientOptions() const
{
    SentinelClient::Options o;
    for (const auto &s : m_sentinels)
        o.sentinels.append({s->host(), s->port()});
    o.sentinelUser = m_sentinels[0]->adminUser().toUtf8();
    o.sentinelPassword = TestCredentials::get().sentinelAuth.toUtf8();
    o.serverUser = "console";
    o.serverPassword = TestCredentials::get().console.toUtf8();
    for (const auto &s : m_servers)
        o.serverHosts.append({s->host(), s->port()});
    return o;
}

void TestSentinelClient::initTestCase()
{
    QString error;
    for (int i = 0; i < 3; ++i) {
        m_servers[i] = std::make_unique<RedisServer>();
        RedisServer::Options o;
        if (i > 0)
            o.replicaOfPort = m_servers[0]->port();
        QVERIFY2(m_servers[i]->start(o, &error), qPrintable(error));
    }
    for (auto &s : m_sentinels) {
        s = std::make_unique<RedisServer>();
        RedisServer::Options o;
        o.sentinel = true;
        o.monitorHost = m_servers[0]->host();
        o.monitorPort = m_servers[0]->port();
        o.quorum = 2;
        o.downAfterMs = 2000;
        QVERIFY2(s->start(o, &error), qPrintable(error));
    }
    // A failover needs every Sentinel to know the replicas and its peers.
    for (auto &s : m_sentinels) {
        RedisClient c = s->client(s->adminUser());
        QVERIFY2(c.isConnected(), qPrintable(c.lastError()));
        QTRY_VERIFY2_WITH_TIMEOUT(c.command({"SENTINEL", "replicas", "l0l3"}).elements.size() == 2,
                                  qPrintable(s->logTail()), TimeScale::ms(20000));
        QTRY_VERIFY2_WITH_TIMEOUT(c.command({"SENTINEL", "sentinels", "l0l3"}).elements.size() == 2,
                                  qPrintable(s->logTail()), TimeScale::ms(20000));
    }
}

void TestSentinelClient::cleanupTestCase()
{
    m_client.reset();
    for (auto &s : m_sentinels)
        s.reset();
    for (auto &s : m_servers)
        s.reset();
}

void TestSentinelClient::discoversPrimaryAndTopology()
{
    m_client = std::make_unique<SentinelClient>(clientOptions());
    QSignalSpy changed(m_client.get(), &SentinelClient::primaryChanged);
    m_client->start();
    QVERIFY(changed.wait(TimeScale::ms(10000)));
    QCOMPARE(changed.first().at(0).toString(), m_servers[0]->host());
    QCOMPARE(changed.first().at(1).toInt(), m_servers[0]->port());
    QCOMPARE(m_client->primaryPort(), m_servers[0]->port());

    QSignalSpy topo(m_client.get(), &SentinelClient::topologyUpdated);
    m_client->refreshTopology();
    QVERIFY(topo.wait(TimeScale::ms(5000)));
    const auto t = topo.first().first().value<SentinelTopology>();
    QVERIFY2(t.error.isEmpty(), qPrintable(t.error));
    QCOMPARE(t.masterPort, m_servers[0]->port());
    QCOMPARE(t.quorum, 2);
    QVERIFY2(t.quorumOk, qPrintable(t.quorumMessage));
    QVERIFY2(t.quorumMessage.startsWith(QLatin1String("OK")), qPrintable(t.quorumMessage));
    QCOMPARE(t.replicas.size(), 2);
    QCOMPARE(t.sentinels.size(), 2);
    QList<int> replicaPorts;
    for (const auto &r : t.replicas)
        replicaPorts << r.port;
    std::sort(replicaPorts.begin(), replicaPorts.end());
    QList<int> expected{m_servers[1]->port(), m_servers[2]->port()};
    std::sort(expected.begin(), expected.end());
    QCOMPARE(replicaPorts, expected);
}

void TestSentinelClient::failoverIsFollowedAndApprovalsRepoint()
{
    QVERIFY(m_client);
    RedisConnection::Options o;
    o.host = m_client->primaryHost();
    o.port = m_client->primaryPort();
    o.user = "console";
    o.password = TestCredentials::get().console.toUtf8();
    o.reconnectMinMs = 50;
    o.reconnectMaxMs = 400;
    RedisConnection connection(o);
    connection.open();
    ApprovalService approvals(&connection);
    approvals.setWaitTimeoutMs(0);
    PrimaryTracker tracker(&connection, m_client.get());

    ApprovalResult before;
    bool done = false;
    approvals.publishControl(QStringLiteral("drain eu"), QStringLiteral("tester"), [&](const ApprovalResult &r) {
        before = r;
        done = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(done, TimeScale::ms(10000));
    QVERIFY2(before.ok, qPrintable(before.message));

    QSignalSpy changed(m_client.get(), &SentinelClient::primaryChanged);
    QSignalSpy finished(m_client.get(), &SentinelClient::failoverFinished);
    QSignalSpy repointed(&tracker, &PrimaryTracker::primaryRepointed);
    m_client->failover();
    QVERIFY(finished.wait(TimeScale::ms(10000)));
    const auto result = finished.first().first().value<FailoverResult>();
    QVERIFY2(result.ok, qPrintable(result.message));

    QVERIFY(changed.count() > 0 || changed.wait(TimeScale::ms(30000)));
    const QString host = changed.last().at(0).toString();
    const int port = changed.last().at(1).toInt();
    QVERIFY2(port == m_servers[1]->port() || port == m_servers[2]->port(), qPrintable(QString::number(port)));
    QCOMPARE(roleName(host, port), QByteArray("master"));
    QTRY_COMPARE_WITH_TIMEOUT(repointed.count(), 1, TimeScale::ms(5000));
    QCOMPARE(connection.options().port, port);

    // The next write goes to the new primary and succeeds.
    ApprovalResult after;
    done = false;
    approvals.publishControl(QStringLiteral("undrain eu"), QStringLiteral("tester"), [&](const ApprovalResult &r) {
        after = r;
        done = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(done, TimeScale::ms(15000));
    QVERIFY2(after.ok, qPrintable(after.message));
    RedisClient check;
    QVERIFY(check.connect(host, port, QStringLiteral("console"), TestCredentials::get().console));
    const RedisValue drained = check.command(
        {"HGET", QByteArray::fromStdString(std::string(RedisSchema::kDrained)), "eu"});
    QVERIFY2(drained.isNil(), qPrintable(drained.toString()));
}

void TestSentinelClient::crashedPrimaryIsFollowed()
{
    QVERIFY(m_client);
    RedisServer *current = nullptr;
    for (auto &s : m_servers) {
        if (s->port() == m_client->primaryPort())
            current = s.get();
    }
    QVERIFY(current);
    // Sentinels must see the reconfigured replicas before they can promote one.
    for (auto &s : m_sentinels) {
        RedisClient c = s->client(s->adminUser());
        QTRY_VERIFY2_WITH_TIMEOUT(c.command({"SENTINEL", "replicas", "l0l3"}).elements.size() == 2,
                                  qPrintable(s->logTail()), TimeScale::ms(20000));
    }
    QSignalSpy observed(m_client.get(), &SentinelClient::switchMasterObserved);
    QSignalSpy changed(m_client.get(), &SentinelClient::primaryChanged);
    const int oldPort = current->port();
    current->kill();
    QVERIFY2(changed.wait(TimeScale::ms(40000)), qPrintable(m_sentinels[0]->logTail()));
    // A Sentinel that missed the earlier failover announces the switch from
    // the address it last knew; every announcement names the new primary.
    const int newPort = changed.last().at(1).toInt();
    QStringList seen;
    for (const auto &args : observed)
        seen << QStringLiteral("%1->%2").arg(args.at(1).toInt()).arg(args.at(3).toInt());
    QVERIFY2(std::any_of(observed.cbegin(), observed.cend(),
                         [newPort](const QList<QVariant> &args) { return args.at(3).toInt() == newPort; }),
             qPrintable(QStringLiteral("old %1, new %2, seen %3").arg(oldPort).arg(newPort).arg(seen.join(u' '))));
    const int port = changed.last().at(1).toInt();
    QVERIFY(port != oldPort);
    QCOMPARE(roleName(changed.last().at(0).toString(), port), QByteArray("master"));
}

void TestSentinelClient::manualPromotionWithoutSentinels()
{
    QString error;
    RedisServer primary;
    QVERIFY2(primary.start({}, &error), qPrintable(error));
    RedisServer::Options ro;
    ro.replicaOfPort = primary.port();
    RedisServer a, b;
    QVERIFY2(a.start(ro, &error), qPrintable(error));
    QVERIFY2(b.start(ro, &error), qPrintable(error));

    SentinelClient::Options o; // no Sentinels at all: quorum is impossible
    o.serverUser = "topology"; // REPLICAOF is the topology user's, not the console's
    o.serverPassword = TestCredentials::get().topology.toUtf8();
    SentinelClient client(o);
    QSignalSpy finished(&client, &SentinelClient::failoverFinished);
    QSignalSpy changed(&client, &SentinelClient::primaryChanged);

    client.failover();
    QVERIFY(finished.wait(TimeScale::ms(5000)));
    QVERIFY(!finished.first().first().value<FailoverResult>().ok);

    client.promoteManually({a.host(), a.port()}, {{primary.host(), primary.port()}, {b.host(), b.port()}});
    QVERIFY(finished.wait(TimeScale::ms(10000)));
    const auto result = finished.last().first().value<FailoverResult>();
    QVERIFY2(result.ok, qPrintable(result.message));
    QCOMPARE(result.action, QStringLiteral("manual-promotion"));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.first().at(1).toInt(), a.port());
    QCOMPARE(roleName(a.host(), a.port()), QByteArray("master"));
    for (RedisServer *s : {&primary, &b}) {
        const RedisValue role = roleOf(s->host(), s->port());
        QVERIFY2(role.isArray() && role.elements.size() >= 3, qPrintable(role.toString()));
        QCOMPARE(role.elements[0].str, QByteArray("slave"));
        QCOMPARE(role.elements[2].integer, qint64(a.port()));
    }
    // A write on the new primary reaches the re-pointed replicas.
    RedisClient w;
    QVERIFY(w.connect(a.host(), a.port(), QStringLiteral("console"), TestCredentials::get().console));
    QVERIFY(w.set("l0l3:v1:heartbeat", "1"));
    RedisClient r;
    QVERIFY(r.connect(b.host(), b.port(), QStringLiteral("console"), TestCredentials::get().console));
    QTRY_COMPARE_WITH_TIMEOUT(r.get("l0l3:v1:heartbeat"), QByteArray("1"), TimeScale::ms(15000));
}

QTEST_GUILESS_MAIN(TestSentinelClient)
#include "tst_sentinelclient.moc"
