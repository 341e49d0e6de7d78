#include "core/gateway/gatewaymetrics.h"

#include "core/common/prometheuswriter.h"

namespace l0l3 {

GatewayMetrics::GatewayMetrics(std::string region)
    : m_region(std::move(region))
{
}

std::string_view GatewayMetrics::tierName(Tier tier)
{
    switch (tier) {
    case Tier::HotCache: return "L0.5";
    case Tier::Exact: return "L0";
    case Tier::Upstream: return "L3";
    default: return "none";
    }
}

std::string_view GatewayMetrics::outcomeName(Outcome outcome)
{
    switch (outcome) {
    case Outcome::Hit: return "hit";
    case Outcome::Miss: return "miss";
    case Outcome::Bypass: return "bypass";
    default: return "error";
    }
}

void GatewayMetrics::request(Tier tier, Outcome outcome, double seconds)
{
    m_requests[static_cast<int>(tier)][static_cast<int>(outcome)].fetch_add(1, std::memory_order_relaxed);
    m_latency[static_cast<int>(tier)].record(seconds);
}

void GatewayMetrics::error(int status, std::string_view code)
{
    std::lock_guard lock(m_errorsMutex);
    auto it = m_errors.find(std::make_pair(status, std::string(code)));
    if (it == m_errors.end())
        m_errors.emplace(std::make_pair(status, std::string(code)), 1);
    else
        ++it->second;
}

void GatewayMetrics::redisConnected(RedisRole role, bool up)
{
    m_redisUp[static_cast<int>(role)].fetch_add(up ? 1 : -1, std::memory_order_relaxed);
}

bool GatewayMetrics::redisUp(RedisRole role) const
{
    const int total = m_redisTotal[static_cast<int>(role)].load(std::memory_order_relaxed);
    return total > 0 && m_redisUp[static_cast<int>(role)].load(std::memory_order_relaxed) >= total;
}

std::uint64_t GatewayMetrics::requests(Tier tier, Outcome outcome) const
{
    return m_requests[static_cast<int>(tier)][static_cast<int>(outcome)].load(std::memory_order_relaxed);
}

std::uint64_t GatewayMetrics::errors(int status, std::string_view code) const
{
    std::lock_guard lock(m_errorsMutex);
    auto it = m_errors.find(std::make_pair(status, std::string(code)));
    return it == m_errors.end() ? 0 : it->second;
}

void GatewayMetrics::render(std::string &out, const Gauges &gauges) const
{
    PrometheusWriter w(out);
    const std::string_view region = m_region;

    w.family("l0l3_requests_total", "counter", "Chat completion requests by tier that answered and outcome.");
    for (int t = 0; t < static_cast<int>(Tier::Count); ++t) {
        for (int o = 0; o < static_cast<int>(Outcome::Count); ++o) {
            const auto tier = static_cast<Tier>(t);
            const auto outcome = static_cast<Outcome>(o);
            w.sample("l0l3_requests_total", {{"region", region}, {"tier", tierName(tier)}, {"outcome", outcomeName(outcome)}},
                     static_cast<double>(m_requests[t][o].load(std::memory_order_relaxed)));
        }
    }

    w.family("l0l3_request_duration_seconds", "histogram", "Chat completion latency inside the gateway by tier.");
    for (int t = 0; t < static_cast<int>(Tier::Count); ++t)
        w.histogram("l0l3_request_duration_seconds", {{"region", region}, {"tier", tierName(static_cast<Tier>(t))}}, m_latency[t]);

    w.family("l0l3_errors_total", "counter", "Error responses by HTTP status and error code.");
    {
        std::lock_guard lock(m_errorsMutex);
        for (const auto &[k, v] : m_errors) {
            const std::string status = std::to_string(k.first);
            w.sample("l0l3_errors_total", {{"region", region}, {"status", status}, {"code", k.second}}, static_cast<double>(v));
        }
    }

    w.family("l0l3_proposals_total", "counter", "Proposals XADDed to the primary (first miss of a key).");
    w.sample("l0l3_proposals_total", {{"region", region}}, static_cast<double>(m_proposals.load()));

    w.family("l0l3_corrupt_entries_total", "counter", "Entries in the replica that failed to decode (served as misses).");
    w.sample("l0l3_corrupt_entries_total", {{"region", region}}, static_cast<double>(m_corruptEntries.load()));

    w.family("l0l3_invalidations_total", "counter", "Invalidation and flush messages received.");
    w.sample("l0l3_invalidations_total", {{"region", region}}, static_cast<double>(m_invalidations.load()));

    w.family("l0l3_upstream_failures_total", "counter", "Upstream calls that failed (connect, timeout, 5xx).");
    w.sample("l0l3_upstream_failures_total", {{"region", region}}, static_cast<double>(m_upstreamFailures.load()));

    w.family("l0l3_hot_cache_entries", "gauge", "Entries in the in-process hot cache (L0.5).");
    w.sample("l0l3_hot_cache_entries", {{"region", region}}, static_cast<double>(gauges.hotCacheEntries));
    w.family("l0l3_hot_cache_bytes", "gauge", "Approximate bytes held by the hot cache (L0.5).");
    w.sample("l0l3_hot_cache_bytes", {{"region", region}}, static_cast<double>(gauges.hotCacheBytes));

    w.family("l0l3_draining", "gauge", "1 while this region is drained (readyz answers 503).");
    w.sample("l0l3_draining", {{"region", region}}, gauges.draining ? 1 : 0);

    // Only the states this gateway can detect so far; the rest stay 0.
    const std::string_view state = redisUp(RedisRole::Replica) ? "normal" : "replica_down";
    w.family("l0l3_degradation_state", "gauge", "1 on the gateway's current degradation state, 0 on the others.");
    for (std::string_view s : {"normal", "elevated", "degraded", "replica_down", "offline"})
        w.sample("l0l3_degradation_state", {{"region", region}, {"state", s}}, s == state ? 1 : 0);

    w.family("l0l3_upstream_circuit_state", "gauge", "Upstream circuit breaker: 0 closed, 1 half-open, 2 open.");
    w.sample("l0l3_upstream_circuit_state", {{"region", region}}, 0);

    w.family("l0l3_redis_connected", "gauge", "1 when every connection of that role is up.");
    for (int r = 0; r < static_cast<int>(RedisRole::Count); ++r) {
        static constexpr std::string_view kRoles[] = {"replica", "primary", "subscriber"};
        w.sample("l0l3_redis_connected", {{"region", region}, {"role", kRoles[r]}}, redisUp(static_cast<RedisRole>(r)) ? 1 : 0);
    }
}

} // namespace l0l3
