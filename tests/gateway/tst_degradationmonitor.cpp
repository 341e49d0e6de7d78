#include <QTest>

#include <cmath>

#include "core/gateway/degradationmonitor.h"
#include "core/gateway/latencywindow.h"

using namespace l0l3;
using State = DegradationMonitor::State;
using Inputs = DegradationMonitor::Inputs;

Q_DECLARE_METATYPE(l0l3::DegradationMonitor::State)

namespace {

Inputs inputs(bool replica, bool fallback, bool primary, bool circuitOpen, bool slow)
{
    Inputs in;
    in.replicaUp = replica;
    in.fallbackReplicaUp = fallback;
    in.primaryUp = primary;
    in.circuitOpen = circuitOpen;
    in.latencyOverSlo = slow;
    return in;
}

} // namespace

class TestDegradationMonitor : public QObject
{
    Q_OBJECT

private slots:
    void evaluate_data();
    void evaluate();
    void transitionsAreCounted();
    void names();
    void latencyWindowQuantile();
    void latencyWindowForgetsOldLatencies();
    void latencyWindowClear();
};

void TestDegradationMonitor::evaluate_data()
{
    QTest::addColumn<bool>("replica");
    QTest::addColumn<bool>("fallback");
    QTest::addColumn<bool>("primary");
    QTest::addColumn<bool>("circuitOpen");
    QTest::addColumn<bool>("slow");
    QTest::addColumn<State>("expected");

    QTest::newRow("all well") << true << false << true << false << false << State::Normal;
    QTest::newRow("primary down alone is not a read problem")
        << true << false << false << false << false << State::Normal;
    QTest::newRow("slow") << true << false << true << false << true << State::Elevated;
    QTest::newRow("circuit open") << true << false << true << true << false << State::Degraded;
    QTest::newRow("circuit open beats slow") << true << false << true << true << true << State::Degraded;
    QTest::newRow("replica down, primary serves") << false << false << true << false << false << State::ReplicaDown;
    QTest::newRow("replica down, fallback serves") << false << true << false << false << false << State::ReplicaDown;
    QTest::newRow("replica down beats circuit open") << false << false << true << true << true << State::ReplicaDown;
    QTest::newRow("no source at all") << false << false << false << false << false << State::Offline;
    QTest::newRow("no source beats everything") << false << false << false << true << true << State::Offline;
    QTest::newRow("fallback up but replica up: normal") << true << true << false << false << false << State::Normal;
}

void TestDegradationMonitor::evaluate()
{
    QFETCH(bool, replica);
    QFETCH(bool, fallback);
    QFETCH(bool, primary);
    QFETCH(bool, circuitOpen);
    QFETCH(bool, slow);
    QFETCH(State, expected);
    QCOMPARE(DegradationMonitor::evaluate(inputs(replica, fallback, primary, circuitOpen, slow)), expected);
}

void TestDegradationMonitor::transitionsAreCounted()
{
    DegradationMonitor monitor;
    QCOMPARE(monitor.state(), State::Normal);
    State from = State::Offline;
    QVERIFY(!monitor.update(inputs(true, false, true, false, false), &from));
    QCOMPARE(from, State::Normal);
    QVERIFY(monitor.update(inputs(false, false, true, false, false), &from));
    QCOMPARE(from, State::Normal);
    QCOMPARE(monitor.state(), State::ReplicaDown);
    QVERIFY(!monitor.update(inputs(false, false, true, true, false))); // still replica_down
    QVERIFY(monitor.update(inputs(false, false, false, false, false)));
    QCOMPARE(monitor.state(), State::Offline);
    QVERIFY(monitor.update(inputs(true, false, true, false, false)));
    QVERIFY(monitor.update(inputs(false, false, true, false, false)));
    QVERIFY(monitor.update(inputs(true, false, true, false, false)));
    QCOMPARE(monitor.transitions(State::Normal, State::ReplicaDown), std::uint64_t(2));
    QCOMPARE(monitor.transitions(State::ReplicaDown, State::Offline), std::uint64_t(1));
    QCOMPARE(monitor.transitions(State::Offline, State::Normal), std::uint64_t(1));
    QCOMPARE(monitor.transitions(State::ReplicaDown, State::Normal), std::uint64_t(1));
    QCOMPARE(monitor.transitions(State::Normal, State::Degraded), std::uint64_t(0));
    QCOMPARE(monitor.state(), State::Normal);
}

void TestDegradationMonitor::names()
{
    QCOMPARE(DegradationMonitor::name(State::ReplicaDown), std::string_view("replica_down"));
    QCOMPARE(DegradationMonitor::name(State::Offline), std::string_view("offline"));
    const std::string line = DegradationMonitor::describe(inputs(false, false, true, true, false));
    QVERIFY2(line.find("replica unreachable") != std::string::npos, line.c_str());
    QVERIFY2(line.find("circuit open") != std::string::npos, line.c_str());
}

void TestDegradationMonitor::latencyWindowQuantile()
{
    LatencyHistogram h;
    LatencyWindow window(10000, 20);
    window.sample(0, {&h});
    for (int i = 0; i < 10; ++i)
        h.record(0.001);
    window.sample(1000, {&h});
    QVERIFY(std::isnan(window.quantile(0.99))); // too few samples to judge
    for (int i = 0; i < 90; ++i)
        h.record(0.001);
    for (int i = 0; i < 5; ++i)
        h.record(0.9);
    window.sample(2000, {&h});
    QCOMPARE(window.samplesInWindow(), std::uint64_t(105));
    const double p99 = window.quantile(0.99);
    QVERIFY2(p99 > 0.5 && p99 <= 1.0, qPrintable(QString::number(p99)));
    const double p50 = window.quantile(0.5);
    QVERIFY2(p50 < 0.002, qPrintable(QString::number(p50)));
}

void TestDegradationMonitor::latencyWindowForgetsOldLatencies()
{
    LatencyHistogram slow;
    LatencyHistogram fast;
    LatencyWindow window(10000, 20);
    window.sample(0, {&slow, &fast});
    for (int i = 0; i < 100; ++i)
        slow.record(2.0);
    window.sample(1000, {&slow, &fast});
    QVERIFY(window.quantile(0.99) > 1.0);
    // 11 s later only fast requests happened in the window.
    for (std::int64_t t = 2000; t <= 12000; t += 1000) {
        for (int i = 0; i < 10; ++i)
            fast.record(0.0005);
        window.sample(t, {&slow, &fast});
    }
    const double p99 = window.quantile(0.99);
    QVERIFY2(p99 < 0.001, qPrintable(QString::number(p99)));
}

void TestDegradationMonitor::latencyWindowClear()
{
    LatencyHistogram h;
    LatencyWindow window(10000, 20);
    window.sample(0, {&h});
    for (int i = 0; i < 50; ++i)
        h.record(2.0);
    window.sample(1000, {&h});
    QVERIFY(window.quantile(0.99) > 1.0);
    window.clear();
    QCOMPARE(window.samplesInWindow(), std::uint64_t(0));
    QVERIFY(std::isnan(window.quantile(0.99)));
    // The next sample is the new baseline: only what is recorded after it counts.
    window.sample(2000, {&h});
    for (int i = 0; i < 30; ++i)
        h.record(0.001);
    window.sample(3000, {&h});
    QCOMPARE(window.samplesInWindow(), std::uint64_t(30));
    QVERIFY2(window.quantile(0.99) < 0.002, qPrintable(QString::number(window.quantile(0.99))));
}

QTEST_GUILESS_MAIN(TestDegradationMonitor)
#include "tst_degradationmonitor.moc"
