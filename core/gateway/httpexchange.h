#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/gateway/headerarena.h"

namespace l0l3 {

class HttpSession;

// A connection's socket on the concrete io_context executor instead of the
// type-erased any_io_executor (beast::tcp_stream's), which every async
// operation would copy and destroy several times.
using HttpSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// A request's header fields are allocated from its connection's HeaderArena.
using HttpFieldsAllocator = HeaderArena::Allocator<char>;
using HttpRequest =
    boost::beast::http::request<boost::beast::http::string_body, boost::beast::http::basic_fields<HttpFieldsAllocator>>;

struct HttpHeader
{
    std::string_view name;
    std::string_view value;
};

enum class HttpReadError {
    None,
    BodyTooLarge,    // headers are available, the body is not; the connection closes after the response
    Malformed,       // not parseable HTTP; the request may be partial
    HeaderTooLarge,  // the header section (or a chunk line or the trailer) exceeds the limit; the connection closes
    MessageTooLarge, // head, body framing and trailer together exceed the message budget; the connection closes
    Overloaded,      // the server holds too many buffered request bytes; the connection closes
};

// One request/response exchange on a connection, handed to the server's
// handler. Cheap to copy; keep a copy to answer later (asynchronously) on the
// same thread (context()). Exactly one of respond() or beginStream()..endStream()
// must happen; calls after the client went away are harmless no-ops.
class HttpExchange
{
public:
    explicit HttpExchange(std::shared_ptr<HttpSession> session);

    const HttpRequest &request() const;
    HttpReadError readError() const;
    int thread() const;                                    // index of the server thread that owns it
    boost::asio::io_context &context() const;              // that thread's io_context
    const boost::asio::ip::address &remoteAddress() const; // the client's address (unspecified if unknown)

    void respond(int status, std::string_view contentType, std::string_view body, std::span<const HttpHeader> headers);
    void respond(int status, std::string_view contentType, std::string_view body,
                 std::initializer_list<HttpHeader> headers = {})
    {
        respond(status, contentType, body, std::span<const HttpHeader>(headers.begin(), headers.size()));
    }

    // Chunked transfer encoding: the header now, then any number of chunks.
    void beginStream(int status, std::string_view contentType, std::span<const HttpHeader> headers);
    void writeChunk(std::string_view data);
    void endStream();
    // Ends a stream without its last chunk and closes the connection (test equipment: a truncated stream).
    void abortStream();
    // After beginStream(): called once if the client goes away before the stream ends (it is
    // noticed at once, not only at the next write); never after endStream().
    void onClientGone(std::function<void()> callback);
    // Backpressure for a stream: the bytes written but not yet taken by the client's socket, and a
    // callback run once when they have fallen to atMost (not when the client goes away).
    std::size_t queuedBytes() const;
    void onDrained(std::size_t atMost, std::function<void()> callback);

    bool clientConnected() const;

private:
    std::shared_ptr<HttpSession> m_session;
};

} // namespace l0l3
