#include "core/gateway/httpserver.h"

#include "core/gateway/httpsession.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <algorithm>
#include <ctime>
#include <thread>

namespace l0l3 {

namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpServer::HttpServer(Options options, Handler handler)
    : m_options(std::move(options))
    , m_handler(std::move(handler))
{
    const int n = m_options.threads < 1 ? 1 : m_options.threads;
    for (int i = 0; i < n; ++i) {
        // Concurrency hint 1: each context is only ever run by one thread.
        m_contexts.push_back(std::make_unique<net::io_context>(1));
        m_guards.push_back(net::make_work_guard(*m_contexts.back()));
        m_sweepers.push_back(std::make_unique<net::steady_timer>(*m_contexts.back()));
        m_sessions.push_back(nullptr);
    }
    // 100 ms is plenty for timeouts of seconds; shorter ones (tests) are swept proportionally finer.
    int shortest = m_options.idleTimeoutMs;
    if (m_options.readTimeoutMs > 0)
        shortest = std::min(shortest, m_options.readTimeoutMs);
    m_sweepMs = std::clamp(shortest / 4, 5, 100);
}

HttpServer::~HttpServer()
{
    stop();
    // Sessions still queued in the contexts touch m_inFlight (and m_sessions) when destroyed.
    m_sweepers.clear();
    m_acceptors.clear();
    m_guards.clear();
    m_contexts.clear();
}

bool HttpServer::listen(std::string *error)
{
    boost::system::error_code ec;
    const auto address = net::ip::make_address(m_options.host == "localhost" ? std::string("127.0.0.1") : m_options.host, ec);
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

void HttpServer::accept(int thread)
{
    auto &acceptor = *m_acceptors[static_cast<std::size_t>(thread)];
    acceptor.async_accept(*m_contexts[static_cast<std::size_t>(thread)],
                          [this, thread](boost::system::error_code ec, HttpSocket socket) {
                              if (ec == net::error::operation_aborted)
                                  return;
                              if (!ec) {
                                  boost::system::error_code ignored;
                                  socket.set_option(tcp::no_delay(true), ignored);
                                  if (m_options.maxConnections > 0
                                      && m_open.load(std::memory_order_relaxed) >= m_options.maxConnections)
                                      reject(std::move(socket));
                                  else
                                      std::make_shared<HttpSession>(std::move(socket), *this, thread)->start();
                              }
                              if (m_acceptors[static_cast<std::size_t>(thread)]->is_open())
                                  accept(thread);
                          });
}

void HttpServer::reject(HttpSocket socket)
{
    m_rejected.fetch_add(1, std::memory_order_relaxed);
    static constexpr std::string_view kBody =
        R"({"error":{"message":"The server has too many open connections; retry shortly.","type":"server_error","param":null,"code":"too_many_connections"}})";
    static const std::string kResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                         "Content-Length: " + std::to_string(kBody.size())
        + "\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" + std::string(kBody);
    auto s = std::make_shared<HttpSocket>(std::move(socket));
    net::async_write(*s, net::buffer(kResponse), [s](boost::system::error_code, std::size_t) {
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
    return s;
}

void HttpServer::run()
{
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < m_contexts.size(); ++i)
        threads.emplace_back([ctx = m_contexts[i].get()] { ctx->run(); });
    m_contexts[0]->run();
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
