#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/common/latencyhistogram.h"

namespace l0l3 {

class DegradationMonitor;

// The gateway's Prometheus metrics (names in DESIGN.md). Recording is
// lock-free except for errors (a small map keyed by status and code).
class GatewayMetrics
{
public:
    enum class Tier { HotCache, Exact, Upstream, Semantic, None, Count };          // "L0.5", "L0", "L3", "L1", "none"
    enum class Outcome { Hit, Miss, Bypass, Error, Count };                        // "hit", "miss", "bypass", "error"
    enum class RedisRole { Replica, Primary, Subscriber, FallbackReplica, Count }; // "replica", ..., "fallback_replica"
    enum class FallbackSource { FallbackReplica, Primary, Count };                 // "fallback_replica", "primary"

    explicit GatewayMetrics(std::string region);

    static std::string_view tierName(Tier tier);
    static std::string_view outcomeName(Outcome outcome);

    void request(Tier tier, Outcome outcome, double seconds);
    // A miss answered by the upstream: the gateway's own share of its latency
    // (l0l3_gateway_overhead_seconds; the definition is in render()'s HELP text).
    void missOverhead(double seconds) { m_missOverhead.record(seconds); }
    const LatencyHistogram &missOverhead() const { return m_missOverhead; }
    void error(int status, std::string_view code);
    void proposal() { m_proposals.fetch_add(1, std::memory_order_relaxed); }
    void proposalFailed() { m_proposalsFailed.fetch_add(1, std::memory_order_relaxed); }
    void primarySwitch() { m_primarySwitches.fetch_add(1, std::memory_order_relaxed); }
    void corruptEntry() { m_corruptEntries.fetch_add(1, std::memory_order_relaxed); }
    void entryMismatch() { m_entryMismatches.fetch_add(1, std::memory_order_relaxed); }
    // An L0 lookup that found an entry past its review date and did not serve it (--serve-past-review-by no).
    void pastReviewBy() { m_pastReviewBy.fetch_add(1, std::memory_order_relaxed); }
    void invalidation() { m_invalidations.fetch_add(1, std::memory_order_relaxed); }
    void upstreamFailure() { m_upstreamFailures.fetch_add(1, std::memory_order_relaxed); }
    // An upstream answer with an error status (l0l3_upstream_errors_total by class: 4xx, 5xx).
    void upstreamErrorStatus(int status)
    {
        if (status >= 400 && status <= 599)
            m_upstreamErrorStatuses[status >= 500 ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
    }
    void fallbackRead(FallbackSource source)
    {
        m_fallbackReads[static_cast<int>(source)].fetch_add(1, std::memory_order_relaxed);
    }
    void rateLimited() { m_rateLimited.fetch_add(1, std::memory_order_relaxed); }
    void circuitRejected() { m_circuitRejected.fetch_add(1, std::memory_order_relaxed); }
    void secondaryUpstreamCall() { m_secondaryCalls.fetch_add(1, std::memory_order_relaxed); }
    // NaN when unknown (heartbeat absent, a server unreachable).
    void setReplicationLag(double seconds) { m_replicationLag.store(seconds, std::memory_order_relaxed); }
    double replicationLag() const { return m_replicationLag.load(std::memory_order_relaxed); }
    // LLEN of the primary's proposal inbox; NaN when unknown (primary unreachable, refused).
    void setProposalInboxLength(double length) { m_proposalInbox.store(length, std::memory_order_relaxed); }
    std::uint64_t fallbackReads(FallbackSource source) const
    {
        return m_fallbackReads[static_cast<int>(source)].load();
    }
    std::uint64_t rateLimitedCount() const { return m_rateLimited.load(); }
    // Every tier's latency histogram (for the SLO window).
    const LatencyHistogram &latency(Tier tier) const { return m_latency[static_cast<int>(tier)]; }

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
        int circuitState = 0;           // CircuitBreaker::State of the upstream
        int secondaryCircuitState = -1; // -1: no secondary upstream
        const DegradationMonitor *degradation = nullptr;
        std::size_t openConnections = 0;
        std::uint64_t rejectedConnections = 0;
        std::uint64_t idleTimeouts = 0;
        std::uint64_t readTimeouts = 0;
        std::size_t rateLimitClients = 0; // clients with a bucket not full
    };
    void render(std::string &out, const Gauges &gauges) const;

private:
    std::string m_region;
    std::array<std::array<std::atomic<std::uint64_t>, static_cast<int>(Outcome::Count)>, static_cast<int>(Tier::Count)>
        m_requests{};
    std::array<LatencyHistogram, static_cast<int>(Tier::Count)> m_latency;
    LatencyHistogram m_missOverhead;
    std::atomic<std::uint64_t> m_proposals{0};
    std::atomic<std::uint64_t> m_proposalsFailed{0};
    std::atomic<std::uint64_t> m_primarySwitches{0};
    std::atomic<std::uint64_t> m_corruptEntries{0};
    std::atomic<std::uint64_t> m_entryMismatches{0};
    std::atomic<std::uint64_t> m_pastReviewBy{0};
    std::atomic<std::uint64_t> m_invalidations{0};
    std::atomic<std::uint64_t> m_upstreamFailures{0};
    std::array<std::atomic<std::uint64_t>, 2> m_upstreamErrorStatuses{}; // 4xx, 5xx
    std::array<std::atomic<std::uint64_t>, static_cast<int>(FallbackSource::Count)> m_fallbackReads{};
    std::atomic<std::uint64_t> m_rateLimited{0};
    std::atomic<std::uint64_t> m_circuitRejected{0};
    std::atomic<std::uint64_t> m_secondaryCalls{0};
    std::atomic<double> m_replicationLag{std::numeric_limits<double>::quiet_NaN()};
    std::atomic<double> m_proposalInbox{std::numeric_limits<double>::quiet_NaN()};
    std::array<std::atomic<int>, static_cast<int>(RedisRole::Count)> m_redisTotal{};
    std::array<std::atomic<int>, static_cast<int>(RedisRole::Count)> m_redisUp{};
    mutable std::mutex m_errorsMutex;
    std::map<std::pair<int, std::string>, std::uint64_t, std::less<>> m_errors;
};

} // namespace l0l3
