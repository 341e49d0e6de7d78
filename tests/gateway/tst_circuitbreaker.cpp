#include <QTest>

#include <string>
#include <vector>

#include "core/gateway/circuitbreaker.h"

using namespace l0l3;
using State = CircuitBreaker::State;
using Permit = CircuitBreaker::Permit;

Q_DECLARE_METATYPE(l0l3::CircuitBreaker::State)

namespace {

struct FakeClock
{
    std::int64_t ms = 1000000;
};

CircuitBreaker::Options options(int failures = 5, int successes = 3, std::int64_t cooldownMs = 30000,
                                double errorRate = 0)
{
    CircuitBreaker::Options o;
    o.failureThreshold = failures;
    o.successThreshold = successes;
    o.cooldownMs = cooldownMs;
    o.errorRate = errorRate;
    o.windowMs = 10000;
    o.minCallsInWindow = 10;
    return o;
}

// One call through the breaker: allowed or not, and its outcome recorded.
Permit call(CircuitBreaker &breaker, bool success)
{
    const Permit p = breaker.allow();
    breaker.record(p, success);
    return p;
}

} // namespace

class TestCircuitBreaker : public QObject
{
    Q_OBJECT

private slots:
    void opensAfterConsecutiveFailures_data();
    void opensAfterConsecutiveFailures();
    void successResetsTheFailureCount();
    void openRefusesUntilTheCooldown();
    void closesAfterEnoughProbeSuccesses_data();
    void closesAfterEnoughProbeSuccesses();
    void probeFailureReopens();
    void oneProbeAtATime();
    void errorRateOpens();
    void errorRateNeedsEnoughCalls();
    void errorRateForgetsOldCalls();
    void lateResultsAreIgnored();
    void transitionsAreReported();
    void holdOffOpensForTheRetryAfter();
    void holdOffIsBounded();
    void holdOffOfAProbeReopensForTheRetryAfter();
    void holdOffExtendsAnOpenCircuit();
    void holdOffWithoutDelayIsAFailure();
    void tripOpensAClosedCircuitOnly();
};

void TestCircuitBreaker::opensAfterConsecutiveFailures_data()
{
    QTest::addColumn<int>("threshold");
    QTest::newRow("default 5") << 5;
    QTest::newRow("1") << 1;
    QTest::newRow("12") << 12;
}

void TestCircuitBreaker::opensAfterConsecutiveFailures()
{
    QFETCH(int, threshold);
    FakeClock clock;
    CircuitBreaker breaker(options(threshold), [&] { return clock.ms; });
    for (int i = 0; i < threshold - 1; ++i) {
        QCOMPARE(call(breaker, false), Permit::Normal);
        QCOMPARE(breaker.state(), State::Closed);
    }
    QCOMPARE(call(breaker, false), Permit::Normal);
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(breaker.allow(), Permit::Denied);
}

void TestCircuitBreaker::successResetsTheFailureCount()
{
    FakeClock clock;
    CircuitBreaker breaker(options(3), [&] { return clock.ms; });
    for (int round = 0; round < 10; ++round) {
        call(breaker, false);
        call(breaker, false);
        call(breaker, true);
    }
    QCOMPARE(breaker.state(), State::Closed);
    call(breaker, false);
    call(breaker, false);
    call(breaker, false);
    QCOMPARE(breaker.state(), State::Open);
}

void TestCircuitBreaker::openRefusesUntilTheCooldown()
{
    FakeClock clock;
    CircuitBreaker breaker(options(1, 3, 30000), [&] { return clock.ms; });
    call(breaker, false);
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(breaker.msUntilProbe(), 30000);
    clock.ms += 29999;
    QCOMPARE(breaker.allow(), Permit::Denied);
    QCOMPARE(breaker.msUntilProbe(), 1);
    clock.ms += 1;
    QCOMPARE(breaker.allow(), Permit::Probe);
    QCOMPARE(breaker.state(), State::HalfOpen);
}

void TestCircuitBreaker::closesAfterEnoughProbeSuccesses_data()
{
    QTest::addColumn<int>("successes");
    QTest::newRow("default 3") << 3;
    QTest::newRow("1") << 1;
    QTest::newRow("7") << 7;
}

void TestCircuitBreaker::closesAfterEnoughProbeSuccesses()
{
    QFETCH(int, successes);
    FakeClock clock;
    CircuitBreaker breaker(options(1, successes, 100), [&] { return clock.ms; });
    call(breaker, false);
    clock.ms += 100;
    for (int i = 0; i < successes - 1; ++i) {
        QCOMPARE(call(breaker, true), Permit::Probe);
        QCOMPARE(breaker.state(), State::HalfOpen);
    }
    QCOMPARE(call(breaker, true), Permit::Probe);
    QCOMPARE(breaker.state(), State::Closed);
    QCOMPARE(breaker.allow(), Permit::Normal);
    // Closed again from scratch: it takes the full threshold to reopen.
    QCOMPARE(breaker.msUntilProbe(), 0);
}

void TestCircuitBreaker::probeFailureReopens()
{
    FakeClock clock;
    CircuitBreaker breaker(options(1, 3, 100), [&] { return clock.ms; });
    call(breaker, false);
    clock.ms += 100;
    QCOMPARE(call(breaker, true), Permit::Probe);
    QCOMPARE(call(breaker, false), Permit::Probe);
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(breaker.allow(), Permit::Denied);
    QCOMPARE(breaker.msUntilProbe(), 100); // a fresh cool-down
    clock.ms += 100;
    QCOMPARE(breaker.allow(), Permit::Probe);
}

void TestCircuitBreaker::oneProbeAtATime()
{
    FakeClock clock;
    CircuitBreaker breaker(options(1, 2, 100), [&] { return clock.ms; });
    call(breaker, false);
    clock.ms += 100;
    const Permit first = breaker.allow();
    QCOMPARE(first, Permit::Probe);
    QCOMPARE(breaker.allow(), Permit::Denied); // the probe has not answered yet
    breaker.record(first, true);
    const Permit second = breaker.allow();
    QCOMPARE(second, Permit::Probe);
    breaker.record(second, true);
    QCOMPARE(breaker.state(), State::Closed);
    // A probe that never reports does not wedge the circuit: another is let through after a cool-down.
    call(breaker, false);
    clock.ms += 100;
    QCOMPARE(breaker.allow(), Permit::Probe);
    QCOMPARE(breaker.allow(), Permit::Denied);
    clock.ms += 100;
    QCOMPARE(breaker.allow(), Permit::Probe);
}

void TestCircuitBreaker::errorRateOpens()
{
    FakeClock clock;
    // 30% failures, never 5 in a row: only the rate rule can open it.
    CircuitBreaker breaker(options(5, 3, 30000, 0.25), [&] { return clock.ms; });
    const bool pattern[] = {true, true, false, true, true, false, true, false, true, true};
    int calls = 0;
    while (breaker.state() == State::Closed && calls < 100) {
        call(breaker, pattern[calls % 10]);
        clock.ms += 50;
        ++calls;
    }
    QCOMPARE(breaker.state(), State::Open);
    // At the first failure once the window holds the minimum of 10 calls: 4 of 13.
    QCOMPARE(calls, 13);
}

void TestCircuitBreaker::errorRateNeedsEnoughCalls()
{
    FakeClock clock;
    CircuitBreaker breaker(options(5, 3, 30000, 0.25), [&] { return clock.ms; });
    for (int i = 0; i < 3; ++i) {
        call(breaker, false);
        call(breaker, true);
    }
    QCOMPARE(breaker.state(), State::Closed); // 50% but only 6 calls
}

void TestCircuitBreaker::errorRateForgetsOldCalls()
{
    FakeClock clock;
    CircuitBreaker breaker(options(5, 3, 30000, 0.5), [&] { return clock.ms; });
    for (int i = 0; i < 4; ++i)
        call(breaker, false);
    call(breaker, true);
    clock.ms += 20000; // the failures leave the 10 s window
    for (int i = 0; i < 20; ++i) {
        call(breaker, i % 4 != 0); // 25% failures
        clock.ms += 100;
    }
    QCOMPARE(breaker.state(), State::Closed);
}

void TestCircuitBreaker::lateResultsAreIgnored()
{
    FakeClock clock;
    CircuitBreaker breaker(options(2, 1, 100), [&] { return clock.ms; });
    const Permit slow = breaker.allow(); // sent while closed, answers after the circuit opened
    call(breaker, false);
    call(breaker, false);
    QCOMPARE(breaker.state(), State::Open);
    breaker.record(slow, true);
    QCOMPARE(breaker.state(), State::Open);
    clock.ms += 100;
    const Permit probe = breaker.allow();
    breaker.record(slow, false); // a closed-era failure must not reopen a probing circuit
    QCOMPARE(breaker.state(), State::HalfOpen);
    breaker.record(probe, true);
    QCOMPARE(breaker.state(), State::Closed);
}

void TestCircuitBreaker::transitionsAreReported()
{
    FakeClock clock;
    CircuitBreaker breaker(options(2, 1, 100), [&] { return clock.ms; });
    std::vector<std::pair<State, State>> seen;
    std::vector<std::string> reasons;
    breaker.setTransitionCallback([&](State from, State to, std::string_view why) {
        seen.emplace_back(from, to);
        reasons.emplace_back(why);
    });
    call(breaker, false);
    call(breaker, false);
    clock.ms += 100;
    call(breaker, true);
    const std::vector<std::pair<State, State>> expected{{State::Closed, State::Open},
                                                        {State::Open, State::HalfOpen},
                                                        {State::HalfOpen, State::Closed}};
    QVERIFY(seen == expected);
    QVERIFY2(reasons[0].find("2 consecutive failures") != std::string::npos, reasons[0].c_str());
    QCOMPARE(CircuitBreaker::stateName(State::HalfOpen), std::string_view("half-open"));
}

void TestCircuitBreaker::holdOffOpensForTheRetryAfter()
{
    FakeClock clock;
    CircuitBreaker breaker(options(5, 1, 30000), [&] { return clock.ms; });
    std::string reason;
    breaker.setTransitionCallback([&](State, State to, std::string_view why) {
        if (to == State::Open)
            reason = why;
    });
    breaker.holdOff(breaker.allow(), 2000, "upstream answered 429, Retry-After 2 s");
    // One answer with a Retry-After is enough, long before the failure threshold.
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(reason, std::string("upstream answered 429, Retry-After 2 s"));
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(2000));
    clock.ms += 1999;
    QCOMPARE(breaker.allow(), Permit::Denied);
    clock.ms += 1;
    // The upstream's time, not the 30 s cool-down.
    const Permit probe = breaker.allow();
    QCOMPARE(probe, Permit::Probe);
    breaker.record(probe, true);
    QCOMPARE(breaker.state(), State::Closed);
}

void TestCircuitBreaker::holdOffIsBounded()
{
    FakeClock clock;
    CircuitBreaker::Options o = options();
    o.maxHoldMs = 5000;
    CircuitBreaker breaker(o, [&] { return clock.ms; });
    breaker.holdOff(breaker.allow(), 24 * 3600 * 1000, "a day");
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(5000));
    QCOMPARE(CircuitBreaker::Options().maxHoldMs, std::int64_t(300000));
}

void TestCircuitBreaker::holdOffOfAProbeReopensForTheRetryAfter()
{
    FakeClock clock;
    CircuitBreaker breaker(options(1, 2, 30000), [&] { return clock.ms; });
    call(breaker, false);
    clock.ms += 30000;
    const Permit probe = breaker.allow();
    QCOMPARE(probe, Permit::Probe);
    breaker.holdOff(probe, 7000, "probe answered 503, Retry-After 7 s");
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(7000));
    clock.ms += 7000;
    QCOMPARE(breaker.allow(), Permit::Probe); // the probe no longer counts as in flight
}

void TestCircuitBreaker::holdOffExtendsAnOpenCircuit()
{
    FakeClock clock;
    CircuitBreaker breaker(options(1, 1, 30000), [&] { return clock.ms; });
    const Permit late = breaker.allow();
    call(breaker, false);
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(30000));
    clock.ms += 1000;
    breaker.holdOff(late, 60000, "late 429");
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(60000));
    // A shorter wish never shortens it.
    breaker.holdOff(late, 1000, "late 429");
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(60000));
    QCOMPARE(breaker.state(), State::Open);
}

void TestCircuitBreaker::holdOffWithoutDelayIsAFailure()
{
    FakeClock clock;
    CircuitBreaker breaker(options(3), [&] { return clock.ms; });
    breaker.holdOff(breaker.allow(), 0, "Retry-After 0");
    breaker.holdOff(breaker.allow(), -5, "a date in the past");
    QCOMPARE(breaker.state(), State::Closed);
    breaker.holdOff(breaker.allow(), 0, "Retry-After 0");
    QCOMPARE(breaker.state(), State::Open); // the third consecutive failure
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(30000));
    breaker.holdOff(Permit::Denied, 60000, "never called");
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(30000));
}

void TestCircuitBreaker::tripOpensAClosedCircuitOnly()
{
    FakeClock clock;
    CircuitBreaker breaker(options(5, 1, 4000), [&] { return clock.ms; });
    std::string reason;
    breaker.setTransitionCallback([&](State, State to, std::string_view why) {
        if (to == State::Open)
            reason = why;
    });
    QVERIFY(breaker.trip("p99 900 ms over the SLO"));
    QCOMPARE(breaker.state(), State::Open);
    QCOMPARE(reason, std::string("p99 900 ms over the SLO"));
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(4000));
    clock.ms += 1000;
    QVERIFY(!breaker.trip("again"));
    QCOMPARE(breaker.msUntilProbe(), std::int64_t(3000)); // not restarted
    clock.ms += 3000;
    const Permit probe = breaker.allow();
    QCOMPARE(probe, Permit::Probe);
    QVERIFY(!breaker.trip("while probing"));
    QCOMPARE(breaker.state(), State::HalfOpen);
    breaker.record(probe, true);
    QCOMPARE(breaker.state(), State::Closed);
}

QTEST_GUILESS_MAIN(TestCircuitBreaker)
#include "tst_circuitbreaker.moc"
