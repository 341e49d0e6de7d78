#include "core/gateway/upstreamconnection.h"

#include <chrono>

#include <boost/asio/connect.hpp>

#include "core/gateway/log.h"
#include "core/gateway/tlscontext.h"

namespace l0l3 {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Failure = UpstreamClient::Failure;

UpstreamTarget::UpstreamTarget(net::io_context &context, const UpstreamClient::Options &o)
    : options(o)
    , path(o.basePath + o.endpoint)
{
    const bool bracket = o.host.find(':') != std::string::npos; // an IPv6 literal
    hostHeader = bracket ? "[" + o.host + "]" : o.host;
    // The scheme's default port is left out, as browsers do: some front ends route on the bare name.
    if (o.port != (o.tls ? 443 : 80))
        hostHeader += ":" + std::to_string(o.port);
    if (o.tls) {
        tls = o.tlsContext;
        if (!tls) {
            std::string why;
            tls = TlsContext::client(o.caFile, &why);
            if (!tls)
                error = "TLS: " + why;
        }
    }
    tcp::resolver resolver(context);
    boost::system::error_code ec;
    endpoints = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec)
        error = "cannot resolve " + o.host + ": " + ec.message();
}

UpstreamConnection::UpstreamConnection(net::io_context &context)
    : m_context(context)
{
}

void UpstreamConnection::open(const UpstreamTarget &target, Opened opened)
{
    if (!target.error.empty())
        return opened(Failure::Connect, target.error);
    // Copied: the target's owner may be gone when an operation completes.
    m_where = target.options.host + ":" + std::to_string(target.options.port);
    m_connectTimeoutMs = target.options.connectTimeoutMs;
    if (target.tls) {
        m_tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(m_context, *target.tls);
        std::string error;
        if (!TlsContext::expectPeer(m_tls->native_handle(), target.options.host, &error))
            return opened(Failure::Connect, error);
    } else {
        m_plain = std::make_unique<beast::tcp_stream>(m_context);
    }
    tcp().expires_after(std::chrono::milliseconds(m_connectTimeoutMs));
    tcp().async_connect(target.endpoints,
                        [this, opened = std::move(opened)](beast::error_code ec, const tcp::endpoint &) mutable {
                            if (ec)
                                return opened(ec == beast::error::timeout ? Failure::Timeout : Failure::Connect,
                                              "connect: " + ec.message());
                            boost::system::error_code ignored;
                            tcp().socket().set_option(tcp::no_delay(true), ignored);
                            if (m_tls)
                                handshake(std::move(opened));
                            else
                                opened(Failure::None, {});
                        });
}

void UpstreamConnection::handshake(Opened opened)
{
    // Its own bound: a peer that accepts and then stalls the handshake is a connect that failed.
    tcp().expires_after(std::chrono::milliseconds(m_connectTimeoutMs));
    m_tls->async_handshake(
        net::ssl::stream_base::client, [this, opened = std::move(opened)](beast::error_code ec) mutable {
            if (!ec)
                return opened(Failure::None, {});
            if (ec == beast::error::timeout)
                return opened(Failure::Timeout, "TLS handshake: upstream timed out");
            const std::string reason = TlsContext::verifyFailure(m_tls->native_handle());
            if (!reason.empty()) {
                Log::warnRateLimited("upstream " + m_where + ": TLS certificate could not be verified: " + reason);
                return opened(Failure::Certificate, "the upstream certificate could not be verified (" + reason + ")");
            }
            Log::warnRateLimited("upstream " + m_where + ": TLS handshake failed: " + ec.message());
            opened(Failure::Connect, "TLS handshake failed: " + ec.message());
        });
}

void UpstreamConnection::close()
{
    if (!m_plain && !m_tls)
        return;
    boost::system::error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp().close();
}

} // namespace l0l3
