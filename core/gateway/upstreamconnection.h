#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "core/gateway/upstreamclient.h"

namespace l0l3 {

// What every connection to one upstream shares, set up once per thread: the
// request target and Host field, the resolved addresses and the TLS context.
// error is set when they could not be (the name does not resolve, the CA file
// is unusable): every connection then fails with it.
struct UpstreamTarget
{
    UpstreamTarget(boost::asio::io_context &context, const UpstreamClient::Options &options);

    UpstreamClient::Options options;
    std::string path;       // basePath + endpoint
    std::string hostHeader; // the scheme's default port left out
    boost::asio::ip::tcp::resolver::results_type endpoints;
    std::shared_ptr<boost::asio::ssl::context> tls; // null: plain HTTP
    std::string error;
};

// One connection to an OpenAI-compatible upstream, plain or over TLS: what
// UpstreamClient pools and what each UpstreamStreamer call owns. The HTTP code
// on top is the same over both (with()); the timeouts live on the TCP layer
// either way (tcp()).
class UpstreamConnection
{
public:
    // Failure::None when the connection is ready for a request, else why not (Connect, Timeout,
    // Certificate) and a message for the client's error and the logs.
    using Opened = std::function<void(UpstreamClient::Failure failure, std::string error)>;

    explicit UpstreamConnection(boost::asio::io_context &context);

    // Connects to target, sets TCP_NODELAY, and over TLS does the handshake (SNI, the certificate
    // verified against target's trust and the host's name). The connect and the handshake are each
    // bounded by options.connectTimeoutMs; a refused certificate is logged (rate-limited) with the
    // host and OpenSSL's reason. opened runs once, on the context's thread.
    void open(const UpstreamTarget &target, Opened opened);

    boost::beast::tcp_stream &tcp() { return m_tls ? boost::beast::get_lowest_layer(*m_tls) : *m_plain; }
    bool isTls() const { return m_tls != nullptr; }
    // f(stream) on whichever stream this is.
    template<typename F>
    void with(F &&f)
    {
        if (m_tls)
            f(*m_tls);
        else
            f(*m_plain);
    }
    // Shuts the socket down and closes it; pending operations complete with an error.
    void close();

private:
    void handshake(Opened opened);

    boost::asio::io_context &m_context;
    std::string m_where; // host:port, for logs
    int m_connectTimeoutMs = 0;
    std::unique_ptr<boost::beast::tcp_stream> m_plain;
    std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> m_tls;
};

} // namespace l0l3
