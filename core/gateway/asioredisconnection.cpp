#include "core/gateway/asioredisconnection.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/common/hiredisarena.h"
#include "core/gateway/asioredisadapter.h"
#include "core/gateway/log.h"

namespace l0l3 {

struct AsioRedisConnection::Pending
{
    AsioRedisConnection *owner;
    ReplyCallback callback;
    std::int64_t deadlineMs;
    bool done = false; // timed out: the callback already ran
};

AsioRedisConnection::AsioRedisConnection(boost::asio::io_context &context, Options options)
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
    if (m_stopped && !m_ac)
        return;
    m_stopped = true;
    m_ready = false;
    m_reconnectTimer.cancel();
    m_connectTimer.cancel();
    m_sweepTimer.cancel();
    dropContext();
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
    dropContext(); // a connected context reports itself down and schedules a reconnect: replaced below
    m_reconnectTimer.cancel();
    connect();
}

void AsioRedisConnection::dropContext()
{
    if (!m_ac)
        return;
    redisAsyncContext *ac = m_ac;
    m_ac = nullptr;     // commands issued from callbacks below fail fast
    redisAsyncFree(ac); // runs pending callbacks with a null reply, then onDisconnect
}

void AsioRedisConnection::connect()
{
    if (m_stopped)
        return;
    redisAsyncContext *ac = redisAsyncConnect(m_options.url.host.c_str(), m_options.url.port);
    if (!ac) {
        lost("out of memory");
        scheduleReconnect();
        return;
    }
    if (ac->err) {
        const std::string reason = ac->errstr;
        redisAsyncFree(ac);
        lost(reason);
        scheduleReconnect();
        return;
    }
    m_ac = ac;
    ac->data = this;
    HiredisArena::install(ac->c.reader); // one cached block per small reply instead of two mallocs
    AsioRedisAdapter::attach(m_context, ac);
    redisAsyncSetConnectCallback(ac, &AsioRedisConnection::onConnect);
    redisAsyncSetDisconnectCallback(ac, &AsioRedisConnection::onDisconnect);

    // Queued now, written as soon as the socket connects, answered before anything else.
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

    m_connectTimer.expires_after(std::chrono::milliseconds(m_options.connectTimeoutMs));
    m_connectTimer.async_wait([this, alive = std::weak_ptr<bool>(m_alive), ac](boost::system::error_code ec) {
        if (ec || !alive.lock() || m_ac != ac || (ac->c.flags & REDIS_CONNECTED))
            return;
        m_ac = nullptr;
        redisAsyncFree(ac); // not connected yet: hiredis will not call onDisconnect
        lost("connect timeout");
        scheduleReconnect();
    });
}

void AsioRedisConnection::sendSetup()
{
    auto checkSetup = [this](const redisReply *reply, std::string_view) {
        if (reply && reply->type == REDIS_REPLY_ERROR && m_ac) {
            lost(std::string("setup failed: ") + std::string(reply->str, reply->len));
            m_backoffMs = m_options.maxBackoffMs;
            // Not from inside hiredis's callback: free on the next turn.
            boost::asio::post(m_context, [this, alive = std::weak_ptr<bool>(m_alive)] {
                if (alive.lock() && m_ac) {
                    dropContext();
                }
            });
        }
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
    if (!m_probing || !m_ac)
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
    lost("it answers without AUTH (an anonymous client could re-point it); refused, no credentials sent");
    m_backoffMs = m_options.maxBackoffMs;
    boost::asio::post(m_context, [this, alive = std::weak_ptr<bool>(m_alive)] {
        if (alive.lock() && m_ac)
            dropContext();
    });
}

void AsioRedisConnection::onConnect(const redisAsyncContext *ac, int status)
{
    auto *self = static_cast<AsioRedisConnection *>(ac->data);
    if (!self || self->m_ac != ac)
        return;
    self->m_connectTimer.cancel();
    if (status != REDIS_OK) {
        // hiredis frees the context right after this callback.
        self->m_ac = nullptr;
        self->lost(ac->errstr);
        self->scheduleReconnect();
        return;
    }
    self->connected();
}

void AsioRedisConnection::connected()
{
    if (m_probing)
        return; // onAnonymousProbe() calls again once the server asked for AUTH
    // TCP is up, but a stopped or wedged server accepts connections too: usable once it answers.
    command({"PING"}, [this, alive = std::weak_ptr<bool>(m_alive)](const redisReply *reply, std::string_view) {
        if (!alive.lock() || !reply || reply->type == REDIS_REPLY_ERROR || !m_ac || m_ready)
            return; // no answer: the sweep drops the connection and it reconnects
        answered();
    });
}

void AsioRedisConnection::answered()
{
    m_ready = true;
    m_backoffMs = 50;
    if (m_reportedDown || !m_everConnected)
        Log::info("redis " + m_options.role + " " + m_options.url.redacted() + " connected");
    m_everConnected = true;
    m_reportedDown = false;
    if (!m_channels.empty() && m_ac) {
        m_format.clear();
        m_format.begin(1 + m_channels.size());
        m_format.arg("SUBSCRIBE");
        for (const std::string &c : m_channels)
            m_format.arg(c);
        const std::string_view cmd = m_format.command(0);
        redisAsyncFormattedCommand(m_ac, &AsioRedisConnection::onSubscriptionReply, this, cmd.data(), cmd.size());
    }
    if (m_onState)
        m_onState(true);
}

void AsioRedisConnection::onDisconnect(const redisAsyncContext *ac, int status)
{
    auto *self = static_cast<AsioRedisConnection *>(ac->data);
    if (!self)
        return;
    if (self->m_ac == ac)
        self->m_ac = nullptr;
    const bool wasReady = self->m_ready;
    self->m_ready = false;
    if (self->m_stopped)
        return;
    self->lost(ac->err ? ac->errstr : "connection closed");
    if (wasReady && self->m_onState)
        self->m_onState(false);
    self->scheduleReconnect();
}

void AsioRedisConnection::lost(std::string_view reason)
{
    if (m_reportedDown || m_stopped)
        return;
    m_reportedDown = true;
    Log::warn("redis " + m_options.role + " " + m_options.url.redacted() + " unavailable: " + std::string(reason)
              + "; retrying with backoff");
}

void AsioRedisConnection::scheduleReconnect()
{
    if (m_stopped)
        return;
    m_reconnectTimer.expires_after(std::chrono::milliseconds(m_backoffMs));
    m_backoffMs = std::min(m_backoffMs * 2, m_options.maxBackoffMs);
    m_reconnectTimer.async_wait([this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
        if (ec || !alive.lock() || m_ac)
            return;
        connect();
    });
}

void AsioRedisConnection::failLater(ReplyCallback callback, std::string_view error)
{
    if (!callback)
        return;
    // After stop() or destruction its owner may be gone: no callback then.
    boost::asio::post(m_context,
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
    if (!m_ac || m_stopped || m_probing) {
        failLater(std::move(callback), "not connected");
        return;
    }
    Pending *pending = takePending(std::move(callback));
    if (redisAsyncFormattedCommand(m_ac, &AsioRedisConnection::onReply, pending, formatted.data(), formatted.size())
        != REDIS_OK) {
        ReplyCallback cb = std::move(pending->callback);
        recycle(pending);
        failLater(std::move(cb), "not connected");
        return;
    }
    m_inflight.push_back(pending);
    armSweep();
}

void AsioRedisConnection::onReply(redisAsyncContext *, void *reply, void *privdata)
{
    auto *pending = static_cast<Pending *>(privdata);
    AsioRedisConnection *self = pending->owner;
    if (!self->m_inflight.empty() && self->m_inflight.front() == pending) {
        self->m_inflight.pop_front();
    } else {
        auto it = std::find(self->m_inflight.begin(), self->m_inflight.end(), pending);
        if (it != self->m_inflight.end())
            self->m_inflight.erase(it);
    }
    if (!pending->done && !self->m_stopped && pending->callback)
        pending->callback(static_cast<const redisReply *>(reply), reply ? std::string_view() : "connection lost");
    self->recycle(pending);
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

void AsioRedisConnection::onSubscriptionReply(redisAsyncContext *, void *reply, void *privdata)
{
    auto *self = static_cast<AsioRedisConnection *>(privdata);
    const auto *r = static_cast<const redisReply *>(reply);
    if (!r || self->m_stopped || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    const redisReply *kind = r->element[0];
    const redisReply *channel = r->element[1];
    const redisReply *payload = r->element[2];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    const std::string_view k(kind->str, kind->len);
    if (k == "message" && channel->type == REDIS_REPLY_STRING && payload->type == REDIS_REPLY_STRING) {
        if (self->m_onMessage)
            self->m_onMessage(std::string_view(channel->str, channel->len),
                              std::string_view(payload->str, payload->len));
    } else if (k == "subscribe" && payload->type == REDIS_REPLY_INTEGER
               && payload->integer == static_cast<long long>(self->m_channels.size())) {
        Log::info("redis " + self->m_options.role + " subscribed to " + std::to_string(payload->integer) + " channels");
        if (self->m_onSubscribed)
            self->m_onSubscribed();
    }
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
    if (stuck && m_ac) {
        lost("commands time out");
        dropContext(); // onDisconnect schedules the reconnect
    }
}

} // namespace l0l3
