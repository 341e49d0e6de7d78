#include <QTest>

#include <cmath>
#include <limits>

#include "core/common/histogramquantile.h"

using l0l3::HistogramBucket;
using l0l3::HistogramQuantile;

using Buckets = std::vector<HistogramBucket>;
Q_DECLARE_METATYPE(Buckets)

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// le 0.1: 10, 0.2: 30, 0.5: 40, +Inf: 40
Buckets basic()
{
    return {{0.1, 10}, {0.2, 30}, {0.5, 40}, {inf, 40}};
}

} // namespace

class TestHistogramQuantile : public QObject
{
    Q_OBJECT

private slots:
    void compute_data();
    void compute();
    void delta();
    void deltaAfterReset();
};

void TestHistogramQuantile::compute_data()
{
    QTest::addColumn<double>("q");
    QTest::addColumn<Buckets>("buckets");
    QTest::addColumn<double>("expected");

    // rank = q * 40; interpolation inside the bucket holding the rank.
    QTest::newRow("median") << 0.5 << basic() << 0.15; // 0.1 + 0.1 * (20-10)/20
    QTest::newRow("q=0.25 on a bound") << 0.25 << basic() << 0.1;
    QTest::newRow("first bucket from 0") << 0.1 << basic() << 0.04; // 0 + 0.1 * 4/10
    QTest::newRow("p90") << 0.9 << basic() << 0.38;                 // 0.2 + 0.3 * 6/10
    QTest::newRow("q=1 highest finite bucket") << 1.0 << basic() << 0.5;
    QTest::newRow("q=0") << 0.0 << basic() << 0.0;
    QTest::newRow("rank in +Inf bucket") << 0.9 << Buckets{{0.1, 10}, {0.2, 20}, {inf, 40}} << 0.2;
    QTest::newRow("all in +Inf") << 0.5 << Buckets{{0.1, 0}, {0.2, 0}, {inf, 7}} << 0.2;
    QTest::newRow("unsorted input") << 0.5 << Buckets{{inf, 40}, {0.5, 40}, {0.1, 10}, {0.2, 30}} << 0.15;
    QTest::newRow("non-monotonic is fixed")
        << 0.5 << Buckets{{0.1, 10}, {0.2, 8}, {0.5, 40}, {inf, 40}} << 0.3; // 0.2 + 0.3 * 10/30
    QTest::newRow("duplicate le coalesced") << 0.5 << Buckets{{0.1, 5}, {0.1, 5}, {0.2, 30}, {inf, 40}} << 0.15;
    QTest::newRow("negative first bound") << 0.2 << Buckets{{-1, 5}, {0, 10}, {inf, 10}} << -1.0;
    QTest::newRow("fractional rates") << 0.5 << Buckets{{0.001, 0.5}, {0.01, 1.5}, {inf, 2}}
                                      << 0.0055; // 0.001 + 0.009 * 0.5/1
    QTest::newRow("no observations") << 0.5 << Buckets{{0.1, 0}, {inf, 0}} << kNaN;
    QTest::newRow("only +Inf bucket") << 0.5 << Buckets{{inf, 5}} << kNaN;
    QTest::newRow("no +Inf bucket") << 0.5 << Buckets{{0.1, 1}, {0.2, 2}} << kNaN;
    QTest::newRow("no buckets") << 0.5 << Buckets{} << kNaN;
    QTest::newRow("q NaN") << kNaN << basic() << kNaN;
    QTest::newRow("q < 0") << -0.1 << basic() << -inf;
    QTest::newRow("q > 1") << 1.1 << basic() << inf;
}

void TestHistogramQuantile::compute()
{
    QFETCH(double, q);
    QFETCH(Buckets, buckets);
    QFETCH(double, expected);
    const double got = HistogramQuantile::compute(q, buckets);
    if (std::isnan(expected))
        QVERIFY2(std::isnan(got), qPrintable(QString::number(got)));
    else if (std::isinf(expected))
        QCOMPARE(got, expected);
    else
        QVERIFY2(std::abs(got - expected) < 1e-12, qPrintable(QString::number(got, 'g', 17)));
}

void TestHistogramQuantile::delta()
{
    const Buckets earlier{{0.1, 10}, {0.2, 30}, {inf, 40}};
    const Buckets later{{0.1, 15}, {0.2, 45}, {inf, 60}};
    const Buckets d = HistogramQuantile::delta(earlier, later);
    QCOMPARE(d.size(), std::size_t(3));
    QCOMPARE(d[0].cumulativeCount, 5.0);
    QCOMPARE(d[1].cumulativeCount, 15.0);
    QCOMPARE(d[2].cumulativeCount, 20.0);
    QCOMPARE(d[1].upperBound, 0.2);
    QVERIFY(std::isinf(d[2].upperBound));
    // 10 of 20 observations at rank 10: 0.1 + 0.1 * (10-5)/10
    QVERIFY(std::abs(HistogramQuantile::compute(0.5, d) - 0.15) < 1e-12);
}

void TestHistogramQuantile::deltaAfterReset()
{
    const Buckets earlier{{0.1, 100}, {inf, 200}};
    const Buckets later{{0.1, 3}, {inf, 4}};
    const Buckets d = HistogramQuantile::delta(earlier, later);
    QCOMPARE(d[0].cumulativeCount, 3.0);
    QCOMPARE(d[1].cumulativeCount, 4.0);
    const Buckets same = HistogramQuantile::delta(later, later);
    QCOMPARE(same[1].cumulativeCount, 0.0);
    QVERIFY(std::isnan(HistogramQuantile::compute(0.5, same)));
}

QTEST_GUILESS_MAIN(TestHistogramQuantile)
#include "tst_histogramquantile.moc"
