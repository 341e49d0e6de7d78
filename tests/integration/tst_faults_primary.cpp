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
#include "tests/support/poll.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kDownAfterMs = 2000;

} // namespace

// The primary hangs (SIGSTOP) longer than Sentinel's
// down-after, a replica is promoted, then the old primary resumes (SIGCONT)
// still believing it is the primary. The console must not keep writing to
// it: no approval is reported accepted by it after the switch, it refuses
// writes once demoted (ROLE check), and no acknowledged approval is lost.
class TestFaultsPrimary : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void pausedPrimaryIsNotWrittenAfterTheSwitch();

private:
    E2eStack m_stack;
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    std::unique_ptr<SentinelClient> m_sentinels;
    std::unique_ptr<PrimaryTracker> m_tracker;
};

void TestFaultsPrimary::initTestCase()
{
    E2eStack::Options options;
    options.regions = {QStringLiteral("tokyo"), QStringLiteral("eu")};
    options.sentinels = 3;
    options.downAfterMs = kDownAfterMs;
    QString error;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error + u'\n' + m_stack.describe()));
    QVERIFY2(m_stack.waitForSentinels(30000, &error), qPrintable(error));

    m_connection = std::make_unique<RedisConnection>(E2eStack::consoleOptions(m_stack.primary().port()));
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("e2e-sigstop"));
    const SentinelClient::Options so = m_stack.sentinelClientOptions();
    m_sentinels = std::make_unique<SentinelClient>(so);
    m_tracker = std::make_unique<PrimaryTracker>(m_connection.get(), m_sentinels.get());
    m_connection->open();
    m_sentinels->start();
    QTRY_VERIFY_WITH_TIMEOUT(m_sentinels->hasPrimary(), TimeScale::ms(10000));
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));
}

void TestFaultsPrimary::cleanupTestCase()
{
    if (QTest::currentTestFailed())
        qWarning().noquote() << m_stack.describe();
    m_tracker.reset();
    m_sentinels.reset();
    m_approvals.reset();
    m_connection.reset();
    m_stack.stop();
}

void TestFaultsPrimary::pausedPrimaryIsNotWrittenAfterTheSwitch()
{
    const QString runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
    RedisClient seeder = m_stack.primary().client();
    QList<ApprovalStream::Item> items;
    for (int i = 0; i < 400; ++i) {
        Proposal p;
        p.prompt = QStringLiteral("sigstop %1-%2").arg(runId).arg(i).toStdString();
        p.response = "answer";
        p.model = ChatWire::kModel;
        p.region = "tokyo";
        p.key = p.derivedKey();
        const QByteArray id = E2eStack::addProposal(seeder, p);
        QVERIFY(!id.isEmpty());
        items.append({QString::fromLatin1(id), QString::fromStdString(p.key)});
    }
    QCOMPARE(seeder.command({"WAIT", "2", "5000"}).integer, 2);
    seeder.disconnect();

    ApprovalStream stream(m_approvals.get(), items, 20);
    qint64 switchAtMs = -1;
    int newPort = 0;
    connect(m_sentinels.get(), &SentinelClient::switchMasterObserved, this,
            [&](const QString &, int, const QString &, int port) {
                if (switchAtMs < 0) {
                    switchAtMs = stream.elapsedMs();
                    newPort = port;
                }
            });
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(stream.acknowledgedKeys().size() >= 10, TimeScale::ms(20000));

    const int oldPort = m_stack.primary().port();
    const qint64 pausedAtMs = stream.elapsedMs();
    m_stack.primary().pause();
    QTRY_VERIFY_WITH_TIMEOUT(switchAtMs >= 0, TimeScale::ms(30000));
    const qint64 resumedAtMs = stream.elapsedMs();
    QVERIFY2(resumedAtMs - pausedAtMs > kDownAfterMs, "the pause must outlast down-after");
    m_stack.primary().resume();
    QVERIFY(newPort != oldPort);

    // Sentinel demotes the resumed primary; meanwhile the console keeps approving.
    QTRY_COMPARE_WITH_TIMEOUT(m_stack.primary().role(), QByteArray("slave"), TimeScale::ms(30000));
    const qint64 demotedAtMs = stream.elapsedMs();
    const qsizetype resultsAtDemotion = stream.results().size();
    QTRY_VERIFY_WITH_TIMEOUT(stream.results().size() >= resultsAtDemotion + 10 || stream.exhausted(),
                             TimeScale::ms(15000));
    stream.stop();
    QTRY_VERIFY_WITH_TIMEOUT(stream.isIdle(), TimeScale::ms(15000));

    RedisServer *newPrimary = m_stack.serverOnPort(newPort);
    QVERIFY(newPrimary);
    QCOMPARE(newPrimary->role(), QByteArray("master"));
    RedisClient client = newPrimary->client();
    auto onNewPrimary = [&](const QString &key) {
        return !client.get(QByteArray::fromStdString(RedisSchema::entryKey(key.toStdString()))).isNull();
    };
    // "Accepted by the stale primary": reported OK after the switch through the
    // old link, and not on the new primary. An approval written and replicated
    // before the pause whose WAIT reply was held by the paused server arrives
    // after the switch too, but it is on the new primary: not stale.
    qint64 okAfterSwitch = 0;
    qint64 okOnStale = 0;
    qint64 failed = 0;
    qint64 unconfirmed = 0;
    qint64 firstOkAfterSwitch = -1;
    for (const StreamedApproval &r : stream.results()) {
        if (!r.ok) {
            ++failed;
            continue;
        }
        if (r.replicasAcked < 1)
            ++unconfirmed;
        if (r.atMs > switchAtMs) {
            ++okAfterSwitch;
            if (firstOkAfterSwitch < 0)
                firstOkAfterSwitch = r.atMs;
            if (r.port != newPort && !onNewPrimary(r.key))
                ++okOnStale;
        }
    }
    QStringList lost;
    for (const QString &key : stream.acknowledgedKeys())
        if (!onNewPrimary(key))
            lost.append(key);
    qInfo("paused %lld ms (switch after %lld ms); demoted %lld ms after SIGCONT; first accepted approval %lld ms "
          "after the switch",
          resumedAtMs - pausedAtMs, switchAtMs - pausedAtMs, demotedAtMs - resumedAtMs,
          firstOkAfterSwitch - switchAtMs);
    qInfo("approvals: %lld results, %lld acknowledged, %lld accepted without replica ack, %lld failed; "
          "%lld accepted after the switch, %lld of them by the stale primary; acknowledged lost: %lld",
          qint64(stream.results().size()), qint64(stream.acknowledgedKeys().size()), unconfirmed, failed, okAfterSwitch,
          okOnStale, qint64(lost.size()));
    QVERIFY(okAfterSwitch > 0);
    QCOMPARE(okOnStale, 0);
    QVERIFY2(lost.isEmpty(), qPrintable(lost.join(u' ')));

    // Pointed at the demoted server on purpose, the service refuses (ROLE check).
    RedisConnection stale(E2eStack::consoleOptions(oldPort));
    ApprovalService staleService(&stale);
    stale.open();
    const auto refused = E2eStack::await([&](ApprovalService::ResultCallback cb) {
        staleService.approve(items.last().proposalId, items.last().key, QStringLiteral("must not land"), QString(),
                             QStringLiteral("e2e"), cb);
    });
    QVERIFY(refused.has_value());
    QVERIFY2(!refused->ok, qPrintable(refused->message));
    QCOMPARE(refused->error, ApprovalResult::ErrorKind::ReadOnlyReplica);
    QVERIFY(client.get(QByteArray::fromStdString(RedisSchema::entryKey(items.last().key.toStdString()))).isNull());
}

QTEST_GUILESS_MAIN(TestFaultsPrimary)
#include "tst_faults_primary.moc"
