#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/common/redisurl.h"
#include "core/common/respcommands.h"

struct redisReply;

namespace boost::asio::ssl {
class context;
}

namespace l0l3 {

// One Redis connection living on one io_context thread: AUTH/SELECT after
// connect, reconnect with exponential backoff when it drops, a deadline per
// command, and fail-fast while disconnected. Optionally a subscriber that
// (re)subscribes to channels after every connect. Not thread-safe: use it
// from its io_context's thread only.
//
// The transport is its own Asio socket, plain TCP for redis:// and TLS for
// rediss:// (the same code path through an SSL stream): commands are written
// as RESP, replies parsed by hiredis' reader and matched in order to the
// commands in flight. A rediss:// link verifies the server's chain (against
// Options::tls, else setDefaultTls(), else the system's CAs) and that the
// certificate names the URL's host (sent as SNI for a DNS name); a link whose
// certificate fails is refused and logged as "TLS certificate verification
// failed for HOST:PORT: REASON". Reads are bounded: a reply larger than
// kMaxReplyBytes, or bytes that are not RESP, drop the link (logged).
//
// The gateway's counterpart of the console's Qt RedisConnection
// (core/control), with the same words where they mean the same: command(),
// isReady(), options(). It differs where the data plane needs it to:
// - start()/stop() rather than open()/close(): stop() drops every callback of
//   a command issued before it (the console's close() fails them with an
//   error), so an owner may stop it and go away at once;
// - a command issued while the link is down fails at once ("not connected"),
//   it is not queued until a reconnect: a lookup never waits for one;
// - a late command fails alone ("timeout") and only a link stuck far past the
//   deadline is dropped, where the console drops the link at the first late reply;
// - replies are hiredis's own (no RedisReply copy) and valid during the callback only.
class AsioRedisConnection
{
public:
    // The largest reply accepted (the gateway's largest, an MGET of vector
    // records, is a few megabytes).
    static constexpr std::size_t kMaxReplyBytes = 64u << 20;

    struct Options
    {
        RedisUrl url;
        std::string role; // "replica", "primary", "subscriber": for logs and metrics
        int commandTimeoutMs = 500;
        int connectTimeoutMs = 2000;
        int maxBackoffMs = 2000;
        // Before AUTH, ask PING: a server that answers it takes anonymous
        // clients, so it is refused (no credentials sent, retried after the
        // longest backoff). For Sentinels, which must require AUTH.
        bool refuseAnonymous = false;
        // For a rediss:// URL: the client context (CA, client certificate).
        // Null: setDefaultTls()'s, else the system's CAs without a client certificate.
        std::shared_ptr<boost::asio::ssl::context> tls = {};
        // A reply larger than this drops the link (tests set less).
        std::size_t maxReplyBytes = kMaxReplyBytes;
        // No log lines ("connected", "unavailable", dropped links): the
        // caller reports lastError() itself (the start-up check).
        bool quiet = false;
    };
    // The context of rediss:// links whose Options name none (the gateway's
    // --redis-ca-file, --redis-cert-file, --redis-key-file). Set it before
    // any connection starts; a context is shared by every I/O thread.
    static void setDefaultTls(std::shared_ptr<boost::asio::ssl::context> context);
    // reply is null when the command failed (error says why: "not connected",
    // "timeout", "connection lost"); a Redis error reply is passed as a reply.
    using ReplyCallback = std::function<void(const redisReply *reply, std::string_view error)>;
    using MessageCallback = std::function<void(std::string_view channel, std::string_view message)>;
    using StateCallback = std::function<void(bool connected)>;

    AsioRedisConnection(boost::asio::io_context &context, Options options);
    ~AsioRedisConnection();
    AsioRedisConnection(const AsioRedisConnection &) = delete;
    AsioRedisConnection &operator=(const AsioRedisConnection &) = delete;

    void setStateCallback(StateCallback callback) { m_onState = std::move(callback); }
    // Subscriber mode: SUBSCRIBE to channels after every (re)connect. onSubscribed
    // runs after each successful subscription (messages may have been missed before).
    void setSubscriptions(std::vector<std::string> channels, MessageCallback onMessage,
                          std::function<void()> onSubscribed = {});

    void start();
    // Frees the connection; no reconnect, and no callback of a command issued before it runs
    // afterwards (a command issued while stopped fails "not connected", later).
    void stop();
    // Another server, same credentials: commands in flight fail ("connection lost") and,
    // when started, the connection goes to the new address at once.
    void setAddress(const std::string &host, int port);

    void command(std::initializer_list<std::string_view> args, ReplyCallback callback);
    void command(const std::vector<std::string_view> &args, ReplyCallback callback);

    // Connected and answering (a PING after every connect, behind AUTH and SELECT).
    bool isReady() const { return m_ready; }
    const Options &options() const { return m_options; }
    // Why the link last failed (as logged); empty until it first fails.
    const std::string &lastError() const { return m_lastError; }

private:
    struct Pending;
    struct Link;
    using LinkPtr = std::shared_ptr<Link>;

    void connect();
    void openSocket(const LinkPtr &link);
    void established(const LinkPtr &link);
    void startRead(const LinkPtr &link);
    void onRead(const LinkPtr &link, std::size_t bytes);
    void dispatch(const redisReply *reply);
    void onPush(const redisReply *reply);
    void flush(const LinkPtr &link);
    void postFlush(const LinkPtr &link);
    void linkFailed(const LinkPtr &link, std::string_view reason);
    void connected();
    void sendSetup();
    void onAnonymousProbe(const redisReply *reply);
    void answered();
    void lost(std::string_view reason);
    void scheduleReconnect();
    void dropLink();
    void failLater(ReplyCallback callback, std::string_view error);
    void armSweep();
    void sweep();
    void send(std::string_view formatted, ReplyCallback callback);
    Pending *takePending(ReplyCallback callback);
    void recycle(Pending *pending);
    std::int64_t nowMs() const;

    boost::asio::io_context &m_context;
    Options m_options;
    LinkPtr m_link; // null while disconnected
    bool m_ready = false;
    bool m_stopped = true;
    std::uint64_t m_stops = 0; // stop() calls: a posted failure is delivered only if none came since
    bool m_everConnected = false;
    bool m_reportedDown = false;
    std::string m_lastError;
    std::string m_loggedReason; // of the outage's last "unavailable" line
    bool m_probing = false;     // refuseAnonymous: waiting for the PING sent before AUTH
    int m_backoffMs = 50;
    boost::asio::steady_timer m_reconnectTimer;
    boost::asio::steady_timer m_connectTimer;
    boost::asio::steady_timer m_sweepTimer;
    bool m_sweepArmed = false;
    std::deque<Pending *> m_inflight; // in send order; Redis answers in order
    RespCommands m_format;            // reused: formatting a command allocates nothing
    std::vector<std::string> m_channels;
    MessageCallback m_onMessage;
    std::function<void()> m_onSubscribed;
    StateCallback m_onState;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
    // Answered commands' records, reused: a GET per L0 lookup allocates none.
    // Last member: destroyed first, after stop() has freed every command in flight.
    std::vector<std::unique_ptr<Pending>> m_spare;
};

} // namespace l0l3
