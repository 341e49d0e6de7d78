#include "core/gateway/gateway.h"

#include "core/common/cachekey.h"
#include "core/common/redisschema.h"
#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatresponsewriter.h"
#include "core/gateway/hotcache.h"
#include "core/gateway/log.h"
#include "core/gateway/proposer.h"
#include "core/gateway/redisconnection.h"
#include "core/gateway/upstreamanswer.h"
#include "core/gateway/upstreamclient.h"

#include <boost/asio/post.hpp>
#include <boost/beast/http/field.hpp>

#include <xxhash.h>

#include <csignal>
#include <ctime>

namespace l0l3 {

namespace http = boost::beast::http;
using Tier = GatewayMetrics::Tier;
using Outcome = GatewayMetrics::Outcome;

struct Gateway::Worker
{
    ChatRequestParser parser;
    std::unique_ptr<RedisConnection> replica;
    std::unique_ptr<RedisConnection> primary;
    std::unique_ptr<UpstreamClient> upstream;
    std::unique_ptr<TierChain> chain;
    std::unique_ptr<Proposer> proposer;
    std::string scratch; // response body buffer, reused
};

// A chat request waiting for L0 or the upstream.
struct Gateway::PendingChat
{
    HttpExchange exchange;
    ChatRequest request;
    std::string key;
    std::string ns;
    Mode mode = Mode::Miss;
    bool noStore = false;
    Clock::time_point started;
};

namespace {

bool iequals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

std::string_view trimmed(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool isJsonContentType(std::string_view ct)
{
    const std::string_view media = trimmed(ct.substr(0, ct.find(';')));
    return iequals(media, "application/json");
}

// Cache-Control directives, comma-separated, case-insensitive.
bool hasDirective(std::string_view header, std::string_view directive)
{
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view token = trimmed(header.substr(0, comma));
        token = token.substr(0, token.find('='));
        if (iequals(trimmed(token), directive))
            return true;
        if (comma == std::string_view::npos)
            break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

bool validNamespace(std::string_view ns)
{
    if (ns.empty() || ns.size() > 128)
        return false;
    for (char c : ns) {
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

double secondsSince(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

} // namespace

Gateway::Gateway(GatewayConfig config)
    : m_config(std::move(config))
    , m_metrics(m_config.region)
    , m_server(HttpServer::Options{m_config.listenHost, m_config.listenPort, m_config.threads, m_config.maxBodyBytes,
                                   16 * 1024, 75},
               [this](HttpExchange exchange) { handle(std::move(exchange)); })
{
    if (m_config.hotCacheEnabled && m_config.hotCacheEntries > 0) {
        HotCache::Options options;
        options.maxEntries = m_config.hotCacheEntries;
        options.maxBytes = m_config.hotCacheBytes;
        options.ttlMs = m_config.hotCacheTtlSeconds * 1000;
        m_hot = std::make_unique<HotCache>(options);
    }
}

Gateway::~Gateway()
{
    // Connections first: their contexts (owned by m_server) must still exist.
    m_subscriber.reset();
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
    for (int i = 0; i < m_server.threadCount(); ++i) {
        auto w = std::make_unique<Worker>();
        auto &ctx = m_server.context(i);
        w->replica = std::make_unique<RedisConnection>(
            ctx, RedisConnection::Options{m_config.replica, "replica", m_config.redisTimeoutMs, 2000, 2000});
        w->primary = std::make_unique<RedisConnection>(
            ctx, RedisConnection::Options{m_config.primary, "primary", std::max(m_config.redisTimeoutMs, 2000), 2000, 2000});
        for (auto [conn, role] : {std::pair{w->replica.get(), GatewayMetrics::RedisRole::Replica},
                                  std::pair{w->primary.get(), GatewayMetrics::RedisRole::Primary}}) {
            m_metrics.addRedisConnection(role);
            conn->setStateCallback([this, role = role](bool up) { m_metrics.redisConnected(role, up); });
        }
        w->upstream = std::make_unique<UpstreamClient>(ctx, m_config.upstream);
        w->chain = std::make_unique<TierChain>(m_hot.get(), *w->replica, m_metrics);
        w->proposer = std::make_unique<Proposer>(*w->primary, m_metrics, m_config.region);
        m_workers.push_back(std::move(w));
    }
    m_subscriber = std::make_unique<RedisConnection>(
        m_server.context(0), RedisConnection::Options{m_config.replica, "subscriber", m_config.redisTimeoutMs, 2000, 2000});
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
        });
    for (auto &w : m_workers) {
        w->replica->start();
        w->primary->start();
    }
    m_subscriber->start();

    m_signals = std::make_unique<boost::asio::signal_set>(m_server.context(0), SIGINT, SIGTERM);
    m_signals->async_wait([this](boost::system::error_code ec, int signo) {
        if (ec)
            return;
        Log::info(std::string("received ") + (signo == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
        requestStop();
    });
    Log::info("l0l3-gateway region=" + m_config.region + " threads=" + std::to_string(m_server.threadCount())
              + " replica=" + m_config.replica.redacted() + " primary=" + m_config.primary.redacted()
              + " upstream=" + m_config.upstreamUrl + " hot_cache=" + (m_hot ? "on" : "off"));
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
        if (m_signals)
            m_signals->cancel();
        m_server.stop();
        return;
    }
    m_stopTimer->expires_after(std::chrono::milliseconds(20));
    m_stopTimer->async_wait([this, deadline](boost::system::error_code ec) {
        if (!ec)
            waitForDrain(deadline);
    });
}

void Gateway::onMessage(std::string_view channel, std::string_view message)
{
    m_metrics.invalidation();
    if (channel == RedisSchema::kInvalidateChannel) {
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
    // Control: "drain REGION", "undrain REGION", "flush [REGION]"; others are for the console.
    const auto space = message.find(' ');
    const std::string_view verb = message.substr(0, space);
    const std::string_view target = space == std::string_view::npos ? std::string_view() : trimmed(message.substr(space + 1));
    const bool forUs = target.empty() || target == m_config.region || target == "*" || target == "all";
    if ((verb == "drain" || verb == "undrain") && forUs && !target.empty()) {
        m_draining.store(verb == "drain");
        Log::info(std::string(verb == "drain" ? "drained" : "undrained") + " by control message: readyz answers "
                  + (verb == "drain" ? "503" : "200"));
    } else if (verb == "flush" && forUs) {
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
    Log::warn("HTTP " + std::to_string(status) + " " + std::string(code) + " " + std::string(req.method_string()) + " "
              + std::string(req.target().substr(0, 200)) + ": " + std::string(message));
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

void Gateway::handle(HttpExchange exchange)
{
    const auto started = Clock::now();
    Worker &worker = *m_workers[static_cast<std::size_t>(exchange.thread())];
    const auto &req = exchange.request();

    if (exchange.readError() == HttpReadError::BodyTooLarge) {
        sendError(exchange, worker, 413, "body_too_large",
                  "Request body exceeds " + std::to_string(m_config.maxBodyBytes) + " bytes.");
        return;
    }
    if (exchange.readError() == HttpReadError::Malformed) {
        sendError(exchange, worker, 400, "bad_request", "Malformed HTTP request.");
        return;
    }

    std::string_view path = req.target();
    path = path.substr(0, path.find('?'));
    const auto method = req.method();
    const bool isGet = method == http::verb::get || method == http::verb::head;

    if (path == "/v1/chat/completions") {
        if (method != http::verb::post) {
            const HttpHeader allow[] = {{"Allow", "POST"}};
            sendError(exchange, worker, 405, "method_not_allowed", "Use POST for /v1/chat/completions.", {}, allow);
            return;
        }
        handleChat(exchange, worker, started);
        return;
    }
    if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
        if (!isGet) {
            const HttpHeader allow[] = {{"Allow", "GET, HEAD"}};
            sendError(exchange, worker, 405, "method_not_allowed", "Use GET for " + std::string(path) + ".", {}, allow);
            return;
        }
        if (path == "/healthz") {
            exchange.respond(200, "application/json", "{\"status\":\"ok\"}");
        } else if (path == "/readyz") {
            if (m_draining.load() || m_stopping.load())
                exchange.respond(503, "application/json", "{\"status\":\"draining\"}");
            else
                exchange.respond(200, "application/json", "{\"status\":\"ready\"}");
        } else {
            std::string &body = worker.scratch;
            body.clear();
            GatewayMetrics::Gauges gauges;
            gauges.hotCacheEntries = m_hot ? m_hot->size() : 0;
            gauges.hotCacheBytes = m_hot ? m_hot->bytes() : 0;
            gauges.draining = m_draining.load();
            m_metrics.render(body, gauges);
            exchange.respond(200, "text/plain; version=0.0.4; charset=utf-8", body);
        }
        return;
    }
    sendError(exchange, worker, 404, "not_found", "Unknown path " + std::string(path.substr(0, 200)) + ".");
}

void Gateway::handleChat(HttpExchange &exchange, Worker &worker, Clock::time_point started)
{
    const auto &req = exchange.request();
    if (!isJsonContentType(req[http::field::content_type])) {
        m_metrics.request(Tier::None, Outcome::Error, secondsSince(started));
        sendError(exchange, worker, 415, "unsupported_media_type", "Content-Type must be application/json.");
        return;
    }
    ChatRequest request;
    ChatRequestError error;
    if (!worker.parser.parse(req.body(), &request, &error)) {
        m_metrics.request(Tier::None, Outcome::Error, secondsSince(started));
        sendError(exchange, worker, error.status, error.code, error.message, error.param);
        return;
    }

    std::string ns;
    if (const auto it = req.find("x-l0l3-namespace"); it != req.end()) {
        if (!validNamespace(it->value())) {
            m_metrics.request(Tier::None, Outcome::Error, secondsSince(started));
            sendError(exchange, worker, 400, "invalid_namespace",
                      "x-l0l3-namespace must be 1 to 128 printable ASCII characters.", "x-l0l3-namespace");
            return;
        }
        ns.assign(it->value());
    } else if (const std::string_view auth = req[http::field::authorization];
               auth.size() > 7 && iequals(auth.substr(0, 7), "Bearer ")) {
        ns = namespaceForApiKey(trimmed(auth.substr(7)));
    } else {
        ns = m_config.namespaceDefault;
    }

    const std::string_view cacheControl = req[http::field::cache_control];
    const bool noCache = hasDirective(cacheControl, "no-cache");
    const bool noStore = hasDirective(cacheControl, "no-store");

    CacheKeyInput input;
    input.ns = ns;
    input.system = request.system;
    input.user = request.singleTurn ? request.user : request.lastUser;
    input.model = request.model;
    input.responseFormat = request.responseFormat;
    input.tools = request.tools;
    input.toolChoice = request.toolChoice;
    std::string key = CacheKey::derive(input);

    if (request.singleTurn && !noCache) {
        if (auto answer = worker.chain->lookupHot(key)) {
            serveHit(exchange, worker, request, key, *answer, Tier::HotCache, started);
            return;
        }
    }

    auto chat = std::make_shared<PendingChat>(PendingChat{exchange, std::move(request), std::move(key), std::move(ns),
                                                          Mode::Miss, noStore, started});
    if (!chat->request.singleTurn) {
        chat->mode = Mode::Bypass;
        forwardUpstream(worker, std::move(chat));
        return;
    }
    if (noCache) {
        forwardUpstream(worker, std::move(chat));
        return;
    }
    worker.chain->lookupBeyondHot(chat->key, chat->request, [this, &worker, chat](TierChain::Result result) {
        if (result.answer) {
            serveHit(chat->exchange, worker, chat->request, chat->key, *result.answer, Tier::Exact, chat->started);
            return;
        }
        forwardUpstream(worker, chat);
    });
}

void Gateway::serveHit(HttpExchange &exchange, Worker &worker, const ChatRequest &request, const std::string &key,
                       const CachedAnswer &answer, Tier tier, Clock::time_point started)
{
    const std::string id = ChatResponseWriter::newId();
    ChatResponseWriter::Meta meta;
    meta.id = id;
    meta.created = static_cast<std::int64_t>(std::time(nullptr));
    meta.model = request.model;
    meta.promptTokens = CachedAnswer::estimateTokens(request.system.size() + request.user.size());
    std::string &body = worker.scratch;
    body.clear();
    if (request.stream)
        ChatResponseWriter::sse(body, meta, answer);
    else
        ChatResponseWriter::completion(body, meta, answer);
    const HttpHeader headers[] = {
        {"x-l0l3-cache", "hit"},
        {"x-l0l3-tier", GatewayMetrics::tierName(tier)},
        {"x-l0l3-key", key},
        {"x-l0l3-region", m_config.region},
        {"Cache-Control", "no-cache"},
    };
    exchange.respond(200, request.stream ? "text/event-stream" : "application/json", body, headers);
    m_metrics.request(tier, Outcome::Hit, secondsSince(started));
}

void Gateway::forwardUpstream(Worker &worker, std::shared_ptr<PendingChat> chat)
{
    const auto &req = chat->exchange.request();
    std::string body = worker.parser.upstreamBody(req.body());
    worker.upstream->postChatCompletion(std::move(body), req[http::field::authorization],
                                        [this, &worker, chat](UpstreamClient::Result result) {
                                            onUpstream(worker, chat, std::move(result));
                                        });
}

void Gateway::onUpstream(Worker &worker, const std::shared_ptr<PendingChat> &chat, UpstreamClient::Result result)
{
    const std::string_view cacheHeader = chat->mode == Mode::Bypass ? "bypass" : "miss";
    const HttpHeader headers[] = {
        {"x-l0l3-cache", cacheHeader},
        {"x-l0l3-tier", "L3"},
        {"x-l0l3-key", chat->key},
        {"x-l0l3-region", m_config.region},
        {"Cache-Control", "no-cache"},
    };
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
    if (result.status >= 400 && result.status < 500) {
        // The client's own problem (bad key, bad model...): pass the upstream's answer through.
        m_metrics.error(result.status, "upstream_client_error");
        m_metrics.request(Tier::Upstream, Outcome::Error, secondsSince(chat->started));
        Log::warn("upstream answered " + std::to_string(result.status) + " for key " + chat->key);
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
        const std::string id = ChatResponseWriter::newId();
        ChatResponseWriter::Meta meta;
        meta.id = id;
        meta.created = static_cast<std::int64_t>(std::time(nullptr));
        meta.model = chat->request.model;
        meta.promptTokens = answer->promptTokens;
        std::string &body = worker.scratch;
        body.clear();
        ChatResponseWriter::sse(body, meta, *cached);
        chat->exchange.respond(200, "text/event-stream", body, headers);
    } else {
        chat->exchange.respond(200, "application/json", result.body, headers);
    }
    m_metrics.request(Tier::Upstream, chat->mode == Mode::Bypass ? Outcome::Bypass : Outcome::Miss,
                      secondsSince(chat->started));

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
    worker.proposer->propose(std::move(proposal));
}

} // namespace l0l3
