#include "core/gateway/gatewaymetrics.h"

#include "core/common/prometheuswriter.h"
#include "core/gateway/degradationmonitor.h"

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
    case Tier::Semantic: return "L1";
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
            w.sample("l0l3_requests_total",
                     {{"region", region}, {"tier", tierName(tier)}, {"outcome", outcomeName(outcome)}},
                     static_cast<double>(m_requests[t][o].load(std::memory_order_relaxed)));
        }
    }

    w.family("l0l3_request_duration_seconds", "histogram", "Chat completion latency inside the gateway by tier.");
    for (int t = 0; t < static_cast<int>(Tier::Count); ++t)
        w.histogram("l0l3_request_duration_seconds", {{"region", region}, {"tier", tierName(static_cast<Tier>(t))}},
                    m_latency[t]);

    w.family("l0l3_gateway_overhead_seconds", "histogram",
             "Time a miss answered by the upstream spends in the gateway itself: from the complete request "
             "reaching the handler to the response handed to the client connection for writing, minus the "
             "upstream call (from starting the upstream request, connecting included, to having its full response). "
             "A streamed miss that completed: up to starting the upstream request, plus passing the response head "
             "and each event on to the client.");
    w.histogram("l0l3_gateway_overhead_seconds", {{"region", region}}, m_missOverhead);

    w.family("l0l3_errors_total", "counter", "Error responses by HTTP status and error code.");
    {
        std::lock_guard lock(m_errorsMutex);
        for (const auto &[k, v] : m_errors) {
            const std::string status = std::to_string(k.first);
            w.sample("l0l3_errors_total", {{"region", region}, {"status", status}, {"code", k.second}},
                     static_cast<double>(v));
        }
    }

    w.family("l0l3_proposals_total", "counter", "Proposals XADDed to the primary (first miss of a key).");
    w.sample("l0l3_proposals_total", {{"region", region}}, static_cast<double>(m_proposals.load()));
    w.family("l0l3_proposals_failed_total", "counter",
             "Proposals dropped: the primary failed, refused or was being switched.");
    w.sample("l0l3_proposals_failed_total", {{"region", region}}, static_cast<double>(m_proposalsFailed.load()));
    w.family("l0l3_primary_switches_total", "counter",
             "Times the primary connections followed a Sentinel failover to a new address.");
    w.sample("l0l3_primary_switches_total", {{"region", region}}, static_cast<double>(m_primarySwitches.load()));

    w.family("l0l3_corrupt_entries_total", "counter",
             "Entries in the replica that failed to decode (served as misses).");
    w.sample("l0l3_corrupt_entries_total", {{"region", region}}, static_cast<double>(m_corruptEntries.load()));
    w.family("l0l3_entry_mismatches_total", "counter",
             "Entries approved for another prompt or system prompt than the request's (served as misses).");
    w.sample("l0l3_entry_mismatches_total", {{"region", region}}, static_cast<double>(m_entryMismatches.load()));
    w.family("l0l3_entries_past_review_by_total", "counter",
             "L0 lookups that found an entry past its review date and did not serve it.");
    w.sample("l0l3_entries_past_review_by_total", {{"region", region}}, static_cast<double>(m_pastReviewBy.load()));

    w.family("l0l3_invalidations_total", "counter", "Invalidation and flush messages received.");
    w.sample("l0l3_invalidations_total", {{"region", region}}, static_cast<double>(m_invalidations.load()));

    w.family("l0l3_upstream_failures_total", "counter",
             "Upstream calls that failed (connect, timeout, invalid answer, 429, 5xx).");
    w.sample("l0l3_upstream_failures_total", {{"region", region}}, static_cast<double>(m_upstreamFailures.load()));
    w.family("l0l3_upstream_errors_total", "counter",
             "Upstream answers with an error status, by class (4xx includes 429).");
    w.sample("l0l3_upstream_errors_total", {{"region", region}, {"class", "4xx"}},
             static_cast<double>(m_upstreamErrorStatuses[0].load()));
    w.sample("l0l3_upstream_errors_total", {{"region", region}, {"class", "5xx"}},
             static_cast<double>(m_upstreamErrorStatuses[1].load()));

    w.family("l0l3_hot_cache_entries", "gauge", "Entries in the in-process hot cache (L0.5).");
    w.sample("l0l3_hot_cache_entries", {{"region", region}}, static_cast<double>(gauges.hotCacheEntries));
    w.family("l0l3_hot_cache_bytes", "gauge", "Approximate bytes held by the hot cache (L0.5).");
    w.sample("l0l3_hot_cache_bytes", {{"region", region}}, static_cast<double>(gauges.hotCacheBytes));

    w.family("l0l3_draining", "gauge", "1 while this region is drained (readyz answers 503).");
    w.sample("l0l3_draining", {{"region", region}}, gauges.draining ? 1 : 0);

    using DState = DegradationMonitor::State;
    const DState state = gauges.degradation ? gauges.degradation->state() : DState::Normal;
    w.family("l0l3_degradation_state", "gauge", "1 on the gateway's current degradation state, 0 on the others.");
    for (int i = 0; i < DegradationMonitor::kStates; ++i) {
        const auto s = static_cast<DState>(i);
        w.sample("l0l3_degradation_state", {{"region", region}, {"state", DegradationMonitor::name(s)}},
                 s == state ? 1 : 0);
    }
    w.family("l0l3_degradation_transitions_total", "counter", "Degradation state changes by from and to state.");
    if (gauges.degradation) {
        for (int f = 0; f < DegradationMonitor::kStates; ++f) {
            for (int t = 0; t < DegradationMonitor::kStates; ++t) {
                const auto n = gauges.degradation->transitions(static_cast<DState>(f), static_cast<DState>(t));
                if (n > 0) {
                    w.sample("l0l3_degradation_transitions_total",
                             {{"region", region},
                              {"from", DegradationMonitor::name(static_cast<DState>(f))},
                              {"to", DegradationMonitor::name(static_cast<DState>(t))}},
                             static_cast<double>(n));
                }
            }
        }
    }

    w.family("l0l3_upstream_circuit_state", "gauge", "Upstream circuit breaker: 0 closed, 1 half-open, 2 open.");
    w.sample("l0l3_upstream_circuit_state", {{"region", region}}, gauges.circuitState);
    if (gauges.secondaryCircuitState >= 0) {
        w.family("l0l3_secondary_upstream_circuit_state", "gauge",
                 "Secondary upstream circuit breaker: 0 closed, 1 half-open, 2 open.");
        w.sample("l0l3_secondary_upstream_circuit_state", {{"region", region}}, gauges.secondaryCircuitState);
    }
    w.family("l0l3_upstream_circuit_rejections_total", "counter",
             "Misses answered 503 because every upstream circuit was open.");
    w.sample("l0l3_upstream_circuit_rejections_total", {{"region", region}},
             static_cast<double>(m_circuitRejected.load()));
    w.family("l0l3_secondary_upstream_calls_total", "counter",
             "Misses sent to the secondary upstream while the primary circuit was open.");
    w.sample("l0l3_secondary_upstream_calls_total", {{"region", region}}, static_cast<double>(m_secondaryCalls.load()));

    w.family("l0l3_replication_lag_seconds", "gauge",
             "Primary heartbeat minus the local replica's copy (NaN: unknown).");
    w.sample("l0l3_replication_lag_seconds", {{"region", region}}, m_replicationLag.load(std::memory_order_relaxed));

    w.family("l0l3_proposal_inbox_length", "gauge",
             "Proposals in the primary's inbox waiting for the console to drain them (NaN: unknown). "
             "Every gateway reads the same list.");
    w.sample("l0l3_proposal_inbox_length", {{"region", region}}, m_proposalInbox.load(std::memory_order_relaxed));

    w.family("l0l3_fallback_reads_total", "counter",
             "L0 lookups served by another source while the local replica was down.");
    for (int f = 0; f < static_cast<int>(FallbackSource::Count); ++f) {
        static constexpr std::string_view kSources[] = {"fallback_replica", "primary"};
        w.sample("l0l3_fallback_reads_total", {{"region", region}, {"source", kSources[f]}},
                 static_cast<double>(m_fallbackReads[f].load(std::memory_order_relaxed)));
    }

    w.family("l0l3_rate_limited_total", "counter", "Requests refused with 429 by the per-client rate limit.");
    w.sample("l0l3_rate_limited_total", {{"region", region}}, static_cast<double>(m_rateLimited.load()));
    w.family("l0l3_rate_limit_clients", "gauge", "Clients whose token bucket is not full.");
    w.sample("l0l3_rate_limit_clients", {{"region", region}}, static_cast<double>(gauges.rateLimitClients));

    w.family("l0l3_open_connections", "gauge", "Open client connections.");
    w.sample("l0l3_open_connections", {{"region", region}}, static_cast<double>(gauges.openConnections));
    w.family("l0l3_connections_closed_total", "counter", "Client connections closed by the gateway, by reason.");
    w.sample("l0l3_connections_closed_total", {{"region", region}, {"reason", "max_connections"}},
             static_cast<double>(gauges.rejectedConnections));
    w.sample("l0l3_connections_closed_total", {{"region", region}, {"reason", "idle_timeout"}},
             static_cast<double>(gauges.idleTimeouts));
    w.sample("l0l3_connections_closed_total", {{"region", region}, {"reason", "read_timeout"}},
             static_cast<double>(gauges.readTimeouts));

    w.family("l0l3_redis_connected", "gauge", "1 when every connection of that role is up.");
    for (int r = 0; r < static_cast<int>(RedisRole::Count); ++r) {
        static constexpr std::string_view kRoles[] = {"replica", "primary", "subscriber", "fallback_replica"};
        if (static_cast<RedisRole>(r) == RedisRole::FallbackReplica && m_redisTotal[r].load() == 0)
            continue;
        w.sample("l0l3_redis_connected", {{"region", region}, {"role", kRoles[r]}},
                 redisUp(static_cast<RedisRole>(r)) ? 1 : 0);
    }
}

} // namespace l0l3
