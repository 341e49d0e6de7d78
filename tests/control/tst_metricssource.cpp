#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <memory>
#include <vector>

#include "core/control/scrapemetricssource.h"
#include "tests/support/fakemetricsendpoint.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

const QList<double> kBounds{0.005, 0.01, 0.05, 0.1, 0.5, 1};

struct GatewayCounts
{
    // (tier, outcome) -> count
    QList<std::tuple<QString, QString, double>> requests;
    // tier -> cumulative counts for kBounds and +Inf
    QList<QPair<QString, QList<double>>> buckets;
    QString state = QStringLiteral("normal");
};

QByteArray render(const QString &region, const GatewayCounts &c)
{
    QByteArray out = "# HELP l0l3_requests_total Requests.\n# TYPE l0l3_requests_total counter\n";
    for (const auto &[tier, outcome, v] : c.requests)
        out += QStringLiteral("l0l3_requests_total{region=\"%1\",tier=\"%2\",outcome=\"%3\"} %4\n")
                   .arg(region, tier, outcome)
                   .arg(v)
                   .toUtf8();
    out += "# TYPE l0l3_request_duration_seconds histogram\n";
    for (const auto &[tier, counts] : c.buckets) {
        for (qsizetype i = 0; i < counts.size(); ++i) {
            const QString le = i < kBounds.size() ? QString::number(kBounds[i]) : QStringLiteral("+Inf");
            out += QStringLiteral("l0l3_request_duration_seconds_bucket{region=\"%1\",tier=\"%2\",le=\"%3\"} %4\n")
                       .arg(region, tier, le)
                       .arg(counts[i])
                       .toUtf8();
        }
        out += QStringLiteral("l0l3_request_duration_seconds_count{region=\"%1\",tier=\"%2\"} %3\n")
                   .arg(region, tier)
                   .arg(counts.last())
                   .toUtf8();
    }
    for (const char *s : {"normal", "elevated", "degraded", "replica_down", "offline"})
        out += QStringLiteral("l0l3_degradation_state{region=\"%1\",state=\"%2\"} %3\n")
                   .arg(region, QLatin1String(s))
                   .arg(c.state == QLatin1String(s) ? 1 : 0)
                   .toUtf8();
    out += "l0l3_draining{region=\"" + region.toUtf8() + "\"} 0\n";
    return out;
}

GatewayCounts plus(const GatewayCounts &a, const GatewayCounts &b)
{
    GatewayCounts out = b;
    for (qsizetype i = 0; i < out.requests.size(); ++i)
        std::get<2>(out.requests[i]) += std::get<2>(a.requests[i]);
    for (qsizetype i = 0; i < out.buckets.size(); ++i) {
        for (qsizetype j = 0; j < out.buckets[i].second.size(); ++j)
            out.buckets[i].second[j] += a.buckets[i].second[j];
    }
    return out;
}

// The window's increase, chosen so the expected numbers are easy by hand.
// Buckets summed over tiers: 40, 60, 60, 70, 90, 100, 100 (100 requests).
//   p50: rank 50 falls in (0.005, 0.01] holding 20: 0.005 + 0.005 * 10/20 = 7.5 ms
//   p99: rank 99 falls in (0.5, 1] holding 10: 0.5 + 0.5 * 9/10 = 950 ms
// Answers: L0.5 hit 50, L0 hit 20, L3 miss 25, error 5.
GatewayCounts windowDelta()
{
    GatewayCounts d;
    d.requests = {{QStringLiteral("L0.5"), QStringLiteral("hit"), 50},
                  {QStringLiteral("L0"), QStringLiteral("hit"), 20},
                  {QStringLiteral("L3"), QStringLiteral("miss"), 25},
                  {QStringLiteral("none"), QStringLiteral("error"), 5}};
    d.buckets = {{QStringLiteral("L0.5"), {40, 50, 50, 50, 50, 50, 50}},
                 {QStringLiteral("L3"), {0, 10, 10, 20, 40, 50, 50}}};
    return d;
}

GatewayCounts baseline()
{
    GatewayCounts b;
    b.requests = {{QStringLiteral("L0.5"), QStringLiteral("hit"), 100},
                  {QStringLiteral("L0"), QStringLiteral("hit"), 3},
                  {QStringLiteral("L3"), QStringLiteral("miss"), 7},
                  {QStringLiteral("none"), QStringLiteral("error"), 1}};
    b.buckets = {{QStringLiteral("L0.5"), {7, 9, 9, 9, 10, 10, 11}}, {QStringLiteral("L3"), {0, 1, 2, 3, 4, 5, 6}}};
    return b;
}

GatewayCounts scaled(const GatewayCounts &c, double k)
{
    GatewayCounts out = c;
    for (auto &r : out.requests)
        std::get<2>(r) *= k;
    for (auto &b : out.buckets) {
        for (double &v : b.second)
            v *= k;
    }
    return out;
}

// Serves 60 gateways' pages from its own thread, as separate processes would.
class Fleet : public QObject
{
public:
    std::vector<std::unique_ptr<FakeMetricsEndpoint>> endpoints;
};

} // namespace

class TestMetricsSource : public QObject
{
    Q_OBJECT

private slots:
    void bucketDeltasGiveQuantilesAndRates_data();
    void bucketDeltasGiveQuantilesAndRates();
    void downGatewaysMakeRegionOffline();
    void newTargetsKeepTheHistoryOfTheOldOnes();
    void sixtyGatewaysInOneTick();
};

void TestMetricsSource::bucketDeltasGiveQuantilesAndRates_data()
{
    QTest::addColumn<QByteArray>("t0");
    QTest::addColumn<QByteArray>("t1");
    const QString nyc = QStringLiteral("nyc");
    GatewayCounts t1 = plus(baseline(), windowDelta());
    t1.state = QStringLiteral("elevated");
    QTest::newRow("increase over the window") << render(nyc, baseline()) << render(nyc, t1);
    // A restarted gateway starts from zero: the new counts are the increase.
    GatewayCounts restarted = windowDelta();
    restarted.state = QStringLiteral("elevated");
    QTest::newRow("counter reset") << render(nyc, scaled(baseline(), 10)) << render(nyc, restarted);
}

void TestMetricsSource::bucketDeltasGiveQuantilesAndRates()
{
    QFETCH(QByteArray, t0);
    QFETCH(QByteArray, t1);
    FakeMetricsEndpoint endpoint;
    endpoint.setBody(t0);
    // Region from the target for this one, from the samples' label for the default.
    ScrapeMetricsSource source({{QString(), QUrl(QString::fromUtf8(endpoint.url()))}});
    source.setWindowMs(60000);
    QSignalSpy spy(&source, &ScrapeMetricsSource::snapshotReady);

    source.refresh();
    QVERIFY(spy.wait(TimeScale::ms(5000)));
    auto first = spy.takeFirst().first().value<MetricsSnapshot>();
    QCOMPARE(first.regions.size(), 1);
    QVERIFY(first.regions[0].up);
    QVERIFY(qIsNaN(first.regions[0].p99Ms)); // one scrape: no window yet
    QCOMPARE(first.regions[0].rps, 0.0);

    QTest::qWait(50); // a measurable window (not a synchronisation)
    endpoint.setBody(t1);
    source.refresh();
    QVERIFY(spy.wait(TimeScale::ms(5000)));
    const auto snap = spy.takeFirst().first().value<MetricsSnapshot>();
    QVERIFY(snap.timestamp.isValid());
    QCOMPARE(snap.regions.size(), 1);
    const RegionMetrics &m = snap.regions[0];
    QCOMPARE(m.region, QStringLiteral("nyc"));
    QVERIFY(m.up);
    QCOMPARE(m.gatewaysUp, 1);
    QCOMPARE(m.gatewaysTotal, 1);
    QCOMPARE(m.degradationState, QStringLiteral("elevated"));
    QVERIFY(m.windowSeconds > 0);
    QVERIFY2(qAbs(m.rps * m.windowSeconds - 100) < 1e-6, qPrintable(QString::number(m.rps * m.windowSeconds)));
    QVERIFY2(qAbs(m.p50Ms - 7.5) < 1e-9, qPrintable(QString::number(m.p50Ms)));
    QVERIFY2(qAbs(m.p99Ms - 950) < 1e-9, qPrintable(QString::number(m.p99Ms)));
    QCOMPARE(m.hitRateByTier.value(QStringLiteral("L0.5")), 0.5);
    QCOMPARE(m.hitRateByTier.value(QStringLiteral("L0")), 0.2);
    QCOMPARE(m.hitRateByTier.value(QStringLiteral("miss")), 0.25);
    QVERIFY(!m.hitRateByTier.contains(QStringLiteral("L1")));
    QVERIFY(qAbs(m.hitRate - 0.7) < 1e-12);
    QVERIFY(qAbs(m.errorRate - 0.05) < 1e-12);
}

void TestMetricsSource::downGatewaysMakeRegionOffline()
{
    FakeMetricsEndpoint nycA, nycB, tokyo;
    for (FakeMetricsEndpoint *e : {&nycA, &nycB})
        e->setBody(render(QStringLiteral("nyc"), baseline()));
    GatewayCounts degraded = baseline();
    degraded.state = QStringLiteral("replica_down");
    nycB.setBody(render(QStringLiteral("nyc"), degraded));
    tokyo.setFailing(true);
    // A port nobody listens on: connection refused.
    QTcpServer closed;
    QVERIFY(closed.listen(QHostAddress::LocalHost, 0));
    const QUrl refused(QStringLiteral("http://127.0.0.1:%1/metrics").arg(closed.serverPort()));
    closed.close();

    ScrapeMetricsSource source({{QStringLiteral("nyc"), QUrl(QString::fromUtf8(nycA.url()))},
                                {QStringLiteral("nyc"), QUrl(QString::fromUtf8(nycB.url()))},
                                {QStringLiteral("nyc"), refused},
                                {QStringLiteral("tokyo"), QUrl(QString::fromUtf8(tokyo.url()))},
                                {QStringLiteral("eu"), refused}});
    QSignalSpy spy(&source, &ScrapeMetricsSource::snapshotReady);
    source.refresh();
    QVERIFY(spy.wait(TimeScale::ms(10000)));
    const auto snap = spy.first().first().value<MetricsSnapshot>();
    QCOMPARE(snap.regions.size(), 3);
    const RegionMetrics *nyc = snap.region(QStringLiteral("nyc"));
    QVERIFY(nyc);
    QVERIFY(nyc->up);
    QCOMPARE(nyc->gatewaysUp, 2);
    QCOMPARE(nyc->gatewaysTotal, 3);
    QCOMPARE(nyc->degradationState, QStringLiteral("replica_down")); // the worst gateway
    for (const QString &name : {QStringLiteral("tokyo"), QStringLiteral("eu")}) {
        const RegionMetrics *r = snap.region(name);
        QVERIFY(r);
        QVERIFY(!r->up);
        QCOMPARE(r->gatewaysUp, 0);
        QCOMPARE(r->degradationState, QStringLiteral("offline"));
    }
}

// Discovery re-sends the whole list every few seconds: a gateway that stays
// keeps its scrapes (its rates go on), a new one joins, a gone one leaves;
// each gateway's own state and lag gauge are reported.
void TestMetricsSource::newTargetsKeepTheHistoryOfTheOldOnes()
{
    FakeMetricsEndpoint nyc, tokyo;
    nyc.setBody(render(QStringLiteral("nyc"), baseline()));
    tokyo.setBody(render(QStringLiteral("tokyo"), baseline())
                  + "l0l3_replication_lag_seconds{region=\"tokyo\"} 0.25\n");
    const ScrapeMetricsSource::Target nycTarget{QStringLiteral("nyc"), QUrl(QString::fromUtf8(nyc.url()))};
    const ScrapeMetricsSource::Target tokyoTarget{QStringLiteral("tokyo"), QUrl(QString::fromUtf8(tokyo.url()))};
    ScrapeMetricsSource source({nycTarget});
    source.setWindowMs(60000);
    QSignalSpy spy(&source, &ScrapeMetricsSource::snapshotReady);
    source.refresh();
    QVERIFY(spy.wait(TimeScale::ms(5000)));
    spy.clear();

    QTest::qWait(50); // a measurable window (not a synchronisation)
    nyc.setBody(render(QStringLiteral("nyc"), plus(baseline(), windowDelta()))
                + "l0l3_replication_lag_seconds{region=\"nyc\"} NaN\n");
    source.setTargets({tokyoTarget, nycTarget});
    source.refresh();
    QVERIFY(spy.wait(TimeScale::ms(5000)));
    const auto snap = spy.takeFirst().first().value<MetricsSnapshot>();
    QCOMPARE(snap.regions.size(), 2);
    const RegionMetrics *n = snap.region(QStringLiteral("nyc"));
    QVERIFY(n);
    // nyc's first scrape was kept: its window holds the 100 requests.
    QVERIFY2(qAbs(n->rps * n->windowSeconds - 100) < 1e-6, qPrintable(QString::number(n->rps * n->windowSeconds)));
    QVERIFY(qIsNaN(n->replicationLagMs)); // NaN is "unknown", never a number
    const RegionMetrics *t = snap.region(QStringLiteral("tokyo"));
    QVERIFY(t);
    QVERIFY(t->up);
    QCOMPARE(t->rps, 0.0); // one scrape so far
    QCOMPARE(t->replicationLagMs, 250.0);
    QCOMPARE(snap.gateways.size(), 2);
    QCOMPARE(snap.gateways.at(0).region, QStringLiteral("tokyo"));
    QCOMPARE(snap.gateways.at(0).degradationState, QStringLiteral("normal"));
    QCOMPARE(snap.gateways.at(0).replicationLagMs, 250.0);
    QVERIFY(snap.gateways.at(1).up);

    source.setTargets({tokyoTarget});
    source.refresh();
    QVERIFY(spy.wait(TimeScale::ms(5000)));
    const auto after = spy.takeFirst().first().value<MetricsSnapshot>();
    QCOMPARE(after.regions.size(), 1);
    QCOMPARE(after.regions.first().region, QStringLiteral("tokyo"));
}

void TestMetricsSource::sixtyGatewaysInOneTick()
{
    const QStringList regions{QStringLiteral("nyc"), QStringLiteral("tokyo"), QStringLiteral("eu")};
    QThread serverThread;
    Fleet fleet;
    fleet.moveToThread(&serverThread);
    serverThread.start();
    QList<ScrapeMetricsSource::Target> targets;
    QMetaObject::invokeMethod(
        &fleet,
        [&] {
            // A page the size of a real gateway's: 4 tiers x 4 outcomes, 4 histograms.
            GatewayCounts c = baseline();
            for (const char *tier : {"L0.5", "L0", "L1", "L3"}) {
                for (const char *outcome : {"hit", "miss", "bypass", "error"})
                    c.requests.append({QLatin1String(tier), QLatin1String(outcome), 1});
            }
            for (int i = 0; i < 60; ++i) {
                auto e = std::make_unique<FakeMetricsEndpoint>();
                e->setBody(render(regions[i % 3], c));
                targets.append({regions[i % 3], QUrl(QString::fromUtf8(e->url()))});
                fleet.endpoints.push_back(std::move(e));
            }
        },
        Qt::BlockingQueuedConnection);
    QCOMPARE(targets.size(), 60);

    ScrapeMetricsSource source(targets);
    QSignalSpy spy(&source, &ScrapeMetricsSource::snapshotReady);
    // How long this thread's event loop goes without running a 1 ms timer.
    QElapsedTimer sinceLast;
    qint64 longestStall = 0;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    connect(&probe, &QTimer::timeout, this, [&] {
        longestStall = qMax(longestStall, sinceLast.elapsed());
        sinceLast.restart();
    });
    for (int round = 0; round < 3; ++round) {
        longestStall = 0;
        sinceLast.start();
        probe.start(1);
        QElapsedTimer tick;
        tick.start();
        source.refresh();
        QVERIFY(spy.wait(TimeScale::ms(20000)));
        probe.stop();
        const auto snap = spy.takeFirst().first().value<MetricsSnapshot>();
        QCOMPARE(snap.regions.size(), 3);
        for (const RegionMetrics &r : snap.regions) {
            QCOMPARE(r.gatewaysUp, 20);
            QCOMPARE(r.gatewaysTotal, 20);
        }
        qInfo("60 gateways: tick %lld ms (source says %lld ms), longest event-loop stall %lld ms", tick.elapsed(),
              source.lastTickMs(), longestStall);
    }

    QThread *mainThread = thread();
    QMetaObject::invokeMethod(
        &fleet,
        [&] {
            fleet.endpoints.clear();
            fleet.moveToThread(mainThread);
        },
        Qt::BlockingQueuedConnection);
    serverThread.quit();
    QVERIFY(serverThread.wait(TimeScale::ms(5000)));
}

QTEST_GUILESS_MAIN(TestMetricsSource)
#include "tst_metricssource.moc"
