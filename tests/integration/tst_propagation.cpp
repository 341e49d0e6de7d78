#include <QFileInfo>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "core/control/replicationmonitor.h"
#include "core/localstack/demostack.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/demopropagation.h"
#include "tests/integration/e2estack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;
using DemoPropagation::describe;
using DemoPropagation::processGone;

namespace {

constexpr int kPropagationTimeoutMs = 5000;

} // namespace

// On the three-region local stack, an approval made through the
// control plane (ApprovalService on the primary) becomes a hit in every
// region, a revoke removes it everywhere (L0 and L0.5), the replication lag
// the monitor shows is plausible, and drain/undrain reach one region only.
class TestPropagation : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void approvalBecomesAHitInEveryRegion();
    void replicationLagIsPlausible();
    void drainReachesOneRegionOnly_data();
    void drainReachesOneRegionOnly();

private:
    HttpResult chat(const DemoRegion &region, const QString &prompt);
    int readyz(const DemoRegion &region);

    std::unique_ptr<DemoStack> m_stack;
    DemoTopology m_topology;
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    RedisClient m_primary;
    HttpClient m_http;
    QString m_runId;
};

void TestPropagation::initTestCase()
{
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("redis-server")).isEmpty(), "redis-server not in PATH");
    for (const QString &tool : {QStringLiteral("l0l3-gateway"), QStringLiteral("l0l3-stub-llm")})
        QVERIFY2(!DemoStack::findBinary(tool).isEmpty(),
                 qPrintable(tool + QStringLiteral(" not built in $L0L3_BIN_DIR")));

    DemoOptions options;
    options.startTraffic = false;
    options.upstreamLatencyMs = 5;
    options.upstreamJitterMs = 5;
    m_stack = std::make_unique<DemoStack>(options);
    QSignalSpy ready(m_stack.get(), &DemoStack::ready);
    QSignalSpy failed(m_stack.get(), &DemoStack::failed);
    m_stack->start();
    QTRY_VERIFY_WITH_TIMEOUT(!ready.isEmpty() || !failed.isEmpty(), TimeScale::ms(90000));
    QVERIFY2(failed.isEmpty(), qPrintable(m_stack->lastError()));
    m_topology = m_stack->topology();
    QCOMPARE(m_topology.regions.size(), 3);

    RedisConnection::Options o;
    o.host = m_topology.host;
    o.port = m_topology.primary.port;
    o.user = QByteArrayLiteral("console");
    o.password = m_topology.credentials.console.toUtf8();
    m_connection = std::make_unique<RedisConnection>(o);
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("e2e-propagation"));
    m_connection->open();
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));

    QVERIFY2(m_primary.connect(m_topology.host, m_topology.primary.port, QStringLiteral("console"),
                               m_topology.credentials.console),
             qPrintable(m_primary.lastError()));
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
}

void TestPropagation::cleanupTestCase()
{
    m_approvals.reset();
    m_connection.reset();
    m_primary.disconnect();
    if (m_stack) {
        const QList<qint64> pids = m_stack->topology().pids();
        m_stack->stop();
        m_stack.reset();
        for (qint64 pid : pids)
            QVERIFY2(processGone(pid), qPrintable(QStringLiteral("process %1 outlived the stack").arg(pid)));
    }
}

void TestPropagation::cleanup()
{
    if (QTest::currentTestFailed() && m_stack)
        qWarning().noquote() << "demo data under" << m_topology.dataDir;
}

HttpResult TestPropagation::chat(const DemoRegion &region, const QString &prompt)
{
    QUrl url = region.gatewayUrl;
    url.setPath(QStringLiteral("/v1/chat/completions"));
    return m_http.post(url, ChatWire::chatBody(prompt), {}, 10000);
}

int TestPropagation::readyz(const DemoRegion &region)
{
    QUrl url = region.gatewayUrl;
    url.setPath(QStringLiteral("/readyz"));
    return m_http.get(url, {}, 5000).status;
}

void TestPropagation::approvalBecomesAHitInEveryRegion()
{
    const QString prompt = QStringLiteral("How do I reset my password? (propagation %1)").arg(m_runId);
    const DemoPropagation::Chat chatIn = [this](const DemoRegion &region, const QString &p) { return chat(region, p); };
    QByteArray key;
    QString why;
    QVERIFY2(DemoPropagation::missEverywhere(m_topology.regions, chatIn, prompt, &key, &why), qPrintable(why));
    const QString edited =
        QStringLiteral("Edited by the operator: open Settings → Security → Reset password. ✓ %1").arg(m_runId);
    const auto approved = DemoPropagation::approveProposals(m_primary, *m_approvals, key, edited, kPropagationTimeoutMs,
                                                            &why);
    QVERIFY2(approved && approved->ok && approved->replicasAcked >= 1, qPrintable(why));
    QCOMPARE(approved->version, qint64(1));
    QVERIFY2(DemoPropagation::hitThenHotEverywhere(m_topology.regions, chatIn, prompt, edited, kPropagationTimeoutMs,
                                                   &why),
             qPrintable(why));

    const auto revoked = E2eStack::await(
        [&](ApprovalService::ResultCallback cb) { m_approvals->revoke(QString::fromLatin1(key), QString(), cb); });
    QVERIFY2(revoked.has_value(), "revoke() never answered");
    QVERIFY2(revoked->ok, qPrintable(revoked->message));
    QVERIFY2(revoked->replicasAcked >= 1, qPrintable(revoked->message));

    for (const DemoRegion &region : m_topology.regions) {
        HttpResult after;
        QVERIFY2(Poll::until(
                     [&] {
                         after = chat(region, prompt);
                         return after.header("x-l0l3-cache") == "miss";
                     },
                     kPropagationTimeoutMs),
                 qPrintable(region.name + u' ' + describe(after)));
        // Gone from the hot cache too, not only from the replica.
        for (int i = 0; i < 3; ++i) {
            const HttpResult again = chat(region, prompt);
            QVERIFY2(again.status == 200, qPrintable(describe(again)));
            QVERIFY2(again.header("x-l0l3-cache") == "miss", qPrintable(region.name + u' ' + describe(again)));
            QVERIFY(ChatWire::completionContent(again.body) != edited);
        }
    }
}

void TestPropagation::replicationLagIsPlausible()
{
    RedisConnection::Options primary;
    primary.host = m_topology.host;
    primary.port = m_topology.primary.port;
    primary.user = QByteArrayLiteral("console");
    primary.password = m_topology.credentials.console.toUtf8();
    QList<ReplicationMonitor::Replica> replicas;
    for (const DemoRegion &region : m_topology.regions) {
        RedisConnection::Options o = primary;
        o.port = region.replica.port;
        replicas.append({region.name, o});
    }
    ReplicationMonitor monitor(primary, replicas);
    monitor.setIntervalMs(300);
    QList<RegionReplicationStatus> last;
    connect(&monitor, &ReplicationMonitor::statusUpdated, this,
            [&last](const QList<RegionReplicationStatus> &regions) { last = regions; });
    monitor.start();
    auto allMeasured = [&] {
        if (last.size() != m_topology.regions.size())
            return false;
        for (const RegionReplicationStatus &s : last)
            if (!s.reachable || !s.linkUp || s.lagMs < 0)
                return false;
        return true;
    };
    QTRY_VERIFY_WITH_TIMEOUT(allMeasured(), TimeScale::ms(10000));
    for (const RegionReplicationStatus &s : std::as_const(last)) {
        qInfo("region %s: lag %lld ms, offset %lld behind", qPrintable(s.region), s.lagMs, s.offsetBehind());
        QVERIFY2(s.lagMs >= 0 && s.lagMs < TimeScale::ms(1000),
                 qPrintable(QStringLiteral("%1: lag %2 ms").arg(s.region).arg(s.lagMs)));
        QVERIFY(m_topology.regions.end()
                != std::find_if(m_topology.regions.begin(), m_topology.regions.end(),
                                [&](const DemoRegion &r) { return r.name == s.region; }));
    }
    monitor.stop();
}

void TestPropagation::drainReachesOneRegionOnly_data()
{
    QTest::addColumn<QString>("drained");
    QTest::newRow("tokyo") << QStringLiteral("tokyo");
    QTest::newRow("eu") << QStringLiteral("eu");
}

void TestPropagation::drainReachesOneRegionOnly()
{
    QFETCH(QString, drained);
    for (const DemoRegion &region : m_topology.regions)
        QCOMPARE(readyz(region), 200);

    const auto drain = E2eStack::await([&](ApprovalService::ResultCallback cb) {
        m_approvals->publishControl(QStringLiteral("drain ") + drained, QString(), cb);
    });
    QVERIFY2(drain && drain->ok, drain ? qPrintable(drain->message) : "no answer");
    for (const DemoRegion &region : m_topology.regions) {
        if (region.name != drained)
            continue;
        QVERIFY2(Poll::until([&] { return readyz(region) == 503; }, kPropagationTimeoutMs), qPrintable(region.name));
    }
    // The same message reached every gateway by now (same fan-out path);
    // only the drained region answers 503.
    for (const DemoRegion &region : m_topology.regions) {
        if (region.name != drained)
            QCOMPARE(readyz(region), 200);
    }

    const auto undrain = E2eStack::await([&](ApprovalService::ResultCallback cb) {
        m_approvals->publishControl(QStringLiteral("undrain ") + drained, QString(), cb);
    });
    QVERIFY2(undrain && undrain->ok, undrain ? qPrintable(undrain->message) : "no answer");
    for (const DemoRegion &region : m_topology.regions) {
        if (region.name == drained)
            QVERIFY2(Poll::until([&] { return readyz(region) == 200; }, kPropagationTimeoutMs),
                     qPrintable(region.name));
    }
}

QTEST_GUILESS_MAIN(TestPropagation)
#include "tst_propagation.moc"
