#include "core/gateway/asioredisconnection.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <hiredis/hiredis.h>

#include "core/common/hiredisarena.h"
#include "core/gateway/log.h"
#include "core/gateway/tlscontext.h"

namespace l0l3 {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

std::mutex g_defaultTlsMutex;
std::shared_ptr<ssl::context> g_defaultTls; // guarded by g_defaultTlsMutex

constexpr std::size_t kReadBufferBytes = 64 * 1024;

std::string hostPort(const RedisUrl &url)
{
    return (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

} // namespace

struct AsioRedisConnection::Pending
{
    AsioRedisConnection *owner;
    ReplyCallback callback;
    std::int64_t deadlineMs;
    bool done = false; // timed out: the callback already ran
};

// One TCP (and, for rediss://, TLS) connection and what belongs to it alone.
// Handlers hold it by shared_ptr and act only while it is still the
// connection's current link, so a dropped link's late completions do nothing.
struct AsioRedisConnection::Link
{
    Link(net::io_context &context, std::shared_ptr<ssl::context> tlsContext)
        : socket(context)
        , resolver(context)
        , tlsContext(std::move(tlsContext))
        , reader(redisReaderCreate())
        , buffer(new char[kReadBufferBytes])
    {
        if (this->tlsContext)
            tls = std::make_unique<ssl::stream<tcp::socket &>>(socket, *this->tlsContext);
        if (reader)
            HiredisArena::install(reader); // one cached block per small reply instead of two mallocs
    }
    ~Link()
    {
        if (reader)
            redisReaderFree(reader);
    }
    Link(const Link &) = delete;
    Link &operator=(const Link &) = delete;

    void close()
    {
        boost::system::error_code ignored;
        resolver.cancel();
        socket.close(ignored); // pending operations complete with operation_aborted
    }

    template<typename Handler>
    void readSome(Handler &&handler)
    {
        const auto buf = net::buffer(buffer.get(), kReadBufferBytes);
        if (tls)
            tls->async_read_some(buf, std::forward<Handler>(handler));
        else
            socket.async_read_some(buf, std::forward<Handler>(handler));
    }

    template<typename Handler>
    void writeAll(Handler &&handler)
    {
        if (tls)
            net::async_write(*tls, net::buffer(writing), std::forward<Handler>(handler));
        else
            net::async_write(socket, net::buffer(writing), std::forward<Handler>(handler));
    }

    tcp::socket socket;
    tcp::resolver resolver;
    std::shared_ptr<ssl::context> tlsContext;        // kept alive for tls
    std::unique_ptr<ssl::stream<tcp::socket &>> tls; // rediss:// only
    redisReader *reader;
    std::unique_ptr<char[]> buffer;
    std::string out;     // formatted commands not yet handed to the socket
    std::string writing; // the bytes of the write in progress
    bool writeInFlight = false;
    bool flushPosted = false;     // a flush() runs after the handlers already queued
    bool open = false;            // connected (and the TLS handshake done): writes may start
    bool subscribed = false;      // SUBSCRIBE sent: push messages may arrive
    std::size_t partialBytes = 0; // read since the last complete reply, at most Options::maxReplyBytes
};

void AsioRedisConnection::setDefaultTls(std::shared_ptr<ssl::context> context)
{
    std::lock_guard lock(g_defaultTlsMutex);
    g_defaultTls = std::move(context);
}

AsioRedisConnection::AsioRedisConnection(net::io_context &context, Options options)
    : m_context(context)
    , m_options(std::move(options))
    , m_reconnectTimer(context)
    , m_connectTimer(context)
    , m_sweepTimer(context)
{
}

AsioRedisConnection::~AsioRedisConnection()
{
    stop();
    *m_alive = false;
}

std::int64_t AsioRedisConnection::nowMs() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void AsioRedisConnection::setSubscriptions(std::vector<std::string> channels, MessageCallback onMessage,
                                           std::function<void()> onSubscribed)
{
    m_channels = std::move(channels);
    m_onMessage = std::move(onMessage);
    m_onSubscribed = std::move(onSubscribed);
}

void AsioRedisConnection::start()
{
    m_stopped = false;
    connect();
}

void AsioRedisConnection::stop()
{
    ++m_stops; // "not connected" answers posted before this stop are dropped
    if (m_stopped && !m_link)
        return;
    m_stopped = true;
    m_ready = false;
    m_reconnectTimer.cancel();
    m_connectTimer.cancel();
    m_sweepTimer.cancel();
    dropLink();
}

void AsioRedisConnection::setAddress(const std::string &host, int port)
{
    if (host == m_options.url.host && port == m_options.url.port)
        return;
    m_options.url.host = host;
    m_options.url.port = port;
    if (m_stopped)
        return;
    m_reportedDown = true; // logs "connected" for the new address, no "unavailable" for the old one
    m_backoffMs = 50;
    m_connectTimer.cancel();
    const bool wasReady = m_ready;
    dropLink();
    if (wasReady && m_onState)
        m_onState(false);
    m_reconnectTimer.cancel();
    connect();
}

// Closes the current link; the callbacks of its commands in flight run with
// "connection lost" unless stopped.
void AsioRedisConnection::dropLink()
{
    m_ready = false;
    if (!m_link)
        return;
    LinkPtr link = std::move(m_link); // commands issued from callbacks below fail fast
    link->close();
    std::deque<Pending *> inflight;
    inflight.swap(m_inflight);
    for (Pending *pending : inflight) {
        if (!pending->done && !m_stopped && pending->callback)
            pending->callback(nullptr, "connection lost");
        recycle(pending);
    }
}

void AsioRedisConnection::connect()
{
    if (m_stopped || m_link)
        return;
    std::shared_ptr<ssl::context> tlsContext;
    if (m_options.url.tls) {
        tlsContext = m_options.tls;
        if (!tlsContext) {
            std::lock_guard lock(g_defaultTlsMutex);
            tlsContext = g_defaultTls;
        }
        if (!tlsContext) {
            std::string why;
            tlsContext = TlsContext::client({}, &why);
            if (!tlsContext) {
                lost("TLS: " + why);
                m_backoffMs = m_options.maxBackoffMs;
                scheduleReconnect();
                return;
            }
            m_options.tls = tlsContext; // loaded once per connection, not per reconnect
        }
    }
    auto link = std::make_shared<Link>(m_context, std::move(tlsContext));
    if (!link->reader) {
        lost("out of memory");
        scheduleReconnect();
        return;
    }
    m_link = link;

    // Queued now, written as soon as the link is open, answered before anything else.
    m_probing = false;
    if (m_options.refuseAnonymous && !m_options.url.password.empty()) {
        command({"PING"}, [this, alive = std::weak_ptr<bool>(m_alive)](const redisReply *reply, std::string_view) {
            if (alive.lock())
                onAnonymousProbe(reply);
        });
        m_probing = true; // nothing else is sent until the server asked for AUTH
    } else {
        sendSetup();
    }

    // Bounds the resolution, the TCP connect and the TLS handshake together.
    m_connectTimer.expires_after(std::chrono::milliseconds(m_options.connectTimeoutMs));
    m_connectTimer.async_wait([this, alive = std::weak_ptr<bool>(m_alive), link](boost::system::error_code ec) {
        if (ec || !alive.lock() || m_link != link || link->open)
            return;
        linkFailed(link, link->tls ? "connect or TLS handshake timeout" : "connect timeout");
    });

    boost::system::error_code literal;
    const auto address = net::ip::make_address(m_options.url.host, literal);
    if (!literal) {
        link->socket.async_connect(tcp::endpoint(address, static_cast<unsigned short>(m_options.url.port)),
                                   [this, alive = std::weak_ptr<bool>(m_alive), link](boost::system::error_code ec) {
                                       if (!alive.lock() || m_link != link)
                                           return;
                                       if (ec)
                                           return linkFailed(link, ec.message());
                                       openSocket(link);
                                   });
        return;
    }
    link->resolver.async_resolve(
        m_options.url.host, std::to_string(m_options.url.port),
        [this, alive = std::weak_ptr<bool>(m_alive), link](boost::system::error_code ec,
                                                           const tcp::resolver::results_type &results) {
            if (!alive.lock() || m_link != link)
                return;
            if (ec)
                return linkFailed(link, "cannot resolve " + m_options.url.host + ": " + ec.message());
            net::async_connect(link->socket, results,
                               [this, alive, link](boost::system::error_code ec2, const tcp::endpoint &) {
                                   if (!alive.lock() || m_link != link)
                                       return;
                                   if (ec2)
                                       return linkFailed(link, ec2.message());
                                   openSocket(link);
                               });
        });
}

void AsioRedisConnection::openSocket(const LinkPtr &link)
{
    boost::system::error_code ignored;
    link->socket.set_option(tcp::no_delay(true), ignored);
    if (!link->tls)
        return established(link);
    std::string why;
    if (!TlsContext::expectPeer(link->tls->native_handle(), m_options.url.host, &why))
        return linkFailed(link, "TLS: " + why);
    link->tls->async_handshake(
        ssl::stream_base::client, [this, alive = std::weak_ptr<bool>(m_alive), link](boost::system::error_code ec) {
            if (!alive.lock() || m_link != link)
                return;
            if (!ec)
                return established(link);
            const std::string reason = TlsContext::verifyFailure(link->tls->native_handle());
            // A refused certificate does not fix itself: retry slowly.
            m_backoffMs = m_options.maxBackoffMs;
            if (!reason.empty())
                return linkFailed(link,
                                  "TLS certificate verification failed for " + hostPort(m_options.url) + ": " + reason);
            linkFailed(link, "TLS handshake failed: " + ec.message());
        });
}

void AsioRedisConnection::established(const LinkPtr &link)
{
    m_connectTimer.cancel();
    link->open = true;
    startRead(link);
    flush(link);
    connected();
}

void AsioRedisConnection::startRead(const LinkPtr &link)
{
    link->readSome([this, alive = std::weak_ptr<bool>(m_alive), link](boost::system::error_code ec, std::size_t n) {
        if (!alive.lock() || m_link != link)
            return;
        if (ec) {
            const bool closed = ec == net::error::eof || ec == ssl::error::stream_truncated;
            return linkFailed(link, closed ? std::string("connection closed") : ec.message());
        }
        onRead(link, n);
    });
}

void AsioRedisConnection::onRead(const LinkPtr &link, std::size_t bytes)
{
    if (redisReaderFeed(link->reader, link->buffer.get(), bytes) != REDIS_OK)
        return linkFailed(link, "cannot buffer a reply (out of memory)");
    bool complete = false;
    for (;;) {
        void *reply = nullptr;
        if (redisReaderGetReply(link->reader, &reply) != REDIS_OK) {
            if (!m_options.quiet)
                Log::warn("redis " + m_options.role + " " + m_options.url.redacted() + ": protocol error in a reply: "
                          + Log::printable(link->reader->errstr) + "; dropping the link");
            return linkFailed(link, "protocol error");
        }
        if (!reply)
            break;
        complete = true;
        dispatch(static_cast<const redisReply *>(reply));
        HiredisArena::release(reply);
        if (m_link != link)
            return; // a callback stopped, re-addressed or dropped the link
    }
    // What the reader holds of the reply still incomplete: all of this read
    // when no reply ended in it, else at most what follows the last one.
    link->partialBytes = complete ? link->reader->len - link->reader->pos : link->partialBytes + bytes;
    if (link->partialBytes > m_options.maxReplyBytes) {
        if (!m_options.quiet)
            Log::warn("redis " + m_options.role + " " + m_options.url.redacted() + ": a reply exceeds "
                      + std::to_string(m_options.maxReplyBytes) + " bytes; dropping the link");
        return linkFailed(link, "reply too large");
    }
    startRead(link);
}

void AsioRedisConnection::dispatch(const redisReply *reply)
{
    if (m_link->subscribed && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3
        && reply->element[0]->type == REDIS_REPLY_STRING) {
        const std::string_view kind(reply->element[0]->str, reply->element[0]->len);
        if (kind == "message" || kind == "subscribe" || kind == "unsubscribe") {
            onPush(reply);
            return;
        }
    }
    if (m_inflight.empty())
        return; // nothing asked for it (a subscriber's stray reply)
    Pending *pending = m_inflight.front();
    m_inflight.pop_front();
    ReplyCallback callback;
    if (!pending->done && !m_stopped)
        callback = std::move(pending->callback);
    recycle(pending);
    if (callback)
        callback(reply, {});
}

void AsioRedisConnection::onPush(const redisReply *r)
{
    if (m_stopped)
        return;
    const redisReply *kind = r->element[0];
    const redisReply *channel = r->element[1];
    const redisReply *payload = r->element[2];
    const std::string_view k(kind->str, kind->len);
    if (k == "message" && channel->type == REDIS_REPLY_STRING && payload->type == REDIS_REPLY_STRING) {
        if (m_onMessage)
            m_onMessage(std::string_view(channel->str, channel->len), std::string_view(payload->str, payload->len));
    } else if (k == "subscribe" && payload->type == REDIS_REPLY_INTEGER
               && payload->integer == static_cast<long long>(m_channels.size())) {
        Log::info("redis " + m_options.role + " subscribed to " + std::to_string(payload->integer) + " channels");
        if (m_onSubscribed)
            m_onSubscribed();
    }
}

void AsioRedisConnection::flush(const LinkPtr &link)
{
    if (!link->open || link->writeInFlight || link->out.empty())
        return;
    link->writing.clear();
    link->writing.swap(link->out); // commands issued meanwhile go to the next write
    link->writeInFlight = true;
    link->writeAll([this, alive = std::weak_ptr<bool>(m_alive), link](boost::system::error_code ec, std::size_t) {
        if (!alive.lock() || m_link != link)
            return;
        link->writeInFlight = false;
        if (ec)
            return linkFailed(link, ec.message());
        flush(link);
    });
}

void AsioRedisConnection::linkFailed(const LinkPtr &link, std::string_view reason)
{
    if (m_link != link)
        return;
    const std::string why(reason);
    const bool wasReady = m_ready;
    m_connectTimer.cancel();
    dropLink();
    if (m_stopped)
        return;
    lost(why);
    if (wasReady && m_onState)
        m_onState(false);
    scheduleReconnect();
}

void AsioRedisConnection::sendSetup()
{
    auto checkSetup = [this, alive = std::weak_ptr<bool>(m_alive)](const redisReply *reply, std::string_view) {
        if (!alive.lock() || !reply || reply->type != REDIS_REPLY_ERROR || !m_link)
            return;
        m_backoffMs = m_options.maxBackoffMs;
        linkFailed(m_link, std::string("setup failed: ") + std::string(reply->str, reply->len));
    };
    const RedisUrl &url = m_options.url;
    if (!url.password.empty()) {
        if (!url.user.empty())
            command({"AUTH", url.user, url.password}, checkSetup);
        else
            command({"AUTH", url.password}, checkSetup);
    }
    if (url.db != 0) {
        const std::string db = std::to_string(url.db);
        command({"SELECT", db}, checkSetup);
    }
}

void AsioRedisConnection::onAnonymousProbe(const redisReply *reply)
{
    if (!m_probing || !m_link)
        return;
    if (!reply)
        return; // no answer: the sweep drops the connection and it reconnects
    constexpr std::string_view kNoAuth = "NOAUTH";
    if (reply->type == REDIS_REPLY_ERROR
        && std::string_view(reply->str, reply->len).substr(0, kNoAuth.size()) == kNoAuth) {
        m_probing = false;
        sendSetup();
        connected();
        return;
    }
    m_backoffMs = m_options.maxBackoffMs;
    linkFailed(m_link, "it answers without AUTH (an anonymous client could re-point it); refused, no credentials sent");
}

void AsioRedisConnection::connected()
{
    if (m_probing)
        return; // onAnonymousProbe() calls again once the server asked for AUTH
    // TCP is up, but a stopped or wedged server accepts connections too: usable once it answers.
    command({"PING"}, [this, alive = std::weak_ptr<bool>(m_alive)](const redisReply *reply, std::string_view) {
        if (!alive.lock() || !reply || reply->type == REDIS_REPLY_ERROR || !m_link || m_ready)
            return; // no answer: the sweep drops the connection and it reconnects
        answered();
    });
}

void AsioRedisConnection::answered()
{
    m_ready = true;
    m_backoffMs = 50;
    if ((m_reportedDown || !m_everConnected) && !m_options.quiet)
        Log::info("redis " + m_options.role + " " + m_options.url.redacted() + " connected");
    m_everConnected = true;
    m_reportedDown = false;
    m_loggedReason.clear();
    if (!m_channels.empty() && m_link) {
        m_format.clear();
        m_format.begin(1 + m_channels.size());
        m_format.arg("SUBSCRIBE");
        for (const std::string &c : m_channels)
            m_format.arg(c);
        m_link->subscribed = true;
        m_link->out.append(m_format.command(0));
        flush(m_link);
    }
    if (m_onState)
        m_onState(true);
}

// Logged once per outage, and again (rate-limited) when the reason changes:
// a node that comes back with a certificate the link refuses says so.
void AsioRedisConnection::lost(std::string_view reason)
{
    if (m_stopped)
        return;
    m_lastError = reason;
    if (m_reportedDown && reason == m_loggedReason)
        return;
    const bool first = !m_reportedDown;
    m_reportedDown = true;
    m_loggedReason = reason;
    const std::string line = "redis " + m_options.role + " " + m_options.url.redacted()
        + " unavailable: " + std::string(reason) + "; retrying with backoff";
    if (m_options.quiet)
        return;
    if (first)
        Log::warn(line);
    else
        Log::warnRateLimited(line);
}

void AsioRedisConnection::scheduleReconnect()
{
    if (m_stopped)
        return;
    m_reconnectTimer.expires_after(std::chrono::milliseconds(m_backoffMs));
    m_backoffMs = std::min(m_backoffMs * 2, m_options.maxBackoffMs);
    m_reconnectTimer.async_wait([this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
        if (ec || !alive.lock() || m_link)
            return;
        connect();
    });
}

void AsioRedisConnection::failLater(ReplyCallback callback, std::string_view error)
{
    if (!callback)
        return;
    // After stop() or destruction its owner may be gone: no callback then.
    net::post(m_context,
              [this, alive = std::weak_ptr<bool>(m_alive), stops = m_stops, callback = std::move(callback),
               error = std::string(error)] {
                  if (alive.lock() && m_stops == stops)
                      callback(nullptr, error);
              });
}

void AsioRedisConnection::command(std::initializer_list<std::string_view> args, ReplyCallback callback)
{
    m_format.clear();
    m_format.add(args);
    send(m_format.command(0), std::move(callback));
}

void AsioRedisConnection::command(const std::vector<std::string_view> &args, ReplyCallback callback)
{
    m_format.clear();
    m_format.addRange(args);
    send(m_format.command(0), std::move(callback));
}

void AsioRedisConnection::send(std::string_view formatted, ReplyCallback callback)
{
    if (!m_link || m_stopped || m_probing) {
        failLater(std::move(callback), "not connected");
        return;
    }
    if (formatted == "*0\r\n") { // Redis would never answer it
        failLater(std::move(callback), "empty command");
        return;
    }
    m_link->out.append(formatted);
    m_inflight.push_back(takePending(std::move(callback)));
    armSweep();
    postFlush(m_link);
}

// Commands issued by the handlers that are ready now (lookups of the HTTP
// requests read in this turn) go out in one write after them, so Redis reads
// them at once and answers them in one write; a command issued alone waits
// one queue turn.
void AsioRedisConnection::postFlush(const LinkPtr &link)
{
    if (link->flushPosted || link->writeInFlight || !link->open)
        return;
    link->flushPosted = true;
    net::post(m_context, [this, alive = std::weak_ptr<bool>(m_alive), link] {
        if (!alive.lock() || m_link != link)
            return;
        link->flushPosted = false;
        flush(link);
    });
}

AsioRedisConnection::Pending *AsioRedisConnection::takePending(ReplyCallback callback)
{
    const std::int64_t deadlineMs = nowMs() + m_options.commandTimeoutMs;
    if (m_spare.empty())
        return new Pending{this, std::move(callback), deadlineMs};
    Pending *pending = m_spare.back().release();
    m_spare.pop_back();
    pending->callback = std::move(callback);
    pending->deadlineMs = deadlineMs;
    pending->done = false;
    return pending;
}

void AsioRedisConnection::recycle(Pending *pending)
{
    constexpr std::size_t kMaxSpare = 1024;
    pending->callback = nullptr; // what it captured goes now, not when the record is reused
    if (m_spare.size() < kMaxSpare)
        m_spare.emplace_back(pending);
    else
        delete pending;
}

void AsioRedisConnection::armSweep()
{
    if (m_sweepArmed || m_inflight.empty())
        return;
    m_sweepArmed = true;
    m_sweepTimer.expires_after(std::chrono::milliseconds(std::max(5, m_options.commandTimeoutMs / 4)));
    m_sweepTimer.async_wait([this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
        if (!alive.lock())
            return;
        m_sweepArmed = false;
        if (ec)
            return;
        sweep();
        armSweep();
    });
}

void AsioRedisConnection::sweep()
{
    const std::int64_t now = nowMs();
    // The oldest command far past its deadline: the connection is wedged.
    const bool stuck = !m_inflight.empty() && now - m_inflight.front()->deadlineMs > 3LL * m_options.commandTimeoutMs;
    std::vector<ReplyCallback> expired; // callbacks may issue commands, so not while iterating
    for (Pending *p : m_inflight) {
        if (p->deadlineMs > now)
            break;
        if (!p->done) {
            p->done = true;
            expired.push_back(std::move(p->callback));
        }
    }
    for (auto &cb : expired) {
        if (cb)
            cb(nullptr, "timeout");
    }
    if (stuck && m_link) {
        lost("commands time out");
        linkFailed(m_link, "commands time out");
    }
}

} // namespace l0l3
