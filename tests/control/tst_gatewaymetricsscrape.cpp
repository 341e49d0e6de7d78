// The console's metrics scraper fed by the page the gateway itself renders
// (GatewayMetrics), not by a hand-written one: rates, hit shares, error rate
// and quantiles over a window of known requests, and what a restarted
// gateway's counters do.
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>

#include <algorithm>
#include <memory>
#include <string>

#include "core/control/scrapemetricssource.h"
#include "core/gateway/gatewaymetrics.h"
#include "tests/support/fakemetricsendpoint.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

using Tier = GatewayMetrics::Tier;
using Outcome = GatewayMetrics::Outcome;

constexpr double kHotSeconds = 0.0002;
constexpr double kExactSeconds = 0.0008;
constexpr double kErrorSeconds = 0.002;
constexpr double kUpstreamSeconds = 0.6;

// The window every test records: 100 requests, their shares and latencies known.
void recordWindow(GatewayMetrics &m)
{
    for (int i = 0; i < 50; ++i)
        m.request(Tier::HotCache, Outcome::Hit, kHotSeconds);
    for (int i = 0; i < 20; ++i)
        m.request(Tier::Exact, Outcome::Hit, kExactSeconds);
    for (int i = 0; i < 5; ++i) {
        m.request(Tier::None, Outcome::Error, kErrorSeconds);
        m.error(503, "upstream_unavailable");
    }
    for (int i = 0; i < 25; ++i)
        m.request(Tier::Upstream, Outcome::Miss, kUpstreamSeconds);
}

QByteArray page(const GatewayMetrics &m)
{
    std::string out;
    m.render(out, GatewayMetrics::Gauges{});
    return QByteArray::fromStdString(out);
}

// The histogram's bucket bounds (seconds) as the page announces them.
QList<double> bucketBounds(const QByteArray &text)
{
    static const QRegularExpression le(
        QStringLiteral(R"re(l0l3_request_duration_seconds_bucket\{[^}]*le="([0-9.e+-]+)")re"));
    QList<double> bounds;
    for (auto it = le.globalMatch(QString::fromUtf8(text)); it.hasNext();) {
        const double b = it.next().captured(1).toDouble();
        if (!bounds.contains(b))
            bounds.append(b);
    }
    std::sort(bounds.begin(), bounds.end());
    return bounds;
}

// (lower, upper] of the bucket that holds seconds, in ms.
QPair<double, double> bucketOf(const QList<double> &bounds, double seconds)
{
    double lower = 0;
    for (double b : bounds) {
        if (seconds <= b)
            return {lower * 1000.0, b * 1000.0};
        lower = b;
    }
    return {lower * 1000.0, qInf()};
}

} // namespace

class TestGatewayMetricsScrape : public QObject
{
    Q_OBJECT

private slots:
    void windowOfKnownRequests_data();
    void windowOfKnownRequests();

private:
    MetricsSnapshot scrape(ScrapeMetricsSource &source, QSignalSpy &spy);
};

MetricsSnapshot TestGatewayMetricsScrape::scrape(ScrapeMetricsSource &source, QSignalSpy &spy)
{
    source.refresh();
    if (!spy.wait(TimeScale::ms(5000)))
        return {};
    return spy.takeFirst().first().value<MetricsSnapshot>();
}

void TestGatewayMetricsScrape::windowOfKnownRequests_data()
{
    QTest::addColumn<bool>("restart");
    QTest::newRow("counters grow") << false;
    // A restarted gateway renders fresh counters: the new counts are the increase.
    QTest::newRow("gateway restarted") << true;
}

void TestGatewayMetricsScrape::windowOfKnownRequests()
{
    QFETCH(bool, restart);

    auto metrics = std::make_unique<GatewayMetrics>("nyc");
    // Traffic before the window, larger than the window's for the restart case.
    for (int i = 0; i < (restart ? 1000 : 30); ++i)
        metrics->request(Tier::HotCache, Outcome::Hit, 0.05);
    metrics->request(Tier::Upstream, Outcome::Error, 3.0);

    FakeMetricsEndpoint endpoint;
    endpoint.setBodyFunction([&metrics](int) { return page(*metrics); });
    ScrapeMetricsSource source({{QString(), QUrl(QString::fromUtf8(endpoint.url()))}});
    source.setWindowMs(60000);
    QSignalSpy spy(&source, &ScrapeMetricsSource::snapshotReady);

    const MetricsSnapshot first = scrape(source, spy);
    QCOMPARE(first.regions.size(), 1);
    QVERIFY2(first.regions[0].up, qPrintable(first.error));

    if (restart)
        metrics = std::make_unique<GatewayMetrics>("nyc");
    recordWindow(*metrics);
    QTest::qWait(50); // a measurable window (not a synchronisation)
    const MetricsSnapshot snap = scrape(source, spy);
    QCOMPARE(snap.regions.size(), 1);
    const RegionMetrics &m = snap.regions[0];
    QCOMPARE(m.region, QStringLiteral("nyc"));
    QVERIFY(m.up);
    QCOMPARE(m.gatewaysUp, 1);
    QCOMPARE(m.degradationState, QStringLiteral("normal"));
    QVERIFY(m.windowSeconds > 0);
    QVERIFY2(qAbs(m.rps * m.windowSeconds - 100) < 1e-6, qPrintable(QString::number(m.rps * m.windowSeconds)));
    QCOMPARE(m.hitRateByTier.value(QStringLiteral("L0.5")), 0.5);
    QCOMPARE(m.hitRateByTier.value(QStringLiteral("L0")), 0.2);
    QCOMPARE(m.hitRateByTier.value(QStringLiteral("miss")), 0.25);
    QVERIFY2(qAbs(m.hitRate - 0.7) < 1e-12, qPrintable(QString::number(m.hitRate)));
    QVERIFY2(qAbs(m.errorRate - 0.05) < 1e-12, qPrintable(QString::number(m.errorRate)));

    // The 50th of the 100 sorted latencies is the last hot-cache hit, the
    // 99th an upstream answer: each quantile lies in that sample's bucket.
    const QList<double> bounds = bucketBounds(page(*metrics));
    QVERIFY2(bounds.size() > 3, "no histogram buckets on the page");
    const auto p50Bucket = bucketOf(bounds, kHotSeconds);
    QVERIFY2(m.p50Ms > p50Bucket.first && m.p50Ms <= p50Bucket.second,
             qPrintable(
                 QStringLiteral("p50 %1 ms outside (%2, %3]").arg(m.p50Ms).arg(p50Bucket.first).arg(p50Bucket.second)));
    const auto p99Bucket = bucketOf(bounds, kUpstreamSeconds);
    QVERIFY2(m.p99Ms > p99Bucket.first && m.p99Ms <= p99Bucket.second,
             qPrintable(
                 QStringLiteral("p99 %1 ms outside (%2, %3]").arg(m.p99Ms).arg(p99Bucket.first).arg(p99Bucket.second)));
}

QTEST_GUILESS_MAIN(TestGatewayMetricsScrape)
#include "tst_gatewaymetricsscrape.moc"
