#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/control/primarytracker.h"
#include "core/control/redisconnection.h"
#include "core/control/sentinelclient.h"
#include "tests/integration/e2estack.h"
#include "tests/integration/rogueredis.h"
#include "tests/support/managedprocess.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QByteArray logOf(ManagedProcess &process)
{
    return QByteArray(process.stdoutText() + process.stderrText());
}

} // namespace

// One of the three configured Sentinels is not what it should be: a rogue
// that names a fake primary (both RogueRedis, recording every byte), or one
// that serves anonymous clients. Two real, authenticated Sentinels watch the
// real primary. Gateways (l0l3-gateway processes) and the console
// (SentinelClient + PrimaryTracker) must keep the real primary, send no
// credential of the data nodes to the rogue or the fake primary, and refuse
// the anonymous Sentinel unless told to accept it.
class TestRogueSentinel : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void gatewayKeepsPrimaryAgainstRogueSentinel();
    void gatewayRefusesAnonymousSentinel();
    void gatewayUsesAnonymousSentinelWhenAllowed();
    void consoleKeepsPrimaryAgainstRogueSentinel();
    void consoleIgnoresUnconfirmedSwitch();
    void consoleRefusesAnonymousSentinel();

private:
    // Sentinels in this order: the odd one first, as the one asked first.
    QStringList sentinelList(const RogueRedis &odd) const;
    bool startGateway(ManagedProcess &gateway, const RogueRedis &odd, const QStringList &extra, QString *error);
    SentinelClient::Options consoleOptions(const RogueRedis &odd) const;
    // The data nodes' passwords appear nowhere in what rogue received.
    static void verifyNoDataNodePassword(const RogueRedis &rogue);

    RedisServer m_primary;
    RedisServer m_replica;
    RedisServer m_sentinels[2];
    std::unique_ptr<RogueRedis> m_rogue;     // names m_fakePrimary, requires AUTH
    std::unique_ptr<RogueRedis> m_anonymous; // names the real primary, no AUTH
    std::unique_ptr<RogueRedis> m_fakePrimary;
};

void TestRogueSentinel::initTestCase()
{
    QString error;
    QVERIFY2(m_primary.start({}, &error), qPrintable(error));
    RedisServer::Options ro;
    ro.replicaOfPort = m_primary.port();
    QVERIFY2(m_replica.start(ro, &error), qPrintable(error));
    for (RedisServer &s : m_sentinels) {
        RedisServer::Options so;
        so.sentinel = true;
        so.monitorPort = m_primary.port();
        so.quorum = 2;
        QVERIFY2(s.start(so, &error), qPrintable(error));
    }
    m_fakePrimary = std::make_unique<RogueRedis>();
    QVERIFY2(m_fakePrimary->start(&error), qPrintable(error));
    m_rogue = std::make_unique<RogueRedis>();
    m_rogue->masterPort = m_fakePrimary->port();
    QVERIFY2(m_rogue->start(&error), qPrintable(error));
    m_anonymous = std::make_unique<RogueRedis>();
    m_anonymous->requireAuth = false;
    m_anonymous->masterPort = m_primary.port();
    QVERIFY2(m_anonymous->start(&error), qPrintable(error));
}

void TestRogueSentinel::cleanupTestCase()
{
    for (RedisServer &s : m_sentinels)
        s.stop();
    m_replica.stop();
    m_primary.stop();
}

QStringList TestRogueSentinel::sentinelList(const RogueRedis &odd) const
{
    return {QStringLiteral("%1:%2").arg(odd.host()).arg(odd.port()),
            QStringLiteral("%1:%2").arg(m_sentinels[0].host()).arg(m_sentinels[0].port()),
            QStringLiteral("%1:%2").arg(m_sentinels[1].host()).arg(m_sentinels[1].port())};
}

bool TestRogueSentinel::startGateway(ManagedProcess &gateway, const RogueRedis &odd, const QStringList &extra,
                                     QString *error)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD"), TestCredentials::get().sentinelAuth);
    env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), TestCredentials::get().gateway);
    const QStringList args =
        QStringList{
            QStringLiteral("--listen"),        QStringLiteral("127.0.0.1:0"),
            QStringLiteral("--region"),        QStringLiteral("nyc"),
            QStringLiteral("--replica"),       QStringLiteral("redis://gateway@127.0.0.1:%1").arg(m_replica.port()),
            QStringLiteral("--primary"),       QStringLiteral("redis://gateway@127.0.0.1:%1").arg(m_primary.port()),
            QStringLiteral("--upstream"),      QStringLiteral("http://127.0.0.1:9/v1"), // never reached here
            QStringLiteral("--threads"),       QStringLiteral("1"),
            QStringLiteral("--sentinel"),      sentinelList(odd).join(u','),
            QStringLiteral("--sentinel-user"), m_sentinels[0].adminUser()}
        + extra;
    if (!gateway.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), args, env, error))
        return false;
    if (gateway.listenPort() > 0)
        return true;
    if (error)
        *error = QStringLiteral("the gateway did not start\n") + gateway.describe();
    return false;
}

SentinelClient::Options TestRogueSentinel::consoleOptions(const RogueRedis &odd) const
{
    SentinelClient::Options o;
    o.sentinels.append({odd.host(), odd.port()});
    for (const RedisServer &s : m_sentinels)
        o.sentinels.append({s.host(), s.port()});
    o.sentinelUser = m_sentinels[0].adminUser().toUtf8();
    o.sentinelPassword = TestCredentials::get().sentinelAuth.toUtf8();
    o.serverUser = QByteArrayLiteral("console");
    o.serverPassword = TestCredentials::get().console.toUtf8();
    o.serverHosts = {{m_primary.host(), m_primary.port()}, {m_replica.host(), m_replica.port()}};
    o.commandTimeoutMs = 2000;
    o.switchConfirmTimeoutMs = 1500;
    return o;
}

void TestRogueSentinel::verifyNoDataNodePassword(const RogueRedis &rogue)
{
    const TestCredentials &c = TestCredentials::get();
    for (const QString &password : {c.gateway, c.console, c.replication, c.sentinel})
        QVERIFY2(!rogue.received().contains(password.toUtf8()),
                 qPrintable(QString::fromUtf8(rogue.received().left(2000))));
}

// The rogue is asked first and names the fake primary: a majority of
// Sentinels names the real one, and the fake one is not an allowed host.
void TestRogueSentinel::gatewayKeepsPrimaryAgainstRogueSentinel()
{
    const QString fakeAddress = QStringLiteral("%1:%2").arg(m_fakePrimary->host()).arg(m_fakePrimary->port());
    ManagedProcess gateway;
    QString error;
    // Even listed, the fake primary gets nothing: two of three Sentinels name the real one.
    QVERIFY2(startGateway(gateway, *m_rogue, {QStringLiteral("--redis-hosts"), fakeAddress}, &error),
             qPrintable(error));
    QTRY_VERIFY2_WITH_TIMEOUT(m_rogue->count("SUBSCRIBE") >= 1, qPrintable(gateway.describe()), TimeScale::ms(10000));
    const QByteArray claim = QStringLiteral("l0l3 %1 %2 %3 %4")
                                 .arg(m_primary.host())
                                 .arg(m_primary.port())
                                 .arg(m_fakePrimary->host())
                                 .arg(m_fakePrimary->port())
                                 .toUtf8();
    // Two announcements, each answered by a round: the second starts after the first ended.
    for (int i = 0; i < 2; ++i) {
        const int asked = m_rogue->count("SENTINEL");
        m_rogue->publish(QByteArrayLiteral("+switch-master"), claim);
        QTRY_VERIFY2_WITH_TIMEOUT(m_rogue->count("SENTINEL") > asked, qPrintable(gateway.describe()),
                                  TimeScale::ms(10000));
    }
    QCOMPARE(m_fakePrimary->connectionsAccepted(), 0);
    verifyNoDataNodePassword(*m_rogue);
    const QByteArray log = logOf(gateway);
    QVERIFY2(!log.contains("primary switched"), log.constData());
    gateway.stop();
}

void TestRogueSentinel::gatewayRefusesAnonymousSentinel()
{
    ManagedProcess gateway;
    QString error;
    QVERIFY2(startGateway(gateway, *m_anonymous, {}, &error), qPrintable(error));
    QTRY_VERIFY2_WITH_TIMEOUT(logOf(gateway).contains("answers without AUTH"), qPrintable(gateway.describe()),
                              TimeScale::ms(10000));
    QVERIFY(m_anonymous->count("PING") >= 1);
    QCOMPARE(m_anonymous->count("AUTH"), 0);
    QCOMPARE(m_anonymous->count("SENTINEL"), 0);
    QVERIFY(!m_anonymous->received().contains(TestCredentials::get().sentinelAuth.toUtf8()));
    verifyNoDataNodePassword(*m_anonymous);
    gateway.stop();

    // Configured without any Sentinel password, the gateway does not start.
    ManagedProcess bare;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD"));
    env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), TestCredentials::get().gateway);
    QVERIFY(bare.start(
        ManagedProcess::binary(QStringLiteral("l0l3-gateway")),
        {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--region"), QStringLiteral("nyc"),
         QStringLiteral("--replica"), QStringLiteral("redis://gateway@127.0.0.1:%1").arg(m_replica.port()),
         QStringLiteral("--primary"), QStringLiteral("redis://gateway@127.0.0.1:%1").arg(m_primary.port()),
         QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:9/v1"), QStringLiteral("--sentinel"),
         sentinelList(*m_anonymous).join(u',')},
        env, &error));
    bare.setExpectedExitCodes({2});
    QVERIFY(bare.waitForFinished(TimeScale::ms(10000)));
    QCOMPARE(bare.exitCode(), 2);
    QVERIFY2(bare.stderrText().contains("--allow-anonymous-sentinel"), bare.stderrText().constData());
}

void TestRogueSentinel::gatewayUsesAnonymousSentinelWhenAllowed()
{
    const int asked = m_anonymous->count("SENTINEL");
    ManagedProcess gateway;
    QString error;
    QVERIFY2(startGateway(gateway, *m_anonymous, {QStringLiteral("--allow-anonymous-sentinel")}, &error),
             qPrintable(error));
    QTRY_VERIFY2_WITH_TIMEOUT(m_anonymous->count("SENTINEL") > asked, qPrintable(gateway.describe()),
                              TimeScale::ms(10000));
    QVERIFY(!logOf(gateway).contains("answers without AUTH"));
    verifyNoDataNodePassword(*m_anonymous);
    gateway.stop();
}

void TestRogueSentinel::consoleKeepsPrimaryAgainstRogueSentinel()
{
    SentinelClient::Options o = consoleOptions(*m_rogue);
    // Listed or not, the fake primary is never asked: the majority names the real one.
    o.serverHosts.append({m_fakePrimary->host(), m_fakePrimary->port()});
    SentinelClient client(o);
    QSignalSpy changed(&client, &SentinelClient::primaryChanged);
    client.start();
    QVERIFY(changed.wait(TimeScale::ms(10000)));
    QCOMPARE(changed.last().at(1).toInt(), m_primary.port());
    QVERIFY(m_rogue->count("SENTINEL") >= 1);
    QCOMPARE(m_fakePrimary->connectionsAccepted(), 0);
    verifyNoDataNodePassword(*m_rogue);
    client.stop();
}

// The rogue announces a switch to the fake primary: the console asks the
// Sentinels, no majority confirms it, the approval connection stays put.
void TestRogueSentinel::consoleIgnoresUnconfirmedSwitch()
{
    SentinelClient::Options o = consoleOptions(*m_rogue);
    o.serverHosts.append({m_fakePrimary->host(), m_fakePrimary->port()});
    SentinelClient client(o);
    RedisConnection connection(E2eStack::consoleOptions(m_primary.port()));
    PrimaryTracker tracker(&connection, &client);
    QSignalSpy changed(&client, &SentinelClient::primaryChanged);
    QSignalSpy observed(&client, &SentinelClient::switchMasterObserved);
    QSignalSpy rejected(&client, &SentinelClient::switchRejected);
    QSignalSpy repointed(&tracker, &PrimaryTracker::primaryRepointed);
    connection.open();
    client.start();
    QVERIFY(changed.wait(TimeScale::ms(10000)));
    QCOMPARE(client.primaryPort(), m_primary.port());
    QTRY_VERIFY_WITH_TIMEOUT(m_rogue->count("SUBSCRIBE") >= 1, TimeScale::ms(10000));
    const int changes = int(changed.count());
    const int repoints = int(repointed.count());

    m_rogue->publish(QByteArrayLiteral("+switch-master"),
                     QStringLiteral("l0l3 %1 %2 %3 %4")
                         .arg(m_primary.host())
                         .arg(m_primary.port())
                         .arg(m_fakePrimary->host())
                         .arg(m_fakePrimary->port())
                         .toUtf8());
    QVERIFY(observed.wait(TimeScale::ms(5000)));
    QVERIFY(rejected.wait(TimeScale::ms(10000)));
    QCOMPARE(rejected.first().at(1).toInt(), m_fakePrimary->port());
    QCOMPARE(changed.count(), changes);
    QCOMPARE(repointed.count(), repoints);
    QCOMPARE(client.primaryPort(), m_primary.port());
    QCOMPARE(connection.options().port, m_primary.port());
    QCOMPARE(m_fakePrimary->connectionsAccepted(), 0);
    verifyNoDataNodePassword(*m_rogue);
    client.stop();
}

void TestRogueSentinel::consoleRefusesAnonymousSentinel()
{
    {
        const int authBefore = m_anonymous->count("AUTH");
        const qsizetype receivedBefore = m_anonymous->received().size();
        SentinelClient client(consoleOptions(*m_anonymous));
        QSignalSpy refused(&client, &SentinelClient::sentinelRefused);
        QSignalSpy changed(&client, &SentinelClient::primaryChanged);
        client.start();
        QVERIFY(refused.wait(TimeScale::ms(10000)));
        QCOMPARE(refused.first().at(1).toInt(), m_anonymous->port());
        QVERIFY2(refused.first().at(2).toString().contains(QLatin1String("without AUTH")),
                 qPrintable(refused.first().at(2).toString()));
        // The two real Sentinels are a majority of three.
        QVERIFY(changed.count() > 0 || changed.wait(TimeScale::ms(10000)));
        QCOMPARE(client.primaryPort(), m_primary.port());
        QCOMPARE(m_anonymous->count("AUTH"), authBefore);
        QVERIFY(!m_anonymous->received().mid(receivedBefore).contains(TestCredentials::get().sentinelAuth.toUtf8()));
        verifyNoDataNodePassword(*m_anonymous);
        client.stop();
    }
    {
        SentinelClient::Options o = consoleOptions(*m_anonymous);
        o.allowAnonymousSentinel = true;
        const int asked = m_anonymous->count("SENTINEL");
        SentinelClient client(o);
        QSignalSpy refused(&client, &SentinelClient::sentinelRefused);
        QSignalSpy changed(&client, &SentinelClient::primaryChanged);
        client.start();
        QVERIFY(changed.wait(TimeScale::ms(10000)));
        QTRY_VERIFY_WITH_TIMEOUT(m_anonymous->count("SENTINEL") > asked, TimeScale::ms(5000));
        QCOMPARE(refused.count(), 0);
        client.stop();
    }
}

QTEST_GUILESS_MAIN(TestRogueSentinel)
#include "tst_roguesentinel.moc"
