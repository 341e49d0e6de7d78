#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace boost::asio::ssl {
class context;
}

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

class UpstreamConnection;
struct UpstreamTarget;

// HTTP/1.1 client for the OpenAI-compatible upstream (L3), plain or over TLS:
// one per io_context thread, with a pool of keep-alive connections, a connect
// timeout (which also bounds the TLS handshake, separately) and a
// whole-request timeout. A pooled connection the server has closed meanwhile
// is retried once on a fresh one. Not thread-safe: use it from its thread.
//
// Over TLS the upstream's certificate is always verified (against caFile, or
// the system store) and must name the URL's host; SNI carries the host name.
// A certificate that fails is Failure::Certificate, logged with the host and
// OpenSSL's reason.
class UpstreamClient
{
public:
    struct Options
    {
        std::string host;
        std::uint16_t port = 80;
        std::string basePath = "/v1";               // POST basePath + endpoint
        std::string endpoint = "/chat/completions"; // "/embeddings" for an embeddings client
        int connectTimeoutMs = 2000;
        int timeoutMs = 30000;
        std::size_t maxResponseBytes = 32u << 20;
        std::size_t maxIdleConnections = 64;
        bool tls = false;   // https://
        std::string caFile; // PEM CA certificates trusted instead of the system store; empty: system store
        // Shared by every thread's client; built from caFile when null.
        std::shared_ptr<boost::asio::ssl::context> tlsContext;
    };

    // Certificate: TLS handshake refused the upstream's certificate (untrusted, expired, wrong name).
    enum class Failure { None, Connect, Timeout, Protocol, Certificate };
    struct Result
    {
        Failure failure = Failure::None;
        int status = 0; // HTTP status when failure == None
        std::string body;
        std::string error; // what went wrong, for logs
        std::int64_t latencyMs = 0;
        // With an error status: the Retry-After field as received (unchecked; empty when absent or
        // repeated). UpstreamError::parseRetryAfter decides whether it may be relayed.
        std::string retryAfter;
    };
    using Callback = std::function<void(Result)>;

    // "http://HOST[:PORT]/v1" or "https://HOST[:PORT]/v1" -> host, port (80 or 443 by
    // default), tls, basePath; false and a reason for anything else.
    static bool parseBaseUrl(std::string_view url, Options *out, std::string *error);

    UpstreamClient(boost::asio::io_context &context, Options options);
    ~UpstreamClient();

    // POST basePath + endpoint with this JSON body.
    void post(std::string body, std::string_view authorization, Callback callback);
    boost::asio::io_context &context() { return m_context; }
    void postChatCompletion(std::string body, std::string_view authorization, Callback callback)
    {
        post(std::move(body), authorization, std::move(callback));
    }

private:
    struct Call;
    friend struct Call;
    std::unique_ptr<UpstreamConnection> takeIdle();
    void giveBack(std::unique_ptr<UpstreamConnection> connection);

    boost::asio::io_context &m_context;
    Options m_options;
    std::unique_ptr<UpstreamTarget> m_target; // a resolve or TLS setup error: every call fails with it
    std::vector<std::unique_ptr<UpstreamConnection>> m_idle;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace l0l3
