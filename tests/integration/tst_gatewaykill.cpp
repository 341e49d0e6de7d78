#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "core/control/scrapemetricssource.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/integration/hitload.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

// A gateway killed (SIGKILL) under load is reported
// offline by the control plane's metrics source while the other region keeps
// serving; restarted on the same port it serves again and is reported up.
class TestGatewayKill : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void killedGatewayIsOfflineAndRecovers();

private:
    E2eStack m_stack;
};

void TestGatewayKill::initTestCase()
{
    E2eStack::Options options;
    options.regions = {QStringLiteral("nyc"), QStringLiteral("tokyo")};
    QString error;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error + u'\n' + m_stack.describe()));
}

void TestGatewayKill::cleanupTestCase()
{
    if (QTest::currentTestFailed())
        qWarning().noquote() << m_stack.describe();
    m_stack.stop();
}

void TestGatewayKill::killedGatewayIsOfflineAndRecovers()
{
    const QString nyc = QStringLiteral("nyc");
    const QString tokyo = QStringLiteral("tokyo");

    // One approved entry, served in both regions.
    RedisConnection connection(E2eStack::consoleOptions(m_stack.primary().port()));
    ApprovalService approvals(&connection);
    connection.open();
    RedisClient primary = m_stack.primary().client();
    QVERIFY2(primary.isConnected(), qPrintable(primary.lastError()));
    HttpClient http;
    const QString prompt = QStringLiteral("Where is my order? (gateway kill %1)")
                               .arg(QUuid::createUuid().toString(QUuid::WithoutBraces).left(8));
    const HttpResult miss = http.post(m_stack.gatewayUrl(nyc), ChatWire::chatBody(prompt));
    QCOMPARE(miss.status, 200);
    const QByteArray key = miss.header("x-l0l3-key");
    std::vector<Proposal> proposals;
    QVERIFY(Poll::until([&] { return !(proposals = E2eStack::proposalsFor(primary, key)).empty(); }, 5000));
    const QString answer = QStringLiteral("Your order ships within two days.");
    ApprovalRequest request;
    request.proposalId = QString::fromStdString(proposals.front().id);
    request.response = answer;
    const auto approved = E2eStack::await([&](ApprovalService::ResultCallback cb) { approvals.approve(request, cb); });
    QVERIFY2(approved && approved->ok, approved ? qPrintable(approved->message) : "no answer");

    // WAIT 1 vouches for one replica only: both regions serve it before the load starts.
    for (const QString &region : {nyc, tokyo}) {
        HttpResult hit;
        QVERIFY2(Poll::until(
                     [&] {
                         hit = http.post(m_stack.gatewayUrl(region), ChatWire::chatBody(prompt));
                         return hit.header("x-l0l3-cache") == "hit";
                     },
                     5000),
                 qPrintable(region + u' ' + QString::fromUtf8(hit.body.left(200))));
    }

    HitLoad nycLoad({{nyc, m_stack.gatewayUrl(nyc), ChatWire::chatBody(prompt), answer}}, 10);
    HitLoad tokyoLoad({{tokyo, m_stack.gatewayUrl(tokyo), ChatWire::chatBody(prompt), answer}}, 20);
    nycLoad.start();
    tokyoLoad.start();
    QTRY_VERIFY_WITH_TIMEOUT(nycLoad.ok() > 0 && tokyoLoad.ok() > 0, TimeScale::ms(10000));
    QCOMPARE(tokyoLoad.failed(), 0);

    ScrapeMetricsSource metrics({{nyc, QUrl(m_stack.gatewayUrl(nyc, QStringLiteral("/metrics")))},
                                 {tokyo, QUrl(m_stack.gatewayUrl(tokyo, QStringLiteral("/metrics")))}});
    metrics.setIntervalMs(250);
    metrics.setScrapeTimeoutMs(1000);
    MetricsSnapshot last;
    int snapshots = 0;
    connect(&metrics, &MetricsSource::snapshotReady, this, [&](const MetricsSnapshot &s) {
        last = s;
        ++snapshots;
    });
    metrics.start();
    auto regionUp = [&](const QString &region) {
        const RegionMetrics *m = last.region(region);
        return m && m->up;
    };
    QTRY_VERIFY_WITH_TIMEOUT(regionUp(nyc) && regionUp(tokyo), TimeScale::ms(10000));
    QCOMPARE(last.region(tokyo)->gatewaysUp, 1);

    QElapsedTimer clock;
    clock.start();
    const qint64 pid = m_stack.gateway(tokyo).pid();
    m_stack.gateway(tokyo).kill();
    QVERIFY(!m_stack.gateway(tokyo).isRunning());
    const int before = snapshots;
    QTRY_VERIFY_WITH_TIMEOUT(snapshots > before && !regionUp(tokyo), TimeScale::ms(10000));
    const qint64 offlineMs = clock.elapsed();
    QCOMPARE(last.region(tokyo)->degradationState, QStringLiteral("offline"));
    QCOMPARE(last.region(tokyo)->gatewaysUp, 0);
    QVERIFY(regionUp(nyc));
    QVERIFY2(tokyoLoad.failed() > 0, "requests to a killed gateway cannot succeed");
    qInfo("gateway %lld killed: reported offline after %lld ms", pid, offlineMs);

    const qint64 nycBefore = nycLoad.ok();
    const qint64 tokyoBefore = tokyoLoad.ok();
    const qint64 tokyoFailedBefore = tokyoLoad.failed();
    QString error;
    clock.restart();
    QVERIFY2(m_stack.restartGateway(tokyo, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(regionUp(tokyo), TimeScale::ms(10000));
    const qint64 upMs = clock.elapsed();
    QTRY_VERIFY_WITH_TIMEOUT(tokyoLoad.ok() > tokyoBefore + 5, TimeScale::ms(10000));
    qInfo("gateway restarted on port %d: reported up after %lld ms; %lld failed reads while it was down",
          m_stack.gatewayPort(tokyo), upMs, tokyoLoad.failed());
    // Once it answers again, it answers every request.
    const qint64 failedAfterRestart = tokyoLoad.failed();
    const qint64 okAfterRestart = tokyoLoad.ok();
    QTRY_VERIFY_WITH_TIMEOUT(tokyoLoad.ok() > okAfterRestart + 20, TimeScale::ms(10000));
    QCOMPARE(tokyoLoad.failed(), failedAfterRestart);
    QVERIFY(failedAfterRestart >= tokyoFailedBefore);

    nycLoad.stop();
    tokyoLoad.stop();
    metrics.stop();
    QTRY_VERIFY_WITH_TIMEOUT(nycLoad.isIdle() && tokyoLoad.isIdle(), TimeScale::ms(10000));
    QVERIFY(nycLoad.ok() > nycBefore);
    QVERIFY2(nycLoad.failed() == 0, qPrintable(nycLoad.failures().join(u'\n')));
}

QTEST_GUILESS_MAIN(TestGatewayKill)
#include "tst_gatewaykill.moc"
