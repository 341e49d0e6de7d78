#include "core/gateway/hotcache.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <limits>

#include <xxhash.h>

namespace l0l3 {

namespace {

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();

} // namespace

// Entries live in two parallel arrays indexed alike: `hot` holds what a hit reads, one cache line per
// entry (the key, inline up to 32 bytes as cache keys are, the answer, the expiry, the CLOCK mark);
// `cold` what only puts, evictions and invalidations touch (the recency links, the full hash, the
// size, a longer key). Erased entries are linked into a free list through `cold`. `slots` is an
// open-addressing table (linear probing, a power of two, at most half full) of 8-byte (tag, entry)
// pairs: a probe reads one cache line and touches an entry only when the 32-bit tag matches; the
// key comparison decides.
struct alignas(64) HotCache::Shard
{
    struct alignas(64) HotNode
    {
        static constexpr std::size_t kInlineKey = 32;
        char key[kInlineKey];
        std::uint32_t keySize = 0;
        bool referenced = false; // hit since it was last at the front
        std::int64_t expiresAtMs = 0;
        std::shared_ptr<const CachedAnswer> answer;
    };
    static_assert(sizeof(HotNode) == 64, "a hit reads one cache line");
    struct ColdNode
    {
        std::unique_ptr<char[]> longKey; // keys longer than HotNode::kInlineKey
        std::uint32_t prev = kNil;
        std::uint32_t next = kNil; // the free list's link once erased
        std::uint64_t hash = 0;
        std::size_t bytes = 0;
    };
    struct Slot
    {
        std::uint32_t tag = 0;
        std::uint32_t node = kNil; // kNil: empty
    };

    std::mutex mutex;
    // Bumped under the mutex by every invalidate() and clear() of this shard; read without it by ticket().
    std::atomic<std::uint64_t> epoch{0};
    std::vector<Slot> slots;
    std::vector<HotNode> hot;
    std::vector<ColdNode> cold;
    std::uint32_t head = kNil;
    std::uint32_t tail = kNil;
    std::uint32_t freeList = kNil;
    std::size_t count = 0;
    std::size_t bytes = 0;

    std::size_t mask() const { return slots.size() - 1; }
    // The low bits pick the slot and the high ones the shard: the tag folds both halves.
    static std::uint32_t tagOf(std::uint64_t hash) { return static_cast<std::uint32_t>(hash ^ (hash >> 32)); }

    std::string_view keyOf(std::uint32_t n) const
    {
        const HotNode &node = hot[n];
        return {node.keySize <= HotNode::kInlineKey ? node.key : cold[n].longKey.get(), node.keySize};
    }

    void setKey(std::uint32_t n, std::string_view key)
    {
        HotNode &node = hot[n];
        node.keySize = static_cast<std::uint32_t>(key.size());
        if (key.size() <= HotNode::kInlineKey) {
            cold[n].longKey.reset();
            std::memcpy(node.key, key.data(), key.size());
        } else {
            cold[n].longKey = std::make_unique<char[]>(key.size());
            std::memcpy(cold[n].longKey.get(), key.data(), key.size());
        }
    }

    std::uint32_t find(std::uint64_t hash, std::string_view key) const
    {
        if (slots.empty())
            return kNil;
        const std::uint32_t tag = tagOf(hash);
        for (std::size_t i = hash & mask();; i = (i + 1) & mask()) { // ends: the table is never full
            const Slot slot = slots[i];
            if (slot.node == kNil)
                return kNil;
            if (slot.tag == tag && keyOf(slot.node) == key)
                return slot.node;
        }
    }

    void link(std::uint32_t n) // at the front
    {
        ColdNode &node = cold[n];
        node.prev = kNil;
        node.next = head;
        if (head != kNil)
            cold[head].prev = n;
        head = n;
        if (tail == kNil)
            tail = n;
    }

    void unlink(std::uint32_t n)
    {
        ColdNode &node = cold[n];
        (node.prev != kNil ? cold[node.prev].next : head) = node.next;
        (node.next != kNil ? cold[node.next].prev : tail) = node.prev;
    }

    void placeSlot(std::uint64_t hash, std::uint32_t n)
    {
        std::size_t i = hash & mask();
        while (slots[i].node != kNil)
            i = (i + 1) & mask();
        slots[i] = Slot{tagOf(hash), n};
    }

    // Backward-shift deletion: later members of the probe run move up, so no tombstones build up.
    void removeSlot(std::uint64_t hash, std::uint32_t n)
    {
        std::size_t i = hash & mask();
        while (slots[i].node != n)
            i = (i + 1) & mask();
        for (std::size_t j = (i + 1) & mask(); slots[j].node != kNil; j = (j + 1) & mask()) {
            const std::size_t home = cold[slots[j].node].hash & mask();
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
        for (std::uint32_t n = head; n != kNil; n = cold[n].next)
            placeSlot(cold[n].hash, n);
    }

    std::uint32_t allocate()
    {
        if (freeList == kNil) {
            hot.emplace_back();
            cold.emplace_back();
            return static_cast<std::uint32_t>(hot.size() - 1);
        }
        const std::uint32_t n = freeList;
        freeList = cold[n].next;
        return n;
    }

    // Returns the bytes it freed.
    std::size_t erase(std::uint32_t n)
    {
        ColdNode &node = cold[n];
        removeSlot(node.hash, n);
        unlink(n);
        hot[n].answer.reset();
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
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

HotCache::Shard &HotCache::shardFor(std::uint64_t hash) const
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
    Shard::HotNode &node = shard.hot[n];
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
    putHashed(XXH3_64bits(key.data(), key.size()), key, std::move(answer), ttlMs, nullptr);
}

HotCache::PutTicket HotCache::ticket(std::string_view key) const
{
    const std::uint64_t hash = XXH3_64bits(key.data(), key.size());
    // Acquire: pairs with the release in invalidate()/clear(), so a read issued after an invalidation
    // was seen carries its epoch.
    return PutTicket{hash, shardFor(hash).epoch.load(std::memory_order_acquire)};
}

bool HotCache::put(std::string_view key, std::shared_ptr<const CachedAnswer> answer, std::int64_t ttlMs,
                   const PutTicket &ticket)
{
    return putHashed(ticket.hash, key, std::move(answer), ttlMs, &ticket);
}

bool HotCache::putHashed(std::uint64_t hash, std::string_view key, std::shared_ptr<const CachedAnswer> answer,
                         std::int64_t ttlMs, const PutTicket *ticket)
{
    if (!answer)
        return false;
    const std::size_t bytes = answer->bytes() + key.size() + 64;
    if (bytes > m_shardBytes || m_options.maxEntries == 0)
        return false; // would evict a whole shard for one entry
    Shard &shard = shardFor(hash);
    std::lock_guard lock(shard.mutex);
    if (ticket && shard.epoch.load(std::memory_order_relaxed) != ticket->epoch)
        return false; // invalidated while the value was being read: it may be the revoked one
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
        if (shard.hot[oldest].referenced) {
            shard.hot[oldest].referenced = false;
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
    shard.setKey(n, key);
    Shard::HotNode &node = shard.hot[n];
    node.answer = std::move(answer);
    const std::int64_t ttl = ttlMs < 0 ? m_options.ttlMs : std::min(ttlMs, m_options.ttlMs);
    node.expiresAtMs = now() + ttl;
    node.referenced = false;
    shard.cold[n].hash = hash;
    shard.cold[n].bytes = bytes;
    shard.placeSlot(hash, n);
    shard.link(n);
    ++shard.count;
    shard.bytes += bytes;
    m_bytes.fetch_add(bytes - freed, std::memory_order_relaxed); // wraps correctly when freed > bytes
    m_entries.fetch_add(1 - erased, std::memory_order_relaxed);
    if (evicted)
        m_evictions.fetch_add(evicted, std::memory_order_relaxed);
    return true;
}

bool HotCache::invalidate(std::string_view key)
{
    const std::uint64_t hash = XXH3_64bits(key.data(), key.size());
    Shard &shard = shardFor(hash);
    std::lock_guard lock(shard.mutex);
    // Also when the key is absent: its value may be on its way from an L0 read (see PutTicket).
    shard.epoch.fetch_add(1, std::memory_order_release);
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
        shard->epoch.fetch_add(1, std::memory_order_release);
        m_bytes.fetch_sub(shard->bytes, std::memory_order_relaxed);
        m_entries.fetch_sub(shard->count, std::memory_order_relaxed);
        shard->bytes = 0;
        shard->count = 0;
        shard->head = shard->tail = shard->freeList = kNil;
        shard->slots.clear();
        shard->hot.clear();
        shard->cold.clear();
    }
}

} // namespace l0l3
