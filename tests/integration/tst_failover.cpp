#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/common/redisschema.h"
#include "core/control/approvalservice.h"
#include "core/control/primarytracker.h"
#include "core/control/redisconnection.h"
#include "core/control/sentinelclient.h"
#include "tests/integration/approvalstream.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/integration/hitload.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

// The console writes again within 1 s of +switch-master.
constexpr qint64 kWriteAgainBoundMs = 1000;

QByteArray entryKey(const QString &key)
{
    return QByteArray::fromStdString(RedisSchema::entryKey(key.toStdString()));
}

} // namespace

// Sentinel failover triggered from the control layer, and kill -9 of the
// primary under read traffic and a stream of approvals: primary + 2 replicas (one gateway each) + 3 Sentinels
// (down-after 2000 ms), the control plane as the console runs it
// (SentinelClient + PrimaryTracker re-pointing the ApprovalService).
class TestFailover : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void failoverFromControlLayer();
    void killPrimaryUnderLoad();
    void gatewaysProposeToNewPrimary();

private:
    // An approved entry served by every gateway: its prompt and answer.
    bool approveServedEntry(const QString &prompt, const QString &answer, QString *error);

    std::unique_ptr<E2eStack> m_stack;
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    std::unique_ptr<SentinelClient> m_sentinels;
    std::unique_ptr<PrimaryTracker> m_tracker;
    QString m_runId;
};

void TestFailover::init()
{
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
    m_stack = std::make_unique<E2eStack>();
    E2eStack::Options options;
    options.regions = {QStringLiteral("tokyo"), QStringLiteral("eu")};
    options.sentinels = 3;
    options.downAfterMs = 2000;
    QString error;
    QVERIFY2(m_stack->start(options, &error), qPrintable(error + u'\n' + m_stack->describe()));
    QVERIFY2(m_stack->waitForSentinels(30000, &error), qPrintable(error));

    m_connection = std::make_unique<RedisConnection>(E2eStack::consoleOptions(m_stack->primary().port()));
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("e2e-failover"));
    const SentinelClient::Options so = m_stack->sentinelClientOptions();
    m_sentinels = std::make_unique<SentinelClient>(so);
    m_tracker = std::make_unique<PrimaryTracker>(m_connection.get(), m_sentinels.get());
    m_connection->open();
    m_sentinels->start();
    QTRY_VERIFY_WITH_TIMEOUT(m_sentinels->hasPrimary(), TimeScale::ms(10000));
    QCOMPARE(m_sentinels->primaryPort(), m_stack->primary().port());
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));
}

void TestFailover::cleanup()
{
    if (QTest::currentTestFailed() && m_stack)
        qWarning().noquote() << m_stack->describe();
    m_tracker.reset();
    m_sentinels.reset();
    m_approvals.reset();
    m_connection.reset();
    m_stack.reset();
}

bool TestFailover::approveServedEntry(const QString &prompt, const QString &answer, QString *error)
{
    HttpClient http;
    const QString region = m_stack->regions().first();
    const HttpResult miss = http.post(m_stack->gatewayUrl(region), ChatWire::chatBody(prompt));
    const QByteArray key = miss.header("x-l0l3-key");
    if (miss.status != 200 || key.isEmpty()) {
        *error = QStringLiteral("no miss for %1: status %2").arg(prompt).arg(miss.status);
        return false;
    }
    // Proposed by the test on the current primary, with a known response
    // (the gateways' own proposals follow the primary too: see
    // gatewaysProposeToNewPrimary).
    RedisServer *primary = m_stack->serverOnPort(m_tracker->port());
    RedisClient client = primary->client();
    Proposal p;
    p.key = key.toStdString();
    p.ns = "default"; // the gateways' namespace when a request names none
    p.prompt = prompt.toStdString();
    p.response = "upstream answer";
    p.model = ChatWire::kModel;
    p.region = region.toStdString();
    if (p.derivedKey() != p.key) {
        *error = QStringLiteral("the proposal's fields do not give the gateway's key %1").arg(QString::fromLatin1(key));
        return false;
    }
    const QByteArray id = E2eStack::addProposal(client, p);
    ApprovalRequest request;
    request.proposalId = QString::fromLatin1(id);
    request.response = answer;
    const auto result = E2eStack::await([&](ApprovalService::ResultCallback cb) { m_approvals->approve(request, cb); });
    if (!result || !result->ok || result->replicasAcked < 1) {
        *error = result ? result->message : QStringLiteral("approve() never answered");
        return false;
    }
    for (const QString &r : m_stack->regions()) {
        HttpResult hit;
        if (!Poll::until(
                [&] {
                    hit = http.post(m_stack->gatewayUrl(r), ChatWire::chatBody(prompt));
                    return hit.header("x-l0l3-cache") == "hit" && ChatWire::completionContent(hit.body) == answer;
                },
                5000)) {
            *error =
                QStringLiteral("%1 never served the approved entry: %2").arg(r, QString::fromUtf8(hit.body.left(200)));
            return false;
        }
    }
    return true;
}

void TestFailover::failoverFromControlLayer()
{
    QString error;
    QVERIFY2(approveServedEntry(QStringLiteral("Before the failover %1").arg(m_runId), QStringLiteral("answer one"),
                                &error),
             qPrintable(error));
    const int oldPort = m_tracker->port();

    QSignalSpy finished(m_sentinels.get(), &SentinelClient::failoverFinished);
    QSignalSpy repointed(m_tracker.get(), &PrimaryTracker::primaryRepointed);
    m_sentinels->failover();
    QVERIFY(finished.wait(TimeScale::ms(10000)));
    const FailoverResult failover = finished.first().first().value<FailoverResult>();
    QVERIFY2(failover.ok, qPrintable(failover.message));
    QTRY_VERIFY_WITH_TIMEOUT(!repointed.isEmpty(), TimeScale::ms(30000));
    const int newPort = repointed.first().at(1).toInt();
    QVERIFY(newPort != oldPort);
    QCOMPARE(m_tracker->port(), newPort);
    RedisServer *newPrimary = m_stack->serverOnPort(newPort);
    QVERIFY(newPrimary);
    QCOMPARE(newPrimary->role(), QByteArray("master"));

    // The next approval goes to the new primary and is replicated.
    QVERIFY2(approveServedEntry(QStringLiteral("After the failover %1").arg(m_runId), QStringLiteral("answer two"),
                                &error),
             qPrintable(error));
    QCOMPARE(m_connection->options().port, newPort);
    // The old primary, still running, was demoted by Sentinel.
    QTRY_COMPARE_WITH_TIMEOUT(m_stack->primary().role(), QByteArray("slave"), TimeScale::ms(30000));
}

void TestFailover::killPrimaryUnderLoad()
{
    // Steady reads of approved entries at every gateway.
    QList<HitTarget> targets;
    for (int i = 0; i < 3; ++i) {
        const QString prompt = QStringLiteral("Steady question %1 of %2").arg(i).arg(m_runId);
        const QString answer = QStringLiteral("Steady answer %1").arg(i);
        QString error;
        QVERIFY2(approveServedEntry(prompt, answer, &error), qPrintable(error));
        for (const QString &region : m_stack->regions())
            targets.append({region, m_stack->gatewayUrl(region), ChatWire::chatBody(prompt), answer});
    }
    const QList<ApprovalStream::Item> items = ApprovalStream::seedReplicated(
        *m_stack, QStringLiteral("stream prompt %1").arg(m_runId), "stream answer", 400);
    QVERIFY2(!items.isEmpty(), "seeding the proposals failed");

    HitLoad reads(targets, 10);
    ApprovalStream stream(m_approvals.get(), items, 20);
    QElapsedTimer clock;
    qint64 switchAtMs = -1;
    qint64 repointAtMs = -1;
    qint64 killAtMs = -1;
    int newPort = 0;
    connect(m_sentinels.get(), &SentinelClient::switchMasterObserved, this,
            [&](const QString &, int, const QString &, int port) {
                if (switchAtMs < 0) {
                    switchAtMs = clock.elapsed();
                    newPort = port;
                }
            });
    connect(m_tracker.get(), &PrimaryTracker::primaryRepointed, this, [&] {
        if (repointAtMs < 0)
            repointAtMs = clock.elapsed();
    });
    qint64 firstWriteAfterSwitchMs = -1;
    connect(&stream, &ApprovalStream::resultArrived, this, [&](const StreamedApproval &r) {
        if (firstWriteAfterSwitchMs < 0 && switchAtMs >= 0 && r.ok && newPort != 0 && r.port == newPort)
            firstWriteAfterSwitchMs = clock.elapsed();
    });

    clock.start();
    reads.start();
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(stream.acknowledgedKeys().size() >= 10 && reads.ok() >= 30, TimeScale::ms(20000));
    const int oldPort = m_stack->primary().port();
    const qint64 readsAtKill = reads.ok();
    killAtMs = clock.elapsed();
    m_stack->primary().kill();

    QTRY_VERIFY_WITH_TIMEOUT(switchAtMs >= 0, TimeScale::ms(30000));
    QTRY_VERIFY_WITH_TIMEOUT(firstWriteAfterSwitchMs >= 0, TimeScale::ms(15000));
    QVERIFY(newPort != oldPort);
    // Some more approvals on the new primary, reads all along.
    const qsizetype resultsAtWrite = stream.results().size();
    QTRY_VERIFY_WITH_TIMEOUT(stream.results().size() >= resultsAtWrite + 10 || stream.exhausted(),
                             TimeScale::ms(15000));
    stream.stop();
    reads.stop();
    QTRY_VERIFY_WITH_TIMEOUT(stream.isIdle() && reads.isIdle(), TimeScale::ms(15000));

    qsizetype failedApprovals = 0;
    for (const StreamedApproval &r : stream.results())
        failedApprovals += r.ok ? 0 : 1;
    qInfo("kill -9 at %lld ms; +switch-master observed %lld ms later; console re-pointed %lld ms after the switch; "
          "first accepted approval on the new primary %lld ms after the switch (%lld ms after the kill)",
          killAtMs, switchAtMs - killAtMs, repointAtMs - switchAtMs, firstWriteAfterSwitchMs - switchAtMs,
          firstWriteAfterSwitchMs - killAtMs);
    qInfo("reads: %lld ok (%lld after the kill), %lld failed; tiers L0.5=%lld L0=%lld; approvals: %lld results, "
          "%lld acknowledged, %lld failed",
          reads.ok(), reads.ok() - readsAtKill, reads.failed(), reads.tiers().value(QStringLiteral("L0.5")),
          reads.tiers().value(QStringLiteral("L0")), qint64(stream.results().size()),
          qint64(stream.acknowledgedKeys().size()), qint64(failedApprovals));

    QVERIFY2(reads.failed() == 0, qPrintable(reads.failures().join(u'\n')));
    for (const QString &region : m_stack->regions())
        QVERIFY2(reads.okIn(region) > 0, qPrintable(region));
    QVERIFY2(reads.ok() > readsAtKill + 20, "reads did not keep coming after the kill");
    QVERIFY2(firstWriteAfterSwitchMs - switchAtMs < TimeScale::ms(kWriteAgainBoundMs),
             qPrintable(
                 QStringLiteral("wrote again %1 ms after the switch").arg(firstWriteAfterSwitchMs - switchAtMs)));

    // Every approval reported as replicated is on the new primary.
    RedisServer *newPrimary = m_stack->serverOnPort(newPort);
    QVERIFY(newPrimary);
    QCOMPARE(newPrimary->role(), QByteArray("master"));
    RedisClient client = newPrimary->client();
    QStringList lost;
    for (const QString &key : stream.acknowledgedKeys())
        if (client.get(entryKey(key)).isNull())
            lost.append(key);
    qInfo("acknowledged approvals lost: %lld of %lld", qint64(lost.size()), qint64(stream.acknowledgedKeys().size()));
    QVERIFY2(lost.isEmpty(), qPrintable(lost.join(u' ')));

    // The old primary, restarted (empty), is turned into a replica by Sentinel.
    QString error;
    QVERIFY2(m_stack->primary().restart(&error), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(m_stack->primary().role(), QByteArray("slave"), TimeScale::ms(30000));
    RedisClient rejoined = m_stack->primary().client();
    QTRY_VERIFY_WITH_TIMEOUT(rejoined.command({"INFO", "replication"}).str.contains("master_link_status:up"),
                             TimeScale::ms(30000));
    QTRY_VERIFY_WITH_TIMEOUT(!rejoined.get(entryKey(stream.acknowledgedKeys().constFirst())).isNull(),
                             TimeScale::ms(10000));
}

// kill -9 of the primary: every gateway asks the Sentinels, re-points its
// primary connection (one INFO line, one counted switch) and proposes the
// next miss on the promoted replica.
void TestFailover::gatewaysProposeToNewPrimary()
{
    const int oldPort = m_stack->primary().port();
    m_stack->primary().kill();
    QTRY_VERIFY_WITH_TIMEOUT(m_sentinels->hasPrimary() && m_sentinels->primaryPort() != oldPort, TimeScale::ms(30000));
    const int newPort = m_sentinels->primaryPort();
    RedisServer *newPrimary = m_stack->serverOnPort(newPort);
    QVERIFY(newPrimary);
    QTRY_COMPARE_WITH_TIMEOUT(newPrimary->role(), QByteArray("master"), TimeScale::ms(10000));

    const QByteArray switched =
        QStringLiteral("primary switched redis://gateway@127.0.0.1:%1 -> redis://gateway@127.0.0.1:%2 (sentinel)")
            .arg(oldPort)
            .arg(newPort)
            .toUtf8();
    HttpClient http;
    RedisClient client = newPrimary->client();
    for (const QString &region : m_stack->regions()) {
        QTRY_VERIFY2_WITH_TIMEOUT(m_stack->gateway(region).stderrText().contains(switched), qPrintable(region),
                                  TimeScale::ms(15000));
        const QUrl metrics = m_stack->gatewayUrl(region, QStringLiteral("/metrics"));
        const QByteArray label = "{region=\"" + region.toUtf8() + '"';
        const QByteArray primaryUp = "l0l3_redis_connected" + label + ",role=\"primary\"} 1";
        const QByteArray oneSwitch = "l0l3_primary_switches_total" + label + "} 1";
        QTRY_VERIFY2_WITH_TIMEOUT(http.get(metrics).body.contains(primaryUp), qPrintable(region), TimeScale::ms(10000));
        QVERIFY(http.get(metrics).body.contains(oneSwitch));

        const HttpResult miss = http.post(m_stack->gatewayUrl(region),
                                          ChatWire::chatBody(
                                              QStringLiteral("After the kill %1 in %2").arg(m_runId, region)));
        QCOMPARE(miss.status, 200);
        QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
        const QByteArray key = miss.header("x-l0l3-key");
        QTRY_VERIFY2_WITH_TIMEOUT(!E2eStack::proposalsFor(client, key).empty(), qPrintable(region),
                                  TimeScale::ms(10000));
        QCOMPARE(QString::fromStdString(E2eStack::proposalsFor(client, key).front().region), region);
    }
}

QTEST_GUILESS_MAIN(TestFailover)
#include "tst_failover.moc"
