#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/gateway/httpexchange.h"

namespace boost::asio::ssl {
class context;
}

namespace l0l3 {

// Generic HTTP/1.1 server used by the gateway and the stub LLM: one
// io_context per thread, each with its own acceptor on the same port
// (SO_REUSEPORT, so the kernel spreads connections and a connection never
// changes thread). The handler runs on the connection's thread.
class HttpServer
{
public:
    struct Options
    {
        std::string host = "127.0.0.1";
        std::uint16_t port = 0; // 0: the OS picks one; port() tells which
        int threads = 1;
        std::size_t maxBodyBytes = 1 << 20;
        std::size_t maxHeaderBytes = 16 * 1024; // at most kMaxHeaderBytes (larger values are clamped)
        int idleTimeoutMs = 75000;              // no request starts on an open connection: close it
        int readTimeoutMs = 0;          // a started request is not complete by then: close (slowloris); 0: idle timeout
        int firstRequestTimeoutMs = 0;  // a new connection has not sent a whole request head by then: close; 0: off
        std::size_t maxConnections = 0; // beyond this, new connections get a 503 and are closed; 0: no limit
        std::size_t maxConnectionsPerClient = 0; // per peer address, beyond it a 503; 0: no limit
        // Bytes of requests being read, all connections together; a connection holding more than
        // a head's worth while the total is over gets a 503 and is closed. 0: no limit.
        std::size_t maxBufferedBytes = 0;
        // GET/HEAD paths served even beyond maxConnections (health checks, metrics): such a connection
        // gets one request, which must arrive within a second.
        std::vector<std::string> capExemptPaths = {};
        // Serve HTTPS with this context (TlsContext::server); null: plain HTTP. The handshake counts
        // in the first-request deadline (or, without one, the idle timeout). A connection refused at
        // the connection cap is closed without the 503, which could not be sent before a handshake.
        std::shared_ptr<boost::asio::ssl::context> tls = {};
    };
    // Beast keeps a field's size in 16 bits: a head (or trailer) never holds more.
    static constexpr std::size_t kMaxHeaderBytes = 65535;
    // A message's budget (head, body with its chunk framing, trailer): twice the head and body limits.
    static std::size_t messageBudget(const Options &options);
    // Raises the soft RLIMIT_NOFILE to the hard one; returns the soft limit now in force (0 if unknown).
    static std::uint64_t raiseOpenFileLimit();
    using Handler = std::function<void(HttpExchange)>;

    HttpServer(Options options, Handler handler);
    ~HttpServer();
    HttpServer(const HttpServer &) = delete;
    HttpServer &operator=(const HttpServer &) = delete;

    // Binds every acceptor; false and a reason when the address is unusable.
    bool listen(std::string *error);
    std::uint16_t port() const { return m_port; }
    std::string host() const { return m_options.host; }
    int threadCount() const { return static_cast<int>(m_contexts.size()); }
    boost::asio::io_context &context(int thread) { return *m_contexts[static_cast<std::size_t>(thread)]; }
    const Options &options() const { return m_options; }

    // Runs every io_context (thread 0 on the caller) until stop().
    void run();
    // Thread-safe. New connections are refused; open ones continue.
    void stopAccepting();
    // Thread-safe. Stops every io_context; run() returns.
    void stop();
    // Requests handed to the handler and not answered yet.
    std::size_t inFlight() const { return m_inFlight.load(std::memory_order_relaxed); }

    struct ConnectionStats
    {
        std::size_t open = 0;
        std::uint64_t rejected = 0;     // over maxConnections
        std::uint64_t idleTimeouts = 0; // closed while waiting for a request
        std::uint64_t readTimeouts = 0; // closed while a request was being sent too slowly
        std::uint64_t acceptErrors = 0; // accept failures (EMFILE...), each followed by a back-off
        std::size_t bufferedBytes = 0;  // bytes of requests being read
    };
    ConnectionStats connectionStats() const;

    // Monotonic milliseconds from the coarse clock (no hardware read; a few ms of resolution).
    static std::int64_t coarseNowMs();

private:
    friend class HttpSession;
    void accept(int thread);
    void onAccept(int thread, boost::system::error_code ec, HttpSocket socket);
    void backOffAccept(int thread, const boost::system::error_code &ec);
    void reject(HttpSocket socket);
    // At the cap: closes one of the thread's keep-alive connections idle between requests; false if none.
    bool evictIdle(int thread);
    void runContext(boost::asio::io_context &context, int thread);
    // The per-client table: false when the address is at its cap (not counted then).
    bool admitClient(const boost::asio::ip::address &address);
    void releaseClient(const boost::asio::ip::address &address);
    static const std::string &overCapacityResponse();
    // Every connection's deadline is checked by its thread's sweeper.
    void link(HttpSession *session);
    void unlink(HttpSession *session);
    void sweep(int thread);

    Options m_options;
    Handler m_handler;
    std::vector<HttpSession *> m_sessions; // per thread: head of its sessions' intrusive list
    std::vector<std::unique_ptr<boost::asio::io_context>> m_contexts;
    std::vector<std::unique_ptr<boost::asio::steady_timer>> m_sweepers;
    std::vector<std::unique_ptr<boost::asio::steady_timer>> m_acceptBackOff; // per thread
    std::vector<int> m_acceptDelayMs;                                        // per thread, grows while accept fails
    int m_sweepMs = 100;
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> m_guards;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> m_acceptors;
    std::uint16_t m_port = 0;
    std::atomic<std::size_t> m_inFlight{0};
    std::atomic<std::size_t> m_open{0};
    std::atomic<std::uint64_t> m_rejected{0};
    std::atomic<std::uint64_t> m_idleTimeouts{0};
    std::atomic<std::uint64_t> m_readTimeouts{0};
    std::atomic<std::uint64_t> m_acceptErrors{0};
    std::atomic<std::size_t> m_buffered{0};
    std::mutex m_clientsMutex;
    struct AddressHash
    {
        std::size_t operator()(const boost::asio::ip::address &address) const;
    };
    std::unordered_map<boost::asio::ip::address, std::size_t, AddressHash> m_clients; // open connections per peer
};

} // namespace l0l3
