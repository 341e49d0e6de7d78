#include <QTest>

#include <cmath>
#include <limits>

#include "core/common/histogramquantile.h"
#include "core/common/latencyhistogram.h"
#include "core/common/prometheusparser.h"
#include "core/common/prometheuswriter.h"

using namespace l0l3;

class TestPrometheus : public QObject
{
    Q_OBJECT

private slots:
    void formatValue_data();
    void formatValue();
    void writerEscapesLabels();
    void familyHeader();
    void parse_data();
    void parse();
    void histogramRoundTrip();
};

void TestPrometheus::formatValue_data()
{
    QTest::addColumn<double>("value");
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("zero") << 0.0 << QByteArray("0");
    QTest::newRow("integer") << 100.0 << QByteArray("100");
    QTest::newRow("fraction") << 1.5 << QByteArray("1.5");
    QTest::newRow("small") << 0.00005 << QByteArray("5e-05");
    QTest::newRow("large") << 1e21 << QByteArray("1e+21");
    QTest::newRow("+Inf") << std::numeric_limits<double>::infinity() << QByteArray("+Inf");
    QTest::newRow("-Inf") << -std::numeric_limits<double>::infinity() << QByteArray("-Inf");
    QTest::newRow("NaN") << std::numeric_limits<double>::quiet_NaN() << QByteArray("NaN");
}

void TestPrometheus::formatValue()
{
    QFETCH(double, value);
    QFETCH(QByteArray, text);
    QCOMPARE(QByteArray::fromStdString(PrometheusWriter::formatValue(value)), text);
}

void TestPrometheus::writerEscapesLabels()
{
    std::string out;
    PrometheusWriter w(out);
    w.sample("l0l3_requests_total", {{"region", "nyc"}, {"note", "a\"b\\c\nd"}}, 42);
    w.sample("l0l3_up", {}, 1);
    QCOMPARE(QByteArray::fromStdString(out),
             QByteArray("l0l3_requests_total{region=\"nyc\",note=\"a\\\"b\\\\c\\nd\"} 42\nl0l3_up 1\n"));

    const auto samples = PrometheusParser::parse(out);
    QCOMPARE(samples.size(), std::size_t(2));
    QCOMPARE(samples[0].name, std::string("l0l3_requests_total"));
    QCOMPARE(samples[0].labels.at("note"), std::string("a\"b\\c\nd"));
    QCOMPARE(samples[0].labels.at("region"), std::string("nyc"));
    QCOMPARE(samples[0].value, 42.0);
    QVERIFY(samples[1].labels.empty());
}

void TestPrometheus::familyHeader()
{
    std::string out;
    PrometheusWriter(out).family("l0l3_hits_total", "counter", "Hits by tier.\nSecond line \\ end");
    QCOMPARE(QByteArray::fromStdString(out),
             QByteArray(
                 "# HELP l0l3_hits_total Hits by tier.\\nSecond line \\\\ end\n# TYPE l0l3_hits_total counter\n"));
    int malformed = -1;
    QVERIFY(PrometheusParser::parse(out, &malformed).empty());
    QCOMPARE(malformed, 0);
}

void TestPrometheus::parse_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<int>("samples");
    QTest::addColumn<int>("malformed");
    QTest::addColumn<QByteArray>("firstName");
    QTest::addColumn<double>("firstValue");

    QTest::newRow("simple") << QByteArray("a 1\n") << 1 << 0 << QByteArray("a") << 1.0;
    QTest::newRow("no final newline") << QByteArray("a 2.5") << 1 << 0 << QByteArray("a") << 2.5;
    QTest::newRow("CRLF") << QByteArray("a 1\r\nb 2\r\n") << 2 << 0 << QByteArray("a") << 1.0;
    QTest::newRow("timestamp ignored") << QByteArray("a{x=\"1\"} 3 1718000000000\n") << 1 << 0 << QByteArray("a")
                                       << 3.0;
    QTest::newRow("comments and blanks") << QByteArray("# HELP a x\n\n# TYPE a gauge\n   \na 4\n") << 1 << 0
                                         << QByteArray("a") << 4.0;
    QTest::newRow("+Inf value") << QByteArray("a +Inf\n") << 1 << 0 << QByteArray("a")
                                << std::numeric_limits<double>::infinity();
    QTest::newRow("-Inf value") << QByteArray("a -Inf\n") << 1 << 0 << QByteArray("a")
                                << -std::numeric_limits<double>::infinity();
    QTest::newRow("exponent") << QByteArray("a 1.5e-05\n") << 1 << 0 << QByteArray("a") << 1.5e-05;
    QTest::newRow("spaces around labels")
        << QByteArray("a { x = \"1\" , y=\"2\", } 5\n") << 1 << 0 << QByteArray("a") << 5.0;
    QTest::newRow("empty braces") << QByteArray("a{} 6\n") << 1 << 0 << QByteArray("a") << 6.0;
    QTest::newRow("colon in name") << QByteArray("job:rate5m 7\n") << 1 << 0 << QByteArray("job:rate5m") << 7.0;
    QTest::newRow("brace inside value") << QByteArray("a{x=\"}{,\"} 8\n") << 1 << 0 << QByteArray("a") << 8.0;
    QTest::newRow("unterminated value") << QByteArray("a{x=\"1} 1\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
    QTest::newRow("unquoted label") << QByteArray("a{x=1} 1\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
    QTest::newRow("no name") << QByteArray("{x=\"1\"} 1\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
    QTest::newRow("digit first") << QByteArray("9a 1\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
    QTest::newRow("bad value") << QByteArray("a abc\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
    QTest::newRow("missing value") << QByteArray("a\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
    QTest::newRow("too many fields") << QByteArray("a 1 2 3\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
    QTest::newRow("bad timestamp") << QByteArray("a 1 soon\nb 2\n") << 1 << 1 << QByteArray("b") << 2.0;
}

void TestPrometheus::parse()
{
    QFETCH(QByteArray, text);
    QFETCH(int, samples);
    QFETCH(int, malformed);
    QFETCH(QByteArray, firstName);
    QFETCH(double, firstValue);
    int bad = -1;
    const auto out = PrometheusParser::parse(std::string_view(text.constData(), text.size()), &bad);
    QCOMPARE(int(out.size()), samples);
    QCOMPARE(bad, malformed);
    QCOMPARE(QByteArray::fromStdString(out.front().name), firstName);
    QCOMPARE(out.front().value, firstValue);
}

void TestPrometheus::histogramRoundTrip()
{
    LatencyHistogram h;
    for (int i = 1; i <= 1000; ++i)
        h.recordNanos(std::int64_t(i) * 10'000); // 10us .. 10ms, uniform
    h.record(30);                                // one slow request beyond the last Prometheus bound

    std::string out;
    PrometheusWriter w(out);
    w.family("l0l3_request_duration_seconds", "histogram", "Request latency.");
    w.histogram("l0l3_request_duration_seconds", {{"region", "nyc"}, {"tier", "l0"}}, h);

    int malformed = -1;
    const auto samples = PrometheusParser::parse(out, &malformed);
    QCOMPARE(malformed, 0);
    QCOMPARE(samples.size(), LatencyHistogram::prometheusBounds().size() + 1 + 2);

    std::vector<HistogramBucket> buckets;
    double sum = -1;
    double count = -1;
    for (const auto &s : samples) {
        QCOMPARE(s.labels.at("region"), std::string("nyc"));
        QCOMPARE(s.labels.at("tier"), std::string("l0"));
        if (s.name == "l0l3_request_duration_seconds_bucket") {
            const std::string &le = s.labels.at("le");
            const double bound = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le);
            buckets.push_back({bound, s.value});
            QCOMPARE(s.value, double(h.countAtOrBelow(bound)));
        } else if (s.name == "l0l3_request_duration_seconds_sum") {
            sum = s.value;
        } else if (s.name == "l0l3_request_duration_seconds_count") {
            count = s.value;
        } else {
            QFAIL(s.name.c_str());
        }
    }
    QCOMPARE(count, 1001.0);
    QVERIFY(std::abs(sum - (h.sumSeconds())) < 1e-9);
    QCOMPARE(buckets.back().cumulativeCount, 1001.0);
    QCOMPARE(buckets[4].upperBound, 0.001);
    QCOMPARE(buckets[4].cumulativeCount, 100.0); // 10us..1ms inclusive

    // rank 500.5 of 1001: half an observation into (5ms, 10ms], which holds 500.
    const double median = HistogramQuantile::compute(0.5, buckets);
    QVERIFY2(std::abs(median - (0.005 + 0.005 * 0.5 / 500)) < 1e-12, qPrintable(QString::number(median, 'g', 17)));
    // The slow request falls into +Inf: PromQL reports the highest finite bound.
    QCOMPARE(HistogramQuantile::compute(1.0, buckets), 10.0);
}

QTEST_GUILESS_MAIN(TestPrometheus)
#include "tst_prometheus.moc"
