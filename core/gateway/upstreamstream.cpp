#include "core/gateway/upstreamstream.h"

#include <array>
#include <chrono>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <simdjson.h>

#include "core/gateway/upstreamconnection.h"

namespace l0l3 {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace dom = simdjson::dom;

namespace {

constexpr std::size_t kMaxResponseHeadBytes = 16 * 1024;
// The read buffer's first size: a head and the first events in one read (an empty buffer reads 512 bytes).
constexpr std::size_t kReadBufferBytes = 16 * 1024;

bool isEventStream(std::string_view contentType)
{
    constexpr std::string_view kType = "text/event-stream";
    if (contentType.size() < kType.size())
        return false;
    for (std::size_t i = 0; i < kType.size(); ++i) {
        char c = contentType[i];
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        if (c != kType[i])
            return false;
    }
    return contentType.size() == kType.size() || contentType[kType.size()] == ';' || contentType[kType.size()] == ' ';
}

} // namespace

// ---- SseAnswer ----

struct SseAnswer::Json
{
    dom::parser parser;
};

SseAnswer::SseAnswer(std::size_t maxContentBytes)
    : m_json(std::make_unique<Json>())
    , m_maxContentBytes(maxContentBytes)
{
}

SseAnswer::~SseAnswer() = default;

SseAnswer::Kind SseAnswer::add(std::string_view event)
{
    // Lines end with \n (a \r before it is dropped); fields other than data are not used.
    m_data.clear();
    bool haveData = false;
    while (!event.empty()) {
        const std::size_t nl = event.find('\n');
        std::string_view line = event.substr(0, nl);
        event.remove_prefix(nl == std::string_view::npos ? event.size() : nl + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty() || line.front() == ':')
            continue;
        const std::size_t colon = line.find(':');
        const std::string_view field = line.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ')
            value.remove_prefix(1);
        if (field != "data")
            continue;
        if (haveData)
            m_data.push_back('\n');
        m_data.append(value);
        haveData = true;
    }
    if (!haveData)
        return Kind::Forward; // a comment (keep-alive) or an event without data
    if (m_done)
        return Kind::Invalid; // nothing follows [DONE]
    if (m_data == "[DONE]") {
        m_done = true;
        return Kind::Done;
    }
    dom::element root;
    if (m_json->parser.parse(m_data).get(root) != simdjson::SUCCESS || !root.is_object())
        return Kind::Invalid;
    if (dom::element error; root["error"].get(error) == simdjson::SUCCESS && !error.is_null())
        m_notText = true; // an upstream error inside the stream: passed on, never proposed
    if (dom::object usage; root["usage"].get_object().get(usage) == simdjson::SUCCESS) {
        std::int64_t n = 0;
        if (usage["prompt_tokens"].get_int64().get(n) == simdjson::SUCCESS)
            m_promptTokens = n;
        if (usage["completion_tokens"].get_int64().get(n) == simdjson::SUCCESS)
            m_completionTokens = n;
    }
    dom::array choices;
    if (root["choices"].get_array().get(choices) != simdjson::SUCCESS)
        return Kind::Forward;
    for (dom::element choice : choices) {
        std::uint64_t index = 0;
        if (dom::element i;
            choice["index"].get(i) == simdjson::SUCCESS && i.get_uint64().get(index) != simdjson::SUCCESS)
            m_notText = true;
        if (index != 0) {
            m_notText = true; // n > 1
            continue;
        }
        if (dom::object delta; choice["delta"].get_object().get(delta) == simdjson::SUCCESS) {
            for (const char *other : {"tool_calls", "function_call", "refusal", "audio"}) {
                if (dom::element e; delta[other].get(e) == simdjson::SUCCESS && !e.is_null())
                    m_notText = true;
            }
            if (std::string_view text; delta["content"].get_string().get(text) == simdjson::SUCCESS) {
                if (m_content.size() + text.size() > m_maxContentBytes)
                    m_tooLong = true;
                else if (!m_tooLong)
                    m_content.append(text);
            }
        }
        if (std::string_view reason; choice["finish_reason"].get_string().get(reason) == simdjson::SUCCESS)
            m_finishReason.assign(reason);
    }
    return Kind::Forward;
}

bool SseAnswer::proposable() const
{
    return m_done && m_finishReason == "stop" && !m_notText && !m_tooLong && !m_content.empty();
}

// ---- UpstreamStreamer::Call ----

class UpstreamStreamer::Call : public std::enable_shared_from_this<UpstreamStreamer::Call>
{
public:
    UpstreamStreamer *owner = nullptr;
    std::weak_ptr<bool> alive;
    Handler handler;
    http::request<http::string_body> request;
    std::unique_ptr<UpstreamConnection> connection;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::buffer_body>> parser;
    std::array<char, 16384> chunk{};
    std::string event;         // the event being received
    std::size_t lineStart = 0; // where its unfinished line starts
    std::string answerBody;    // not an event stream: the body, for answered()
    bool streaming = false;
    bool over = false;
    bool paused = false; // pause(): no read is posted
    bool parked = false; // a read was due while paused; resume() posts it
    // While parked: bounds the pause by the total timeout, and its pending wait keeps the call alive.
    std::optional<net::steady_timer> parkTimer;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    beast::tcp_stream &tcp() { return connection->tcp(); }
    template<typename F>
    void with(F &&f)
    {
        connection->with(std::forward<F>(f));
    }

    bool gone() const { return over || !alive.lock(); }

    std::int64_t elapsedMs() const
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
            .count();
    }

    void close()
    {
        over = true;
        unpark();
        if (connection)
            connection->close();
    }

    void start()
    {
        connection = std::make_unique<UpstreamConnection>(owner->m_context);
        connection->open(*owner->m_target,
                         [self = shared_from_this()](UpstreamClient::Failure failure, std::string error) {
                             if (self->gone())
                                 return;
                             if (failure != UpstreamClient::Failure::None)
                                 return self->answer(failure, std::move(error));
                             self->write();
                         });
    }

    // The next read's deadline: the idle timeout, within what is left of the total.
    bool arm()
    {
        const Options &o = owner->m_options;
        const std::int64_t left = o.totalTimeoutMs - elapsedMs();
        if (left <= 0)
            return false;
        tcp().expires_after(std::chrono::milliseconds(std::min<std::int64_t>(o.idleTimeoutMs, left)));
        return true;
    }

    void write()
    {
        arm();
        with([&](auto &s) {
            http::async_write(s, request, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (self->gone())
                    return;
                if (ec)
                    return self->failed(ec, "write");
                self->readHead();
            });
        });
    }

    void readHead()
    {
        parser.emplace();
        buffer.reserve(kReadBufferBytes);
        parser->header_limit(static_cast<std::uint32_t>(kMaxResponseHeadBytes));
        parser->body_limit(owner->m_options.upstream.maxResponseBytes);
        if (!arm())
            return failed(beast::error::timeout, "read");
        with([&](auto &s) {
            http::async_read_header(s, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (self->gone())
                    return;
                if (ec)
                    return self->failed(ec, "read");
                const auto &head = self->parser->get();
                self->streaming = head.result_int() == 200 && isEventStream(head[http::field::content_type]);
                if (self->streaming && self->handler.started)
                    self->handler.started();
                if (self->gone())
                    return;
                self->readBody();
            });
        });
    }

    void readBody()
    {
        if (paused) {
            park();
            return;
        }
        if (parser->is_done())
            return bodyDone();
        if (!arm())
            return failed(beast::error::timeout, "read");
        parser->get().body().data = chunk.data();
        parser->get().body().size = chunk.size();
        with([&](auto &s) {
            http::async_read_some(s, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (self->gone())
                    return;
                if (ec == http::error::need_buffer)
                    ec = {};
                const std::size_t n = self->chunk.size() - self->parser->get().body().size;
                if (n > 0 && !self->onBytes(std::string_view(self->chunk.data(), n)))
                    return;
                if (ec)
                    return self->failed(ec, "read");
                self->readBody();
            });
        });
    }

    void park()
    {
        parked = true;
        if (!parkTimer)
            parkTimer.emplace(owner->m_context);
        const std::int64_t left = std::max<std::int64_t>(0, owner->m_options.totalTimeoutMs - elapsedMs());
        parkTimer->expires_after(std::chrono::milliseconds(left));
        parkTimer->async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->gone() || !self->parked)
                return;
            self->end(End::Timeout, "the stream took longer than its total timeout");
        });
    }

    void unpark()
    {
        if (!parked)
            return;
        parked = false;
        if (parkTimer)
            parkTimer->cancel();
    }

    // False when the call is over.
    bool onBytes(std::string_view bytes)
    {
        if (!streaming) {
            answerBody.append(bytes); // within body_limit
            return true;
        }
        event.append(bytes);
        for (;;) {
            const std::size_t nl = event.find('\n', lineStart);
            if (nl == std::string::npos)
                break;
            const bool blank = nl == lineStart || (nl == lineStart + 1 && event[lineStart] == '\r');
            lineStart = nl + 1;
            if (!blank)
                continue;
            const std::size_t size = lineStart;
            if (size > owner->m_options.maxEventBytes) {
                end(End::Oversize,
                    "an event is larger than " + std::to_string(owner->m_options.maxEventBytes) + " bytes");
                return false;
            }
            const bool more = handler.event(std::string_view(event.data(), size));
            if (!more || gone()) {
                close();
                return false;
            }
            event.erase(0, size);
            lineStart = 0;
        }
        if (event.size() > owner->m_options.maxEventBytes) {
            end(End::Oversize, "an event is larger than " + std::to_string(owner->m_options.maxEventBytes) + " bytes");
            return false;
        }
        return true;
    }

    void bodyDone()
    {
        if (!streaming) {
            UpstreamClient::Result result;
            result.status = static_cast<int>(parser->get().result_int());
            result.body = std::move(answerBody);
            if (result.status >= 400 && parser->get().count(http::field::retry_after) == 1)
                result.retryAfter = parser->get()[http::field::retry_after];
            result.latencyMs = elapsedMs();
            close();
            deliverAnswer(std::move(result));
            return;
        }
        end(End::Truncated, "the upstream ended the stream without its final event");
    }

    void failed(beast::error_code ec, std::string_view what)
    {
        const bool timeout = ec == beast::error::timeout;
        if (!streaming) {
            if (ec == http::error::body_limit)
                return answer(UpstreamClient::Failure::Protocol, std::string(what) + ": the answer is too large");
            return answer(timeout ? UpstreamClient::Failure::Timeout : UpstreamClient::Failure::Protocol,
                          std::string(what) + (timeout ? ": upstream timed out" : ": " + ec.message()));
        }
        if (timeout) {
            const bool total = elapsedMs() + 5 >= owner->m_options.totalTimeoutMs;
            return end(End::Timeout,
                       total ? "the stream took longer than its total timeout"
                             : "no event within the stream's idle timeout");
        }
        if (ec == http::error::body_limit)
            return end(End::Oversize, "the stream is larger than its byte budget");
        if (ec == http::error::partial_message || ec == net::error::eof || ec == net::ssl::error::stream_truncated)
            return end(End::Truncated, "the upstream closed the stream before its final event");
        end(End::Failed, std::string(what) + ": " + ec.message());
    }

    void answer(UpstreamClient::Failure failure, std::string error)
    {
        UpstreamClient::Result result;
        result.failure = failure;
        result.error = std::move(error);
        result.latencyMs = elapsedMs();
        close();
        deliverAnswer(std::move(result));
    }

    void deliverAnswer(UpstreamClient::Result result)
    {
        if (!alive.lock())
            return;
        auto cb = std::move(handler.answered);
        handler = {};
        if (cb)
            cb(std::move(result));
    }

    void end(End how, std::string why)
    {
        if (over)
            return;
        close();
        if (!alive.lock())
            return;
        auto cb = std::move(handler.ended);
        handler = {};
        if (cb)
            cb(how, std::move(why));
    }
};

// ---- UpstreamStreamer ----

UpstreamStreamer::UpstreamStreamer(net::io_context &context, Options options)
    : m_context(context)
    , m_options(std::move(options))
{
    m_options.maxEventBytes = std::min(m_options.maxEventBytes, m_options.upstream.maxResponseBytes);
    m_target = std::make_unique<UpstreamTarget>(context, m_options.upstream);
}

UpstreamStreamer::~UpstreamStreamer()
{
    *m_alive = false;
}

std::shared_ptr<UpstreamStreamer::Call> UpstreamStreamer::post(std::string body, std::string_view authorization,
                                                               Handler handler)
{
    auto call = std::make_shared<Call>();
    call->owner = this;
    call->alive = m_alive;
    call->handler = std::move(handler);
    auto &r = call->request;
    r.method(http::verb::post);
    r.target(m_target->path);
    r.version(11);
    r.set(http::field::host, m_target->hostHeader);
    r.set(http::field::content_type, "application/json");
    r.set(http::field::accept, "text/event-stream");
    r.set(http::field::user_agent, "l0l3-gateway/" L0L3_VERSION);
    if (!authorization.empty())
        r.set(http::field::authorization, authorization);
    r.keep_alive(false); // never pooled: see the class comment
    r.body() = std::move(body);
    r.prepare_payload();
    call->start();
    return call;
}

void UpstreamStreamer::cancel(const std::shared_ptr<Call> &call)
{
    if (!call || call->over)
        return;
    call->handler = {};
    call->close();
}

void UpstreamStreamer::pause(const std::shared_ptr<Call> &call)
{
    if (call && !call->over)
        call->paused = true;
}

void UpstreamStreamer::resume(const std::shared_ptr<Call> &call)
{
    if (!call || call->over || !call->paused)
        return;
    call->paused = false;
    if (!call->parked)
        return;
    call->unpark();
    // Posted: resume() may be called from inside the consumer's own code.
    net::post(call->owner->m_context, [call] {
        if (!call->gone())
            call->readBody();
    });
}

} // namespace l0l3
