#include "core/gateway/hotcache.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <limits>

namespace l0l3 {

namespace {

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();

// A key kept inside its node: cache keys (32 hex digits) fit, so a lookup compares
// without following a pointer and a put allocates nothing for the key.
class StoredKey
{
public:
    void assign(std::string_view key)
    {
        m_size = static_cast<std::uint32_t>(key.size());
        if (key.size() <= kInline) {
            m_long.reset();
            std::memcpy(m_inline, key.data(), key.size());
        } else {
            m_long = std::make_unique<char[]>(key.size());
            std::memcpy(m_long.get(), key.data(), key.size());
        }
    }
    std::string_view view() const { return {m_size <= kInline ? m_inline : m_long.get(), m_size}; }

private:
    static constexpr std::size_t kInline = 32;
    char m_inline[kInline];
    std::uint32_t m_size = 0;
    std::unique_ptr<char[]> m_long; // keys longer than kInline
};

} // namespace

// Entries live in `nodes`, linked by index into the recency list (head: most recent) or, once
// erased, into the free list. `slots` is an open-addressing table (linear probing, a power of two,
// at most half full) of the nodes' hashes: a probe reads one cache line and touches a node only when
// the whole 64-bit hash matches.
struct alignas(64) HotCache::Shard
{
    struct Node
    {
        StoredKey key;
        std::shared_ptr<const CachedAnswer> answer;
        std::int64_t expiresAtMs = 0;
        bool referenced = false; // hit since it was last at the front
        std::uint32_t prev = kNil;
        std::uint32_t next = kNil; // the free list's link once erased
        std::uint64_t hash = 0;
        std::size_t bytes = 0;
    };
    struct Slot
    {
        std::uint64_t hash = 0;
        std::uint32_t node = kNil; // kNil: empty
    };

    std::mutex mutex;
    std::vector<Slot> slots;
    std::vector<Node> nodes;
    std::uint32_t head = kNil;
    std::uint32_t tail = kNil;
    std::uint32_t freeList = kNil;
    std::size_t count = 0;
    std::size_t bytes = 0;

    std::size_t mask() const { return slots.size() - 1; }

    std::uint32_t find(std::uint64_t hash, std::string_view key) const
    {
        if (slots.empty())
            return kNil;
        for (std::size_t i = hash & mask();; i = (i + 1) & mask()) { // ends: the table is never full
            const Slot &slot = slots[i];
            if (slot.node == kNil)
                return kNil;
            if (slot.hash == hash && nodes[slot.node].key.view() == key)
                return slot.node;
        }
    }

    void link(std::uint32_t n) // at the front
    {
        Node &node = nodes[n];
        node.prev = kNil;
        node.next = head;
        if (head != kNil)
            nodes[head].prev = n;
        head = n;
        if (tail == kNil)
            tail = n;
    }

    void unlink(std::uint32_t n)
    {
        Node &node = nodes[n];
        (node.prev != kNil ? nodes[node.prev].next : head) = node.next;
        (node.next != kNil ? nodes[node.next].prev : tail) = node.prev;
    }

    void placeSlot(std::uint64_t hash, std::uint32_t n)
    {
        std::size_t i = hash & mask();
        while (slots[i].node != kNil)
            i = (i + 1) & mask();
        slots[i] = Slot{hash, n};
    }

    // Backward-shift deletion: later members of the probe run move up, so no tombstones build up.
    void removeSlot(std::uint64_t hash, std::uint32_t n)
    {
        std::size_t i = hash & mask();
        while (slots[i].node != n)
            i = (i + 1) & mask();
        for (std::size_t j = (i + 1) & mask(); slots[j].node != kNil; j = (j + 1) & mask()) {
            const std::size_t home = slots[j].hash & mask();
            // Slot j may move to i only if its home is not cyclically within (i, j].
            const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (stays)
                continue;
            slots[i] = slots[j];
            i = j;
        }
        slots[i] = Slot{};
    }

    void growIfNeeded()
    {
        if ((count + 1) * 2 <= slots.size())
            return;
        slots.assign(std::max<std::size_t>(16, slots.size() * 2), Slot{});
        for (std::uint32_t n = head; n != kNil; n = nodes[n].next)
            placeSlot(nodes[n].hash, n);
    }

    std::uint32_t allocate()
    {
        if (freeList == kNil) {
            nodes.emplace_back();
            return static_cast<std::uint32_t>(nodes.size() - 1);
        }
        const std::uint32_t n = freeList;
        freeList = nodes[n].next;
        return n;
    }

    // Returns the bytes it freed.
    std::size_t erase(std::uint32_t n)
    {
        Node &node = nodes[n];
        removeSlot(node.hash, n);
        unlink(n);
        node.answer.reset();
        node.next = freeList;
        freeList = n;
        --count;
        bytes -= node.bytes;
        return node.bytes;
    }
};

HotCache::HotCache(Options options, Clock clock)
    : m_options(options)
    , m_clock(std::move(clock))
{
    int shards = m_options.shards;
    if (shards <= 0)
        shards = m_options.maxEntries >= 4096 ? 16 : 1;
    m_shardEntries = std::max<std::size_t>(1, m_options.maxEntries / static_cast<std::size_t>(shards));
    m_shardBytes = std::max<std::size_t>(1, m_options.maxBytes / static_cast<std::size_t>(shards));
    for (int i = 0; i < shards; ++i)
        m_shards.push_back(std::make_unique<Shard>());
}

HotCache::~HotCache() = default;

std::int64_t HotCache::now() const
{
    if (m_clock)
        return m_clock();
    // The coarse clock (a few ms of resolution, no hardware read) is plenty for a TTL of seconds.
    timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0)
        return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
}

HotCache::Shard &HotCache::shardFor(std::uint64_t hash)
{
    // The high half picks the shard, the low bits the slot: the two stay independent.
    return *m_shards[((hash >> 32) * m_shards.size()) >> 32];
}

std::shared_ptr<const CachedAnswer> HotCache::get(std::string_view key)
{
    const std::uint64_t hash = XXH3_64bits(key.data(), key.size());
    Shard &shard = shardFor(hash);
    std::lock_guard lock(shard.mutex);
    const std::uint32_t n = shard.find(hash, key);
    if (n == kNil)
        return nullptr;
    Shard::Node &node = shard.nodes[n];
    if (node.expiresAtMs <= now()) {
        m_bytes.fetch_sub(shard.erase(n), std::memory_order_relaxed);
        m_entries.fetch_sub(1, std::memory_order_relaxed);
        return nullptr;
    }
    if (!node.referenced)
        node.referenced = true;
    return node.answer;
}

void HotCache::put(std::string_view key, std::shared_ptr<const CachedAnswer> answer, std::int64_t ttlMs)
{
    if (!answer)
        return;
    const std::size_t bytes = answer->bytes() + key.size() + 64;
    if (bytes > m_shardBytes || m_options.maxEntries == 0)
        return; // would evict a whole shard for one entry
    const std::uint64_t hash = XXH3_64bits(key.data(), key.size());
    Shard &shard = shardFor(hash);
    std::lock_guard lock(shard.mutex);
    std::size_t freed = 0;
    std::size_t erased = 0;
    if (const std::uint32_t old = shard.find(hash, key); old != kNil) {
        freed += shard.erase(old);
        ++erased;
    }
    // Room first, so the new entry is never its own victim. Terminates: a referenced entry loses its
    // mark when it moves to the front, so each is passed over at most once.
    std::uint64_t evicted = 0;
    while (shard.count > 0 && (shard.count + 1 > m_shardEntries || shard.bytes + bytes > m_shardBytes)) {
        const std::uint32_t oldest = shard.tail;
        if (shard.nodes[oldest].referenced) {
            shard.nodes[oldest].referenced = false;
            shard.unlink(oldest);
            shard.link(oldest);
            continue;
        }
        freed += shard.erase(oldest);
        ++erased;
        ++evicted;
    }
    shard.growIfNeeded();
    const std::uint32_t n = shard.allocate();
    Shard::Node &node = shard.nodes[n];
    node.key.assign(key);
    node.answer = std::move(answer);
    const std::int64_t ttl = ttlMs < 0 ? m_options.ttlMs : std::min(ttlMs, m_options.ttlMs);
    node.expiresAtMs = now() + ttl;
    node.referenced = false;
    node.hash = hash;
    node.bytes = bytes;
    shard.placeSlot(hash, n);
    shard.link(n);
    ++shard.count;
    shard.bytes += bytes;
    m_bytes.fetch_add(bytes - freed, std::memory_order_relaxed); // wraps correctly when freed > bytes
    m_entries.fetch_add(1 - erased, std::memory_order_relaxed);
    if (evicted)
        m_evictions.fetch_add(evicted, std::memory_order_relaxed);
}

bool HotCache::invalidate(std::string_view key)
{
    const std::uint64_t hash = XXH3_64bits(key.data(), key.size());
    Shard &shard = shardFor(hash);
    std::lock_guard lock(shard.mutex);
    const std::uint32_t n = shard.find(hash, key);
    if (n == kNil)
        return false;
    m_bytes.fetch_sub(shard.erase(n), std::memory_order_relaxed);
    m_entries.fetch_sub(1, std::memory_order_relaxed);
    return true;
}

void HotCache::clear()
{
    for (auto &shard : m_shards) {
        std::lock_guard lock(shard->mutex);
        m_bytes.fetch_sub(shard->bytes, std::memory_order_relaxed);
        m_entries.fetch_sub(shard->count, std::memory_order_relaxed);
        shard->bytes = 0;
        shard->count = 0;
        shard->head = shard->tail = shard->freeList = kNil;
        shard->slots.clear();
        shard->nodes.clear();
    }
}

} // namespace l0l3
