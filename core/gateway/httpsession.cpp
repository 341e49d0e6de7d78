#include "core/gateway/httpsession.h"

#include <algorithm>
#include <charconv>
#include <exception>

#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include "core/gateway/httpserver.h"
#include "core/gateway/requestrouter.h"

namespace l0l3 {

namespace http = boost::beast::http;
using boost::beast::error_code;

namespace {

void appendNumber(std::string &out, std::size_t n, int base = 10)
{
    char buf[24];
    const auto res = std::to_chars(buf, buf + sizeof buf, n, base);
    out.append(buf, res.ptr);
}

} // namespace

struct HttpSession::Tls
{
    Tls(HttpSocket &socket, boost::asio::ssl::context &context)
        : stream(socket, context)
    {
    }
    boost::asio::ssl::stream<HttpSocket &> stream;
};

template<typename Buffers, typename Handler>
void HttpSession::readSome(const Buffers &buffers, Handler &&handler)
{
    if (m_tls) [[unlikely]]
        m_tls->stream.async_read_some(buffers, std::forward<Handler>(handler));
    else
        m_socket.async_read_some(buffers, std::forward<Handler>(handler));
}

template<typename Handler>
void HttpSession::writeAll(Handler &&handler)
{
    if (m_tls) [[unlikely]]
        boost::asio::async_write(m_tls->stream, boost::asio::buffer(m_writing), std::forward<Handler>(handler));
    else
        boost::asio::async_write(m_socket, boost::asio::buffer(m_writing), std::forward<Handler>(handler));
}

HttpSession::HttpSession(HttpSocket socket, HttpServer &server, int thread, Admission admission, bool clientCounted)
    : m_socket(std::move(socket))
    , m_server(server)
    , m_thread(thread)
    , m_budget(server.options().maxHeaderBytes, HttpServer::messageBudget(server.options()))
    , m_request(std::piecewise_construct, std::make_tuple(), std::make_tuple(HttpFieldsAllocator(&m_headerArena)))
    , m_overCapacity(admission == Admission::OverCapacity)
    , m_clientCounted(clientCounted)
{
    boost::system::error_code ec;
    const auto endpoint = m_socket.remote_endpoint(ec);
    if (!ec)
        m_remote = endpoint.address();
    m_server.m_open.fetch_add(1, std::memory_order_relaxed);
    m_server.link(this);
}

HttpSession::~HttpSession()
{
    if (m_awaitingResponse)
        m_server.m_inFlight.fetch_sub(1, std::memory_order_relaxed);
    m_server.m_open.fetch_sub(1, std::memory_order_relaxed);
    releaseBuffered();
    if (m_clientCounted)
        m_server.releaseClient(m_remote);
    m_server.unlink(this);
}

void HttpSession::setDeadline(Deadline kind, int ms)
{
    m_deadlineKind = kind;
    m_deadlineMs = kind == Deadline::None ? 0 : HttpServer::coarseNowMs() + ms;
}

void HttpSession::setDeadlineAt(Deadline kind, std::int64_t atMs)
{
    m_deadlineKind = kind;
    m_deadlineMs = atMs;
}

void HttpSession::sweep(std::int64_t nowMs)
{
    if (m_deadlineKind == Deadline::None || nowMs < m_deadlineMs || !m_open)
        return;
    if (m_deadlineKind == Deadline::OverCapacity) {
        rejectOverCapacity();
        return;
    }
    if (m_deadlineKind == Deadline::Linger) {
        close();
        return;
    }
    const bool silent = m_buffer.size() == 0 && !(m_parser && m_parser->got_some());
    if (m_deadlineKind == Deadline::Idle || (m_deadlineKind == Deadline::FirstRequest && silent))
        m_server.m_idleTimeouts.fetch_add(1, std::memory_order_relaxed);
    else if (m_deadlineKind == Deadline::Read || m_deadlineKind == Deadline::FirstRequest)
        // A request that does not arrive in time (slowloris): no answer, the slot is freed.
        m_server.m_readTimeouts.fetch_add(1, std::memory_order_relaxed);
    m_deadlineKind = Deadline::None;
    close(); // the pending operation completes with an error and releases the session
}

void HttpSession::rejectOverCapacity()
{
    // Beyond the connection cap and no exempt request in time: the same 503 as a refused connection.
    m_server.m_rejected.fetch_add(1, std::memory_order_relaxed);
    m_deadlineKind = Deadline::None;
    m_rejecting = true;
    m_keepAlive = false;
    m_pending.append(HttpServer::overCapacityResponse());
    m_responseComplete = true;
    flush();
}

boost::asio::io_context &HttpSession::context() const
{
    return m_server.context(m_thread);
}

void HttpSession::start()
{
    m_firstRequest = true;
    if (m_server.options().tls) {
        m_tls = std::make_unique<Tls>(m_socket, *m_server.options().tls);
        handshake();
        return;
    }
    readNext();
}

void HttpSession::handshake()
{
    // The handshake is part of the first request: its deadline starts now and readNext() keeps it.
    const auto &options = m_server.options();
    int ms = options.firstRequestTimeoutMs > 0 ? std::min(options.firstRequestTimeoutMs, options.idleTimeoutMs)
                                               : options.idleTimeoutMs;
    if (m_overCapacity)
        ms = std::min(ms, 1000);
    setDeadline(Deadline::FirstRequest, ms);
    m_tls->stream.async_handshake(boost::asio::ssl::stream_base::server, [self = shared_from_this()](error_code ec) {
        if (ec || !self->m_open) {
            self->close(); // includes a client that does not trust our certificate
            return;
        }
        self->readNext();
    });
}

void HttpSession::readNext()
{
    // The previous request's body keeps its capacity. Its fields, target and method string go, so
    // nothing is left in the header arena and this request's fields start at the block's beginning.
    m_request.clear();
    m_request.target({});
    m_request.method(http::verb::get);
    m_request.body().clear();
    m_parser.emplace(std::move(m_request));
    m_parser->body_limit(m_server.options().maxBodyBytes);
    m_parser->header_limit(static_cast<std::uint32_t>(m_server.options().maxHeaderBytes));
    m_budget.startMessage();
    releaseBuffered();
    m_readError = HttpReadError::None;
    const auto &options = m_server.options();
    bool headDeadline = true;
    if (m_overCapacity)
        setDeadline(Deadline::OverCapacity,
                    std::min(1000, options.firstRequestTimeoutMs > 0 ? options.firstRequestTimeoutMs : 1000));
    else if (m_firstRequest && options.firstRequestTimeoutMs > 0) {
        // A connection that never sends a whole head must not hold its slot for the idle timeout.
        // Over TLS the deadline set before the handshake holds.
        if (!m_tls || m_deadlineKind != Deadline::FirstRequest)
            setDeadline(Deadline::FirstRequest, std::min(options.firstRequestTimeoutMs, options.idleTimeoutMs));
    } else
        headDeadline = false;
    if (m_buffer.size() > 0) {
        readRequest(); // pipelined: the next request has started already
        return;
    }
    // Idle: wait for the first byte of the next request under the idle timeout only.
    if (!headDeadline)
        setDeadline(Deadline::Idle, options.idleTimeoutMs);
    if (m_watching) {
        m_resumeAfterWatch = true; // the stream's watch read is that wait
        return;
    }
    readSome(m_buffer.prepare(4096), [self = shared_from_this()](error_code ec, std::size_t n) {
        if (self->m_rejecting)
            return;
        if (ec) {
            self->close();
            return;
        }
        self->m_buffer.commit(n);
        self->readRequest();
    });
}

void HttpSession::readRequest()
{
    // One deadline for the whole request from its first byte, however slowly the rest comes; a new
    // connection's first-request (or over-capacity) deadline also holds until its head is complete.
    const int readTimeoutMs = m_server.options().readTimeoutMs;
    m_readDeadlineMs = HttpServer::coarseNowMs()
        + (readTimeoutMs > 0 ? readTimeoutMs : m_server.options().idleTimeoutMs);
    if (m_deadlineKind == Deadline::FirstRequest || m_deadlineKind == Deadline::OverCapacity)
        m_deadlineMs = std::min(m_deadlineMs, m_readDeadlineMs);
    else
        setDeadlineAt(Deadline::Read, m_readDeadlineMs);
    parseBuffered();
}

void HttpSession::parseBuffered()
{
    // What http::async_read does, without its composed operation and the
    // event loop turn it posts even when the whole request is buffered
    // already (the usual case), and under the message budget.
    const error_code ec = m_budget.feed(*m_parser, m_buffer);
    if (ec == http::error::need_more) {
        if (m_deadlineKind == Deadline::FirstRequest && m_parser->is_header_done())
            setDeadlineAt(Deadline::Read, m_readDeadlineMs);
        if (!chargeBuffered()) {
            failRead(HttpReadError::Overloaded);
            return;
        }
        readMore();
        return;
    }
    onRead(ec);
}

bool HttpSession::chargeBuffered()
{
    const std::size_t limit = m_server.options().maxBufferedBytes;
    if (limit == 0)
        return true;
    const std::size_t now = m_budget.consumed() + m_buffer.size();
    std::size_t total = 0;
    if (now >= m_charged)
        total = m_server.m_buffered.fetch_add(now - m_charged, std::memory_order_relaxed) + (now - m_charged);
    else
        total = m_server.m_buffered.fetch_sub(m_charged - now, std::memory_order_relaxed) - (m_charged - now);
    m_charged = now;
    // A head's worth is always allowed: health checks and small requests get through an overload.
    return now <= m_server.options().maxHeaderBytes || total <= limit;
}

void HttpSession::releaseBuffered()
{
    if (m_charged == 0)
        return;
    m_server.m_buffered.fetch_sub(m_charged, std::memory_order_relaxed);
    m_charged = 0;
}

void HttpSession::readMore()
{
    const std::size_t size = boost::beast::read_size(m_buffer, 65536);
    readSome(m_buffer.prepare(size), [self = shared_from_this()](error_code ec, std::size_t n) {
        if (self->m_rejecting)
            return;
        if (ec == boost::asio::error::eof) {
            // As http::read: the end of a message without a length, else a truncated one.
            ec = http::error::end_of_stream;
            if (self->m_parser->got_some()) {
                ec = {};
                try {
                    self->m_parser->put_eof(ec);
                } catch (const std::exception &) {
                    ec = http::error::bad_value;
                }
            }
            self->onRead(ec);
            return;
        }
        if (ec) {
            self->onRead(ec);
            return;
        }
        self->m_buffer.commit(n);
        self->parseBuffered();
    });
}

void HttpSession::onRead(error_code ec)
{
    if (ec) {
        if (!m_open)
            return; // closed by the sweeper (timeout) or by us
        const auto readError = RequestRouter::readErrorFor(ec);
        if (!readError) {
            close(); // peer closed, timeout, reset
            return;
        }
        failRead(*readError);
        return;
    }
    m_request = m_parser->release();
    m_keepAlive = m_request.keep_alive() && !m_overCapacity;
    dispatch();
}

void HttpSession::failRead(HttpReadError error)
{
    m_readError = error;
    // The stream is no longer in sync with message boundaries.
    m_keepAlive = false;
    m_request = m_parser->release();
    dispatch();
}

bool HttpSession::exemptFromCap() const
{
    const auto method = m_request.method();
    if (m_readError != HttpReadError::None || (method != http::verb::get && method != http::verb::head))
        return false;
    std::string_view path = m_request.target();
    path = path.substr(0, path.find('?'));
    const auto &paths = m_server.options().capExemptPaths;
    return std::find(paths.begin(), paths.end(), path) != paths.end();
}

void HttpSession::dispatch()
{
    setDeadline(Deadline::None, 0);
    m_firstRequest = false;
    m_awaitingResponse = true;
    m_streaming = false;
    m_responseComplete = false;
    m_server.m_inFlight.fetch_add(1, std::memory_order_relaxed);
    if (m_overCapacity && !exemptFromCap()) {
        m_server.m_rejected.fetch_add(1, std::memory_order_relaxed);
        m_awaitingResponse = false;
        m_server.m_inFlight.fetch_sub(1, std::memory_order_relaxed);
        m_keepAlive = false;
        m_pending.append(HttpServer::overCapacityResponse());
        m_responseComplete = true;
        flush();
        return;
    }
    m_server.m_handler(HttpExchange(shared_from_this()));
}

void HttpSession::appendHead(int status, std::string_view contentType, std::span<const HttpHeader> headers,
                             bool chunked, std::size_t contentLength)
{
    std::string &out = m_pending;
    out.append("HTTP/1.1 ");
    appendNumber(out, static_cast<std::size_t>(status));
    out.push_back(' ');
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    out.append(reason.data(), reason.size());
    out.append("\r\nContent-Type: ");
    out.append(contentType);
    if (chunked) {
        out.append("\r\nTransfer-Encoding: chunked");
    } else {
        out.append("\r\nContent-Length: ");
        appendNumber(out, contentLength);
    }
    if (!m_keepAlive)
        out.append("\r\nConnection: close");
    else if (m_request.version() < 11)
        out.append("\r\nConnection: keep-alive");
    for (const HttpHeader &h : headers) {
        out.append("\r\n");
        out.append(h.name);
        out.append(": ");
        out.append(h.value);
    }
    out.append("\r\n\r\n");
}

void HttpSession::respond(int status, std::string_view contentType, std::string_view body,
                          std::span<const HttpHeader> headers)
{
    if (!m_awaitingResponse || m_streaming)
        return;
    m_awaitingResponse = false;
    m_server.m_inFlight.fetch_sub(1, std::memory_order_relaxed);
    if (!m_open)
        return;
    appendHead(status, contentType, headers, false, body.size());
    if (m_request.method() != http::verb::head)
        m_pending.append(body);
    m_responseComplete = true;
    flush();
}

void HttpSession::beginStream(int status, std::string_view contentType, std::span<const HttpHeader> headers)
{
    if (!m_awaitingResponse || m_streaming)
        return;
    m_streaming = true;
    if (!m_open)
        return;
    appendHead(status, contentType, headers, true, 0);
    flush();
    // Only with nothing buffered: a pipelined request already read is served by readNext() as usual.
    if (m_buffer.size() == 0)
        watchClient();
}

void HttpSession::watchClient()
{
    if (m_watching || !m_open)
        return;
    m_watching = true;
    readSome(m_buffer.prepare(4096), [self = shared_from_this()](error_code ec, std::size_t n) {
        self->m_watching = false;
        if (ec) {
            self->m_resumeAfterWatch = false;
            self->close();
            return;
        }
        self->m_buffer.commit(n);
        if (self->m_resumeAfterWatch) {
            self->m_resumeAfterWatch = false;
            self->readRequest();
        }
    });
}

void HttpSession::writeChunk(std::string_view data)
{
    if (!m_streaming || !m_awaitingResponse || !m_open || data.empty())
        return;
    appendNumber(m_pending, data.size(), 16);
    m_pending.append("\r\n");
    m_pending.append(data);
    m_pending.append("\r\n");
    flush();
}

void HttpSession::endStream()
{
    if (!m_streaming || !m_awaitingResponse)
        return;
    m_onClientGone = nullptr;
    m_onDrained = nullptr;
    m_awaitingResponse = false;
    m_server.m_inFlight.fetch_sub(1, std::memory_order_relaxed);
    if (!m_open)
        return;
    m_pending.append("0\r\n\r\n");
    m_responseComplete = true;
    flush();
}

void HttpSession::abortStream()
{
    if (!m_streaming || !m_awaitingResponse)
        return;
    m_awaitingResponse = false;
    m_server.m_inFlight.fetch_sub(1, std::memory_order_relaxed);
    m_keepAlive = false;
    m_aborting = true;
    if (!m_open)
        return;
    if (!m_writeInFlight && m_pending.empty())
        close();
}

void HttpSession::flush()
{
    if (m_writeInFlight || m_pending.empty() || !m_open)
        return;
    m_writing.swap(m_pending);
    m_pending.clear();
    m_writeInFlight = true;
    setDeadline(Deadline::Write, 30000);
    writeAll([self = shared_from_this()](error_code ec, std::size_t) { self->onWritten(ec); });
}

void HttpSession::onWritten(error_code ec)
{
    m_writeInFlight = false;
    m_writing.clear();
    // A buffer grown by one outsized response is given back, not kept while the connection lives.
    if (m_writing.capacity() > 256 * 1024)
        std::string().swap(m_writing);
    if (ec) {
        close();
        return;
    }
    if (!m_pending.empty()) {
        flush();
        notifyDrained();
        return;
    }
    if (m_aborting) {
        close();
        return;
    }
    if (m_responseComplete) {
        finishExchange();
        return;
    }
    setDeadline(Deadline::None, 0);
    notifyDrained();
}

void HttpSession::notifyDrained()
{
    if (!m_onDrained || queuedBytes() > m_drainedAt || !m_open)
        return;
    auto drained = std::move(m_onDrained);
    m_onDrained = nullptr;
    drained(); // may queue more: it is the last thing done here
}

void HttpSession::finishExchange()
{
    m_onDrained = nullptr;
    m_responseComplete = false;
    m_streaming = false;
    if (!m_keepAlive) {
        // No read is pending after a read error (one is after an over-capacity timeout).
        if (m_readError != HttpReadError::None)
            lingerThenClose();
        else
            close();
        return;
    }
    readNext();
}

void HttpSession::lingerThenClose()
{
    if (!m_open)
        return;
    error_code ignored;
    m_socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    m_drained = 0;
    setDeadline(Deadline::Linger, 1000);
    drain();
}

void HttpSession::drain()
{
    m_buffer.clear();
    readSome(m_buffer.prepare(16384), [self = shared_from_this()](error_code ec, std::size_t n) {
        self->m_drained += n;
        if (ec || !self->m_open || self->m_drained > (std::size_t(4) << 20)) {
            self->close();
            return;
        }
        self->drain();
    });
}

void HttpSession::close()
{
    if (!m_open)
        return;
    m_open = false;
    m_onDrained = nullptr;
    error_code ignored;
    m_deadlineKind = Deadline::None;
    m_socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    m_socket.close(ignored);
    if (auto gone = std::move(m_onClientGone)) {
        m_onClientGone = nullptr;
        gone();
    }
}

} // namespace l0l3
