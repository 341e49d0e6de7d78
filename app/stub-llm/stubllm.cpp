#include "app/stub-llm/stubllm.h"

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/field.hpp>
#include <xxhash.h>

#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatresponsewriter.h"

namespace l0l3 {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kSentences[] = {
    "The short answer is yes, with a few caveats worth checking first.",
    "Most people get there fastest by starting with the official documentation.",
    "It depends on your constraints, but the simplest option usually wins.",
    "Restarting the service resolves this in the large majority of cases.",
    "You can change it under Settings, then Account, then Preferences.",
    "Our support team answers within one business day.",
    "Refunds are processed within five to seven business days.",
    "Measure before optimising: the bottleneck is rarely where you expect.",
    "Keep a backup before you make the change, just in case.",
    "The feature is available on every plan, including the free one.",
    "This usually means the network connection timed out; try again shortly.",
    "A good rule of thumb is to start small and iterate.",
};
constexpr std::size_t kSentenceCount = sizeof(kSentences) / sizeof(kSentences[0]);

HttpServer::Options serverOptions(const StubLlm::Options &options)
{
    HttpServer::Options o{options.host, options.port, options.threads, 4u << 20, 16 * 1024, 75000};
    o.tls = options.tls;
    return o;
}

} // namespace

StubLlm::StubLlm(Options options)
    : m_options(std::move(options))
    , m_server(serverOptions(m_options), [this](HttpExchange exchange) { handle(std::move(exchange)); })
    , m_rng(m_options.seed)
{
    for (int i = 0; i < m_server.threadCount(); ++i)
        m_parsers.push_back(std::make_unique<ChatRequestParser>());
}

bool StubLlm::start(std::string *error)
{
    if (!m_server.listen(error))
        return false;
    m_signals = std::make_unique<boost::asio::signal_set>(m_server.context(0), SIGINT, SIGTERM);
    m_signals->async_wait([this](boost::system::error_code ec, int) {
        if (!ec)
            m_server.stop();
    });
    return true;
}

std::string StubLlm::answerFor(std::string_view prompt)
{
    const std::uint64_t h = XXH3_64bits(prompt.data(), prompt.size());
    char tag[9];
    std::snprintf(tag, sizeof tag, "%08x", static_cast<unsigned>(h >> 32));
    std::string out = "Stub answer (#";
    out.append(tag, 8);
    out.append("): ");
    out.append(kSentences[h % kSentenceCount]);
    out.push_back(' ');
    out.append(kSentences[(h / kSentenceCount + 1 + h % (kSentenceCount - 1)) % kSentenceCount]);
    return out;
}

int StubLlm::drawLatencyMs()
{
    if (m_options.jitterMs <= 0)
        return m_options.latencyMs;
    std::lock_guard lock(m_rngMutex);
    // Exponential jitter (mean jitterMs) capped at 20x: a long tail, like real models.
    std::exponential_distribution<double> dist(1.0 / m_options.jitterMs);
    const double jitter = std::min(dist(m_rng), 20.0 * m_options.jitterMs);
    return m_options.latencyMs + static_cast<int>(jitter);
}

bool StubLlm::drawFailure()
{
    std::lock_guard lock(m_rngMutex);
    if (m_options.failRate <= 0)
        return false;
    return std::uniform_real_distribution<double>(0, 1)(m_rng) < m_options.failRate;
}

void StubLlm::handle(HttpExchange exchange)
{
    const auto &req = exchange.request();
    std::string_view path = req.target();
    path = path.substr(0, path.find('?'));
    auto error = [&](int status, std::string_view code, std::string_view message) {
        std::string body;
        ChatResponseWriter::error(body, message, ChatResponseWriter::errorTypeFor(status), code);
        exchange.respond(status, "application/json", body);
    };
    if (exchange.readError() != HttpReadError::None) {
        error(exchange.readError() == HttpReadError::BodyTooLarge ? 413 : 400, "bad_request", "Unreadable request.");
        return;
    }
    if (path == "/healthz") {
        exchange.respond(200, "application/json", "{\"status\":\"ok\"}");
        return;
    }
    if (path == "/admin/fail-rate") {
        // Fault injection for tests: POST a number in [0, 1] to change --fail-rate at run time.
        if (req.method() != http::verb::post) {
            error(405, "method_not_allowed", "Use POST.");
            return;
        }
        const std::string text(req.body());
        char *end = nullptr;
        const double rate = std::strtod(text.c_str(), &end);
        if (text.empty() || !end || *end != '\0' || !(rate >= 0 && rate <= 1)) {
            error(400, "invalid_value", "The body must be a number from 0 to 1.");
            return;
        }
        {
            std::lock_guard lock(m_rngMutex);
            m_options.failRate = rate;
        }
        exchange.respond(200, "application/json", "{\"fail_rate\":" + text + "}");
        return;
    }
    if (path == "/stats") {
        exchange.respond(200, "application/json", "{\"requests\":" + std::to_string(m_requests.load()) + "}");
        return;
    }
    if (path != "/v1/chat/completions") {
        error(404, "not_found", "Unknown path.");
        return;
    }
    if (req.method() != http::verb::post) {
        error(405, "method_not_allowed", "Use POST.");
        return;
    }
    m_requests.fetch_add(1);
    ChatRequest request;
    ChatRequestError parseError;
    if (!m_parsers[static_cast<std::size_t>(exchange.thread())]->parse(req.body(), &request, &parseError)) {
        error(parseError.status, parseError.code, parseError.message);
        return;
    }
    const int latency = drawLatencyMs();
    const bool fail = drawFailure();
    std::string model = request.model.empty() ? std::string("stub-model") : request.model;
    std::string prompt = request.lastUser;
    if (latency <= 0) {
        answer(std::move(exchange), std::move(model), std::move(prompt), request.stream, fail);
        return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(exchange.context(), std::chrono::milliseconds(latency));
    timer->async_wait([this, timer, exchange, model = std::move(model), prompt = std::move(prompt),
                       stream = request.stream, fail](boost::system::error_code) mutable {
        answer(std::move(exchange), std::move(model), std::move(prompt), stream, fail);
    });
}

void StubLlm::answer(HttpExchange exchange, std::string model, std::string prompt, bool stream, bool fail)
{
    if (fail) {
        std::string body;
        ChatResponseWriter::error(body, "Stub failure (configured --fail-rate).", "server_error", "stub_failure");
        exchange.respond(500, "application/json", body);
        return;
    }
    const auto content = CachedAnswer::fromContent(answerFor(prompt));
    const std::string id = ChatResponseWriter::newId();
    ChatResponseWriter::Meta meta;
    meta.id = id;
    meta.created = static_cast<std::int64_t>(std::time(nullptr));
    meta.model = model;
    meta.promptTokens = CachedAnswer::estimateTokens(prompt.size());
    std::string body;
    if (!stream) {
        ChatResponseWriter::completion(body, meta, *content);
        exchange.respond(200, "application/json", body);
        return;
    }
    // Really streamed: one chunk per event, a little apart, as a model would.
    ChatResponseWriter::sse(body, meta, *content);
    auto events = std::make_shared<std::vector<std::string>>();
    std::size_t start = 0;
    while (start < body.size()) {
        const auto end = body.find("\n\n", start);
        const auto stop = end == std::string::npos ? body.size() : end + 2;
        events->push_back(body.substr(start, stop - start));
        start = stop;
    }
    const HttpHeader headers[] = {{"Cache-Control", "no-cache"}};
    exchange.beginStream(200, "text/event-stream", headers);
    streamEvents(std::move(exchange), std::move(events), 0);
}

void StubLlm::streamEvents(HttpExchange exchange, std::shared_ptr<std::vector<std::string>> events, std::size_t next)
{
    if (next >= events->size() || !exchange.clientConnected()) {
        exchange.endStream();
        return;
    }
    exchange.writeChunk((*events)[next]);
    auto timer = std::make_shared<boost::asio::steady_timer>(exchange.context(), std::chrono::milliseconds(2));
    timer->async_wait([this, timer, exchange, events, next](boost::system::error_code) mutable {
        streamEvents(std::move(exchange), std::move(events), next + 1);
    });
}

} // namespace l0l3
