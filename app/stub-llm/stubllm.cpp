#include "app/stub-llm/stubllm.h"

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/field.hpp>
#include <xxhash.h>

#include "core/common/embeddingsapi.h"
#include "core/common/jsonwriter.h"
#include "core/common/lexicalembedder.h"
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

// Magic prompts for tests: a stream cut off halfway (the connection dropped), a tool-call stream.
constexpr std::string_view kAbortStreamPrompt = "[stub:abort-stream]";
constexpr std::string_view kToolCallPrompt = "[stub:tool-call]";

// stream_options.include_usage in a request body; test equipment, so a plain look for the field.
bool wantsUsage(std::string_view body)
{
    const auto at = body.find("\"include_usage\"");
    if (at == std::string_view::npos)
        return false;
    std::string_view rest = body.substr(at + 15);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ':' || rest.front() == '\t'))
        rest.remove_prefix(1);
    return rest.substr(0, 4) == "true";
}

// data: {chat.completion.chunk with this delta and finish_reason}\n\n
std::string chunkEvent(const ChatResponseWriter::Meta &meta, std::string_view delta, std::string_view finishReason)
{
    std::string out = "data: {\"id\":\"";
    JsonWriter::appendEscaped(out, meta.id);
    out += "\",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(meta.created) + ",\"model\":\"";
    JsonWriter::appendEscaped(out, meta.model);
    out += "\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{";
    out += delta;
    out += "},\"logprobs\":null,\"finish_reason\":";
    out += finishReason;
    out += "}]}\n\n";
    return out;
}

// The events of a streamed answer: a word per event, as a model would; a tool call for kToolCallPrompt.
std::vector<std::string> streamedAnswer(const ChatResponseWriter::Meta &meta, std::string_view prompt,
                                        std::string_view text, bool includeUsage)
{
    std::vector<std::string> events;
    std::int64_t completionTokens = 0;
    if (prompt.find(kToolCallPrompt) != std::string_view::npos) {
        events.push_back(chunkEvent(meta, "\"role\":\"assistant\",\"content\":null", "null"));
        events.push_back(chunkEvent(meta,
                                    "\"tool_calls\":[{\"index\":0,\"id\":\"call_stub\",\"type\":\"function\","
                                    "\"function\":{\"name\":\"lookup\",\"arguments\":\"\"}}]",
                                    "null"));
        events.push_back(
            chunkEvent(meta, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"q\\\":\"}}]", "null"));
        events.push_back(
            chunkEvent(meta, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"x\\\"}\"}}]", "null"));
        events.push_back(chunkEvent(meta, "", "\"tool_calls\""));
        completionTokens = 8;
    } else {
        events.push_back(chunkEvent(meta, "\"role\":\"assistant\",\"content\":\"\"", "null"));
        std::size_t start = 0;
        while (start < text.size()) {
            std::size_t end = text.find(' ', start);
            end = end == std::string_view::npos ? text.size() : end + 1;
            std::string delta = "\"content\":\"";
            JsonWriter::appendEscaped(delta, text.substr(start, end - start));
            delta += '"';
            events.push_back(chunkEvent(meta, delta, "null"));
            start = end;
        }
        events.push_back(chunkEvent(meta, "", "\"stop\""));
        completionTokens = CachedAnswer::estimateTokens(text.size());
    }
    if (includeUsage) {
        std::string usage = "data: {\"id\":\"";
        JsonWriter::appendEscaped(usage, meta.id);
        usage += "\",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(meta.created)
            + ",\"model\":\"";
        JsonWriter::appendEscaped(usage, meta.model);
        usage += "\",\"system_fingerprint\":null,\"choices\":[],\"usage\":{\"prompt_tokens\":"
            + std::to_string(meta.promptTokens) + ",\"completion_tokens\":" + std::to_string(completionTokens)
            + ",\"total_tokens\":" + std::to_string(meta.promptTokens + completionTokens) + "}}\n\n";
        events.push_back(std::move(usage));
    }
    events.push_back("data: [DONE]\n\n");
    return events;
}

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
        exchange.respond(200, "application/json",
                         "{\"requests\":" + std::to_string(m_requests.load())
                             + ",\"streams_completed\":" + std::to_string(m_streamsCompleted.load())
                             + ",\"streams_aborted\":" + std::to_string(m_streamsAborted.load())
                             + ",\"streams_cancelled\":" + std::to_string(m_streamsCancelled.load())
                             + ",\"embeddings_requests\":" + std::to_string(m_embeddingsRequests.load())
                             + ",\"embeddings_inputs\":" + std::to_string(m_embeddingsInputs.load()) + "}");
        return;
    }
    if (path == "/v1/embeddings") {
        embeddings(std::move(exchange));
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
    // A stream's first event comes after --ttft-ms and the rest are spread over the latency; a
    // whole answer or a failure comes after the latency.
    const bool streamed = request.stream && !fail;
    const int wait = streamed ? m_options.ttftMs : latency;
    const int spread = streamed ? latency : 0;
    const bool includeUsage = request.stream && wantsUsage(req.body());
    if (streamed) {
        // The head at once, as real upstreams do: the first token is what takes --ttft-ms.
        const HttpHeader headers[] = {{"Cache-Control", "no-cache"}};
        exchange.beginStream(200, "text/event-stream", headers);
    }
    if (wait <= 0) {
        answer(std::move(exchange), std::move(model), std::move(prompt), request.stream, fail, includeUsage, spread);
        return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(exchange.context(), std::chrono::milliseconds(wait));
    timer->async_wait([this, timer, exchange, model = std::move(model), prompt = std::move(prompt),
                       stream = request.stream, fail, includeUsage, spread](boost::system::error_code) mutable {
        answer(std::move(exchange), std::move(model), std::move(prompt), stream, fail, includeUsage, spread);
    });
}

void StubLlm::embeddings(HttpExchange exchange)
{
    const auto &req = exchange.request();
    auto error = [&](int status, std::string_view code, std::string_view message) {
        std::string body;
        ChatResponseWriter::error(body, message, ChatResponseWriter::errorTypeFor(status), code);
        exchange.respond(status, "application/json", body);
    };
    if (req.method() != http::verb::post) {
        error(405, "method_not_allowed", "Use POST.");
        return;
    }
    m_embeddingsRequests.fetch_add(1);
    EmbeddingsApi::Request request;
    std::string why;
    if (!EmbeddingsApi::parseRequest(req.body(), &request, &why)) {
        error(400, "invalid_request", why);
        return;
    }
    const int dimension = request.dimensions ? request.dimensions : m_options.embeddingsDimension;
    if (dimension < 64 || dimension > 2048 || (dimension & (dimension - 1)) != 0) {
        error(400, "invalid_value", "The stub embeds into a power of two from 64 to 2048 dimensions.");
        return;
    }
    m_embeddingsInputs.fetch_add(request.inputs.size());
    bool fail = false;
    if (m_options.embeddingsFailRate > 0) {
        std::lock_guard lock(m_rngMutex);
        fail = std::uniform_real_distribution<double>(0, 1)(m_rng) < m_options.embeddingsFailRate;
    }
    std::string body;
    int status = 200;
    if (fail) {
        status = m_options.failStatus;
        ChatResponseWriter::error(body, "Stub failure (configured --embeddings-fail-rate).",
                                  ChatResponseWriter::errorTypeFor(status), "stub_failure");
    } else {
        const LexicalEmbedder embedder(static_cast<std::size_t>(dimension));
        std::vector<std::vector<float>> vectors;
        std::size_t bytes = 0;
        for (const std::string &input : request.inputs) {
            vectors.push_back(embedder.embed(input));
            bytes += input.size();
        }
        body = EmbeddingsApi::response(request.model, vectors, CachedAnswer::estimateTokens(bytes));
    }
    if (m_options.embeddingsLatencyMs <= 0) {
        exchange.respond(status, "application/json", body);
        return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(exchange.context(),
                                                             std::chrono::milliseconds(m_options.embeddingsLatencyMs));
    timer->async_wait([timer, exchange, status, body = std::move(body)](boost::system::error_code) mutable {
        exchange.respond(status, "application/json", body);
    });
}

void StubLlm::answer(HttpExchange exchange, std::string model, std::string prompt, bool stream, bool fail,
                     bool includeUsage, int spreadMs)
{
    if (fail) {
        std::string body;
        const int status = m_options.failStatus;
        ChatResponseWriter::error(body, "Stub failure (configured --fail-rate).",
                                  ChatResponseWriter::errorTypeFor(status), "stub_failure");
        const std::string retryAfter = std::to_string(m_options.retryAfterS);
        const HttpHeader headers[] = {{"Retry-After", retryAfter}};
        const bool withRetryAfter = m_options.retryAfterS >= 0 && (status == 429 || status == 503);
        exchange.respond(status, "application/json", body,
                         std::span<const HttpHeader>(headers, withRetryAfter ? 1 : 0));
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
    // Really streamed: a word per event, spread over the latency, as a model would.
    auto events = std::make_shared<std::vector<std::string>>(
        streamedAnswer(meta, prompt, answerFor(prompt), includeUsage));
    const std::size_t abortAt = prompt.find(kAbortStreamPrompt) != std::string::npos ? events->size() / 2
                                                                                     : events->size() + 1;
    const int intervalMs = events->size() > 1 ? spreadMs / static_cast<int>(events->size() - 1) : 0;
    const HttpHeader headers[] = {{"Cache-Control", "no-cache"}};
    exchange.beginStream(200, "text/event-stream", headers);
    streamEvents(std::move(exchange), std::move(events), 0, intervalMs, abortAt);
}

void StubLlm::streamEvents(HttpExchange exchange, std::shared_ptr<std::vector<std::string>> events, std::size_t next,
                           int intervalMs, std::size_t abortAt)
{
    if (!exchange.clientConnected()) {
        m_streamsCancelled.fetch_add(1);
        return;
    }
    if (next == abortAt) {
        m_streamsAborted.fetch_add(1);
        exchange.abortStream();
        return;
    }
    exchange.writeChunk((*events)[next]);
    if (next + 1 == events->size()) {
        // The client may close as soon as it has data: [DONE]; the stream is complete once written.
        m_streamsCompleted.fetch_add(1);
        exchange.endStream();
        return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(exchange.context(), std::chrono::milliseconds(intervalMs));
    timer->async_wait([this, timer, exchange, events, next, intervalMs, abortAt](boost::system::error_code) mutable {
        streamEvents(std::move(exchange), std::move(events), next + 1, intervalMs, abortAt);
    });
}

} // namespace l0l3
