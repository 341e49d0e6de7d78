#include "core/gateway/upstreamclient.h"

#include <charconv>
#include <chrono>
#include <optional>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "core/gateway/httpmessagebudget.h"
#include "core/gateway/upstreamconnection.h"

namespace l0l3 {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// A response head, a chunk size line or the trailer: what the upstream may make us hold at once.
constexpr std::size_t kMaxResponseHeadBytes = 16 * 1024;
// The read buffer's first size: a usual answer in one read (an empty buffer reads 512 bytes at a time).
constexpr std::size_t kReadBufferBytes = 16 * 1024;

} // namespace

bool UpstreamClient::parseBaseUrl(std::string_view url, Options *out, std::string *error)
{
    auto fail = [&](std::string why) {
        if (error)
            *error = "invalid --upstream '" + std::string(url) + "': " + why;
        return false;
    };
    constexpr std::string_view plainScheme = "http://";
    constexpr std::string_view tlsScheme = "https://";
    const bool tls = url.substr(0, tlsScheme.size()) == tlsScheme;
    if (!tls && url.substr(0, plainScheme.size()) != plainScheme)
        return fail("expected http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH");
    std::string_view rest = url.substr(tls ? tlsScheme.size() : plainScheme.size());
    const std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    while (!path.empty() && path.back() == '/')
        path.remove_suffix(1);
    std::string_view host = authority;
    std::string_view portText;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return fail("unbalanced [");
        host = authority.substr(1, close - 1);
        portText = authority.substr(close + 1);
        if (!portText.empty() && portText.front() != ':')
            return fail("bad port");
        if (!portText.empty())
            portText.remove_prefix(1);
    } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        portText = authority.substr(colon + 1);
    }
    std::uint16_t port = tls ? 443 : 80;
    if (!portText.empty()) {
        unsigned p = 0;
        auto res = std::from_chars(portText.data(), portText.data() + portText.size(), p);
        if (res.ec != std::errc() || res.ptr != portText.data() + portText.size() || p == 0 || p > 65535)
            return fail("bad port");
        port = static_cast<std::uint16_t>(p);
    }
    if (host.empty())
        return fail("missing host");
    if (host.find_first_of("/?#@ ") != std::string_view::npos)
        return fail("bad host");
    out->host.assign(host);
    out->port = port;
    out->tls = tls;
    out->basePath.assign(path);
    return true;
}

struct UpstreamClient::Call : std::enable_shared_from_this<UpstreamClient::Call>
{
    UpstreamClient *client;
    std::weak_ptr<bool> alive;
    std::unique_ptr<UpstreamConnection> stream;
    bool reused = false;
    bool retried = false;
    http::request<http::string_body> request;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    // The upstream's framing is not trusted: sizes bounded, parser exceptions caught.
    HttpMessageBudget budget{0, 0}; // sized by read()
    Callback callback;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    void start()
    {
        if (!alive.lock())
            return;
        stream = client->takeIdle();
        reused = stream != nullptr;
        if (reused)
            write();
        else
            startFresh();
    }

    void write()
    {
        stream->tcp().expires_after(std::chrono::milliseconds(client->m_options.timeoutMs));
        stream->with([&](auto &s) {
            http::async_write(s, request, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (ec) {
                    self->failOrRetry(ec, "write");
                    return;
                }
                self->read();
            });
        });
    }

    void read()
    {
        parser.emplace();
        parser->body_limit(client->m_options.maxResponseBytes);
        parser->header_limit(static_cast<std::uint32_t>(kMaxResponseHeadBytes));
        budget = HttpMessageBudget(kMaxResponseHeadBytes,
                                   2 * (kMaxResponseHeadBytes + client->m_options.maxResponseBytes));
        buffer.reserve(kReadBufferBytes);
        parse();
    }

    void parse()
    {
        const beast::error_code ec = budget.feed(*parser, buffer);
        if (ec == http::error::need_more) {
            readMore();
            return;
        }
        if (ec) {
            failOrRetry(ec, "read");
            return;
        }
        done();
    }

    void readMore()
    {
        const std::size_t size = beast::read_size(buffer, 65536);
        stream->with([&](auto &s) {
            s.async_read_some(buffer.prepare(size), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                // Over TLS, eof is a close_notify; a bare TCP close is stream_truncated, which may be
                // an attacker cutting the response short, so it stays an error.
                if (ec == net::error::eof) {
                    // As http::read: the end of a response without a length, else a truncated one.
                    self->onEof();
                    return;
                }
                if (ec) {
                    self->failOrRetry(ec, "read");
                    return;
                }
                self->buffer.commit(n);
                self->parse();
            });
        });
    }

    void onEof()
    {
        beast::error_code ec = http::error::end_of_stream;
        if (parser->got_some()) {
            ec = {};
            try {
                parser->put_eof(ec);
            } catch (const std::exception &) {
                ec = http::error::bad_value;
            }
        }
        if (ec) {
            failOrRetry(ec, "read");
            return;
        }
        done();
    }

    void failOrRetry(beast::error_code ec, std::string_view what)
    {
        if (ec == beast::error::timeout) {
            finish(Failure::Timeout, std::string(what) + ": upstream timed out");
            return;
        }
        // A pooled connection the upstream had closed meanwhile: once more on a new one.
        const bool nothingReceived = !parser || !parser->got_some();
        if (reused && !retried && nothingReceived && alive.lock()) {
            retried = true;
            reused = false;
            stream.reset();
            buffer.clear();
            parser.reset();
            startFresh();
            return;
        }
        finish(Failure::Protocol, std::string(what) + ": " + ec.message());
    }

    void startFresh()
    {
        stream = std::make_unique<UpstreamConnection>(client->m_context);
        stream->open(*client->m_target, [self = shared_from_this()](Failure failure, std::string error) {
            if (failure != Failure::None)
                return self->finish(failure, std::move(error));
            self->write();
        });
    }

    void done()
    {
        auto response = parser->release();
        const bool keepAlive = response.keep_alive();
        Result result;
        result.status = static_cast<int>(response.result_int());
        result.body = std::move(response.body());
        result.latencyMs = elapsedMs();
        if (result.status >= 400 && response.count(http::field::retry_after) == 1)
            result.retryAfter = response[http::field::retry_after];
        if (keepAlive && alive.lock()) {
            stream->tcp().expires_never();
            client->giveBack(std::move(stream));
        }
        deliver(std::move(result));
    }

    void finish(Failure failure, std::string error)
    {
        Result result;
        result.failure = failure;
        result.error = std::move(error);
        result.latencyMs = elapsedMs();
        deliver(std::move(result));
    }

    std::int64_t elapsedMs() const
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
            .count();
    }

    void deliver(Result result)
    {
        if (!alive.lock() || !callback)
            return;
        auto cb = std::move(callback);
        cb(std::move(result));
    }
};

UpstreamClient::UpstreamClient(net::io_context &context, Options options)
    : m_context(context)
    , m_options(std::move(options))
    , m_target(std::make_unique<UpstreamTarget>(context, m_options))
{
}

UpstreamClient::~UpstreamClient()
{
    *m_alive = false;
}

std::unique_ptr<UpstreamConnection> UpstreamClient::takeIdle()
{
    while (!m_idle.empty()) {
        auto connection = std::move(m_idle.back());
        m_idle.pop_back();
        if (connection->tcp().socket().is_open())
            return connection;
    }
    return nullptr;
}

void UpstreamClient::giveBack(std::unique_ptr<UpstreamConnection> connection)
{
    if (m_idle.size() < m_options.maxIdleConnections)
        m_idle.push_back(std::move(connection));
}

void UpstreamClient::post(std::string body, std::string_view authorization, Callback callback)
{
    auto call = std::make_shared<Call>();
    call->client = this;
    call->alive = m_alive;
    call->callback = std::move(callback);
    call->request.method(http::verb::post);
    call->request.target(m_target->path);
    call->request.version(11);
    call->request.set(http::field::host, m_target->hostHeader);
    call->request.set(http::field::content_type, "application/json");
    call->request.set(http::field::accept, "application/json");
    call->request.set(http::field::user_agent, "l0l3-gateway/" L0L3_VERSION);
    if (!authorization.empty())
        call->request.set(http::field::authorization, authorization);
    call->request.keep_alive(true);
    call->request.body() = std::move(body);
    call->request.prepare_payload();
    call->start();
}

} // namespace l0l3
