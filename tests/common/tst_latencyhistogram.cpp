#include <QRandomGenerator>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "core/common/latencyhistogram.h"

using l0l3::LatencyHistogram;

namespace {

// Whole nanoseconds, as the histogram resolves them.
double quantised(double seconds)
{
    return static_cast<double>(std::llround(seconds * 1e9)) / 1e9;
}

} // namespace

class TestLatencyHistogram : public QObject
{
    Q_OBJECT

private slots:
    void bounds();
    void prometheusBoundsAreBucketBounds();
    void bucketIndex_data();
    void bucketIndex();
    void everyBoundClosesItsBucket();
    void countAtOrBelowIsExact();
    void quantileWithinBucket_data();
    void quantileWithinBucket();
    void emptyAndReset();
    void sumCountMerge();
    void concurrentRecord();
};

void TestLatencyHistogram::bounds()
{
    QCOMPARE(LatencyHistogram::kBuckets, 146);
    QCOMPARE(LatencyHistogram::bucketUpperBound(0), 1e-6);
    QCOMPARE(LatencyHistogram::bucketUpperBound(1), 1.5e-6);
    QCOMPARE(LatencyHistogram::bucketUpperBound(18), 1e-5);
    QCOMPARE(LatencyHistogram::bucketUpperBound(19), 1.5e-5);
    QCOMPARE(LatencyHistogram::bucketUpperBound(LatencyHistogram::kBuckets - 2), 100.0);
    QVERIFY(std::isinf(LatencyHistogram::bucketUpperBound(LatencyHistogram::kBuckets - 1)));
    for (int i = 1; i < LatencyHistogram::kBuckets; ++i)
        QVERIFY(LatencyHistogram::bucketUpperBound(i) > LatencyHistogram::bucketUpperBound(i - 1));
}

void TestLatencyHistogram::prometheusBoundsAreBucketBounds()
{
    const std::vector<double> expected = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
    QCOMPARE(LatencyHistogram::prometheusBounds(), expected);
    for (double b : expected) {
        const int i = LatencyHistogram::bucketIndex(b);
        QCOMPARE(LatencyHistogram::bucketUpperBound(i), b); // bit-exact
    }
}

void TestLatencyHistogram::bucketIndex_data()
{
    QTest::addColumn<double>("seconds");
    QTest::addColumn<int>("index");
    QTest::newRow("zero") << 0.0 << 0;
    QTest::newRow("negative") << -1.0 << 0;
    QTest::newRow("NaN") << std::numeric_limits<double>::quiet_NaN() << 0;
    QTest::newRow("1us") << 1e-6 << 0;
    QTest::newRow("just above 1us") << 1.001e-6 << 1;
    QTest::newRow("1.5us") << 1.5e-6 << 1;
    QTest::newRow("1.501us") << 1.501e-6 << 2;
    QTest::newRow("10us") << 1e-5 << 18;
    QTest::newRow("250us") << 0.00025 << 1 + 18 * 2 + 2;
    QTest::newRow("1ms") << 0.001 << 1 + 18 * 2 + 17;
    QTest::newRow("100s") << 100.0 << 144;
    QTest::newRow("100.000001s") << 100.000001 << 145;
    QTest::newRow("an hour") << 3600.0 << 145;
    QTest::newRow("+Inf") << std::numeric_limits<double>::infinity() << 145;
    QTest::newRow("huge") << 1e300 << 145;
}

void TestLatencyHistogram::bucketIndex()
{
    QFETCH(double, seconds);
    QFETCH(int, index);
    QCOMPARE(LatencyHistogram::bucketIndex(seconds), index);
}

void TestLatencyHistogram::everyBoundClosesItsBucket()
{
    for (int i = 0; i < LatencyHistogram::kBuckets - 1; ++i) {
        const double b = LatencyHistogram::bucketUpperBound(i);
        QCOMPARE(LatencyHistogram::bucketIndex(b), i);
        QCOMPARE(LatencyHistogram::bucketIndex(b + 1e-9), i + 1);
        if (i > 0)
            QCOMPARE(LatencyHistogram::bucketIndex(b - 1e-9), i);
    }
}

void TestLatencyHistogram::countAtOrBelowIsExact()
{
    LatencyHistogram h;
    std::vector<double> values;
    QRandomGenerator rng(7);
    for (int i = 0; i < 20000; ++i)
        values.push_back(quantised(std::pow(10.0, rng.bounded(-7.5) + 2.5))); // 1e-5 .. 300 s, log-uniform
    for (double b : LatencyHistogram::prometheusBounds()) {
        values.push_back(b); // on the bound
        values.push_back(quantised(b + 1e-9));
        values.push_back(quantised(b - 1e-9));
    }
    for (double v : values)
        h.record(v);
    QCOMPARE(h.count(), std::uint64_t(values.size()));
    for (double b : LatencyHistogram::prometheusBounds()) {
        const auto exact = std::count_if(values.begin(), values.end(), [b](double v) { return v <= b; });
        QCOMPARE(h.countAtOrBelow(b), std::uint64_t(exact));
    }
    QCOMPARE(h.countAtOrBelow(std::numeric_limits<double>::infinity()), std::uint64_t(values.size()));
}

void TestLatencyHistogram::quantileWithinBucket_data()
{
    QTest::addColumn<QString>("distribution");
    QTest::newRow("uniform 50us-2ms") << u"uniform"_qs;
    QTest::newRow("log-uniform 2us-20s") << u"log"_qs;
    QTest::newRow("constant 300us") << u"constant"_qs;
    QTest::newRow("bimodal hits and misses") << u"bimodal"_qs;
}

void TestLatencyHistogram::quantileWithinBucket()
{
    QFETCH(QString, distribution);
    QRandomGenerator rng(1234);
    std::vector<double> values;
    for (int i = 0; i < 10000; ++i) {
        double v = 0;
        if (distribution == u"uniform")
            v = 50e-6 + rng.bounded(2e-3 - 50e-6);
        else if (distribution == u"log")
            v = std::pow(10.0, -5.7 + rng.bounded(7.0));
        else if (distribution == u"constant")
            v = 300e-6;
        else
            v = rng.bounded(10) < 8 ? 200e-6 + rng.bounded(100e-6) : 0.5 + rng.bounded(1.5);
        values.push_back(quantised(v));
    }
    LatencyHistogram h;
    for (double v : values)
        h.record(v);
    std::sort(values.begin(), values.end());
    for (double q : {0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
        const auto rank = static_cast<std::size_t>(std::ceil(q * values.size()));
        const double exact = values[std::max<std::size_t>(rank, 1) - 1];
        const int b = LatencyHistogram::bucketIndex(exact);
        const double lower = b == 0 ? 0.0 : LatencyHistogram::bucketUpperBound(b - 1);
        const double upper = LatencyHistogram::bucketUpperBound(b);
        const double got = h.quantile(q);
        QVERIFY2(got >= lower && got <= upper,
                 qPrintable(
                     u"q=%1 exact=%2 got=%3 bucket [%4, %5]"_qs.arg(q).arg(exact).arg(got).arg(lower).arg(upper)));
    }
}

void TestLatencyHistogram::emptyAndReset()
{
    LatencyHistogram h;
    QCOMPARE(h.count(), std::uint64_t(0));
    QCOMPARE(h.quantile(0.99), 0.0);
    QCOMPARE(h.sumSeconds(), 0.0);
    h.record(0.002);
    QVERIFY(h.quantile(0.5) > 0.001);
    h.reset();
    QCOMPARE(h.count(), std::uint64_t(0));
    QCOMPARE(h.countAtOrBelow(10), std::uint64_t(0));
    QCOMPARE(h.quantile(0.5), 0.0);
}

void TestLatencyHistogram::sumCountMerge()
{
    LatencyHistogram a;
    LatencyHistogram b;
    a.record(0.001);
    a.recordNanos(2'000'000);
    b.record(0.5);
    b.recordNanos(-5); // clamped to zero
    QCOMPARE(a.count(), std::uint64_t(2));
    QCOMPARE(a.sumSeconds(), 0.003);
    a.merge(b);
    QCOMPARE(a.count(), std::uint64_t(4));
    QCOMPARE(a.sumSeconds(), 0.503);
    QCOMPARE(a.countAtOrBelow(0.001), std::uint64_t(2));
    QCOMPARE(a.countAtOrBelow(0.0025), std::uint64_t(3));
    QCOMPARE(a.countAtOrBelow(0.5), std::uint64_t(4));
    // An overflowing value counts but has no finite bound.
    a.record(1000);
    QCOMPARE(a.countAtOrBelow(10), std::uint64_t(4));
    QCOMPARE(a.quantile(1.0), 100.0);
}

void TestLatencyHistogram::concurrentRecord()
{
    LatencyHistogram h;
    constexpr int kPerThread = 100000;
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&h, t] {
            for (int i = 0; i < kPerThread; ++i)
                h.recordNanos(1000 + (i % 1000) * 1000 + t);
        });
    for (auto &t : threads)
        t.join();
    QCOMPARE(h.count(), std::uint64_t(2 * kPerThread));
    QCOMPARE(h.countAtOrBelow(std::numeric_limits<double>::infinity()), std::uint64_t(2 * kPerThread));
}

QTEST_GUILESS_MAIN(TestLatencyHistogram)
#include "tst_latencyhistogram.moc"
