#include <QElapsedTimer>
#include <QTest>
#include <QTimer>
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
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

// Approvals acknowledged before the kill.
constexpr int kAcknowledgedBeforeKill = 60;
constexpr int kProposals = 800;

QByteArray entryKey(const QString &key)
{
    return QByteArray::fromStdString(RedisSchema::entryKey(key.toStdString()));
}

} // namespace

// The recovery point of the replication path, as a drill: a primary with
// two replicas and three Sentinels, every data node persisted as
// packaging/redis/ persists them; approvals as fast as ApprovalService takes
// them (each a MULTI/EXEC then WAIT 1), then kill -9 of the primary while the
// next approval is in flight. Sentinel promotes a replica; every approval
// whose result said replicasAcked >= 1 must be on it. Reports how many
// approvals were written but not acknowledged by a replica (WAIT timed out or
// failed) and whether they survived, and the recovery time: kill -9 → first
// approval accepted by the new primary.
class TestRpoDrill : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void killPrimaryRightAfterAcknowledgedApprovals();

private:
    std::unique_ptr<E2eStack> m_stack;
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    std::unique_ptr<SentinelClient> m_sentinels;
    std::unique_ptr<PrimaryTracker> m_tracker;
    QString m_runId;
};

void TestRpoDrill::init()
{
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
    m_stack = std::make_unique<E2eStack>();
    E2eStack::Options options;
    options.regions = {QStringLiteral("tokyo"), QStringLiteral("eu")};
    options.sentinels = 3;
    options.downAfterMs = 2000;
    options.persistence = true;
    QString error;
    QVERIFY2(m_stack->start(options, &error), qPrintable(error + u'\n' + m_stack->describe()));
    QVERIFY2(m_stack->waitForSentinels(30000, &error), qPrintable(error));

    m_connection = std::make_unique<RedisConnection>(E2eStack::consoleOptions(m_stack->primary().port()));
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("rpo-drill"));
    m_sentinels = std::make_unique<SentinelClient>(m_stack->sentinelClientOptions());
    m_tracker = std::make_unique<PrimaryTracker>(m_connection.get(), m_sentinels.get());
    m_connection->open();
    m_sentinels->start();
    QTRY_VERIFY_WITH_TIMEOUT(m_sentinels->hasPrimary(), TimeScale::ms(10000));
    QCOMPARE(m_sentinels->primaryPort(), m_stack->primary().port());
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));
}

void TestRpoDrill::cleanup()
{
    if (QTest::currentTestFailed() && m_stack)
        qWarning().noquote() << m_stack->describe();
    m_tracker.reset();
    m_sentinels.reset();
    m_approvals.reset();
    m_connection.reset();
    m_stack.reset();
}

void TestRpoDrill::killPrimaryRightAfterAcknowledgedApprovals()
{
    const QList<ApprovalStream::Item> items = ApprovalStream::seedReplicated(
        *m_stack, QStringLiteral("rpo drill prompt %1").arg(m_runId), "upstream answer", kProposals);
    QVERIFY2(!items.isEmpty(), "seeding the proposals failed");

    // No gap: the next approval starts as soon as the previous result arrives.
    ApprovalStream stream(m_approvals.get(), items.mid(0, kProposals / 2), 0);
    // After the kill, an operator retrying every 20 ms (failures come back at once).
    ApprovalStream retries(m_approvals.get(), items.mid(kProposals / 2), 20);
    QElapsedTimer clock;
    qint64 killAtMs = -1;
    qint64 switchAtMs = -1;
    qint64 firstWriteMs = -1;
    int newPort = 0;
    int resultsAtKill = -1;
    const int oldPort = m_stack->primary().port();
    connect(m_sentinels.get(), &SentinelClient::switchMasterObserved, this,
            [&](const QString &, int, const QString &, int port) {
                if (switchAtMs < 0) {
                    switchAtMs = clock.elapsed();
                    newPort = port;
                }
            });
    int acknowledged = 0;
    connect(&stream, &ApprovalStream::resultArrived, this, [&](const StreamedApproval &r) {
        if (r.ok && r.replicasAcked >= 1 && ++acknowledged == kAcknowledgedBeforeKill) {
            // Two turns of the event loop: the stream has sent the next
            // approval, which is in flight when the primary dies.
            QTimer::singleShot(0, this, [&] {
                QTimer::singleShot(0, this, [&] {
                    resultsAtKill = int(stream.results().size());
                    killAtMs = clock.elapsed();
                    m_stack->primary().kill();
                    stream.stop();
                    retries.start();
                });
            });
        }
    });
    connect(&retries, &ApprovalStream::resultArrived, this, [&](const StreamedApproval &r) {
        if (firstWriteMs < 0 && r.ok && r.port != oldPort)
            firstWriteMs = clock.elapsed();
    });
    clock.start();
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(killAtMs >= 0, TimeScale::ms(30000));
    QTRY_VERIFY_WITH_TIMEOUT(switchAtMs >= 0, TimeScale::ms(30000));
    QTRY_VERIFY2_WITH_TIMEOUT(firstWriteMs >= 0 || retries.exhausted(), "no approval after the failover",
                              TimeScale::ms(30000));
    QVERIFY2(firstWriteMs >= 0, "the retries ran out of proposals before the new primary took a write");
    retries.stop();
    QTRY_VERIFY_WITH_TIMEOUT(stream.isIdle() && retries.isIdle(), TimeScale::ms(15000));
    QVERIFY(newPort != oldPort);
    RedisServer *newPrimary = m_stack->serverOnPort(newPort);
    QVERIFY(newPrimary);
    QCOMPARE(newPrimary->role(), QByteArray("master"));

    // Before the kill: results that arrived from the old primary.
    RedisClient client = newPrimary->client();
    QVERIFY2(client.isConnected(), qPrintable(client.lastError()));
    QStringList lostAcknowledged;
    qint64 acked = 0, unreplicated = 0, unreplicatedSurvived = 0, failed = 0, failedButWritten = 0;
    const QList<StreamedApproval> results = stream.results();
    for (qsizetype i = 0; i < results.size(); ++i) {
        const StreamedApproval &r = results.at(i);
        if (r.port != oldPort)
            continue;
        const bool present = !client.get(entryKey(r.key)).isNull();
        if (r.ok && r.replicasAcked >= 1) {
            ++acked;
            if (!present)
                lostAcknowledged.append(r.key);
        } else if (r.ok) {
            ++unreplicated;
            unreplicatedSurvived += present ? 1 : 0;
        } else {
            ++failed;
            failedButWritten += present ? 1 : 0;
        }
    }
    qInfo("RPO drill: %lld approvals acknowledged by >= 1 replica before kill -9, %lld of them lost; "
          "%lld written but not acknowledged by a replica, %lld of those survived; "
          "%lld failed on the old primary (in flight at the kill), %lld of those written anyway",
          acked, qint64(lostAcknowledged.size()), unreplicated, unreplicatedSurvived, failed, failedButWritten);
    qInfo("RTO drill: kill -9 at %lld ms (%d results); +switch-master %lld ms after the kill; first approval "
          "accepted by the new primary %lld ms after the kill (Sentinel down-after-milliseconds %d)",
          killAtMs, resultsAtKill, switchAtMs - killAtMs, firstWriteMs - killAtMs, m_stack->options().downAfterMs);
    QVERIFY(acked >= kAcknowledgedBeforeKill);
    QVERIFY2(lostAcknowledged.isEmpty(),
             qPrintable(QStringLiteral("acknowledged approvals lost: ") + lostAcknowledged.join(u' ')));

    // The old primary restarts from its own AOF, and Sentinel turns it into a
    // replica of the new primary: it resyncs and ends with the new primary's
    // entries, acknowledged ones included.
    QString error;
    QVERIFY2(m_stack->primary().restart(&error), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(m_stack->primary().role(), QByteArray("slave"), TimeScale::ms(30000));
    RedisClient rejoined = m_stack->primary().client();
    QTRY_VERIFY_WITH_TIMEOUT(rejoined.command({"INFO", "replication"}).str.contains("master_link_status:up"),
                             TimeScale::ms(30000));
    const QStringList acknowledgedKeys = stream.acknowledgedKeys() + retries.acknowledgedKeys();
    QTRY_VERIFY_WITH_TIMEOUT(!rejoined.get(entryKey(acknowledgedKeys.constLast())).isNull(), TimeScale::ms(10000));
    for (const QString &key : acknowledgedKeys)
        QVERIFY2(!rejoined.get(entryKey(key)).isNull(), qPrintable(key));
}

QTEST_GUILESS_MAIN(TestRpoDrill)
#include "tst_rpodrill.moc"
