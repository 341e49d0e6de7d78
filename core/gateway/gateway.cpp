#include "core/gateway/gateway.h"

#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <boost/asio/post.hpp>
#include <boost/beast/http/field.hpp>
#include <hiredis/hiredis.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/common/cachekey.h"
#include "core/common/controlmessage.h"
#include "core/common/lexicalembedder.h"
#include "core/common/proposalfunction.h"
#include "core/common/redishostlist.h"
#include "core/common/redisschema.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatresponsewriter.h"
#include "core/gateway/fleetannouncer.h"
#include "core/gateway/hotcache.h"
#include "core/gateway/keymemo.h"
#include "core/gateway/latencywindow.h"
#include "core/gateway/log.h"
#include "core/gateway/proposer.h"
#include "core/gateway/ratelimiter.h"
#include "core/gateway/semantictier.h"
#include "core/gateway/sentinelresolver.h"
#include "core/gateway/servedcounter.h"
#include "core/gateway/sha256.h"
#include "core/gateway/upstreamanswer.h"
#include "core/gateway/upstreamclient.h"
#include "core/gateway/upstreamerror.h"
#include "core/gateway/upstreamstream.h"

namespace l0l3 {

namespace http = boost::beast::http;
using Tier = GatewayMetrics::Tier;
using Outcome = GatewayMetrics::Outcome;

// A chat request waiting for L0 or the upstream.
struct Gateway::PendingChat
{
    explicit PendingChat(HttpExchange e)
        : exchange(std::move(e))
    {
    }

    HttpExchange exchange;
    ChatRequest request;
    std::string key;
    std::string ns;
    Mode mode = Mode::Miss;
    bool noStore = false;
    Clock::time_point started;
    bool degraded = false; // served while the local replica is down
    CircuitBreaker::Permit permit = CircuitBreaker::Permit::Denied;
    bool secondary = false;            // sent to the secondary upstream
    Clock::time_point upstreamStarted; // postChatCompletion called
    std::string l1Key;                 // L1's best candidate on a miss, for the proposal; empty: none
    float l1Similarity = 0.0f;
};

struct Gateway::Worker
{
    // Finished requests' records, reused with their strings' capacity (Gateway::pendingChat).
    // First member: destroyed last, after the connections whose callbacks hold records.
    std::vector<std::unique_ptr<PendingChat>> spareChats;
    ChatRequestParser parser;
    KeyMemo memo;
    RouteDecision decision; // the chat request being handled; its strings keep their capacity
    std::unique_ptr<AsioRedisConnection> replica;
    std::unique_ptr<AsioRedisConnection> primary;
    std::unique_ptr<AsioRedisConnection> fallbackReplica; // --fallback-replica, else null
    std::unique_ptr<UpstreamClient> upstream;
    std::unique_ptr<UpstreamClient> secondary;         // --secondary-upstream, else null
    std::unique_ptr<UpstreamStreamer> upstreamStreams; // stream: true misses, to the same upstreams
    std::unique_ptr<UpstreamStreamer> secondaryStreams;
    std::unique_ptr<TierChain> chain;
    std::unique_ptr<Proposer> proposer;
    std::unique_ptr<ServedCounter> served; // answers served per key, flushed to the primary
    std::string scratch;                   // response body buffer, reused
};

namespace {

// Proposals wait this long to go to the primary together (Proposer): one Redis wakeup for several misses.
constexpr int kProposalBatchMs = 5;

// A streamed miss stops reading its upstream while more than this waits for a slow client, and reads
// again once half of it is written: the upstream's TCP window holds the rest, not the gateway.
constexpr std::size_t kStreamClientBacklogBytes = 256 * 1024;

// The URL without any user:password@ part, for logs.
std::string withoutUserInfo(std::string_view url)
{
    const auto scheme = url.find("://");
    const auto start = scheme == std::string_view::npos ? 0 : scheme + 3;
    const auto at = url.find('@', start);
    const auto slash = url.find('/', start);
    if (at == std::string_view::npos || (slash != std::string_view::npos && at > slash))
        return std::string(url);
    return std::string(url.substr(0, start)) + "***@" + std::string(url.substr(at + 1));
}

std::string formatNumber(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::int64_t unixSeconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double secondsSince(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Once the response holds a copy: a body buffer grown by one outsized answer is given back
// rather than kept for the worker's lifetime (typical bodies stay well under the bound).
void releaseIfOutsized(std::string &buffer)
{
    constexpr std::size_t kKeepBytes = 256 * 1024;
    if (buffer.capacity() > kKeepBytes)
        std::string().swap(buffer);
}

HttpServer::Options serverOptions(const GatewayConfig &c)
{
    HttpServer::Options o;
    o.host = c.listenHost;
    o.port = c.listenPort;
    o.threads = c.threads;
    o.maxBodyBytes = c.maxBodyBytes;
    o.maxHeaderBytes = c.maxHeaderBytes;
    o.idleTimeoutMs = c.idleTimeoutMs;
    o.readTimeoutMs = c.readTimeoutMs;
    o.firstRequestTimeoutMs = c.firstRequestTimeoutMs;
    o.maxConnections = c.maxConnections;
    o.maxConnectionsPerClient = c.maxConnectionsPerClient;
    o.maxBufferedBytes = c.maxBufferedBytes;
    o.capExemptPaths = {"/healthz", "/readyz", "/metrics"};
    o.tls = c.listenTls; // null: plain HTTP
    // Each connection may hold an upstream connection too; Redis, the pools and the event loops
    // need a few more. Past the descriptor limit accept() fails instead of answering 503.
    const std::uint64_t files = HttpServer::raiseOpenFileLimit();
    const std::uint64_t reserved = 32 + 8 * static_cast<std::uint64_t>(std::max(1, c.threads));
    if (files > 0) {
        const std::uint64_t fit = files > reserved + 2 ? (files - reserved) / 2 : 1;
        if (o.maxConnections == 0 || o.maxConnections > fit) {
            Log::warn("--max-connections lowered from " + std::to_string(o.maxConnections) + " to "
                      + std::to_string(fit) + " to stay below the open-file limit (" + std::to_string(files) + ")");
            o.maxConnections = static_cast<std::size_t>(fit);
        }
    }
    return o;
}

} // namespace

Gateway::Gateway(GatewayConfig config)
    : m_config(std::move(config))
    , m_metrics(m_config.region)
    , m_server(serverOptions(m_config), [this](HttpExchange exchange) { handle(std::move(exchange)); })
    , m_breaker(m_config.breaker)
{
    m_routerOptions.maxBodyBytes = m_config.maxBodyBytes;
    m_routerOptions.maxHeaderBytes = m_server.options().maxHeaderBytes; // as clamped
    m_routerOptions.namespaceDefault = m_config.namespaceDefault;
    m_breaker.setTransitionCallback([this](CircuitBreaker::State from, CircuitBreaker::State to, std::string_view why) {
        onCircuitTransition("upstream", from, to, why);
    });
    if (!m_config.secondaryUpstreamUrl.empty()) {
        m_secondaryBreaker = std::make_unique<CircuitBreaker>(m_config.breaker);
        m_secondaryBreaker->setTransitionCallback(
            [this](CircuitBreaker::State from, CircuitBreaker::State to, std::string_view why) {
                onCircuitTransition("secondary upstream", from, to, why);
            });
    }
    m_rateLimiter = std::make_unique<RateLimiter>(
        RateLimiter::Options{m_config.rateLimit, m_config.rateBurst, m_config.rateLimitClients});
    m_latencyWindow = std::make_unique<LatencyWindow>(m_config.sloWindowMs, 20);
    m_upstreamLatencyWindow = std::make_unique<LatencyWindow>(m_config.sloWindowMs, 20);
    if (!m_config.upstreamApiKey.empty())
        m_upstreamAuthorization = "Bearer " + m_config.upstreamApiKey;
    if (m_config.hotCacheEnabled && m_config.hotCacheEntries > 0) {
        HotCache::Options options;
        options.maxEntries = m_config.hotCacheEntries;
        options.maxBytes = m_config.hotCacheBytes;
        options.ttlMs = m_config.hotCacheTtlSeconds * 1000;
        m_hot = std::make_unique<HotCache>(options);
    }
    if (const auto mode = SemanticTier::parseMode(m_config.semantic); mode && *mode != SemanticTier::Mode::Off) {
        SemanticTier::Options options;
        options.mode = *mode;
        options.maxEntries = m_config.semanticMaxEntries;
        options.region = m_config.region;
        if (m_config.embeddingsUrl.empty()) {
            m_semantic = std::make_unique<SemanticTier>(std::move(options), std::make_shared<LexicalEmbedder>());
        } else {
            SemanticTier::Embeddings embeddings;
            embeddings.endpoint = m_config.embeddings;
            embeddings.model = m_config.embeddingsModel;
            if (!m_config.embeddingsApiKey.empty())
                embeddings.authorization = "Bearer " + m_config.embeddingsApiKey;
            embeddings.budgetMs = m_config.embeddingsBudgetMs;
            // Its own breaker: quick to open (the budget is small), quick to try again.
            embeddings.breaker.failureThreshold = 5;
            embeddings.breaker.successThreshold = 2;
            embeddings.breaker.cooldownMs = 10000;
            m_semantic = std::make_unique<SemanticTier>(std::move(options), std::move(embeddings));
        }
    }
}

Gateway::~Gateway()
{
    // Connections first: their contexts (owned by m_server) must still exist.
    m_announcer.reset(); // uses worker 0's primary connection
    m_resolver.reset();
    m_subscriber.reset();
    m_fallbackSubscriber.reset();
    m_semantic.reset(); // its connection lives on context 0; the workers' chains call it
    m_workers.clear();
}

std::string Gateway::namespaceForApiKey(std::string_view apiKey)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::uint64_t h = XXH3_64bits(apiKey.data(), apiKey.size());
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, h >>= 4)
        out[static_cast<std::size_t>(i)] = kHex[h & 0xF];
    return out;
}

bool Gateway::start(std::string *error)
{
    if (!m_server.listen(error))
        return false;
    AsioRedisConnection::setDefaultTls(m_config.redisTls); // every rediss:// link: data nodes and Sentinels
    for (int i = 0; i < m_server.threadCount(); ++i) {
        auto w = std::make_unique<Worker>();
        auto &ctx = m_server.context(i);
        w->replica = std::make_unique<AsioRedisConnection>(
            ctx, AsioRedisConnection::Options{m_config.replica, "replica", m_config.redisTimeoutMs, 2000, 2000});
        w->primary = std::make_unique<AsioRedisConnection>(
            ctx,
            AsioRedisConnection::Options{m_config.primary, "primary", std::max(m_config.redisTimeoutMs, 2000), 2000,
                                         2000});
        for (auto [conn, role] : {std::pair{w->replica.get(), GatewayMetrics::RedisRole::Replica},
                                  std::pair{w->primary.get(), GatewayMetrics::RedisRole::Primary}}) {
            m_metrics.addRedisConnection(role);
            conn->setStateCallback([this, role = role](bool up) { m_metrics.redisConnected(role, up); });
        }
        if (m_config.fallbackReplica) {
            w->fallbackReplica = std::make_unique<AsioRedisConnection>(
                ctx,
                AsioRedisConnection::Options{*m_config.fallbackReplica, "fallback_replica", m_config.redisTimeoutMs,
                                             2000, 2000});
            m_metrics.addRedisConnection(GatewayMetrics::RedisRole::FallbackReplica);
            w->fallbackReplica->setStateCallback(
                [this](bool up) { m_metrics.redisConnected(GatewayMetrics::RedisRole::FallbackReplica, up); });
        }
        w->upstream = std::make_unique<UpstreamClient>(ctx, m_config.upstream);
        if (m_secondaryBreaker)
            w->secondary = std::make_unique<UpstreamClient>(ctx, m_config.secondaryUpstream);
        auto streamOptions = [this](const UpstreamClient::Options &upstream) {
            UpstreamStreamer::Options o;
            o.upstream = upstream;
            o.idleTimeoutMs = m_config.upstreamStreamIdleTimeoutMs;
            o.totalTimeoutMs = m_config.upstreamStreamTotalTimeoutMs;
            return o;
        };
        w->upstreamStreams = std::make_unique<UpstreamStreamer>(ctx, streamOptions(m_config.upstream));
        if (m_secondaryBreaker)
            w->secondaryStreams = std::make_unique<UpstreamStreamer>(ctx, streamOptions(m_config.secondaryUpstream));
        w->parser.setLimits(
            {m_config.maxMessages, m_config.maxPromptChars, std::size_t(std::max(0, m_config.semanticHistory))});
        w->chain = std::make_unique<TierChain>(m_hot.get(), *w->replica, m_metrics);
        w->chain->setFallbacks(w->fallbackReplica.get(), w->primary.get());
        w->chain->setServePastReviewBy(m_config.servePastReviewBy);
        if (m_semantic)
            w->chain->setSemanticLookup(m_semantic->lookupFor(*w->replica, ctx));
        w->proposer = std::make_unique<Proposer>(ctx, *w->primary, m_metrics, m_config.region, kProposalBatchMs);
        w->served = std::make_unique<ServedCounter>(ctx, *w->primary,
                                                    ServedCounter::Options{m_config.region, m_config.servedFlushMs});
        m_workers.push_back(std::move(w));
    }
    {
        SentinelResolver::Options options;
        options.sentinels = m_config.sentinels;
        options.masterName = m_config.masterName;
        options.primary = m_config.primary;
        options.commandTimeoutMs = m_config.redisTimeoutMs;
        options.connectTimeoutMs = 2000;
        // The gateway's credentials go only to servers the operator named.
        options.redisHosts = m_config.redisHosts;
        for (const RedisUrl *url : {&m_config.replica, &m_config.primary})
            options.redisHosts.add(url->host, url->port);
        if (m_config.fallbackReplica)
            options.redisHosts.add(m_config.fallbackReplica->host, m_config.fallbackReplica->port);
        options.allowAnonymousSentinel = m_config.allowAnonymousSentinel;
        m_resolver = std::make_unique<SentinelResolver>(
            m_server.context(0), std::move(options),
            [this](const RedisUrl &from, const RedisUrl &to, std::string_view how) { onPrimarySwitch(from, to, how); });
        // A READONLY proposal asks the Sentinels again. Without Sentinels, nothing probes the
        // allowed hosts for a master: ROLE master alone does not make a node the fleet's primary.
        for (auto &w : m_workers) {
            if (!m_config.sentinels.empty())
                w->proposer->setReadOnlyCallback(
                    [this] { boost::asio::post(m_server.context(0), [this] { m_resolver->resolve(); }); });
        }
    }
    m_subscriber = std::make_unique<AsioRedisConnection>(
        m_server.context(0),
        AsioRedisConnection::Options{m_config.replica, "subscriber", m_config.redisTimeoutMs, 2000, 2000});
    m_metrics.addRedisConnection(GatewayMetrics::RedisRole::Subscriber);
    m_subscriber->setStateCallback(
        [this](bool up) { m_metrics.redisConnected(GatewayMetrics::RedisRole::Subscriber, up); });
    m_subscriber->setSubscriptions(
        {std::string(RedisSchema::kInvalidateChannel), std::string(RedisSchema::kControlChannel)},
        [this](std::string_view channel, std::string_view message) { onMessage(channel, message); },
        [this] {
            // Invalidations sent while we were not subscribed are lost: start clean.
            if (m_hot && m_hot->size() > 0) {
                m_hot->clear();
                Log::info("hot cache flushed after (re)subscribing");
            }
            if (m_semantic)
                m_semantic->resync();
        });
    for (auto &w : m_workers) {
        w->replica->start();
        w->primary->start();
        if (w->fallbackReplica)
            w->fallbackReplica->start();
        w->served->start(); // before the contexts run, like the connections
    }
    m_subscriber->start();
    if (m_semantic) {
        // On context 0, with the subscriber that feeds it invalidations.
        m_semantic->start(m_server.context(0),
                          AsioRedisConnection::Options{m_config.replica, "l1_index", m_config.redisTimeoutMs, 2000,
                                                       2000});
    }
    const RedisUrl &fallbackSource = m_config.fallbackReplica ? *m_config.fallbackReplica : m_config.primary;
    m_fallbackSubscriber = std::make_unique<AsioRedisConnection>(
        m_server.context(0),
        AsioRedisConnection::Options{fallbackSource, "fallback_subscriber", m_config.redisTimeoutMs, 2000, 2000});
    m_fallbackSubscriber->setSubscriptions(
        {std::string(RedisSchema::kInvalidateChannel), std::string(RedisSchema::kControlChannel)},
        [this](std::string_view channel, std::string_view message) { onMessage(channel, message, true); },
        [this] {
            if (!m_subscriber->isReady() && m_hot && m_hot->size() > 0) {
                m_hot->clear();
                Log::info("hot cache flushed after subscribing on the fallback source");
            }
        });
    m_fallbackSubscriber->start();
    if (m_resolver)
        m_resolver->start();

    m_signals = std::make_unique<boost::asio::signal_set>(m_server.context(0), SIGINT, SIGTERM);
    m_signals->async_wait([this](boost::system::error_code ec, int signo) {
        if (ec)
            return;
        Log::info(std::string("received ") + (signo == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
        requestStop();
    });
    m_ticker = std::make_unique<boost::asio::steady_timer>(m_server.context(0));
    tick();
    startAnnouncer();
    Log::info(
        "l0l3-gateway region=" + m_config.region + " threads=" + std::to_string(m_server.threadCount())
        + " replica=" + m_config.replica.redacted() + " primary=" + m_config.primary.redacted()
        + (m_config.fallbackReplica ? " fallback_replica=" + m_config.fallbackReplica->redacted() : std::string())
        + (!m_config.sentinels.empty()
               ? " sentinels=" + std::to_string(m_config.sentinels.size()) + " master_name=" + m_config.masterName
               : std::string())
        + " upstream=" + withoutUserInfo(m_config.upstreamUrl)
        + (m_secondaryBreaker ? " secondary_upstream=" + withoutUserInfo(m_config.secondaryUpstreamUrl) : std::string())
        + " hot_cache=" + (m_hot ? "on" : "off") + " semantic=" + m_config.semantic
        + (m_config.embeddingsUrl.empty() ? std::string()
                                          : " embeddings=" + withoutUserInfo(m_config.embeddingsUrl) + " ("
                   + m_config.embeddingsModel + ", budget " + std::to_string(m_config.embeddingsBudgetMs) + " ms)")
        + " api_keys=" + (m_config.apiKeys ? std::to_string(m_config.apiKeys->size()) : std::string("off"))
        + " rate_limit="
        + (m_rateLimiter->enabled()
               ? std::to_string(m_config.rateLimit) + "/s burst " + std::to_string(m_config.rateBurst)
               : std::string("off"))
        + " breaker=" + std::to_string(m_config.breaker.failureThreshold) + "/"
        + std::to_string(m_config.breaker.successThreshold) + "/" + std::to_string(m_config.breaker.cooldownMs) + "ms");
    return true;
}

void Gateway::run()
{
    m_server.run();
}

void Gateway::requestStop()
{
    boost::asio::post(m_server.context(0), [this] {
        if (m_stopping.exchange(true))
            return;
        m_server.stopAccepting();
        m_stopTimer = std::make_unique<boost::asio::steady_timer>(m_server.context(0));
        waitForDrain(Clock::now() + std::chrono::seconds(5));
    });
}

void Gateway::waitForDrain(Clock::time_point deadline)
{
    if (m_server.inFlight() == 0 || Clock::now() >= deadline) {
        if (m_server.inFlight() > 0)
            Log::warn("stopping with " + std::to_string(m_server.inFlight()) + " requests in flight");
        // Proposals wait up to kProposalBatchMs for their batch: send them now, on their workers'
        // threads, and give the primary a bounded while to answer before the contexts stop.
        for (int i = 0; i < int(m_workers.size()); ++i) {
            Proposer *proposer = m_workers[std::size_t(i)]->proposer.get();
            boost::asio::post(m_server.context(i), [proposer] { proposer->flush(); });
        }
        waitForProposals(Clock::now() + std::chrono::seconds(1));
        return;
    }
    m_stopTimer->expires_after(std::chrono::milliseconds(20));
    m_stopTimer->async_wait([this, deadline](boost::system::error_code ec) {
        if (!ec)
            waitForDrain(deadline);
    });
}

void Gateway::waitForProposals(Clock::time_point deadline)
{
    std::size_t unsettled = 0;
    for (const auto &w : m_workers)
        unsettled += w->proposer->unsettled();
    if (unsettled == 0 || Clock::now() >= deadline) {
        if (unsettled > 0)
            Log::warn("stopping with " + std::to_string(unsettled) + " proposals not confirmed by the primary");
        if (m_signals)
            m_signals->cancel();
        if (m_ticker)
            m_ticker->cancel();
        if (m_announcer)
            m_announcer->stop();
        if (m_semantic)
            m_semantic->stop();
        m_server.stop();
        return;
    }
    m_stopTimer->expires_after(std::chrono::milliseconds(5));
    m_stopTimer->async_wait([this, deadline](boost::system::error_code ec) {
        if (!ec)
            waitForProposals(deadline);
    });
}

void Gateway::tick()
{
    // 250 ms: degradation follows the connections and the breaker quickly; latency and lag once a second.
    if (m_ticks % 4 == 0) {
        std::vector<const LatencyHistogram *> histograms{&m_metrics.latency(Tier::HotCache),
                                                         &m_metrics.latency(Tier::Exact),
                                                         &m_metrics.latency(Tier::Upstream)};
        m_latencyWindow->sample(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count(), histograms);
        checkUpstreamSlo(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
        measureReplicationLag(*m_workers.front());
        measureProposalInbox(*m_workers.front());
        // Unreachable primary: maybe failed over. Asked once a second, not on every tick.
        if (!m_config.sentinels.empty() && !m_metrics.redisUp(GatewayMetrics::RedisRole::Primary))
            m_resolver->resolve();
    }
    ++m_ticks;
    // The connections start with the ticker: give them a moment before reading their state as an outage.
    const bool settled = m_ticks > 8
        || (m_metrics.redisUp(GatewayMetrics::RedisRole::Replica)
            && m_metrics.redisUp(GatewayMetrics::RedisRole::Primary));
    if (settled)
        updateDegradation();
    m_ticker->expires_after(std::chrono::milliseconds(250));
    m_ticker->async_wait([this](boost::system::error_code ec) {
        if (!ec && !m_stopping.load())
            tick();
    });
}

void Gateway::updateDegradation()
{
    DegradationMonitor::Inputs in;
    in.replicaUp = m_metrics.redisUp(GatewayMetrics::RedisRole::Replica);
    in.fallbackReplicaUp = m_config.fallbackReplica && m_metrics.redisUp(GatewayMetrics::RedisRole::FallbackReplica);
    in.primaryUp = m_metrics.redisUp(GatewayMetrics::RedisRole::Primary);
    in.circuitOpen = m_breaker.state() != CircuitBreaker::State::Closed;
    const double p99 = m_latencyWindow->quantile(0.99);
    in.latencyOverSlo = !std::isnan(p99) && p99 * 1000.0 > m_config.sloP99Ms;
    DegradationMonitor::State from;
    if (m_degradation.update(in, &from)) {
        if (m_announcer)
            m_announcer->announceNow(); // the registry shows the new state at once
        std::string line = "degradation " + std::string(DegradationMonitor::name(from)) + " -> "
            + std::string(DegradationMonitor::name(m_degradation.state())) + " (" + DegradationMonitor::describe(in);
        if (in.latencyOverSlo)
            line += ", p99 " + std::to_string(static_cast<int>(p99 * 1000)) + " ms > "
                + std::to_string(m_config.sloP99Ms) + " ms";
        line += ")";
        if (m_degradation.state() == DegradationMonitor::State::Normal)
            Log::info(line);
        else
            Log::warn(line);
    }
}

void Gateway::checkUpstreamSlo(std::int64_t nowMs)
{
    if (m_config.upstreamSloP99Ms <= 0)
        return;
    m_upstreamLatencyWindow->sample(nowMs, {&m_upstreamLatency});
    if (m_breaker.state() != CircuitBreaker::State::Closed)
        return;
    const double p99 = m_upstreamLatencyWindow->quantile(0.99);
    if (std::isnan(p99) || p99 * 1000.0 <= m_config.upstreamSloP99Ms)
        return;
    const std::string why = "p99 " + std::to_string(static_cast<int>(p99 * 1000)) + " ms over "
        + std::to_string(m_config.sloWindowMs) + " ms is above the upstream SLO of "
        + std::to_string(m_config.upstreamSloP99Ms) + " ms";
    // The calls that tripped it must not trip it again as soon as it closes.
    if (m_breaker.trip(why))
        m_upstreamLatencyWindow->clear();
}

void Gateway::startAnnouncer()
{
    // Worker 0's primary connection lives on context 0, where the announcer's timers run.
    FleetAnnouncer::Info info;
    std::string hostName;
    {
        char buf[256] = {};
        if (gethostname(buf, sizeof buf - 1) == 0)
            hostName = buf;
        if (hostName.empty())
            hostName = "localhost";
    }
    const std::string port = std::to_string(m_server.port());
    info.instance = m_config.instanceId.empty() ? hostName + ":" + port : m_config.instanceId;
    info.region = m_config.region;
    if (!m_config.advertiseUrl.empty()) {
        info.url = m_config.advertiseUrl;
    } else {
        const std::string &h = m_config.listenHost;
        const bool wildcard = h.empty() || h == "0.0.0.0" || h == "::" || h == "[::]";
        std::string host = wildcard ? hostName : h;
        if (host.find(':') != std::string::npos && host.front() != '[')
            host = "[" + host + "]";
        info.url = std::string(m_config.listenTls ? "https://" : "http://") + host + ":" + port;
    }
    info.version = L0L3_VERSION;
    info.replica = m_config.replica.host + ":" + std::to_string(m_config.replica.port);
    info.startedMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    info.periodMs = m_config.announceIntervalMs;
    m_announcer = std::make_unique<FleetAnnouncer>(m_server.context(0), *m_workers.front()->primary, std::move(info),
                                                   [this] { return DegradationMonitor::name(m_degradation.state()); });
    m_announcer->start();
    Log::info("announcing as " + m_announcer->info().instance + " at " + m_announcer->info().url + " every "
              + std::to_string(m_config.announceIntervalMs) + " ms; writing the replication heartbeat once a second");
}

void Gateway::measureReplicationLag(Worker &worker)
{
    // Both reads in flight together; the lag is computed when the second answers.
    struct Reading
    {
        std::optional<double> replica;
        std::optional<double> primary;
        int pending = 2;
        bool failed = false;
    };
    auto reading = std::make_shared<Reading>();
    auto finish = [this, reading] {
        if (--reading->pending > 0)
            return;
        if (reading->failed || !reading->replica || !reading->primary) {
            m_metrics.setReplicationLag(std::nan(""));
            return;
        }
        m_metrics.setReplicationLag(std::max(0.0, (*reading->primary - *reading->replica) / 1000.0));
    };
    auto parse = [](const redisReply *reply) -> std::optional<double> {
        if (!reply || reply->type != REDIS_REPLY_STRING)
            return std::nullopt;
        double v = 0;
        const auto res = std::from_chars(reply->str, reply->str + reply->len, v);
        if (res.ec != std::errc() || res.ptr != reply->str + reply->len || !std::isfinite(v))
            return std::nullopt;
        return v;
    };
    const std::string_view key = RedisSchema::kHeartbeat;
    worker.replica->command({"GET", key}, [reading, finish, parse](const redisReply *reply, std::string_view) {
        reading->replica = parse(reply);
        reading->failed = reading->failed || !reply;
        finish();
    });
    worker.primary->command({"GET", key}, [reading, finish, parse](const redisReply *reply, std::string_view) {
        reading->primary = parse(reply);
        reading->failed = reading->failed || !reply;
        finish();
    });
}

void Gateway::measureProposalInbox(Worker &worker)
{
    // The inbox only the console drains: its length is the proposal backlog an alert watches.
    worker.primary->command({"LLEN", RedisSchema::kProposalInbox}, [this](const redisReply *reply, std::string_view) {
        const bool known = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0;
        m_metrics.setProposalInboxLength(known ? static_cast<double>(reply->integer) : std::nan(""));
    });
}

void Gateway::onCircuitTransition(std::string_view which, CircuitBreaker::State from, CircuitBreaker::State to,
                                  std::string_view reason)
{
    std::string line = std::string(which) + " circuit " + std::string(CircuitBreaker::stateName(from)) + " -> "
        + std::string(CircuitBreaker::stateName(to)) + ": " + std::string(reason);
    if (to == CircuitBreaker::State::Open) {
        line += which == "upstream" && m_secondaryBreaker ? "; misses go to the secondary upstream"
                                                          : "; misses get 503 until it recovers";
        Log::warn(line);
    } else {
        Log::info(line);
    }
}

void Gateway::onPrimarySwitch(const RedisUrl &from, const RedisUrl &to, std::string_view how)
{
    Log::info("primary switched " + from.redacted() + " -> " + to.redacted() + " (" + std::string(how) + ")");
    m_metrics.primarySwitch();
    for (std::size_t i = 0; i < m_workers.size(); ++i) {
        boost::asio::post(m_server.context(static_cast<int>(i)),
                          [w = m_workers[i].get(), host = to.host, port = to.port] {
                              w->primary->setAddress(host, port);
                          });
    }
    if (!m_config.fallbackReplica)
        m_fallbackSubscriber->setAddress(to.host, to.port); // on context 0, like the resolver
}

void Gateway::onMessage(std::string_view channel, std::string_view message, bool fromFallback)
{
    // Both subscriptions deliver every message; acting twice is harmless (drop, flush and drain are
    // idempotent), but the fallback's copy is only counted and logged while the replica's is missing.
    if (fromFallback && m_subscriber->isReady()) {
        if (channel == RedisSchema::kInvalidateChannel) {
            if (message == RedisSchema::kInvalidateAll) {
                if (m_hot)
                    m_hot->clear();
            } else if (CacheKey::isValid(message) && m_hot) {
                m_hot->invalidate(message);
            }
        }
        return;
    }
    m_metrics.invalidation();
    if (channel == RedisSchema::kInvalidateChannel) {
        if (m_semantic)
            m_semantic->onInvalidate(message); // its own connection reads the key's vector again
        if (message == RedisSchema::kInvalidateAll) {
            if (m_hot)
                m_hot->clear();
            Log::info("invalidate * : hot cache flushed");
        } else if (CacheKey::isValid(message)) {
            const bool dropped = m_hot && m_hot->invalidate(message);
            Log::info("invalidate " + std::string(message) + (dropped ? ": dropped from hot cache" : ": not cached"));
        } else {
            Log::warn("ignored invalidation message that is not a cache key");
        }
        return;
    }
    // Control: drain, undrain and flush addressed to this region or to all; the rest is for consoles.
    std::string why;
    const std::optional<ControlMessage> control = parseControlMessage(message, &why);
    if (!control) {
        Log::warn("ignored control message: " + why);
        return;
    }
    if (control->verb == ControlMessage::Verb::Promote) {
        // A claim, not a fact: followed only if allowed, ROLE master and no Sentinel majority disagrees.
        std::string host;
        int port = 0;
        if (parseHostPort(control->target, &host, &port))
            m_resolver->claim(host, port);
        else
            Log::warn("ignored promote control message: HOST:PORT expected");
        return;
    }
    if (!control->addressesRegion(m_config.region))
        return;
    if (control->verb == ControlMessage::Verb::Drain || control->verb == ControlMessage::Verb::Undrain) {
        const bool drain = control->verb == ControlMessage::Verb::Drain;
        m_draining.store(drain);
        Log::info(std::string(drain ? "drained" : "undrained") + " by control message: readyz answers "
                  + (drain ? "503" : "200"));
    } else if (control->verb == ControlMessage::Verb::Flush) {
        if (m_hot)
            m_hot->clear();
        Log::info("hot cache flushed by control message");
    }
}

void Gateway::sendError(HttpExchange &exchange, Worker &worker, int status, std::string_view code,
                        std::string_view message, std::string_view param, std::span<const HttpHeader> extra)
{
    m_metrics.error(status, code);
    const auto &req = exchange.request();
    // Refusals that come in floods (429, 503 while the circuit is open) are counted, not logged one by one:
    // their cause is logged once, when the breaker opens.
    if (status != 429 && code != "upstream_circuit_open") {
        // The path only: a query string may carry a credential.
        const std::string_view target = req.target();
        Log::warnRateLimited("HTTP " + std::to_string(status) + " " + std::string(code) + " "
                             + Log::printable(req.method_string(), 32) + " "
                             + Log::printable(target.substr(0, target.find('?')), 200) + ": " + std::string(message));
    }
    std::string &body = worker.scratch;
    body.clear();
    ChatResponseWriter::error(body, message, ChatResponseWriter::errorTypeFor(status), code, param);
    HttpHeader headers[8];
    std::size_t n = 0;
    headers[n++] = {"x-l0l3-region", m_config.region};
    for (const auto &h : extra) {
        if (n < 8)
            headers[n++] = h;
    }
    exchange.respond(status, "application/json", body, std::span<const HttpHeader>(headers, n));
}

void Gateway::sendDecisionError(HttpExchange &exchange, Worker &worker, const RouteDecision &d)
{
    HttpHeader extra[2];
    std::size_t n = 0;
    if (!d.allow.empty())
        extra[n++] = {"Allow", d.allow};
    if (!d.challenge.empty())
        extra[n++] = {"WWW-Authenticate", d.challenge};
    sendError(exchange, worker, d.status, d.code, d.message, d.param, std::span<const HttpHeader>(extra, n));
}

void Gateway::handle(HttpExchange exchange)
{
    const auto started = Clock::now();
    Worker &worker = *m_workers[static_cast<std::size_t>(exchange.thread())];
    const auto &req = exchange.request();

    const RouteDecision route = RequestRouter::route(req, exchange.readError(), m_routerOptions);
    switch (route.target) {
    case RouteDecision::Target::Error: sendDecisionError(exchange, worker, route); return;
    case RouteDecision::Target::Chat: handleChat(exchange, worker, started); return;
    case RouteDecision::Target::Health: exchange.respond(200, "application/json", "{\"status\":\"ok\"}"); return;
    case RouteDecision::Target::Ready:
        if (m_draining.load() || m_stopping.load())
            exchange.respond(503, "application/json", "{\"status\":\"draining\"}");
        else
            exchange.respond(200, "application/json", "{\"status\":\"ready\"}");
        return;
    case RouteDecision::Target::Metrics: {
        std::string &body = worker.scratch;
        body.clear();
        GatewayMetrics::Gauges gauges;
        gauges.hotCacheEntries = m_hot ? m_hot->size() : 0;
        gauges.hotCacheBytes = m_hot ? m_hot->bytes() : 0;
        gauges.draining = m_draining.load();
        gauges.circuitState = static_cast<int>(m_breaker.state());
        gauges.secondaryCircuitState = m_secondaryBreaker ? static_cast<int>(m_secondaryBreaker->state()) : -1;
        gauges.degradation = &m_degradation;
        const auto conns = m_server.connectionStats();
        gauges.openConnections = conns.open;
        gauges.rejectedConnections = conns.rejected;
        gauges.idleTimeouts = conns.idleTimeouts;
        gauges.readTimeouts = conns.readTimeouts;
        gauges.rateLimitClients = m_rateLimiter->activeClients();
        m_metrics.render(body, gauges);
        if (m_semantic)
            m_semantic->render(body);
        exchange.respond(200, "text/plain; version=0.0.4; charset=utf-8", body);
        return;
    }
    }
}

void Gateway::handleChat(HttpExchange &exchange, Worker &worker, Clock::time_point started)
{
    const auto &req = exchange.request();
    RouteDecision &d = worker.decision;

    // Who the request is charged to; with enforced keys, also its namespace.
    RequestRouter::Caller caller;
    if (!RequestRouter::authenticate(req, m_config.apiKeys.get(), exchange.remoteAddress(), &caller, &d)) {
        m_metrics.request(Tier::None, Outcome::Error, secondsSince(started));
        sendDecisionError(exchange, worker, d);
        return;
    }

    if (m_rateLimiter->enabled()) {
        RateLimiter::Decision decision = m_rateLimiter->check(caller.client);
        // An unverified token is free to change: its address pays too.
        if (decision.allowed && caller.peer != 0)
            decision = m_rateLimiter->check(caller.peer);
        if (!decision.allowed) {
            m_metrics.rateLimited();
            m_metrics.request(Tier::None, Outcome::Error, secondsSince(started));
            const std::int64_t retryAfterS = std::max<std::int64_t>(1, (decision.retryAfterMs + 999) / 1000);
            char retry[24];
            const auto res = std::to_chars(retry, retry + sizeof retry, retryAfterS);
            const HttpHeader extra[] = {
                {"Retry-After", std::string_view(retry, static_cast<std::size_t>(res.ptr - retry))}};
            sendError(exchange, worker, 429, "rate_limit_exceeded",
                      "Rate limit reached: " + formatNumber(m_config.rateLimit) + " requests per second (burst "
                          + formatNumber(m_config.rateBurst) + ") per API key or client. Retry after "
                          + std::to_string(retryAfterS) + " s.",
                      {}, extra);
            return;
        }
    }

    RequestRouter::prepareChat(d, req, worker.parser, m_routerOptions, caller.keyNamespace, &worker.memo);
    if (d.target != RouteDecision::Target::Chat) {
        m_metrics.request(Tier::None, Outcome::Error, secondsSince(started));
        sendDecisionError(exchange, worker, d);
        return;
    }
    // Any replica connection down (a hung replica shows on the busiest connection first): flag every answer.
    const bool degraded = !m_metrics.redisUp(GatewayMetrics::RedisRole::Replica);

    if (d.chat.singleTurn && !d.noCache) {
        if (auto answer = worker.chain->lookupHot(d.key)) {
            serveHit(exchange, worker, d.chat, d.key, *answer, Tier::HotCache, started, degraded);
            return;
        }
    }

    auto chat = pendingChat(worker, exchange, d, started, degraded);
    if (!chat->request.singleTurn) {
        chat->mode = Mode::Bypass;
        forwardUpstream(worker, std::move(chat));
        return;
    }
    if (d.noCache) {
        forwardUpstream(worker, std::move(chat));
        return;
    }
    worker.chain->lookupBeyondHot(chat->key, chat->ns, chat->request, [this, &worker, chat](TierChain::Result result) {
        chat->degraded = chat->degraded || result.fromFallback
            || !m_metrics.redisUp(GatewayMetrics::RedisRole::Replica);
        if (result.answer && result.tier == TierChain::Tier::Semantic) {
            char similarity[16];
            const int n = std::snprintf(similarity, sizeof similarity, "%.4f",
                                        static_cast<double>(result.l1Similarity));
            const HttpHeader extra[] = {
                {"x-l0l3-similarity", std::string_view(similarity, static_cast<std::size_t>(std::max(n, 0)))},
                {"x-l0l3-entry", result.l1Key},
            };
            serveHit(chat->exchange, worker, chat->request, chat->key, *result.answer, Tier::Semantic, chat->started,
                     chat->degraded, extra);
            sampleForReview(worker, *chat, result.l1Key, std::string_view(extra[0].value));
            return;
        }
        if (result.answer) {
            serveHit(chat->exchange, worker, chat->request, chat->key, *result.answer, Tier::Exact, chat->started,
                     chat->degraded);
            return;
        }
        chat->l1Key = std::move(result.l1Key);
        chat->l1Similarity = result.l1Similarity;
        forwardUpstream(worker, chat);
    });
}

void Gateway::sampleForReview(Worker &worker, const PendingChat &chat, std::string_view entry,
                              std::string_view similarity)
{
    const int every = m_config.semanticReviewSample;
    if (every <= 0 || m_l1Answers.fetch_add(1, std::memory_order_relaxed) % static_cast<std::uint64_t>(every) != 0)
        return;
    // The function refuses what is out of its bounds; the prompt is within them (L1 reads no longer one).
    worker.primary->command({"FCALL", ProposalFunction::kL1ReviewName, "0", chat.key, entry, similarity, chat.ns,
                             chat.request.user, m_config.region},
                            [](const redisReply *reply, std::string_view error) {
                                if (!reply || reply->type == REDIS_REPLY_ERROR)
                                    Log::warnRateLimited(
                                        "L1 review sample not written: "
                                        + (reply ? Log::printable(std::string_view(reply->str, reply->len), 200)
                                                 : std::string(error)));
                            });
}

std::shared_ptr<Gateway::PendingChat> Gateway::pendingChat(Worker &worker, HttpExchange &exchange,
                                                           RouteDecision &decision, Clock::time_point started,
                                                           bool degraded)
{
    std::unique_ptr<PendingChat> chat;
    if (worker.spareChats.empty()) {
        chat = std::make_unique<PendingChat>(exchange);
    } else {
        chat = std::move(worker.spareChats.back());
        worker.spareChats.pop_back();
        chat->exchange = exchange;
    }
    // The request outlives this call, so it takes the decision's strings; swapped, not moved, the
    // decision gets a finished request's strings back, capacity and all: the next parse allocates nothing.
    std::swap(chat->request, decision.chat);
    std::swap(chat->key, decision.key);
    std::swap(chat->ns, decision.ns);
    chat->mode = Mode::Miss;
    chat->noStore = decision.noStore;
    chat->started = started;
    chat->degraded = degraded;
    chat->permit = CircuitBreaker::Permit::Denied;
    chat->secondary = false;
    chat->l1Key.clear();
    chat->l1Similarity = 0.0f;
    // Released on the worker's thread (every callback holding it runs there).
    return std::shared_ptr<PendingChat>(chat.release(), [&worker](PendingChat *done) {
        constexpr std::size_t kMaxSpare = 256;
        constexpr std::size_t kMaxSpareBytes = 16 * 1024; // a huge prompt's buffers are not kept
        const ChatRequest &r = done->request;
        const std::size_t held = r.model.capacity() + r.system.capacity() + r.user.capacity() + r.lastUser.capacity()
            + r.responseFormat.capacity() + r.tools.capacity() + r.toolChoice.capacity() + r.bypassReason.capacity()
            + done->key.capacity() + done->ns.capacity();
        done->exchange = HttpExchange(nullptr); // the client's session is not kept alive by a spare
        if (worker.spareChats.size() < kMaxSpare && held <= kMaxSpareBytes)
            worker.spareChats.emplace_back(done);
        else
            delete done;
    });
}

void Gateway::serveHit(HttpExchange &exchange, Worker &worker, const ChatRequest &request, const std::string &key,
                       const CachedAnswer &answer, Tier tier, Clock::time_point started, bool degraded,
                       std::span<const HttpHeader> extra)
{
    ChatResponseWriter::IdBuffer id;
    const auto meta = ChatResponseWriter::newMeta(
        id, request.model, CachedAnswer::estimateTokens(request.system.size() + request.user.size()));
    std::string &body = worker.scratch;
    body.clear();
    if (request.stream)
        ChatResponseWriter::sse(body, meta, answer);
    else
        ChatResponseWriter::completion(body, meta, answer);
    HttpHeader headers[10] = {
        {"x-l0l3-cache", "hit"},       {"x-l0l3-tier", GatewayMetrics::tierName(tier)},
        {"x-l0l3-key", key},           {"x-l0l3-region", m_config.region},
        {"Cache-Control", "no-cache"}, {"x-l0l3-degraded", "replica_down"},
    };
    std::size_t n = degraded ? 6 : 5;
    for (const HttpHeader &h : extra.first(std::min<std::size_t>(extra.size(), 4)))
        headers[n++] = h;
    exchange.respond(200, request.stream ? "text/event-stream" : "application/json", body,
                     std::span<const HttpHeader>(headers, n));
    releaseIfOutsized(body);
    m_metrics.request(tier, Outcome::Hit, secondsSince(started));
    // An L1 hit answers with another entry than the request's key: only exact hits are counted.
    if (tier == Tier::HotCache || tier == Tier::Exact)
        worker.served->count(key);
}

void Gateway::forwardUpstream(Worker &worker, std::shared_ptr<PendingChat> chat)
{
    UpstreamClient *client = worker.upstream.get();
    chat->permit = m_breaker.allow();
    chat->secondary = false;
    if (chat->permit == CircuitBreaker::Permit::Denied && worker.secondary) {
        chat->permit = m_secondaryBreaker->allow();
        chat->secondary = true;
        client = worker.secondary.get();
        if (chat->permit != CircuitBreaker::Permit::Denied)
            m_metrics.secondaryUpstreamCall();
    }
    if (chat->permit == CircuitBreaker::Permit::Denied) {
        // Fast: no upstream call, no waiting for its timeout. Hits never get here.
        m_metrics.circuitRejected();
        m_metrics.request(Tier::Upstream, Outcome::Error, secondsSince(chat->started));
        const std::int64_t retryAfterS = std::max<std::int64_t>(1, (m_breaker.msUntilProbe() + 999) / 1000);
        char retry[24];
        const auto res = std::to_chars(retry, retry + sizeof retry, retryAfterS);
        const HttpHeader headers[] = {
            {"x-l0l3-cache", chat->mode == Mode::Bypass ? "bypass" : "miss"},
            {"x-l0l3-key", chat->key},
            {"Retry-After", std::string_view(retry, static_cast<std::size_t>(res.ptr - retry))},
            {"x-l0l3-degraded", "replica_down"},
        };
        sendError(chat->exchange, worker, 503, "upstream_circuit_open",
                  "The upstream model is unavailable (its circuit breaker is open) and "
                  "this request has no approved cached answer. Retry in "
                      + std::to_string(retryAfterS) + " s.",
                  {}, std::span<const HttpHeader>(headers, chat->degraded ? 4 : 3));
        return;
    }
    const auto &req = chat->exchange.request();
    std::string body = worker.parser.upstreamBody(req.body(), chat->request.stream);
    // With gateway keys the client's key is ours, not the upstream's: never pass it on.
    const std::string_view authorization = !m_upstreamAuthorization.empty() ? std::string_view(m_upstreamAuthorization)
        : m_config.apiKeys                                                  ? std::string_view()
                                                                            : req[http::field::authorization];
    chat->upstreamStarted = Clock::now();
    if (chat->request.stream) {
        UpstreamStreamer &streamer = chat->secondary ? *worker.secondaryStreams : *worker.upstreamStreams;
        forwardStream(worker, chat, streamer, std::move(body), authorization);
        return;
    }
    client->postChatCompletion(std::move(body), authorization, [this, &worker, chat](UpstreamClient::Result result) {
        onUpstream(worker, chat, std::move(result));
    });
}

void Gateway::relayUpstreamError(Worker &worker, PendingChat &chat, const UpstreamClient::Result &result,
                                 const std::optional<UpstreamError::RetryAfter> &retryAfter,
                                 std::span<const HttpHeader> headers)
{
    const int status = result.status;
    const std::string_view code = status == 429 ? "upstream_rate_limited" : "upstream_error";
    m_metrics.upstreamFailure();
    m_metrics.upstreamErrorStatus(status);
    m_metrics.error(status, code);
    m_metrics.request(Tier::Upstream, Outcome::Error, secondsSince(chat.started));
    Log::warnRateLimited("upstream answered " + std::to_string(status) + " for key " + chat.key
                         + (retryAfter ? ", Retry-After " + std::string(retryAfter->value) : std::string()));
    HttpHeader all[8];
    std::size_t n = 0;
    for (const HttpHeader &h : headers.first(std::min<std::size_t>(headers.size(), 7)))
        all[n++] = h;
    if (retryAfter)
        all[n++] = {"Retry-After", retryAfter->value};
    const std::span<const HttpHeader> out(all, n);
    if (UpstreamError::isPassableBody(result.body)) {
        chat.exchange.respond(status, "application/json", result.body, out);
        return;
    }
    std::string &body = worker.scratch;
    body.clear();
    ChatResponseWriter::error(body, "The upstream model answered " + std::to_string(status) + ".",
                              ChatResponseWriter::errorTypeFor(status), code);
    chat.exchange.respond(status, "application/json", body, out);
}

void Gateway::onUpstream(Worker &worker, const std::shared_ptr<PendingChat> &chat, UpstreamClient::Result result)
{
    const Clock::duration upstreamTime = Clock::now() - chat->upstreamStarted;
    const bool answered = result.failure == UpstreamClient::Failure::None;
    // Overload: a 429 or a 5xx, relayed to the client. A 4xx is the client's problem and says the upstream
    // is alive; overload and transport failures count against it.
    const bool overloaded = answered && (result.status == 429 || (result.status >= 500 && result.status <= 599));
    bool upstreamHealthy = answered && result.status < 500 && !overloaded;
    std::optional<UpstreamError::RetryAfter> retryAfter;
    if (overloaded)
        retryAfter = UpstreamError::parseRetryAfter(result.retryAfter, unixSeconds());
    if (!chat->secondary) {
        m_upstreamLatency.record(std::chrono::duration<double>(upstreamTime).count());
        // Under a latency SLO a slow probe is a failed one: the circuit does not close on an upstream still too slow.
        if (m_config.upstreamSloP99Ms > 0 && chat->permit == CircuitBreaker::Permit::Probe
            && upstreamTime > std::chrono::milliseconds(m_config.upstreamSloP99Ms))
            upstreamHealthy = false;
    }
    CircuitBreaker &breaker = chat->secondary ? *m_secondaryBreaker : m_breaker;
    // An upstream that said when to come back is left alone until then (bounded by the breaker): a 503 always,
    // a 429 only when it limits the gateway's own key; with clients' keys passed through it is one client's limit.
    const bool hold = retryAfter && retryAfter->seconds > 0
        && (result.status == 503 || (result.status == 429 && !m_upstreamAuthorization.empty()));
    if (hold)
        breaker.holdOff(chat->permit, retryAfter->seconds * 1000,
                        "upstream answered " + std::to_string(result.status) + " with Retry-After "
                            + std::string(retryAfter->value));
    else
        breaker.record(chat->permit, upstreamHealthy);

    const std::string_view cacheHeader = chat->mode == Mode::Bypass ? "bypass" : "miss";
    const HttpHeader allHeaders[] = {
        {"x-l0l3-cache", cacheHeader},      {"x-l0l3-tier", "L3"},         {"x-l0l3-key", chat->key},
        {"x-l0l3-region", m_config.region}, {"Cache-Control", "no-cache"}, {"x-l0l3-degraded", "replica_down"},
    };
    const std::span<const HttpHeader> headers(allHeaders, chat->degraded ? 6 : 5);
    auto fail = [&](int status, std::string_view code, std::string message) {
        m_metrics.upstreamFailure();
        m_metrics.request(Tier::Upstream, Outcome::Error, secondsSince(chat->started));
        sendError(chat->exchange, worker, status, code, message, {}, headers);
    };
    if (result.failure == UpstreamClient::Failure::Timeout) {
        fail(504, "upstream_timeout", "The upstream model did not answer in time.");
        return;
    }
    if (result.failure != UpstreamClient::Failure::None) {
        fail(502, "upstream_unavailable", "The upstream model is unreachable: " + result.error);
        return;
    }
    if (overloaded) {
        relayUpstreamError(worker, *chat, result, retryAfter, headers);
        return;
    }
    if (result.status >= 400 && result.status < 500) {
        // The client's own problem (bad key, bad model...): pass the upstream's answer through.
        m_metrics.upstreamErrorStatus(result.status);
        m_metrics.error(result.status, "upstream_client_error");
        m_metrics.request(Tier::Upstream, Outcome::Error, secondsSince(chat->started));
        Log::warnRateLimited("upstream answered " + std::to_string(result.status) + " for key " + chat->key);
        chat->exchange.respond(result.status, "application/json", result.body, headers);
        return;
    }
    if (result.status != 200) {
        fail(502, "upstream_error", "The upstream model answered HTTP " + std::to_string(result.status) + ".");
        return;
    }
    auto answer = UpstreamAnswer::parse(result.body);
    if (!answer) {
        fail(502, "upstream_invalid_response", "The upstream model answered something that is not a chat completion.");
        return;
    }

    if (chat->request.stream) {
        auto cached = CachedAnswer::fromContent(answer->content);
        if (answer->completionTokens > 0)
            cached->completionTokens = answer->completionTokens;
        ChatResponseWriter::IdBuffer id;
        const auto meta = ChatResponseWriter::newMeta(id, chat->request.model, answer->promptTokens);
        std::string &body = worker.scratch;
        body.clear();
        ChatResponseWriter::sse(body, meta, *cached);
        chat->exchange.respond(200, "text/event-stream", body, headers);
        releaseIfOutsized(body);
    } else {
        chat->exchange.respond(200, "application/json", result.body, headers);
    }
    m_metrics.request(Tier::Upstream, chat->mode == Mode::Bypass ? Outcome::Bypass : Outcome::Miss,
                      secondsSince(chat->started));
    if (chat->mode == Mode::Miss)
        m_metrics.missOverhead(std::chrono::duration<double>(Clock::now() - chat->started - upstreamTime).count());

    if (chat->mode != Mode::Miss || chat->noStore || !answer->hasTextContent || answer->content.empty())
        return;
    Proposal proposal;
    proposal.key = chat->key;
    proposal.ns = chat->ns;
    proposal.system = chat->request.system;
    proposal.prompt = chat->request.user;
    proposal.response = std::move(answer->content);
    proposal.model = CacheKey::modelFamily(chat->request.model);
    proposal.region = m_config.region;
    proposal.upstreamMs = result.latencyMs;
    proposal.promptTokens = answer->promptTokens;
    proposal.completionTokens = answer->completionTokens;
    proposal.responseFormat = chat->request.responseFormat;
    proposal.tools = chat->request.tools;
    proposal.toolChoice = chat->request.toolChoice;
    proposal.l1Key = chat->l1Key;
    proposal.l1Similarity = chat->l1Similarity;
    worker.proposer->propose(std::move(proposal));
}

// What a streamed miss keeps while its events go by.
struct Gateway::StreamedMiss
{
    explicit StreamedMiss(std::size_t maxContentBytes)
        : answer(maxContentBytes)
    {
    }
    SseAnswer answer;
    bool finished = false;
    std::weak_ptr<UpstreamStreamer::Call> call;
    // The gateway's own time (l0l3_gateway_overhead_seconds): up to the upstream call, then passing
    // the head and each event on; the upstream's waits in between are not counted.
    Clock::duration overhead{};
};

void Gateway::forwardStream(Worker &worker, const std::shared_ptr<PendingChat> &chat, UpstreamStreamer &streamer,
                            std::string body, std::string_view authorization)
{
    auto stream = std::make_shared<StreamedMiss>(m_config.upstream.maxResponseBytes);
    UpstreamStreamer::Handler handler;
    // No stream (a failure before the head, an error status, or a whole answer): as a buffered call.
    handler.answered = [this, &worker, chat](UpstreamClient::Result result) {
        onUpstream(worker, chat, std::move(result));
    };
    handler.started = [this, &worker, chat, stream] {
        const Clock::time_point began = Clock::now();
        const HttpHeader headers[] = {
            {"x-l0l3-cache", chat->mode == Mode::Bypass ? "bypass" : "miss"},
            {"x-l0l3-tier", "L3"},
            {"x-l0l3-key", chat->key},
            {"x-l0l3-region", m_config.region},
            {"Cache-Control", "no-cache"},
            {"x-l0l3-degraded", "replica_down"},
        };
        chat->exchange.beginStream(200, "text/event-stream",
                                   std::span<const HttpHeader>(headers, chat->degraded ? 6 : 5));
        // A client that leaves, even while the upstream is silent (before its first token), cancels it.
        chat->exchange.onClientGone([this, &worker, chat, stream] {
            UpstreamStreamer::cancel(stream->call.lock());
            finishStream(worker, *chat, *stream, StreamEnd::ClientGone, "the client went away");
        });
        stream->overhead += Clock::now() - began;
    };
    // Each event is passed on as soon as it is whole and parsed; a client gone cancels the upstream's
    // generation (returning false closes its connection).
    handler.event = [this, &worker, chat, stream](std::string_view event) {
        const Clock::time_point began = Clock::now();
        if (!chat->exchange.clientConnected()) {
            finishStream(worker, *chat, *stream, StreamEnd::ClientGone, "the client went away");
            return false;
        }
        switch (stream->answer.add(event)) {
        case SseAnswer::Kind::Forward:
            chat->exchange.writeChunk(event);
            if (chat->exchange.queuedBytes() > kStreamClientBacklogBytes && chat->exchange.clientConnected()) {
                UpstreamStreamer::pause(stream->call.lock());
                chat->exchange.onDrained(kStreamClientBacklogBytes / 2,
                                         [stream] { UpstreamStreamer::resume(stream->call.lock()); });
            }
            stream->overhead += Clock::now() - began;
            return true;
        case SseAnswer::Kind::Done:
            chat->exchange.writeChunk(event);
            chat->exchange.endStream();
            stream->overhead += Clock::now() - began;
            finishStream(worker, *chat, *stream, StreamEnd::Done, {});
            return false;
        case SseAnswer::Kind::Invalid: break;
        }
        finishStream(worker, *chat, *stream, StreamEnd::Invalid, "an event is not JSON");
        return false;
    };
    handler.ended = [this, &worker, chat, stream](UpstreamStreamer::End end, std::string why) {
        const StreamEnd how = end == UpstreamStreamer::End::Timeout ? StreamEnd::Timeout
            : end == UpstreamStreamer::End::Oversize                ? StreamEnd::Oversize
            : end == UpstreamStreamer::End::Truncated               ? StreamEnd::Truncated
                                                                    : StreamEnd::Failed;
        finishStream(worker, *chat, *stream, how, why);
    };
    stream->call = streamer.post(std::move(body), authorization, std::move(handler));
    stream->overhead = Clock::now() - chat->started;
}

void Gateway::finishStream(Worker &worker, PendingChat &chat, StreamedMiss &stream, StreamEnd end, std::string_view why)
{
    if (stream.finished)
        return;
    stream.finished = true;
    // The upstream answered and streamed: a client that left, or an answer over the budget, is not its failure.
    const bool healthy = end == StreamEnd::Done || end == StreamEnd::ClientGone || end == StreamEnd::Oversize;
    (chat.secondary ? *m_secondaryBreaker : m_breaker).record(chat.permit, healthy);
    if (end != StreamEnd::Done) {
        if (end != StreamEnd::ClientGone) {
            m_metrics.upstreamFailure();
            Log::warnRateLimited("upstream stream for key " + chat.key + " ended early: " + std::string(why));
            // The client is told, in the stream (its head went out already); no [DONE] follows.
            std::string event;
            const std::string_view code = end == StreamEnd::Timeout ? "upstream_timeout"
                : end == StreamEnd::Oversize                        ? "upstream_response_too_large"
                : end == StreamEnd::Invalid                         ? "upstream_invalid_response"
                                                                    : "upstream_stream_truncated";
            ChatResponseWriter::sseError(event, "The upstream model's stream ended early: " + std::string(why) + ".",
                                         code);
            chat.exchange.writeChunk(event);
            chat.exchange.endStream();
        }
        m_metrics.request(Tier::Upstream, Outcome::Error, secondsSince(chat.started));
        return;
    }
    m_metrics.request(Tier::Upstream, chat.mode == Mode::Bypass ? Outcome::Bypass : Outcome::Miss,
                      secondsSince(chat.started));
    if (chat.mode == Mode::Miss)
        m_metrics.missOverhead(std::chrono::duration<double>(stream.overhead).count());
    // Only a plain-text, single-choice answer that completed normally is proposed.
    if (chat.mode != Mode::Miss || chat.noStore || !stream.answer.proposable())
        return;
    Proposal proposal;
    proposal.key = chat.key;
    proposal.ns = chat.ns;
    proposal.system = chat.request.system;
    proposal.prompt = chat.request.user;
    proposal.response = stream.answer.takeContent();
    proposal.model = CacheKey::modelFamily(chat.request.model);
    proposal.region = m_config.region;
    proposal.upstreamMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - chat.upstreamStarted).count();
    proposal.promptTokens = stream.answer.promptTokens();
    proposal.completionTokens = stream.answer.completionTokens();
    proposal.responseFormat = chat.request.responseFormat;
    proposal.tools = chat.request.tools;
    proposal.toolChoice = chat.request.toolChoice;
    proposal.l1Key = chat.l1Key;
    proposal.l1Similarity = chat.l1Similarity;
    worker.proposer->propose(std::move(proposal));
}

} // namespace l0l3
