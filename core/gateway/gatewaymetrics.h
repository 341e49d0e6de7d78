#pragma once

#include "core/common/latencyhistogram.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace l0l3 {

// The gateway's Prometheus metrics (names in DESIGN.md). Recording is
// lock-free except for errors (a small map keyed by status and code).
class GatewayMetrics
{
public:
    enum class Tier { HotCache, Exact, Upstream, None, Count };       // "L0.5", "L0", "L3", "none"
    enum class Outcome { Hit, Miss, Bypass, Error, Count };           // "hit", "miss", "bypass", "error"
    enum class RedisRole { Replica, Primary, Subscriber, Count };     // "replica", "primary", "subscriber"

    explicit GatewayMetrics(std::string region);

    static std::string_view tierName(Tier tier);
    static std::string_view outcomeName(Outcome outcome);

    void request(Tier tier, Outcome outcome, double seconds);
    void error(int status, std::string_view code);
    void proposal() { m_proposals.fetch_add(1, std::memory_order_relaxed); }
    void corruptEntry() { m_corruptEntries.fetch_add(1, std::memory_order_relaxed); }
    void invalidation() { m_invalidations.fetch_add(1, std::memory_order_relaxed); }
    void upstreamFailure() { m_upstreamFailures.fetch_add(1, std::memory_order_relaxed); }

    // Every connection of a role counts; the gauge is 1 only when all are up.
    void addRedisConnection(RedisRole role) { m_redisTotal[static_cast<int>(role)].fetch_add(1); }
    void redisConnected(RedisRole role, bool up);
    bool redisUp(RedisRole role) const;

    std::uint64_t requests(Tier tier, Outcome outcome) const;
    std::uint64_t errors(int status, std::string_view code) const;

    struct Gauges
    {
        std::size_t hotCacheEntries = 0;
        std::size_t hotCacheBytes = 0;
        bool draining = false;
    };
    void render(std::string &out, const Gauges &gauges) const;

private:
    std::string m_region;
    std::array<std::array<std::atomic<std::uint64_t>, static_cast<int>(Outcome::Count)>, static_cast<int>(Tier::Count)> m_requests{};
    std::array<LatencyHistogram, static_cast<int>(Tier::Count)> m_latency;
    std::atomic<std::uint64_t> m_proposals{0};
    std::atomic<std::uint64_t> m_corruptEntries{0};
    std::atomic<std::uint64_t> m_invalidations{0};
    std::atomic<std::uint64_t> m_upstreamFailures{0};
    std::array<std::atomic<int>, static_cast<int>(RedisRole::Count)> m_redisTotal{};
    std::array<std::atomic<int>, static_cast<int>(RedisRole::Count)> m_redisUp{};
    mutable std::mutex m_errorsMutex;
    std::map<std::pair<int, std::string>, std::uint64_t, std::less<>> m_errors;
};

} // namespace l0l3
