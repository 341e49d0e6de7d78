#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/gateway/chatrequest.h"
#include "core/gateway/chatrequestparser.h"
#include "core/gateway/circuitbreaker.h"
#include "core/gateway/degradationmonitor.h"
#include "core/gateway/gatewayconfig.h"
#include "core/gateway/gatewaymetrics.h"
#include "core/gateway/httpserver.h"
#include "core/gateway/requestrouter.h"
#include "core/gateway/tierchain.h"
#include "core/gateway/upstreamerror.h"

namespace l0l3 {

class HotCache;
class LatencyWindow;
class Proposer;
class RateLimiter;
class SemanticTier;
class AsioRedisConnection;
class FleetAnnouncer;
class SentinelResolver;
class UpstreamClient;
class UpstreamStreamer;
struct CachedAnswer;

// The edge data plane: routes HTTP, runs the tier chain, forwards misses to
// the upstream, proposes them to the operator, follows invalidation and
// control messages. Per thread: a replica and a primary connection, an
// upstream client and a tier chain; shared: the hot cache and the metrics.
class Gateway
{
public:
    explicit Gateway(GatewayConfig config);
    ~Gateway();

    // Binds the listen address and starts the Redis connections.
    bool start(std::string *error);
    std::uint16_t port() const { return m_server.port(); }
    // Runs until stop (SIGINT/SIGTERM or requestStop()); returns when done.
    void run();
    // Thread-safe graceful stop: refuse new connections, let requests in flight finish (5 s at most).
    void requestStop();
    void setDraining(bool draining) { m_draining.store(draining); }

    DegradationMonitor::State degradationState() const { return m_degradation.state(); }
    CircuitBreaker::State circuitState() const { return m_breaker.state(); }
    const GatewayMetrics &metrics() const { return m_metrics; }

    // The first 16 hex characters of xxh3 (64-bit) of the API key; the key itself is never logged.
    static std::string namespaceForApiKey(std::string_view apiKey);

private:
    struct Worker;
    struct PendingChat;
    enum class Mode { Miss, Bypass };
    using Clock = std::chrono::steady_clock;

    void handle(HttpExchange exchange);
    void handleChat(HttpExchange &exchange, Worker &worker, Clock::time_point started);
    static std::shared_ptr<PendingChat> pendingChat(Worker &worker, HttpExchange &exchange, RouteDecision &decision,
                                                    Clock::time_point started, bool degraded);
    // extra: more response headers (an L1 hit's similarity and entry), at most 4.
    void serveHit(HttpExchange &exchange, Worker &worker, const ChatRequest &request, const std::string &key,
                  const CachedAnswer &answer, GatewayMetrics::Tier tier, Clock::time_point started, bool degraded,
                  std::span<const HttpHeader> extra = {});
    // One L1 answer in --semantic-review-sample to the review stream, off the response path.
    void sampleForReview(Worker &worker, const PendingChat &chat, std::string_view entry, std::string_view similarity);
    void forwardUpstream(Worker &worker, std::shared_ptr<PendingChat> chat);
    void onUpstream(Worker &worker, const std::shared_ptr<PendingChat> &chat, UpstreamClient::Result result);
    // A 429 or 5xx from the upstream, to the client with its status and, when valid, its Retry-After and body.
    void relayUpstreamError(Worker &worker, PendingChat &chat, const UpstreamClient::Result &result,
                            const std::optional<UpstreamError::RetryAfter> &retryAfter,
                            std::span<const HttpHeader> headers);
    // --upstream-slo-p99-ms: once a second on the ticker, trips the breaker when the primary upstream's p99 is over it.
    void checkUpstreamSlo(std::int64_t nowMs);
    // A stream: true request: the upstream's events go to the client as they arrive.
    struct StreamedMiss;
    enum class StreamEnd { Done, ClientGone, Truncated, Timeout, Oversize, Invalid, Failed };
    void forwardStream(Worker &worker, const std::shared_ptr<PendingChat> &chat, UpstreamStreamer &streamer,
                       std::string body, std::string_view authorization);
    void finishStream(Worker &worker, PendingChat &chat, StreamedMiss &stream, StreamEnd end, std::string_view why);
    void sendDecisionError(HttpExchange &exchange, Worker &worker, const RouteDecision &decision);
    void sendError(HttpExchange &exchange, Worker &worker, int status, std::string_view code, std::string_view message,
                   std::string_view param = {}, std::span<const HttpHeader> extra = {});
    void onMessage(std::string_view channel, std::string_view message, bool fromFallback = false);
    void waitForDrain(Clock::time_point deadline);
    void waitForProposals(Clock::time_point deadline);
    void tick();
    void updateDegradation();
    void measureReplicationLag(Worker &worker);
    void measureProposalInbox(Worker &worker);
    // The fleet registry record and the replication heartbeat (FleetAnnouncer), on context 0.
    void startAnnouncer();
    void onCircuitTransition(std::string_view which, CircuitBreaker::State from, CircuitBreaker::State to,
                             std::string_view reason);
    // how: "sentinel" or "operator promotion" (both confirmed by SentinelResolver).
    void onPrimarySwitch(const RedisUrl &from, const RedisUrl &to, std::string_view how);

    GatewayConfig m_config;
    RequestRouter::Options m_routerOptions;
    GatewayMetrics m_metrics;
    std::unique_ptr<HotCache> m_hot;
    std::unique_ptr<SemanticTier> m_semantic; // null with --semantic off
    HttpServer m_server;                      // before the workers: their connections live on its io_contexts
    std::vector<std::unique_ptr<Worker>> m_workers;
    std::unique_ptr<AsioRedisConnection> m_subscriber;
    // The same channels on the fallback source (fallback replica or primary): while the local
    // replica is unreachable, revocations still reach L0.5.
    std::unique_ptr<AsioRedisConnection> m_fallbackSubscriber;
    // On context 0; without --sentinel it only checks operator promotions.
    std::unique_ptr<SentinelResolver> m_resolver;
    std::unique_ptr<boost::asio::signal_set> m_signals;
    std::unique_ptr<boost::asio::steady_timer> m_stopTimer;
    std::unique_ptr<boost::asio::steady_timer> m_ticker;
    std::unique_ptr<FleetAnnouncer> m_announcer;
    std::uint64_t m_ticks = 0;
    CircuitBreaker m_breaker;
    std::unique_ptr<CircuitBreaker> m_secondaryBreaker;
    std::unique_ptr<RateLimiter> m_rateLimiter;
    DegradationMonitor m_degradation;
    std::unique_ptr<LatencyWindow> m_latencyWindow; // ticker thread only
    // The primary upstream's call durations (from sending the request to its whole answer), for its SLO.
    LatencyHistogram m_upstreamLatency;
    std::unique_ptr<LatencyWindow> m_upstreamLatencyWindow; // ticker thread only
    std::string m_upstreamAuthorization;                    // "Bearer <upstream key>" or empty
    std::atomic<std::uint64_t> m_l1Answers{0};              // L1 answers served, for the review sample
    std::atomic<bool> m_draining{false};
    std::atomic<bool> m_stopping{false};
};

} // namespace l0l3
