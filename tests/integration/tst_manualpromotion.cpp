#include <QSignalSpy>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/common/controlmessage.h"
#include "core/common/redisschema.h"
#include "core/control/approvalservice.h"
#include "core/control/primarytracker.h"
#include "core/control/redisconnection.h"
#include "core/control/sentinelclient.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/support/httpclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QString address(const RedisServer &server)
{
    return QStringLiteral("%1:%2").arg(server.host()).arg(server.port());
}

} // namespace

// No Sentinel at all (no quorum possible): primary + 2 replicas (tokyo, eu),
// one l0l3-gateway per region. The console promotes tokyo's replica by
// REPLICAOF (SentinelClient::promoteManually), re-points the others and
// publishes "promote HOST:PORT" through the ApprovalService that
// PrimaryTracker moved to the new primary, as the topology page does. The
// tokyo gateway must verify the claim and send its proposals there; forged
// claims (a host it may not authenticate to, a node that is not master) change
// nothing.
class TestManualPromotion : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();
    void gatewayFollowsVerifiedPromotion();
    void sentinelMajorityWins();

private:
    QByteArray metrics(const QString &region);
    QByteArray gatewayLog(const QString &region);
    bool logged(const QString &region, const QByteArray &text) { return gatewayLog(region).contains(text); }

    std::unique_ptr<E2eStack> m_stack;
    RedisServer m_stranger; // a master no gateway may authenticate to
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    std::unique_ptr<SentinelClient> m_sentinels;
    std::unique_ptr<PrimaryTracker> m_tracker;
    QString m_runId;
};

void TestManualPromotion::init()
{
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
    m_stack = std::make_unique<E2eStack>();
    E2eStack::Options options;
    options.regions = {QStringLiteral("tokyo"), QStringLiteral("eu")};
    QString error;
    QVERIFY2(m_stranger.start({}, &error), qPrintable(error));
    if (QByteArray(QTest::currentTestFunction()) == "sentinelMajorityWins") {
        // Three Sentinels agree on the primary; the stranger is an allowed host of every gateway.
        options.regions = {QStringLiteral("tokyo")};
        options.sentinels = 3;
        options.gatewayArgs = {QStringLiteral("--redis-hosts"), address(m_stranger)};
        QVERIFY2(m_stack->start(options, &error), qPrintable(error + u'\n' + m_stack->describe()));
        QVERIFY2(m_stack->waitForSentinels(30000, &error), qPrintable(error));
        return;
    }
    QVERIFY2(m_stack->start(options, &error), qPrintable(error + u'\n' + m_stack->describe()));

    m_connection = std::make_unique<RedisConnection>(E2eStack::consoleOptions(m_stack->primary().port()));
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("e2e-manual-promotion"));
    SentinelClient::Options so = m_stack->sentinelClientOptions();
    so.serverUser = QByteArrayLiteral("topology"); // REPLICAOF is the topology user's
    so.serverPassword = TestCredentials::get().topology.toUtf8();
    m_sentinels = std::make_unique<SentinelClient>(so);
    m_tracker = std::make_unique<PrimaryTracker>(m_connection.get(), m_sentinels.get());
    m_connection->open();
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));
}

void TestManualPromotion::cleanup()
{
    if (QTest::currentTestFailed() && m_stack)
        qWarning().noquote() << m_stack->describe();
    m_tracker.reset();
    m_sentinels.reset();
    m_approvals.reset();
    m_connection.reset();
    m_stranger.stop();
    m_stack.reset();
}

QByteArray TestManualPromotion::metrics(const QString &region)
{
    HttpClient http;
    return http.get(m_stack->gatewayUrl(region, QStringLiteral("/metrics"))).body;
}

QByteArray TestManualPromotion::gatewayLog(const QString &region)
{
    ManagedProcess &gateway = m_stack->gateway(region);
    return QByteArray(gateway.stdoutText() + gateway.stderrText());
}

void TestManualPromotion::gatewayFollowsVerifiedPromotion()
{
    const QString tokyo = QStringLiteral("tokyo");
    RedisServer &oldPrimary = m_stack->primary();
    RedisServer &newPrimary = m_stack->replica(tokyo);
    RedisServer &eu = m_stack->replica(QStringLiteral("eu"));
    const QByteArray label = "{region=\"tokyo\"}";
    const QByteArray noSwitch = "l0l3_primary_switches_total" + label + " 0";
    const QByteArray oneSwitch = "l0l3_primary_switches_total" + label + " 1";
    QTRY_VERIFY_WITH_TIMEOUT(metrics(tokyo).contains(noSwitch), TimeScale::ms(10000));

    // Forged claims, published on the primary like any control message.
    RedisClient publisher = oldPrimary.client();
    const auto forge = [](RedisClient &via, const RedisServer &named) {
        const std::string text = encode(ControlMessage{ControlMessage::Verb::Promote, address(named).toStdString()});
        const RedisValue r = via.command(
            {QByteArrayLiteral("PUBLISH"),
             QByteArray(RedisSchema::kControlChannel.data(), qsizetype(RedisSchema::kControlChannel.size())),
             QByteArray::fromStdString(text)});
        return r.isInteger();
    };
    QVERIFY(forge(publisher, m_stranger)); // a master, but not an allowed host of the tokyo gateway
    QTRY_VERIFY_WITH_TIMEOUT(logged(tokyo,
                                    "operator promotion of redis://gateway@" + address(m_stranger).toUtf8()
                                        + " refused: not one of the allowed Redis hosts"),
                             TimeScale::ms(10000));
    QVERIFY(forge(publisher, newPrimary)); // allowed (the gateway's replica), but not master yet
    QTRY_VERIFY_WITH_TIMEOUT(logged(tokyo,
                                    "the operator's promotion names redis://gateway@" + address(newPrimary).toUtf8()
                                        + " as primary, but its ROLE is 'slave'"),
                             TimeScale::ms(10000));
    QVERIFY(metrics(tokyo).contains(noSwitch));
    QVERIFY(!gatewayLog(tokyo).contains("primary switched"));

    // The console's manual promotion, then its audited, published "promote".
    QSignalSpy finished(m_sentinels.get(), &SentinelClient::failoverFinished);
    QSignalSpy repointed(m_tracker.get(), &PrimaryTracker::primaryRepointed);
    m_sentinels->promoteManually({newPrimary.host(), newPrimary.port()},
                                 {{oldPrimary.host(), oldPrimary.port()}, {eu.host(), eu.port()}});
    QVERIFY(finished.wait(TimeScale::ms(10000)));
    const FailoverResult result = finished.first().first().value<FailoverResult>();
    QVERIFY2(result.ok, qPrintable(result.message));
    QTRY_COMPARE_WITH_TIMEOUT(repointed.count(), 1, TimeScale::ms(5000));
    QCOMPARE(repointed.first().at(1).toInt(), newPrimary.port());

    bool published = false;
    ApprovalResult publish;
    m_approvals->publishControl(QString::fromStdString(encode(
                                    ControlMessage{ControlMessage::Verb::Promote, address(newPrimary).toStdString()})),
                                QStringLiteral("e2e-manual-promotion"), [&](const ApprovalResult &r) {
                                    publish = r;
                                    published = true;
                                });
    QTRY_VERIFY_WITH_TIMEOUT(published, TimeScale::ms(15000));
    QVERIFY2(publish.ok, qPrintable(publish.message));

    const QByteArray switched = "primary switched redis://gateway@" + address(oldPrimary).toUtf8()
        + " -> redis://gateway@" + address(newPrimary).toUtf8() + " (operator promotion)";
    QTRY_VERIFY2_WITH_TIMEOUT(gatewayLog(tokyo).contains(switched), gatewayLog(tokyo).right(3000).constData(),
                              TimeScale::ms(15000));
    QVERIFY(metrics(tokyo).contains(oneSwitch));
    const QByteArray primaryUp = "l0l3_redis_connected" + QByteArray("{region=\"tokyo\",role=\"primary\"} 1");
    QTRY_VERIFY_WITH_TIMEOUT(metrics(tokyo).contains(primaryUp), TimeScale::ms(10000));

    // A new miss's proposal lands on the new primary (no READONLY on the old one).
    HttpClient http;
    const HttpResult miss = http.post(m_stack->gatewayUrl(tokyo),
                                      ChatWire::chatBody(QStringLiteral("After the promotion %1").arg(m_runId)));
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
    const QByteArray key = miss.header("x-l0l3-key");
    RedisClient client = newPrimary.client();
    QTRY_VERIFY_WITH_TIMEOUT(!E2eStack::proposalsFor(client, key).empty(), TimeScale::ms(10000));
    QCOMPARE(QString::fromStdString(E2eStack::proposalsFor(client, key).front().region), tokyo);
    QVERIFY(!gatewayLog(tokyo).contains("READONLY"));

    // A forged claim naming the demoted node (allowed, now a replica) changes nothing.
    RedisClient newPublisher = newPrimary.client();
    QVERIFY(forge(newPublisher, oldPrimary));
    QTRY_VERIFY_WITH_TIMEOUT(logged(tokyo,
                                    "the operator's promotion names redis://gateway@" + address(oldPrimary).toUtf8()
                                        + " as primary, but its ROLE is 'slave'"),
                             TimeScale::ms(10000));
    QVERIFY(metrics(tokyo).contains(oneSwitch));
}

// A claim naming an allowed master is refused while a majority of the
// configured Sentinels names another primary.
void TestManualPromotion::sentinelMajorityWins()
{
    const QString tokyo = QStringLiteral("tokyo");
    const QByteArray noSwitch = "l0l3_primary_switches_total{region=\"tokyo\"} 0";
    QTRY_VERIFY_WITH_TIMEOUT(metrics(tokyo).contains(noSwitch), TimeScale::ms(10000));
    QCOMPARE(m_stranger.role(), QByteArray("master"));
    RedisClient publisher = m_stack->primary().client();
    const std::string text = encode(ControlMessage{ControlMessage::Verb::Promote, address(m_stranger).toStdString()});
    const RedisValue r = publisher.command(
        {QByteArrayLiteral("PUBLISH"),
         QByteArray(RedisSchema::kControlChannel.data(), qsizetype(RedisSchema::kControlChannel.size())),
         QByteArray::fromStdString(text)});
    QVERIFY(r.isInteger());
    const QByteArray refused = "operator promotion of redis://gateway@" + address(m_stranger).toUtf8() + " refused: ";
    const QByteArray majority = " Sentinels name redis://gateway@" + address(m_stack->primary()).toUtf8()
        + " (a Sentinel majority wins)";
    QTRY_VERIFY2_WITH_TIMEOUT(logged(tokyo, refused) && logged(tokyo, majority),
                              gatewayLog(tokyo).right(3000).constData(), TimeScale::ms(10000));
    QVERIFY(metrics(tokyo).contains(noSwitch));
    QVERIFY(!logged(tokyo, "primary switched"));
}

QTEST_GUILESS_MAIN(TestManualPromotion)
#include "tst_manualpromotion.moc"
