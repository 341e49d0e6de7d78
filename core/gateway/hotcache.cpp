#include "core/gateway/hotcache.h"

#include <chrono>
#include <ctime>

namespace l0l3 {

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

std::size_t HotCache::KeyHash::operator()(std::string_view s) const
{
    if (s.size() < 16)
        return std::hash<std::string_view>{}(s);
    std::uint64_t h = 0;
    bool hex = true;
    for (const char c : s.substr(s.size() - 16)) {
        const unsigned d = c >= '0' && c <= '9' ? unsigned(c - '0') : c >= 'a' && c <= 'f' ? unsigned(c - 'a' + 10) : 16u;
        hex = hex && d < 16;
        h = (h << 4) | (d & 0xF);
    }
    return hex ? static_cast<std::size_t>(h) : std::hash<std::string_view>{}(s);
}

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

HotCache::Shard &HotCache::shardFor(std::string_view key)
{
    // Mixed (one multiply), then the high bits: keys that are not uniform (tests' counters) still spread,
    // and the index's buckets, which use the hash modulo a prime, stay independent of the shard.
    const std::uint64_t mixed = static_cast<std::uint64_t>(KeyHash{}(key)) * 0x9E3779B97F4A7C15ull;
    return *m_shards[(mixed >> 32) % m_shards.size()];
}

void HotCache::eraseLocked(Shard &shard, std::list<Node>::iterator it)
{
    shard.bytes -= it->bytes;
    m_bytes.fetch_sub(it->bytes, std::memory_order_relaxed);
    m_entries.fetch_sub(1, std::memory_order_relaxed);
    shard.index.erase(it->key);
    shard.lru.erase(it);
}

std::shared_ptr<const CachedAnswer> HotCache::get(std::string_view key)
{
    Shard &shard = shardFor(key);
    std::lock_guard lock(shard.mutex);
    const auto found = shard.index.find(key);
    if (found == shard.index.end())
        return nullptr;
    const auto it = found->second;
    if (it->expiresAtMs <= now()) {
        eraseLocked(shard, it);
        return nullptr;
    }
    if (!it->referenced)
        it->referenced = true;
    return it->answer;
}

void HotCache::put(std::string_view key, std::shared_ptr<const CachedAnswer> answer, std::int64_t ttlMs)
{
    if (!answer)
        return;
    const std::size_t bytes = answer->bytes() + key.size() + 64;
    if (bytes > m_shardBytes || m_options.maxEntries == 0)
        return; // would evict a whole shard for one entry
    Shard &shard = shardFor(key);
    std::lock_guard lock(shard.mutex);
    if (const auto found = shard.index.find(key); found != shard.index.end())
        eraseLocked(shard, found->second);
    // Room first, so the new entry is never its own victim. Terminates: a referenced entry loses its
    // mark when it moves to the front, so each is passed over at most once.
    while (!shard.lru.empty() && (shard.lru.size() + 1 > m_shardEntries || shard.bytes + bytes > m_shardBytes)) {
        const auto oldest = std::prev(shard.lru.end());
        if (oldest->referenced) {
            oldest->referenced = false;
            shard.lru.splice(shard.lru.begin(), shard.lru, oldest);
            continue;
        }
        eraseLocked(shard, oldest);
        m_evictions.fetch_add(1, std::memory_order_relaxed);
    }
    const std::int64_t ttl = ttlMs < 0 ? m_options.ttlMs : std::min(ttlMs, m_options.ttlMs);
    shard.lru.push_front(Node{std::string(key), std::move(answer), now() + ttl, bytes});
    shard.index.emplace(shard.lru.front().key, shard.lru.begin());
    shard.bytes += bytes;
    m_bytes.fetch_add(bytes, std::memory_order_relaxed);
    m_entries.fetch_add(1, std::memory_order_relaxed);
}

bool HotCache::invalidate(std::string_view key)
{
    Shard &shard = shardFor(key);
    std::lock_guard lock(shard.mutex);
    const auto found = shard.index.find(key);
    if (found == shard.index.end())
        return false;
    eraseLocked(shard, found->second);
    return true;
}

void HotCache::clear()
{
    for (auto &shard : m_shards) {
        std::lock_guard lock(shard->mutex);
        m_bytes.fetch_sub(shard->bytes, std::memory_order_relaxed);
        m_entries.fetch_sub(shard->lru.size(), std::memory_order_relaxed);
        shard->bytes = 0;
        shard->index.clear();
        shard->lru.clear();
    }
}

} // namespace l0l3
