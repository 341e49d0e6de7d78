#include <QTest>

#include <algorithm>
#include <atomic>
#include <list>
#include <random>
#include <thread>
#include <vector>

#include "core/gateway/hotcache.h"

using namespace l0l3;

namespace {

std::string keyOf(int i)
{
    char buf[33];
    std::snprintf(buf, sizeof buf, "%032x", i);
    return buf;
}

} // namespace

class TestHotCache : public QObject
{
    Q_OBJECT

private slots:
    void getReturnsWhatWasPut();
    void evictsLeastRecentlyUsedByEntries();
    void hitGivesOneSecondChance();
    void evictsByBytes();
    void expiresAfterTtl();
    void entryTtlShortensLifetime();
    void invalidateAndClear();
    void staleTicketIsRefused();
    void replacingKeepsAccounting();
    void concurrentAccess();
    void matchesReferenceModel();
};

void TestHotCache::getReturnsWhatWasPut()
{
    HotCache cache({});
    QVERIFY(!cache.get(keyOf(1)));
    cache.put(keyOf(1), CachedAnswer::fromContent("hello", 3));
    auto a = cache.get(keyOf(1));
    QVERIFY(a);
    QCOMPARE(QByteArray::fromStdString(a->escapedContent), QByteArray("hello"));
    QCOMPARE(a->version, 3);
    QCOMPARE(cache.size(), std::size_t(1));
    QVERIFY(cache.bytes() > 5);
}

void TestHotCache::evictsLeastRecentlyUsedByEntries()
{
    HotCache::Options options;
    options.maxEntries = 3;
    options.shards = 1;
    HotCache cache(options);
    for (int i = 1; i <= 3; ++i)
        cache.put(keyOf(i), CachedAnswer::fromContent("v"));
    QVERIFY(cache.get(keyOf(1))); // 1 becomes the most recent; 2 is now the oldest
    cache.put(keyOf(4), CachedAnswer::fromContent("v"));
    QCOMPARE(cache.size(), std::size_t(3));
    QVERIFY(!cache.get(keyOf(2)));
    QVERIFY(cache.get(keyOf(1)));
    QVERIFY(cache.get(keyOf(3)));
    QVERIFY(cache.get(keyOf(4)));
    QCOMPARE(cache.evictions(), std::uint64_t(1));
}

void TestHotCache::hitGivesOneSecondChance()
{
    HotCache::Options options;
    options.maxEntries = 2;
    options.shards = 1;
    HotCache cache(options);
    cache.put(keyOf(1), CachedAnswer::fromContent("v"));
    cache.put(keyOf(2), CachedAnswer::fromContent("v"));
    QVERIFY(cache.get(keyOf(1))); // 1 is the oldest but referenced
    cache.put(keyOf(3), CachedAnswer::fromContent("v"));
    QVERIFY(cache.get(keyOf(1)));  // kept: its hit bought it a second chance
    QVERIFY(!cache.get(keyOf(2))); // evicted instead
    // Hit again above, so 1 survives once more; 3, never hit, goes.
    cache.put(keyOf(4), CachedAnswer::fromContent("v"));
    QVERIFY(cache.get(keyOf(1)));
    QVERIFY(!cache.get(keyOf(3)));
    // Both referenced: the marks are spent in LRU order and 1, the least recently used, goes; the new entry stays.
    QVERIFY(cache.get(keyOf(4)));
    cache.put(keyOf(5), CachedAnswer::fromContent("v"));
    QCOMPARE(cache.size(), std::size_t(2));
    QCOMPARE(cache.evictions(), std::uint64_t(3));
    QVERIFY(cache.get(keyOf(5)));
    QVERIFY(cache.get(keyOf(4)));
    QVERIFY(!cache.get(keyOf(1)));
}

void TestHotCache::evictsByBytes()
{
    const auto big = CachedAnswer::fromContent(std::string(1000, 'x'));
    HotCache::Options options;
    options.maxEntries = 1000;
    options.maxBytes = 3 * (big->bytes() + 32 + 64) + 10; // room for three
    options.shards = 1;
    HotCache cache(options);
    for (int i = 1; i <= 5; ++i)
        cache.put(keyOf(i), CachedAnswer::fromContent(std::string(1000, 'x')));
    QCOMPARE(cache.size(), std::size_t(3));
    QVERIFY(cache.bytes() <= options.maxBytes);
    QVERIFY(!cache.get(keyOf(1)));
    QVERIFY(!cache.get(keyOf(2)));
    QVERIFY(cache.get(keyOf(5)));
    // An entry bigger than the whole cache is not stored (and evicts nothing).
    cache.put(keyOf(9), CachedAnswer::fromContent(std::string(100000, 'y')));
    QVERIFY(!cache.get(keyOf(9)));
    QCOMPARE(cache.size(), std::size_t(3));
}

void TestHotCache::expiresAfterTtl()
{
    std::int64_t now = 1000;
    HotCache::Options options;
    options.ttlMs = 500;
    HotCache cache(options, [&now] { return now; });
    cache.put(keyOf(1), CachedAnswer::fromContent("v"));
    now += 499;
    QVERIFY(cache.get(keyOf(1)));
    now += 1;
    QVERIFY(!cache.get(keyOf(1)));
    QCOMPARE(cache.size(), std::size_t(0));
    QCOMPARE(cache.bytes(), std::size_t(0));
}

void TestHotCache::entryTtlShortensLifetime()
{
    std::int64_t now = 0;
    HotCache::Options options;
    options.ttlMs = 60000;
    HotCache cache(options, [&now] { return now; });
    cache.put(keyOf(1), CachedAnswer::fromContent("v"), 1000);
    cache.put(keyOf(2), CachedAnswer::fromContent("v"), 10000000); // never longer than the cache's own TTL
    now = 1000;
    QVERIFY(!cache.get(keyOf(1)));
    now = 59999;
    QVERIFY(cache.get(keyOf(2)));
    now = 60000;
    QVERIFY(!cache.get(keyOf(2)));
}

void TestHotCache::invalidateAndClear()
{
    HotCache cache({});
    for (int i = 0; i < 100; ++i)
        cache.put(keyOf(i), CachedAnswer::fromContent("v"));
    QVERIFY(cache.invalidate(keyOf(7)));
    QVERIFY(!cache.invalidate(keyOf(7)));
    QVERIFY(!cache.get(keyOf(7)));
    QCOMPARE(cache.size(), std::size_t(99));
    cache.clear();
    QCOMPARE(cache.size(), std::size_t(0));
    QCOMPARE(cache.bytes(), std::size_t(0));
    QVERIFY(!cache.get(keyOf(8)));
}

// A value read before an invalidation (the L0 GET in flight while the key is
// revoked) must not land in the cache after it; a read started afterwards may.
void TestHotCache::staleTicketIsRefused()
{
    HotCache cache({});
    const std::string key = keyOf(1);

    const HotCache::PutTicket beforeRevoke = cache.ticket(key);
    QVERIFY(!cache.invalidate(key)); // not cached yet: the revocation must still count
    QVERIFY(!cache.put(key, CachedAnswer::fromContent("revoked"), -1, beforeRevoke));
    QVERIFY(!cache.get(key));

    const HotCache::PutTicket beforeFlush = cache.ticket(key);
    cache.clear();
    QVERIFY(!cache.put(key, CachedAnswer::fromContent("revoked"), -1, beforeFlush));
    QVERIFY(!cache.get(key));
    QCOMPARE(cache.size(), std::size_t(0));

    const HotCache::PutTicket fresh = cache.ticket(key);
    QVERIFY(cache.put(key, CachedAnswer::fromContent("current", 2), -1, fresh));
    QCOMPARE(cache.get(key)->version, 2);
}

void TestHotCache::replacingKeepsAccounting()
{
    HotCache cache({});
    cache.put(keyOf(1), CachedAnswer::fromContent("short"));
    const std::size_t before = cache.bytes();
    cache.put(keyOf(1), CachedAnswer::fromContent(std::string(500, 'z'), 2));
    QCOMPARE(cache.size(), std::size_t(1));
    QVERIFY(cache.bytes() > before);
    QCOMPARE(cache.get(keyOf(1))->version, 2);
}

void TestHotCache::concurrentAccess()
{
    HotCache::Options options;
    options.maxEntries = 5000; // sharded
    HotCache cache(options);
    std::atomic<int> hits{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20000; ++i) {
                // Each key is put, then read twice right after: a read hits unless another
                // thread's clear, invalidation or eviction came in between, so there are hits
                // however the threads are scheduled (one after the other, too). 4 x 6,667 keys
                // over 8,000 slots keep eviction busy.
                const std::string key = keyOf(((i / 3) * 7 + t) % 8000);
                if (i % 3 == 0)
                    cache.put(key, CachedAnswer::fromContent("value"));
                else if (i % 97 == 0)
                    cache.invalidate(key);
                else if (auto a = cache.get(key); a && a->escapedContent == "value")
                    hits.fetch_add(1);
                if (i % 5000 == 4999 && t == 0)
                    cache.clear();
            }
        });
    }
    for (auto &th : threads)
        th.join();
    QVERIFY(hits.load() > 0);
    QVERIFY(cache.size() <= 5000);
    // Accounting stayed consistent: clearing brings both counters to exactly zero.
    cache.clear();
    QCOMPARE(cache.size(), std::size_t(0));
    QCOMPARE(cache.bytes(), std::size_t(0));
}

// The table (open addressing with backward-shift deletion, an index-linked recency list, a free
// list, growth) against the policy written the obvious way: 20k random puts, gets and invalidations
// over keys of every length (inline and spilled), with every answer checked.
void TestHotCache::matchesReferenceModel()
{
    struct Model
    {
        std::size_t capacity;
        std::list<std::pair<std::string, std::pair<int, bool>>> lru; // key, (version, referenced); front: recent
        auto find(const std::string &key)
        {
            return std::find_if(lru.begin(), lru.end(), [&](const auto &e) { return e.first == key; });
        }
        void put(const std::string &key, int version)
        {
            if (auto it = find(key); it != lru.end())
                lru.erase(it);
            while (lru.size() + 1 > capacity) {
                auto oldest = std::prev(lru.end());
                if (oldest->second.second) {
                    oldest->second.second = false;
                    lru.splice(lru.begin(), lru, oldest);
                    continue;
                }
                lru.erase(oldest);
            }
            lru.push_front({key, {version, false}});
        }
    };

    HotCache::Options options;
    options.maxEntries = 64;
    options.shards = 1;
    HotCache cache(options);
    Model model{64, {}};
    std::mt19937 rng(7);
    std::vector<std::string> keys;
    for (int i = 0; i < 300; ++i) // lengths 1..80: below, at and beyond the inline size
        keys.push_back(keyOf(i).substr(0, 1 + i % 32) + std::string(i % 3 == 0 ? 48 : 0, char('a' + i % 26)));
    for (int step = 0; step < 20000; ++step) {
        const std::string &key = keys[rng() % keys.size()];
        const unsigned op = rng() % 10;
        if (op < 4) {
            cache.put(key, CachedAnswer::fromContent("v", step));
            model.put(key, step);
        } else if (op < 9) {
            const auto got = cache.get(key);
            const auto it = model.find(key);
            QCOMPARE(bool(got), it != model.lru.end());
            if (got) {
                QCOMPARE(got->version, std::int64_t(it->second.first));
                it->second.second = true;
            }
        } else {
            const auto it = model.find(key);
            QCOMPARE(cache.invalidate(key), it != model.lru.end());
            if (it != model.lru.end())
                model.lru.erase(it);
        }
        QCOMPARE(cache.size(), model.lru.size());
    }
}

QTEST_GUILESS_MAIN(TestHotCache)
#include "tst_hotcache.moc"
