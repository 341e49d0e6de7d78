#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <memory>

#include "core/common/redisschema.h"
#include "core/control/replicationmonitor.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

// The monitor against real redis-server processes (primary + replica, ACL users).
class TestReplicationMonitor : public QObject
{
    Q_OBJECT

private slots:
    void linkUpWithSmallLag_data();
    void linkUpWithSmallLag();
    void pausedReplicaIsUnreachableAndLagGrows();
    void deadPrimaryShowsLinkDown();

private:
    struct Rig
    {
        RedisServer primary;
        RedisServer replica;
    };
};

void TestReplicationMonitor::linkUpWithSmallLag_data()
{
    QTest::addColumn<bool>("acl");
    QTest::addColumn<QString>("user");
    QTest::addColumn<int>("serveStaleData");
    // The console user may not run CONFIG or TIME: the monitor falls back to INFO.
    QTest::newRow("console user (ACL)") << true << QStringLiteral("console") << -1;
    QTest::newRow("no ACL, CONFIG allowed") << false << QString() << 1;
}

// Runs the monitor on a worker thread, as the console does; results cross by queued signals.
void TestReplicationMonitor::linkUpWithSmallLag()
{
    QFETCH(bool, acl);
    QFETCH(QString, user);
    QFETCH(int, serveStaleData);
    Rig rig;
    QString error;
    QVERIFY2(startPrimaryAndReplica(rig.primary, rig.replica, acl, &error), qPrintable(error));

    QThread thread;
    QObject anchor;
    anchor.moveToThread(&thread);
    thread.start();
    ReplicationMonitor *monitor = nullptr;
    QList<RegionReplicationStatus> last;
    PrimaryReplicationStatus lastPrimary;
    int ticks = 0;
    const auto primaryOptions = optionsFor(rig.primary, user);
    const auto replicaOptions = optionsFor(rig.replica, user);
    QMetaObject::invokeMethod(
        &anchor,
        [&] {
            monitor = new ReplicationMonitor(primaryOptions, {{QStringLiteral("tokyo"), replicaOptions}});
            monitor->setIntervalMs(200);
            connect(monitor, &ReplicationMonitor::statusUpdated, this, [&](const QList<RegionReplicationStatus> &s) {
                QCOMPARE_NE(QThread::currentThread(), &thread);
                last = s;
                ++ticks;
            });
            connect(monitor, &ReplicationMonitor::primaryUpdated, this,
                    [&](const PrimaryReplicationStatus &p) { lastPrimary = p; });
            monitor->start();
        },
        Qt::BlockingQueuedConnection);

    auto healthy = [&] { return last.size() == 1 && last[0].reachable && last[0].linkUp && last[0].lagMs >= 0; };
    QTRY_VERIFY2_WITH_TIMEOUT(healthy(), qPrintable(last.value(0).error), TimeScale::ms(10000));
    // A few more ticks: every one must stay healthy and the lag small.
    const int from = ticks;
    qint64 maxLag = 0;
    while (ticks < from + 5) {
        QTRY_VERIFY_WITH_TIMEOUT(ticks > from, TimeScale::ms(5000));
        const int seen = ticks;
        QVERIFY2(healthy(), qPrintable(last.value(0).error));
        maxLag = qMax(maxLag, last[0].lagMs);
        QTRY_VERIFY_WITH_TIMEOUT(ticks > seen, TimeScale::ms(5000));
    }
    qInfo("max lag over 5 ticks: %lld ms", maxLag);
    QVERIFY2(maxLag < TimeScale::ms(500), qPrintable(QString::number(maxLag)));
    const RegionReplicationStatus s = last[0];
    QCOMPARE(s.region, QStringLiteral("tokyo"));
    QCOMPARE(s.port, rig.replica.port());
    QVERIFY(s.offset > 0);
    QVERIFY(s.primaryOffset >= s.offset);
    QVERIFY(s.lastIoSecondsAgo >= 0);
    QCOMPARE(s.serveStaleData, serveStaleData);
    QVERIFY(lastPrimary.reachable);
    QCOMPARE(lastPrimary.role, QStringLiteral("master"));
    QCOMPARE(lastPrimary.connectedReplicas, 1);

    // The heartbeat on the primary is the primary's own clock in ms.
    RedisClient client = rig.primary.client(acl ? QStringLiteral("console") : QString());
    QVERIFY2(client.isConnected(), qPrintable(client.lastError()));
    const qint64 hb = client.get(QByteArray::fromStdString(std::string(RedisSchema::kHeartbeat))).toLongLong();
    const qint64 now = QDateTime::currentMSecsSinceEpoch(); // same machine, same clock
    QVERIFY2(qAbs(now - hb) < TimeScale::ms(2000), qPrintable(QStringLiteral("%1 vs %2").arg(hb).arg(now)));

    QMetaObject::invokeMethod(
        &anchor, [&] { delete monitor; }, Qt::BlockingQueuedConnection);
    thread.quit();
    QVERIFY(thread.wait(TimeScale::ms(5000)));
}

void TestReplicationMonitor::pausedReplicaIsUnreachableAndLagGrows()
{
    Rig rig;
    QString error;
    QVERIFY2(startPrimaryAndReplica(rig.primary, rig.replica, true, &error), qPrintable(error));
    ReplicationMonitor monitor(optionsFor(rig.primary, QStringLiteral("console")),
                               {{QStringLiteral("eu"), optionsFor(rig.replica, QStringLiteral("console"))}});
    monitor.setIntervalMs(200);
    QList<RegionReplicationStatus> last;
    connect(&monitor, &ReplicationMonitor::statusUpdated, this, [&](const auto &s) { last = s; });
    monitor.start();
    QTRY_VERIFY_WITH_TIMEOUT(last.size() == 1 && last[0].linkUp && last[0].lagMs >= 0, TimeScale::ms(10000));

    rig.replica.pause();
    QTRY_VERIFY_WITH_TIMEOUT(!last[0].reachable && last[0].lagMs >= 0, TimeScale::ms(5000));
    const qint64 firstLag = last[0].lagMs;
    QVERIFY(!last[0].linkUp);
    QVERIFY(!last[0].error.isEmpty());
    qInfo("paused replica: lag %lld ms, error: %s", firstLag, qPrintable(last[0].error));
    QTRY_VERIFY_WITH_TIMEOUT(last[0].lagMs >= firstLag + 600, TimeScale::ms(5000));
    QVERIFY(!last[0].reachable);

    rig.replica.resume();
    QTRY_VERIFY_WITH_TIMEOUT(last[0].reachable && last[0].linkUp && last[0].lagMs >= 0 && last[0].lagMs < 500,
                             TimeScale::ms(15000));
    monitor.stop();
}

void TestReplicationMonitor::deadPrimaryShowsLinkDown()
{
    Rig rig;
    QString error;
    QVERIFY2(startPrimaryAndReplica(rig.primary, rig.replica, true, &error), qPrintable(error));
    ReplicationMonitor monitor(optionsFor(rig.primary, QStringLiteral("console")),
                               {{QStringLiteral("nyc"), optionsFor(rig.replica, QStringLiteral("console"))}});
    monitor.setIntervalMs(200);
    QList<RegionReplicationStatus> last;
    PrimaryReplicationStatus primary;
    connect(&monitor, &ReplicationMonitor::statusUpdated, this, [&](const auto &s) { last = s; });
    connect(&monitor, &ReplicationMonitor::primaryUpdated, this, [&](const auto &p) { primary = p; });
    monitor.start();
    QTRY_VERIFY_WITH_TIMEOUT(last.size() == 1 && last[0].linkUp, TimeScale::ms(10000));
    QVERIFY(primary.reachable);

    rig.primary.kill();
    QTRY_VERIFY2_WITH_TIMEOUT(last[0].reachable && !last[0].linkUp,
                              qPrintable(QStringLiteral("reachable %1 linkUp %2 error %3")
                                             .arg(last[0].reachable)
                                             .arg(last[0].linkUp)
                                             .arg(last[0].error)),
                              TimeScale::ms(10000));
    QVERIFY2(last[0].error.contains(QLatin1String("link down")), qPrintable(last[0].error));
    QTRY_VERIFY_WITH_TIMEOUT(!primary.reachable, TimeScale::ms(5000));
    QVERIFY(!primary.error.isEmpty());
    monitor.stop();
}

QTEST_GUILESS_MAIN(TestReplicationMonitor)
#include "tst_replicationmonitor.moc"
