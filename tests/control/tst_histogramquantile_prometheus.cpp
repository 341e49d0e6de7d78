#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QUrlQuery>

#include <cmath>
#include <memory>
#include <vector>

#include "core/common/histogramquantile.h"
#include "core/control/prometheusmetricssource.h"
#include "tests/support/fakemetricsendpoint.h"
#include "tests/support/managedprocess.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

const QList<double> kBounds{0.005, 0.01, 0.05, 0.1, 0.5, 1};

struct Histogram
{
    QString tier;
    QList<double> counts; // cumulative, kBounds then +Inf
};

// Per region, the histogram series (one per tier) every scrape multiplies by
// the scrape number: all buckets grow in proportion, so rate() over any
// window has the same shape and the same quantiles as these base counts.
const QMap<QString, QList<Histogram>> &baseHistograms()
{
    static const QMap<QString, QList<Histogram>> h{
        // Summed: 40, 60, 60, 70, 90, 100, 100 -> p50 7.5 ms, p99 950 ms.
        {QStringLiteral("a"),
         {{QStringLiteral("L0.5"), {40, 50, 50, 50, 50, 50, 50}}, {QStringLiteral("L3"), {0, 10, 10, 20, 40, 50, 50}}}},
        {QStringLiteral("b"), {{QStringLiteral("L0"), {1, 2, 3, 5, 8, 13, 21}}}},
        // Most observations above the highest finite bound: the quantile is that bound.
        {QStringLiteral("c"), {{QStringLiteral("L3"), {0, 0, 0, 0, 1, 2, 10}}}},
    };
    return h;
}

std::vector<HistogramBucket> summedBuckets(const QString &region)
{
    std::vector<HistogramBucket> out;
    for (qsizetype i = 0; i <= kBounds.size(); ++i)
        out.push_back({i < kBounds.size() ? kBounds[i] : std::numeric_limits<double>::infinity(), 0});
    for (const Histogram &h : baseHistograms().value(region)) {
        for (qsizetype i = 0; i < h.counts.size(); ++i)
            out[std::size_t(i)].cumulativeCount += h.counts[i];
    }
    return out;
}

QByteArray page(int scrape)
{
    QByteArray out = "# TYPE l0l3_request_duration_seconds histogram\n";
    for (auto it = baseHistograms().cbegin(); it != baseHistograms().cend(); ++it) {
        for (const Histogram &h : it.value()) {
            for (qsizetype i = 0; i < h.counts.size(); ++i) {
                const QString le = i < kBounds.size() ? QString::number(kBounds[i]) : QStringLiteral("+Inf");
                out += QStringLiteral("l0l3_request_duration_seconds_bucket{region=\"%1\",tier=\"%2\",le=\"%3\"} %4\n")
                           .arg(it.key(), h.tier, le)
                           .arg(h.counts[i] * scrape)
                           .toUtf8();
            }
        }
    }
    out += "# TYPE l0l3_requests_total counter\n";
    const QList<std::tuple<const char *, const char *, int>> answers{
        {"L0.5", "hit", 50}, {"L0", "hit", 20}, {"L3", "miss", 25}, {"none", "error", 5}};
    for (const QString &region : baseHistograms().keys()) {
        for (const auto &[tier, outcome, n] : answers)
            out += QStringLiteral("l0l3_requests_total{region=\"%1\",tier=\"%2\",outcome=\"%3\"} %4\n")
                       .arg(region, QLatin1String(tier), QLatin1String(outcome))
                       .arg(n * scrape)
                       .toUtf8();
        for (const char *s : {"normal", "elevated"})
            out += QStringLiteral("l0l3_degradation_state{region=\"%1\",state=\"%2\"} %3\n")
                       .arg(region, QLatin1String(s))
                       .arg((region == QLatin1String("a")) == (qstrcmp(s, "elevated") == 0) ? 1 : 0)
                       .toUtf8();
        out += "l0l3_draining{region=\"" + region.toUtf8() + "\"} 0\n";
    }
    return out;
}

int freePort()
{
    QTcpServer s;
    s.listen(QHostAddress::LocalHost, 0);
    return s.serverPort();
}

} // namespace

// core/common HistogramQuantile and PrometheusMetricsSource against a real
// Prometheus scraping a synthetic endpoint with known histograms.
class TestHistogramQuantilePrometheus : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void sameAsPromQL_data();
    void sameAsPromQL();
    void prometheusMetricsSource();
    void prometheusHistory();

private:
    // One instant query; the result array, or an empty array and a failure.
    QJsonArray query(const QString &expr, QString *error = nullptr);
    static double valueOf(const QJsonArray &result, const QString &region);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<FakeMetricsEndpoint> m_endpoint;
    std::unique_ptr<ManagedProcess> m_prometheus;
    QNetworkAccessManager m_network;
    QUrl m_base;
};

void TestHistogramQuantilePrometheus::initTestCase()
{
    const QString binary = QStandardPaths::findExecutable(QStringLiteral("prometheus"));
    if (binary.isEmpty())
        QSKIP("prometheus is not installed (apt-get install prometheus; scripts/install-deps.sh lists it)");
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_endpoint = std::make_unique<FakeMetricsEndpoint>();
    m_endpoint->setBodyFunction(&page);

    QFile config(m_dir->filePath(QStringLiteral("prometheus.yml")));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                 "scrape_configs:\n  - job_name: l0l3\n    static_configs:\n      - targets: ['127.0.0.1:"
                 + QByteArray::number(m_endpoint->port()) + "']\n");
    config.close();

    const int port = freePort();
    m_base = QUrl(QStringLiteral("http://127.0.0.1:%1").arg(port));
    m_prometheus = std::make_unique<ManagedProcess>();
    QString error;
    const bool started = m_prometheus->start(
        binary,
        {QStringLiteral("--config.file=") + config.fileName(),
         QStringLiteral("--storage.tsdb.path=") + m_dir->filePath(QStringLiteral("data")),
         QStringLiteral("--web.listen-address=127.0.0.1:%1").arg(port), QStringLiteral("--log.level=warn")},
        QProcessEnvironment::systemEnvironment(), &error);
    if (!started)
        QSKIP(qPrintable(QStringLiteral("prometheus cannot run here: %1").arg(error)));

    // Ready once a rate over the scrapes exists for every region.
    const QString probe = QStringLiteral(
        "histogram_quantile(0.5, sum by (le, region) (rate(l0l3_request_duration_seconds_bucket[5s])))");
    QTRY_VERIFY2_WITH_TIMEOUT(query(probe).size() == 3 || !m_prometheus->isRunning(),
                              qPrintable(m_prometheus->describe()), TimeScale::ms(60000));
    // It was installed and started: dying now is a failure, not a missing tool.
    if (!m_prometheus->isRunning())
        QFAIL(qPrintable(QStringLiteral("prometheus exited: %1").arg(m_prometheus->describe())));
}

void TestHistogramQuantilePrometheus::cleanupTestCase()
{
    m_prometheus.reset();
    m_endpoint.reset();
    m_dir.reset();
}

QJsonArray TestHistogramQuantilePrometheus::query(const QString &expr, QString *error)
{
    QUrl url = m_base;
    url.setPath(QStringLiteral("/api/v1/query"));
    QUrlQuery q;
    q.addQueryItem(QStringLiteral("query"), expr);
    url.setQuery(q);
    QNetworkRequest request(url);
    request.setTransferTimeout(5000);
    QNetworkReply *reply = m_network.get(request);
    QSignalSpy done(reply, &QNetworkReply::finished);
    if (!reply->isFinished())
        done.wait(TimeScale::ms(6000));
    reply->deleteLater();
    const QJsonObject o = QJsonDocument::fromJson(reply->readAll()).object();
    if (o.value(QLatin1String("status")).toString() != QLatin1String("success")) {
        if (error)
            *error = o.value(QLatin1String("error")).toString(reply->errorString());
        return {};
    }
    return o.value(QLatin1String("data")).toObject().value(QLatin1String("result")).toArray();
}

double TestHistogramQuantilePrometheus::valueOf(const QJsonArray &result, const QString &region)
{
    for (const QJsonValue &v : result) {
        const QJsonObject o = v.toObject();
        if (o.value(QLatin1String("metric")).toObject().value(QLatin1String("region")).toString() == region) {
            const QString s = o.value(QLatin1String("value")).toArray().at(1).toString();
            return s == QLatin1String("NaN") ? qQNaN() : s.toDouble();
        }
    }
    return qQNaN();
}

void TestHistogramQuantilePrometheus::sameAsPromQL_data()
{
    QTest::addColumn<QString>("region");
    QTest::addColumn<double>("q");
    for (const QString &region : baseHistograms().keys()) {
        for (double q : {0.1, 0.5, 0.9, 0.99})
            QTest::addRow("%s q=%g", qPrintable(region), q) << region << q;
    }
}

void TestHistogramQuantilePrometheus::sameAsPromQL()
{
    QFETCH(QString, region);
    QFETCH(double, q);
    const double ours = HistogramQuantile::compute(q, summedBuckets(region));
    QVERIFY(std::isfinite(ours));
    QString error;
    // On the cumulative counts themselves...
    const QString raw =
        QStringLiteral("histogram_quantile(%1, sum by (le, region) (l0l3_request_duration_seconds_bucket))").arg(q);
    const double promRaw = valueOf(query(raw, &error), region);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    // ... and on their rates, the way the dashboards use it.
    const QString rated =
        QStringLiteral("histogram_quantile(%1, sum by (le, region) (rate(l0l3_request_duration_seconds_bucket[5s])))")
            .arg(q);
    const double promRate = valueOf(query(rated, &error), region);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    qInfo("%s q=%g: ours %.9g, PromQL raw %.9g, PromQL rate %.9g", qPrintable(region), q, ours, promRaw, promRate);
    QVERIFY2(qAbs(promRaw - ours) <= 1e-9 * qMax(1.0, qAbs(ours)), qPrintable(QString::number(promRaw, 'g', 17)));
    QVERIFY2(qAbs(promRate - ours) <= 1e-9 * qMax(1.0, qAbs(ours)), qPrintable(QString::number(promRate, 'g', 17)));
}

void TestHistogramQuantilePrometheus::prometheusMetricsSource()
{
    PrometheusMetricsSource source(m_base);
    source.setWindow(QStringLiteral("5s"));
    QSignalSpy spy(&source, &PrometheusMetricsSource::snapshotReady);
    source.refresh();
    QVERIFY(spy.wait(TimeScale::ms(10000)));
    const auto snap = spy.first().first().value<MetricsSnapshot>();
    QVERIFY2(snap.error.isEmpty(), qPrintable(snap.error));
    QCOMPARE(snap.regions.size(), 3);
    for (const RegionMetrics &m : snap.regions) {
        const auto buckets = summedBuckets(m.region);
        const double p50 = HistogramQuantile::compute(0.5, buckets) * 1000;
        const double p99 = HistogramQuantile::compute(0.99, buckets) * 1000;
        QVERIFY2(qAbs(m.p50Ms - p50) < 1e-6,
                 qPrintable(QStringLiteral("%1: %2 vs %3").arg(m.region).arg(m.p50Ms).arg(p50)));
        QVERIFY2(qAbs(m.p99Ms - p99) < 1e-6,
                 qPrintable(QStringLiteral("%1: %2 vs %3").arg(m.region).arg(m.p99Ms).arg(p99)));
        QVERIFY(m.up);
        QCOMPARE(m.gatewaysUp, 1);
        QVERIFY(m.rps > 0);
        QVERIFY(qAbs(m.hitRateByTier.value(QStringLiteral("L0.5")) - 0.5) < 1e-9);
        QVERIFY(qAbs(m.hitRateByTier.value(QStringLiteral("L0")) - 0.2) < 1e-9);
        QVERIFY(qAbs(m.hitRateByTier.value(QStringLiteral("miss")) - 0.25) < 1e-9);
        QVERIFY(qAbs(m.errorRate - 0.05) < 1e-9);
        QCOMPARE(m.degradationState,
                 m.region == QLatin1String("a") ? QStringLiteral("elevated") : QStringLiteral("normal"));
    }
    const RegionMetrics *a = snap.region(QStringLiteral("a"));
    QVERIFY(a);
    QVERIFY(qAbs(a->p50Ms - 7.5) < 1e-6);
    QVERIFY(qAbs(a->p99Ms - 950) < 1e-6);

    // An unreachable Prometheus is an error in the snapshot, not a hang.
    PrometheusMetricsSource dead(QUrl(QStringLiteral("http://127.0.0.1:%1").arg(freePort())));
    QSignalSpy deadSpy(&dead, &PrometheusMetricsSource::snapshotReady);
    dead.refresh();
    QVERIFY(deadSpy.wait(TimeScale::ms(10000)));
    QVERIFY(!deadSpy.first().first().value<MetricsSnapshot>().error.isEmpty());
}

void TestHistogramQuantilePrometheus::prometheusHistory()
{
    PrometheusMetricsSource source(m_base);
    source.setWindow(QStringLiteral("5s"));
    QSignalSpy spy(&source, &PrometheusMetricsSource::historyReady);
    // Counts the steps with a p99 for region "a" (checking each); -1 on a failure.
    auto fetch = [&]() -> int {
        spy.clear();
        const QDateTime now = QDateTime::currentDateTimeUtc();
        source.fetchHistory(now.addSecs(-30), now, 1);
        if (!spy.wait(TimeScale::ms(10000)))
            return -1;
        const auto history = spy.first().first().value<QList<MetricsSnapshot>>();
        int points = 0;
        for (qsizetype i = 0; i < history.size(); ++i) {
            const MetricsSnapshot &s = history[i];
            if (!s.error.isEmpty() || (i > 0 && !(history[i - 1].timestamp < s.timestamp)))
                return -1;
            const RegionMetrics *a = s.region(QStringLiteral("a"));
            if (!a || qIsNaN(a->p99Ms))
                continue; // before the first rate existed
            if (qAbs(a->p99Ms - 950) > 1e-6 || qAbs(a->p50Ms - 7.5) > 1e-6)
                return -1;
            ++points;
        }
        return points;
    };
    int points = 0;
    // History accumulates one step per second since Prometheus started.
    QTRY_VERIFY_WITH_TIMEOUT((points = fetch()) >= 3 || points < 0, TimeScale::ms(20000));
    QVERIFY(points >= 3);
}

QTEST_GUILESS_MAIN(TestHistogramQuantilePrometheus)
#include "tst_histogramquantile_prometheus.moc"
