// The dashboards fed with synthetic snapshots: series per region, the window
// trimming old points, status cards and their history strip, the tier bars,
// and a 60-gateway-region fleet ticking without stalling the UI thread.
#include <QBarSet>
#include <QElapsedTimer>
#include <QTest>

#include "tests/support/timescale.h"
#include "ui/common/regionstatuscard.h"
#include "ui/common/timeserieschart.h"
#include "ui/dashboard/dashboardpage.h"

using namespace l0l3;

namespace {

MetricsSnapshot snapshot(const QDateTime &at, const QStringList &regions, double rps,
                         const QString &state = QStringLiteral("normal"))
{
    MetricsSnapshot s;
    s.timestamp = at;
    for (const QString &name : regions) {
        RegionMetrics r;
        r.region = name;
        r.rps = rps;
        r.hitRateByTier = {{QStringLiteral("L0.5"), 0.2}, {QStringLiteral("L0"), 0.3}, {QStringLiteral("miss"), 0.5}};
        r.hitRate = 0.5;
        r.p50Ms = 3;
        r.p99Ms = 420;
        r.errorRate = 0.01;
        r.degradationState = state;
        r.up = true;
        r.gatewaysUp = 1;
        r.gatewaysTotal = 1;
        s.regions.append(r);
    }
    return s;
}

} // namespace

class TestDashboardPage : public QObject
{
    Q_OBJECT
private slots:
    void seriesCardsAndBars()
    {
        DashboardPage page;
        const QStringList regions{QStringLiteral("eu"), QStringLiteral("nyc"), QStringLiteral("tokyo")};
        const QDateTime t0 = QDateTime::currentDateTime().addSecs(-30);
        for (int i = 0; i < 30; ++i)
            page.addSnapshot(snapshot(t0.addSecs(i), regions, 10 + i,
                                      i < 20 ? QStringLiteral("normal") : QStringLiteral("degraded")));
        QCOMPARE(page.snapshotCount(), 30);
        QCOMPARE(page.latencyChart()->seriesCount(), 6); // p50 + p99 per region
        QCOMPARE(page.latencyChart()->pointCount(QStringLiteral("nyc p99")), 30);
        QCOMPARE(page.rpsChart()->pointCount(QStringLiteral("tokyo")), 30);
        QCOMPARE(page.errorChart()->pointCount(QStringLiteral("eu")), 30);
        QVERIFY(page.card(QStringLiteral("nyc")));
        QCOMPARE(page.card(QStringLiteral("nyc"))->state(), QStringLiteral("degraded"));
        QCOMPARE(page.card(QStringLiteral("nyc"))->history().size(), 30);
        QCOMPARE(page.card(QStringLiteral("nyc"))->history().first(), QStringLiteral("normal"));
        // The tier bars are drawn in a pass of their own after the tick.
        QTRY_COMPARE_WITH_TIMEOUT(page.tierSet(QStringLiteral("L0"))->count(), 3, l0l3::test::TimeScale::ms(5000));
        QCOMPARE(page.tierSet(QStringLiteral("L0"))->at(0), 30.0);
        QCOMPARE(page.tierSet(QStringLiteral("L1"))->at(0), 0.0);

        // NaN latency (no requests) is a gap, not a zero.
        MetricsSnapshot idle = snapshot(t0.addSecs(30), regions, 0);
        idle.regions[1].p99Ms = qQNaN();
        page.addSnapshot(idle);
        QCOMPARE(page.latencyChart()->pointCount(QStringLiteral("nyc p99")), 30);
        QCOMPARE(page.latencyChart()->pointCount(QStringLiteral("eu p99")), 31);

        // A gateway that stops answering shows as offline.
        MetricsSnapshot down = snapshot(t0.addSecs(31), regions, 0);
        down.regions[2].up = false;
        page.addSnapshot(down);
        QCOMPARE(page.card(QStringLiteral("tokyo"))->state(), QStringLiteral("offline"));

        RegionReplicationStatus lag;
        lag.region = QStringLiteral("tokyo");
        lag.reachable = true;
        lag.linkUp = true;
        lag.lagMs = 12;
        page.addReplication({lag});
        QCOMPARE(page.lagChart()->pointCount(QStringLiteral("tokyo")), 1);
    }

    void windowTrimsOldPoints_data()
    {
        QTest::addColumn<int>("minutes");
        QTest::addColumn<int>("expected");
        // 90 minutes of 1-minute ticks ending now.
        QTest::newRow("5") << 5 << 6;
        QTest::newRow("15") << 15 << 16;
        QTest::newRow("60") << 60 << 61;
    }
    void windowTrimsOldPoints()
    {
        QFETCH(int, minutes);
        QFETCH(int, expected);
        DashboardPage page;
        page.setWindowMinutes(minutes);
        QCOMPARE(page.windowMinutes(), minutes);
        const QDateTime now = QDateTime::currentDateTime();
        for (int i = 90; i >= 0; --i)
            page.addSnapshot(snapshot(now.addSecs(-60 * i), {QStringLiteral("nyc")}, 5));
        QCOMPARE(page.rpsChart()->pointCount(QStringLiteral("nyc")), expected);
    }

    // 60 regions' worth of gateways, 60 ticks: the UI-side work per tick stays
    // small (the scraping itself runs on the monitor thread).
    void syntheticFleetStaysResponsive()
    {
        DashboardPage page;
        page.resize(1280, 800);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        QStringList regions;
        for (int i = 0; i < 60; ++i)
            regions.append(QStringLiteral("gw%1").arg(i, 2, 10, QLatin1Char('0')));
        const QDateTime t0 = QDateTime::currentDateTime().addSecs(-60);
        QElapsedTimer worst;
        qint64 worstMs = 0;
        for (int i = 0; i < 60; ++i) {
            worst.start();
            page.addSnapshot(snapshot(t0.addSecs(i), regions, i));
            QCoreApplication::processEvents();
            worstMs = std::max(worstMs, worst.elapsed());
        }
        QCOMPARE(page.rpsChart()->seriesCount(), 60);
        QCOMPARE(page.rpsChart()->pointCount(QStringLiteral("gw59")), 60);
        // A 1 s tick must leave the event loop most of its time (half of it,
        // scaled for slower builds).
        QVERIFY2(worstMs < l0l3::test::TimeScale::ms(500),
                 qPrintable(
                     QStringLiteral("worst tick %1 ms, bound %2 ms").arg(worstMs).arg(l0l3::test::TimeScale::ms(500))));
    }
};

QTEST_MAIN(TestDashboardPage)
#include "tst_dashboardpage.moc"
