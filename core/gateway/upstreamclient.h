#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

// HTTP/1.1 client for the OpenAI-compatible upstream (L3): one per io_context
// thread, with a pool of keep-alive connections, a connect timeout and a
// whole-request timeout. A pooled connection the server has closed meanwhile
// is retried once on a fresh one. Not thread-safe: use it from its thread.
class UpstreamClient
{
public:
    struct Options
    {
        std::string host;
        std::uint16_t port = 80;
        std::string basePath = "/v1"; // POST basePath + "/chat/completions"
        int connectTimeoutMs = 2000;
        int timeoutMs = 30000;
        std::size_t maxResponseBytes = 32u << 20;
        std::size_t maxIdleConnections = 64;
    };

    enum class Failure { None, Connect, Timeout, Protocol };
    struct Result
    {
        Failure failure = Failure::None;
        int status = 0;           // HTTP status when failure == None
        std::string body;
        std::string error;        // what went wrong, for logs
        std::int64_t latencyMs = 0;
    };
    using Callback = std::function<void(Result)>;

    // "http://HOST:PORT/v1" -> host, port, basePath. https is not supported
    // (terminate TLS in a sidecar); false and a reason for anything else.
    static bool parseBaseUrl(std::string_view url, Options *out, std::string *error);

    UpstreamClient(boost::asio::io_context &context, Options options);
    ~UpstreamClient();

    void postChatCompletion(std::string body, std::string_view authorization, Callback callback);

private:
    struct Call;
    friend struct Call;
    std::unique_ptr<boost::beast::tcp_stream> takeIdle();
    void giveBack(std::unique_ptr<boost::beast::tcp_stream> stream);

    boost::asio::io_context &m_context;
    Options m_options;
    std::string m_target;
    std::string m_hostHeader;
    boost::asio::ip::tcp::resolver::results_type m_endpoints;
    std::string m_resolveError;
    std::vector<std::unique_ptr<boost::beast::tcp_stream>> m_idle;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace l0l3
