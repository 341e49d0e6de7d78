#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/gateway/cachedanswer.h"

namespace l0l3 {

// L0.5: the in-process hot cache in front of the replica. Thread-safe,
// sharded by key (one mutex per shard), bounded by entries and bytes,
// entries expire after a TTL (the fallback should an invalidation message be
// lost). Eviction is LRU with a second chance (CLOCK): a hit only marks its
// entry referenced, instead of relinking the list, and eviction moves a
// referenced entry back to the front once. Values are immutable and shared,
// so a hit copies one shared_ptr under the lock and serialises outside it.
//
// A lookup hashes the key once (XXH3; the hash picks the shard and the slot),
// probes a flat open-addressing table of 8-byte (tag, entry) pairs, and
// compares the key stored inline in the entry's hot half, which also holds
// the answer and the expiry: no allocation, one cache line of the table and
// one of the entry.
class HotCache
{
public:
    using Clock = std::function<std::int64_t()>; // monotonic milliseconds

    struct Options
    {
        std::size_t maxEntries = 100000;
        std::size_t maxBytes = 256u << 20;
        std::int64_t ttlMs = 60000;
        int shards = 0; // 0: chosen from maxEntries (1 for small caches, so LRU order is exact)
    };

    explicit HotCache(Options options, Clock clock = {});
    ~HotCache();

    std::shared_ptr<const CachedAnswer> get(std::string_view key);
    // ttlMs < 0: the cache's TTL; otherwise the smaller of the two (an entry's own TTL).
    void put(std::string_view key, std::shared_ptr<const CachedAnswer> answer, std::int64_t ttlMs = -1);

    // Taken before a key's value is read from elsewhere (the L0 GET): a put
    // under the ticket is refused when invalidate() or clear() ran for the
    // key's shard meanwhile, so a read that was in flight during a revocation
    // cannot put the revoked answer back. One counter per shard: a refusal
    // costs an unrelated key one L0 read, never correctness.
    struct PutTicket
    {
        std::uint64_t hash = 0;
        std::uint64_t epoch = 0;
    };
    PutTicket ticket(std::string_view key) const;
    // False when refused (stale ticket, or too large for the cache).
    bool put(std::string_view key, std::shared_ptr<const CachedAnswer> answer, std::int64_t ttlMs,
             const PutTicket &ticket);

    bool invalidate(std::string_view key);
    void clear();

    std::size_t size() const { return m_entries.load(std::memory_order_relaxed); }
    std::size_t bytes() const { return m_bytes.load(std::memory_order_relaxed); }
    std::uint64_t evictions() const { return m_evictions.load(std::memory_order_relaxed); }

private:
    struct Shard;

    Shard &shardFor(std::uint64_t hash) const;
    std::int64_t now() const;
    bool putHashed(std::uint64_t hash, std::string_view key, std::shared_ptr<const CachedAnswer> answer,
                   std::int64_t ttlMs, const PutTicket *ticket);

    Options m_options;
    Clock m_clock;
    std::size_t m_shardEntries;
    std::size_t m_shardBytes;
    std::vector<std::unique_ptr<Shard>> m_shards;
    std::atomic<std::size_t> m_entries{0};
    std::atomic<std::size_t> m_bytes{0};
    std::atomic<std::uint64_t> m_evictions{0};
};

} // namespace l0l3
