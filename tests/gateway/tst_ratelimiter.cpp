#include <QTest>

#include <atomic>
#include <thread>
#include <vector>

#include "core/gateway/ratelimiter.h"

using namespace l0l3;

namespace {

struct FakeClock
{
    std::int64_t us = 5'000'000;
};

} // namespace

class TestRateLimiter : public QObject
{
    Q_OBJECT

private slots:
    void disabledLetsEverythingThrough();
    void burstThenRefusal_data();
    void burstThenRefusal();
    void refillsAtTheRate();
    void clientsAreIndependent();
    void memoryIsBoundedAndIdleClientsAreForgotten();
    void busyTableEvictsAndStillLimits();
    void concurrentChecksNeverExceedTheBudget();
};

void TestRateLimiter::disabledLetsEverythingThrough()
{
    RateLimiter limiter({0, 1, 1024});
    QVERIFY(!limiter.enabled());
    for (int i = 0; i < 1000; ++i)
        QVERIFY(limiter.check(42).allowed);
    QCOMPARE(limiter.activeClients(), std::size_t(0));
}

void TestRateLimiter::burstThenRefusal_data()
{
    QTest::addColumn<double>("rate");
    QTest::addColumn<double>("burst");
    QTest::addColumn<qint64>("retryAfterMs");
    QTest::newRow("1/s burst 1") << 1.0 << 1.0 << qint64(1000);
    QTest::newRow("10/s burst 5") << 10.0 << 5.0 << qint64(100);
    QTest::newRow("0.5/s burst 3") << 0.5 << 3.0 << qint64(2000);
}

void TestRateLimiter::burstThenRefusal()
{
    QFETCH(double, rate);
    QFETCH(double, burst);
    QFETCH(qint64, retryAfterMs);
    FakeClock clock;
    RateLimiter limiter({rate, burst, 1024}, [&] { return clock.us; });
    for (int i = 0; i < static_cast<int>(burst); ++i)
        QVERIFY2(limiter.check(7).allowed, qPrintable(QString::number(i)));
    const auto refused = limiter.check(7);
    QVERIFY(!refused.allowed);
    QCOMPARE(refused.retryAfterMs, retryAfterMs);
    QCOMPARE(limiter.activeClients(), std::size_t(1));
}

void TestRateLimiter::refillsAtTheRate()
{
    FakeClock clock;
    RateLimiter limiter({10, 2, 1024}, [&] { return clock.us; });
    QVERIFY(limiter.check(1).allowed);
    QVERIFY(limiter.check(1).allowed);
    QVERIFY(!limiter.check(1).allowed);
    clock.us += 99'000;
    QVERIFY(!limiter.check(1).allowed);
    clock.us += 1'000;
    QVERIFY(limiter.check(1).allowed); // one token back after 1 / rate
    QVERIFY(!limiter.check(1).allowed);
    clock.us += 10'000'000; // long idle: a full bucket again, not more
    QVERIFY(limiter.check(1).allowed);
    QVERIFY(limiter.check(1).allowed);
    QVERIFY(!limiter.check(1).allowed);
    // Over 10 s at a steady 20/s offered, about rate x time pass.
    int passed = 0;
    for (int i = 0; i < 200; ++i) {
        clock.us += 50'000;
        passed += limiter.check(1).allowed ? 1 : 0;
    }
    QVERIFY2(passed >= 99 && passed <= 102, qPrintable(QString::number(passed)));
}

void TestRateLimiter::clientsAreIndependent()
{
    FakeClock clock;
    RateLimiter limiter({1, 1, 1024}, [&] { return clock.us; });
    QVERIFY(limiter.check(100).allowed);
    QVERIFY(!limiter.check(100).allowed);
    QVERIFY(limiter.check(101).allowed);
    QVERIFY(limiter.check(100 + 1024).allowed); // same slot neighbourhood, another client
    QVERIFY(!limiter.check(100 + 1024).allowed);
    QVERIFY(!limiter.check(100).allowed);
}

void TestRateLimiter::memoryIsBoundedAndIdleClientsAreForgotten()
{
    FakeClock clock;
    RateLimiter limiter({1, 2, 256}, [&] { return clock.us; });
    QCOMPARE(limiter.capacity(), std::size_t(256));
    for (std::uint64_t c = 1; c <= 100; ++c)
        QVERIFY(limiter.check(c * 0x9E3779B97F4A7C15ull).allowed);
    QCOMPARE(limiter.activeClients(), std::size_t(100));
    clock.us += 2'000'000; // burst / rate: every bucket is full again
    QCOMPARE(limiter.activeClients(), std::size_t(0));
    // 10000 new clients through a 256-slot table: memory stays fixed, each gets its burst.
    for (std::uint64_t c = 1000; c < 11000; ++c) {
        QVERIFY(limiter.check(c * 0x9E3779B97F4A7C15ull).allowed);
        clock.us += 1'000;
    }
    QVERIFY(limiter.activeClients() <= limiter.capacity());
}

void TestRateLimiter::busyTableEvictsAndStillLimits()
{
    FakeClock clock;
    RateLimiter limiter({1, 1, 64}, [&] { return clock.us; });
    // Every slot busy (no time passes): newcomers evict, the table never grows.
    for (std::uint64_t c = 1; c <= 1000; ++c)
        limiter.check(c);
    QVERIFY(limiter.activeClients() <= 64);
    // A client hammering alone is still limited.
    limiter.check(5000);
    int passed = 0;
    for (int i = 0; i < 50; ++i)
        passed += limiter.check(5000).allowed ? 1 : 0;
    QCOMPARE(passed, 0);
}

void TestRateLimiter::concurrentChecksNeverExceedTheBudget()
{
    // Real clock, 4 threads, one client: no more than burst + rate x elapsed may pass.
    RateLimiter limiter({100, 20, 1024});
    std::atomic<int> passed{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                if (limiter.check(77).allowed)
                    passed.fetch_add(1);
            }
        });
    }
    for (auto &t : threads)
        t.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int budget = 20 + static_cast<int>(100 * elapsed) + 1;
    QVERIFY2(passed.load() <= budget,
             qPrintable(QStringLiteral("%1 passed, budget %2").arg(passed.load()).arg(budget)));
    QVERIFY(passed.load() >= 20);
}

QTEST_GUILESS_MAIN(TestRateLimiter)
#include "tst_ratelimiter.moc"
