#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/common/redishostlist.h"
#include "core/common/redisurl.h"

struct redisReply;

namespace l0l3 {

class AsioRedisConnection;

// Finds the primary through Redis Sentinel, off the request path. A round asks
// every configured Sentinel `SENTINEL get-master-addr-by-name` at once (each
// bounded by the command timeout) and takes an address only when more than
// half of the configured Sentinels name the same host:port; one Sentinel,
// lying or lagging, cannot move the gateway. When that address differs from
// the current primary it must be one of the allowed Redis hosts (the
// operator's list: the gateway's credentials go nowhere else; ROLE cannot be
// asked before AUTH when the default user is off), and then ROLE, with the
// primary's credentials, must say master before the switch is reported.
// Rounds run at start, on resolve() and after every +switch-master a Sentinel
// publishes (a message only starts a round; it never names the primary).
//
// An operator's promotion (claim(): a "promote HOST:PORT" control message) is
// a claim, not a fact: the address must be an allowed host and answer ROLE
// master after AUTH, exactly like a Sentinel majority's choice. A round runs
// first: while a majority of the configured Sentinels names a primary, the
// majority wins and the claim is refused; only without a majority (or without
// Sentinels) is the claim verified and followed.
//
// Sentinels are authenticated (their URL's user and password); one that
// answers PING before AUTH is refused unless allowAnonymousSentinel.
// Not thread-safe: use it from its io_context's thread only.
class SentinelResolver
{
public:
    struct Options
    {
        std::vector<RedisUrl> sentinels;
        std::string masterName;
        RedisUrl primary; // the current address, and the credentials for ROLE
        int commandTimeoutMs = 500;
        int connectTimeoutMs = 2000;
        // Where the primary's credentials may be sent to (the data nodes).
        RedisHostList redisHosts;
        bool allowAnonymousSentinel = false;
    };
    // how: "sentinel" or "operator promotion".
    using SwitchCallback = std::function<void(const RedisUrl &from, const RedisUrl &to, std::string_view how)>;

    SentinelResolver(boost::asio::io_context &context, Options options, SwitchCallback onSwitch);
    ~SentinelResolver();
    SentinelResolver(const SentinelResolver &) = delete;
    SentinelResolver &operator=(const SentinelResolver &) = delete;

    void start();
    void stop();
    // Starts a round; during one, another follows it.
    void resolve();
    // The operator promoted host:port (see above); refusals are logged with their reason.
    void claim(const std::string &host, int port);

private:
    struct Round;
    void askAll();
    void onAnswer(const std::shared_ptr<Round> &round, std::size_t index, const redisReply *reply,
                  std::string_view error);
    void decide(const Round &round);
    bool allowed(const RedisUrl &candidate) const;
    void verify(RedisUrl candidate, bool operatorClaim);
    void finish();

    boost::asio::io_context &m_context;
    Options m_options;
    SwitchCallback m_onSwitch;
    std::vector<std::unique_ptr<AsioRedisConnection>> m_sentinels; // commands
    std::vector<std::unique_ptr<AsioRedisConnection>> m_watchers;  // +switch-master subscribers
    std::unique_ptr<AsioRedisConnection> m_candidate;              // ROLE check of the announced primary
    std::optional<RedisUrl> m_claim;                               // an operator's promotion, for the next round
    boost::asio::steady_timer m_candidateTimer;
    bool m_running = false;
    bool m_again = false;      // resolve() during a round: another one after it
    bool m_verifying = false;  // waiting for the candidate's ROLE
    bool m_unanswered = false; // the last round found no majority: warned once
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace l0l3
