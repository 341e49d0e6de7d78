#include "core/gateway/httpserver.h"

#include <algorithm>
#include <ctime>
#include <exception>
#include <functional>
#include <string_view>
#include <thread>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/gateway/httpsession.h"
#include "core/gateway/log.h"

namespace l0l3 {

namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpServer::HttpServer(Options options, Handler handler)
    : m_options(std::move(options))
    , m_handler(std::move(handler))
{
    m_options.maxHeaderBytes = std::min(m_options.maxHeaderBytes, kMaxHeaderBytes);
    const int n = m_options.threads < 1 ? 1 : m_options.threads;
    for (int i = 0; i < n; ++i) {
        // Concurrency hint 1: each context is only ever run by one thread.
        m_contexts.push_back(std::make_unique<net::io_context>(1));
        m_guards.push_back(net::make_work_guard(*m_contexts.back()));
        m_sweepers.push_back(std::make_unique<net::steady_timer>(*m_contexts.back()));
        m_acceptBackOff.push_back(std::make_unique<net::steady_timer>(*m_contexts.back()));
        m_acceptDelayMs.push_back(0);
        m_sessions.push_back(nullptr);
    }
    // 100 ms is plenty for timeouts of seconds; shorter ones (tests) are swept proportionally finer.
    int shortest = m_options.idleTimeoutMs;
    if (m_options.readTimeoutMs > 0)
        shortest = std::min(shortest, m_options.readTimeoutMs);
    if (m_options.firstRequestTimeoutMs > 0)
        shortest = std::min(shortest, m_options.firstRequestTimeoutMs);
    m_sweepMs = std::clamp(shortest / 4, 5, 100);
}

HttpServer::~HttpServer()
{
    stop();
    // Sessions still queued in the contexts touch m_inFlight (and m_sessions) when destroyed.
    m_sweepers.clear();
    m_acceptBackOff.clear();
    m_acceptors.clear();
    m_guards.clear();
    m_contexts.clear();
}

bool HttpServer::listen(std::string *error)
{
    boost::system::error_code ec;
    const auto address = net::ip::make_address(m_options.host == "localhost" ? std::string("127.0.0.1")
                                                                             : m_options.host,
                                               ec);
    if (ec) {
        if (error)
            *error = "invalid listen address '" + m_options.host + "'";
        return false;
    }
    std::uint16_t port = m_options.port;
    for (std::size_t i = 0; i < m_contexts.size(); ++i) {
        auto acceptor = std::make_unique<tcp::acceptor>(*m_contexts[i]);
        const tcp::endpoint endpoint(address, port);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec)
            acceptor->set_option(net::socket_base::reuse_address(true), ec);
        if (!ec && m_contexts.size() > 1)
            acceptor->set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
        if (!ec)
            acceptor->bind(endpoint, ec);
        if (!ec)
            acceptor->listen(net::socket_base::max_listen_connections, ec);
        if (ec) {
            if (error)
                *error = "cannot listen on " + m_options.host + ":" + std::to_string(port) + ": " + ec.message();
            m_acceptors.clear();
            return false;
        }
        // With port 0 the first bind picks the port; the others share it.
        port = acceptor->local_endpoint().port();
        m_acceptors.push_back(std::move(acceptor));
    }
    m_port = port;
    for (std::size_t i = 0; i < m_acceptors.size(); ++i) {
        accept(static_cast<int>(i));
        sweep(static_cast<int>(i));
    }
    return true;
}

std::int64_t HttpServer::coarseNowMs()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void HttpServer::link(HttpSession *session)
{
    HttpSession *&head = m_sessions[static_cast<std::size_t>(session->m_thread)];
    session->m_prev = nullptr;
    session->m_next = head;
    if (head)
        head->m_prev = session;
    head = session;
}

void HttpServer::unlink(HttpSession *session)
{
    HttpSession *&head = m_sessions[static_cast<std::size_t>(session->m_thread)];
    if (session->m_prev)
        session->m_prev->m_next = session->m_next;
    else if (head == session)
        head = session->m_next;
    if (session->m_next)
        session->m_next->m_prev = session->m_prev;
    session->m_prev = session->m_next = nullptr;
}

void HttpServer::sweep(int thread)
{
    const std::int64_t now = coarseNowMs();
    // close() only cancels the session's pending operation: no session is destroyed during the walk.
    for (HttpSession *s = m_sessions[static_cast<std::size_t>(thread)]; s;) {
        HttpSession *next = s->m_next;
        s->sweep(now);
        s = next;
    }
    auto &timer = *m_sweepers[static_cast<std::size_t>(thread)];
    timer.expires_after(std::chrono::milliseconds(m_sweepMs));
    timer.async_wait([this, thread](boost::system::error_code ec) {
        if (!ec)
            sweep(thread);
    });
}

std::size_t HttpServer::messageBudget(const Options &options)
{
    return 2 * (std::min(options.maxHeaderBytes, kMaxHeaderBytes) + options.maxBodyBytes);
}

std::uint64_t HttpServer::raiseOpenFileLimit()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    return limit.rlim_cur == RLIM_INFINITY ? std::uint64_t(1) << 40 : static_cast<std::uint64_t>(limit.rlim_cur);
}

std::size_t HttpServer::AddressHash::operator()(const net::ip::address &address) const
{
    if (address.is_v4())
        return std::hash<std::uint32_t>()(address.to_v4().to_uint());
    const auto bytes = address.to_v6().to_bytes();
    return std::hash<std::string_view>()(std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()));
}

namespace {

// Who a connection is charged to: an IPv4 address (also when v4-mapped), or an IPv6 /64, which a
// single host commonly gets whole and picks addresses from at will.
net::ip::address clientOf(const net::ip::address &address)
{
    if (!address.is_v6())
        return address;
    const auto v6 = address.to_v6();
    if (v6.is_v4_mapped())
        return net::ip::make_address_v4(net::ip::v4_mapped, v6);
    auto bytes = v6.to_bytes();
    std::fill(bytes.begin() + 8, bytes.end(), 0);
    return net::ip::address_v6(bytes);
}

} // namespace

bool HttpServer::admitClient(const net::ip::address &address)
{
    const auto client = clientOf(address);
    std::lock_guard lock(m_clientsMutex);
    std::size_t &count = m_clients[client];
    if (count >= m_options.maxConnectionsPerClient) {
        if (count == 0)
            m_clients.erase(client);
        return false;
    }
    ++count;
    return true;
}

void HttpServer::releaseClient(const net::ip::address &address)
{
    std::lock_guard lock(m_clientsMutex);
    const auto it = m_clients.find(clientOf(address));
    if (it == m_clients.end())
        return;
    if (--it->second == 0)
        m_clients.erase(it);
}

void HttpServer::accept(int thread)
{
    auto &acceptor = *m_acceptors[static_cast<std::size_t>(thread)];
    acceptor.async_accept(*m_contexts[static_cast<std::size_t>(thread)],
                          [this, thread](boost::system::error_code ec, HttpSocket socket) {
                              onAccept(thread, ec, std::move(socket));
                          });
}

void HttpServer::onAccept(int thread, boost::system::error_code ec, HttpSocket socket)
{
    if (ec == net::error::operation_aborted)
        return;
    if (ec) {
        backOffAccept(thread, ec);
        return;
    }
    m_acceptDelayMs[static_cast<std::size_t>(thread)] = 0;
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const auto peer = socket.remote_endpoint(ignored).address();
    const std::size_t open = m_open.load(std::memory_order_relaxed);
    // Over the cap, a small reserve still lets health checks and scrapes in (capExemptPaths).
    const std::size_t reserve = m_options.capExemptPaths.empty()
        ? 0
        : std::max<std::size_t>(16, m_options.maxConnections / 64);
    bool clientCounted = false;
    if (m_options.maxConnectionsPerClient > 0 && !(clientCounted = admitClient(peer))) {
        reject(std::move(socket));
    } else {
        // At the cap, an idle keep-alive connection gives its slot to a new one (its slot is freed
        // as soon as its pending read completes); else a few health checks still get in.
        const bool atCap = m_options.maxConnections > 0 && open >= m_options.maxConnections && !evictIdle(thread);
        if (atCap && open >= m_options.maxConnections + reserve) {
            if (clientCounted)
                releaseClient(peer);
            reject(std::move(socket));
            if (m_acceptors[static_cast<std::size_t>(thread)]->is_open())
                accept(thread);
            return;
        }
        const auto admission = atCap ? HttpSession::Admission::OverCapacity : HttpSession::Admission::Normal;
        std::make_shared<HttpSession>(std::move(socket), *this, thread, admission, clientCounted)->start();
    }
    if (m_acceptors[static_cast<std::size_t>(thread)]->is_open())
        accept(thread);
}

bool HttpServer::evictIdle(int thread)
{
    for (HttpSession *s = m_sessions[static_cast<std::size_t>(thread)]; s; s = s->m_next) {
        if (s->m_open && s->m_deadlineKind == HttpSession::Deadline::Idle && !s->m_awaitingResponse) {
            m_idleTimeouts.fetch_add(1, std::memory_order_relaxed);
            s->close();
            return true;
        }
    }
    return false;
}

void HttpServer::backOffAccept(int thread, const boost::system::error_code &ec)
{
    // Out of descriptors (EMFILE, ENFILE) or kernel memory: the pending connection stays in the
    // backlog and accepting again at once fails again, so the loop would spin. Wait, longer each time.
    m_acceptErrors.fetch_add(1, std::memory_order_relaxed);
    int &delay = m_acceptDelayMs[static_cast<std::size_t>(thread)];
    delay = delay == 0 ? 10 : std::min(delay * 2, 1000);
    Log::warnRateLimited("accept failed (" + ec.message() + "); accepting again in " + std::to_string(delay) + " ms");
    auto &timer = *m_acceptBackOff[static_cast<std::size_t>(thread)];
    timer.expires_after(std::chrono::milliseconds(delay));
    timer.async_wait([this, thread](boost::system::error_code waitEc) {
        if (!waitEc && m_acceptors[static_cast<std::size_t>(thread)]->is_open())
            accept(thread);
    });
}

const std::string &HttpServer::overCapacityResponse()
{
    static constexpr std::string_view kBody =
        R"({"error":{"message":"The server has too many open connections; retry shortly.","type":"server_error","param":null,"code":"too_many_connections"}})";
    static const std::string kResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                         "Content-Length: "
        + std::to_string(kBody.size()) + "\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" + std::string(kBody);
    return kResponse;
}

void HttpServer::reject(HttpSocket socket)
{
    m_rejected.fetch_add(1, std::memory_order_relaxed);
    if (m_options.tls) {
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    auto s = std::make_shared<HttpSocket>(std::move(socket));
    net::async_write(*s, net::buffer(overCapacityResponse()), [s](boost::system::error_code, std::size_t) {
        boost::system::error_code ignored;
        s->shutdown(HttpSocket::shutdown_both, ignored);
        s->close(ignored);
    });
}

HttpServer::ConnectionStats HttpServer::connectionStats() const
{
    ConnectionStats s;
    s.open = m_open.load(std::memory_order_relaxed);
    s.rejected = m_rejected.load(std::memory_order_relaxed);
    s.idleTimeouts = m_idleTimeouts.load(std::memory_order_relaxed);
    s.readTimeouts = m_readTimeouts.load(std::memory_order_relaxed);
    s.acceptErrors = m_acceptErrors.load(std::memory_order_relaxed);
    s.bufferedBytes = m_buffered.load(std::memory_order_relaxed);
    return s;
}

void HttpServer::runContext(net::io_context &context, int thread)
{
    // Last resort: an exception out of a handler unwinds run(). The operation that threw is lost
    // (its connection is released with it); every other one on the thread is still queued, so the
    // thread logs it and runs on instead of taking the process down.
    while (true) {
        try {
            context.run();
            return;
        } catch (const std::exception &e) {
            Log::error("exception on I/O thread " + std::to_string(thread) + ": " + e.what() + "; serving on");
        } catch (...) {
            Log::error("unknown exception on I/O thread " + std::to_string(thread) + "; serving on");
        }
    }
}

void HttpServer::run()
{
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < m_contexts.size(); ++i)
        threads.emplace_back([this, i] { runContext(*m_contexts[i], static_cast<int>(i)); });
    runContext(*m_contexts[0], 0);
    for (auto &t : threads)
        t.join();
}

void HttpServer::stopAccepting()
{
    for (std::size_t i = 0; i < m_acceptors.size(); ++i) {
        net::post(*m_contexts[i], [acc = m_acceptors[i].get()] {
            boost::system::error_code ignored;
            acc->close(ignored);
        });
    }
}

void HttpServer::stop()
{
    for (auto &ctx : m_contexts)
        ctx->stop();
}

} // namespace l0l3
