#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "core/gateway/httpexchange.h"
#include "core/gateway/httpmessagebudget.h"

namespace l0l3 {

class HttpServer;

// One keep-alive HTTP/1.1 connection: reads a request, hands it to the
// handler, writes the response (serialised by hand into reused buffers, so a
// response costs no allocation in the steady state), then reads the next.
// Timeouts (first request, idle, read, write) are one deadline per session
// that its thread's sweeper (HttpServer) checks every 100 ms, instead of a
// timer re-armed for every read and write. Every message is read under an
// HttpMessageBudget, and the bytes a session holds for the message it is
// reading count against the server's buffered-bytes budget.
// Over TLS (HttpServer::Options::tls) the same code runs on an ssl::stream
// layered on the socket; the plain path pays one well-predicted branch per
// read and write for it.
class HttpSession : public std::enable_shared_from_this<HttpSession>
{
public:
    // Admission::OverCapacity: accepted beyond the connection cap; it serves
    // one request to an exempt path (health, metrics) and answers anything
    // else, or nothing within a short grace, with a 503.
    enum class Admission { Normal, OverCapacity };
    HttpSession(HttpSocket socket, HttpServer &server, int thread, Admission admission, bool clientCounted);
    ~HttpSession();

    void start();

    const HttpRequest &request() const { return m_request; }
    HttpReadError readError() const { return m_readError; }
    int thread() const { return m_thread; }
    boost::asio::io_context &context() const;
    bool open() const { return m_open; }
    const boost::asio::ip::address &remoteAddress() const { return m_remote; }

    void respond(int status, std::string_view contentType, std::string_view body, std::span<const HttpHeader> headers);
    void beginStream(int status, std::string_view contentType, std::span<const HttpHeader> headers);
    void writeChunk(std::string_view data);
    void endStream();
    // Ends a stream without its last chunk: the connection closes once what is queued is written,
    // so the client sees a truncated response.
    void abortStream();
    // Called once if the connection closes while a stream is being sent (the client went away,
    // a write failed, a timeout); cleared when the response ends.
    void onClientGone(std::function<void()> callback) { m_onClientGone = std::move(callback); }
    // Response bytes accepted but not yet written to the socket (the write in flight included).
    std::size_t queuedBytes() const { return m_pending.size() + m_writing.size(); }
    // Called once, after a write, when queuedBytes() is at most atMost; cleared when the response
    // ends or the connection closes (onClientGone() is called then, not this).
    void onDrained(std::size_t atMost, std::function<void()> callback)
    {
        m_drainedAt = atMost;
        m_onDrained = std::move(callback);
    }

private:
    friend class HttpServer; // its sweeper walks the sessions (m_prev, m_next, sweep())
    struct Tls;
    // The socket's or the TLS stream's async_read_some / async_write of m_writing.
    template<typename Buffers, typename Handler>
    void readSome(const Buffers &buffers, Handler &&handler);
    template<typename Handler>
    void writeAll(Handler &&handler);
    void handshake();
    // While a stream is sent: one read, so that a client that closes is seen at once rather than
    // at the next write; bytes it gets (a pipelined request) are kept for readNext().
    void watchClient();
    void readNext();
    void readRequest();
    void parseBuffered();
    void readMore();
    void onRead(boost::beast::error_code ec);
    void failRead(HttpReadError error);
    // The bytes of the message being read, counted against the server's budget; false when over it.
    bool chargeBuffered();
    void releaseBuffered();
    bool exemptFromCap() const;
    void rejectOverCapacity();
    void dispatch();
    void appendHead(int status, std::string_view contentType, std::span<const HttpHeader> headers, bool chunked,
                    std::size_t contentLength);
    void flush();
    void onWritten(boost::beast::error_code ec);
    void notifyDrained();
    void finishExchange();
    // After an error response: stop sending, read and drop what the client still sends for a
    // moment, then close; closing with unread bytes would reset the connection and could
    // destroy the response before the client reads it.
    void lingerThenClose();
    void drain();
    void close();
    enum class Deadline { None, FirstRequest, Idle, Read, Write, OverCapacity, Linger };
    void setDeadline(Deadline kind, int ms);
    void setDeadlineAt(Deadline kind, std::int64_t atMs);
    // Called by the sweeper: closes the connection once its deadline has passed.
    void sweep(std::int64_t nowMs);

    HttpSocket m_socket;
    std::unique_ptr<Tls> m_tls; // null: plain HTTP
    Deadline m_deadlineKind = Deadline::None;
    std::int64_t m_deadlineMs = 0;
    std::int64_t m_readDeadlineMs = 0; // the whole request's, from its first byte
    // Intrusive list of the thread's sessions, for the sweeper; touched on that thread only.
    HttpSession *m_prev = nullptr;
    HttpSession *m_next = nullptr;
    HttpServer &m_server;
    int m_thread;
    boost::asio::ip::address m_remote;
    boost::beast::flat_buffer m_buffer;
    HttpMessageBudget m_budget;
    std::size_t m_charged = 0; // bytes counted in the server's buffered-bytes budget
    HeaderArena m_headerArena; // before m_parser and m_request, which allocate from it
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body, HttpFieldsAllocator>> m_parser;
    HttpRequest m_request;
    HttpReadError m_readError = HttpReadError::None;
    std::string m_pending; // bytes queued while a write is in flight
    std::string m_writing; // bytes of the write in flight
    bool m_open = true;
    bool m_keepAlive = true;
    bool m_awaitingResponse = false; // handler owes a response
    bool m_streaming = false;
    bool m_aborting = false;         // abortStream(): close once the queued bytes are written
    bool m_watching = false;         // watchClient()'s read is in flight
    bool m_resumeAfterWatch = false; // readNext() waits for that read instead of starting one
    std::function<void()> m_onClientGone;
    std::function<void()> m_onDrained;
    std::size_t m_drainedAt = 0;
    bool m_responseComplete = false; // the last byte of the response is queued
    bool m_writeInFlight = false;
    bool m_overCapacity = false;
    bool m_clientCounted = false; // counted in the server's per-client table
    bool m_firstRequest = true;
    bool m_rejecting = false;  // the over-capacity 503 is being written; reads are ignored
    std::size_t m_drained = 0; // bytes dropped while lingering
};

} // namespace l0l3
