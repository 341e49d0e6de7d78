#pragma once

#include "core/common/redisurl.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace l0l3 {

class RedisConnection;

// Finds the primary through Redis Sentinel, off the request path: a round asks
// each Sentinel in turn `SENTINEL get-master-addr-by-name` (one round trip,
// bounded by the command timeout) and, when the answer differs from the
// current primary, checks with ROLE (the primary's credentials) that it is a
// master before reporting the switch. Rounds run at start, on resolve() and
// after every +switch-master a Sentinel publishes. Not thread-safe: use it
// from its io_context's thread only.
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
    };
    using SwitchCallback = std::function<void(const RedisUrl &from, const RedisUrl &to)>;

    SentinelResolver(boost::asio::io_context &context, Options options, SwitchCallback onSwitch);
    ~SentinelResolver();
    SentinelResolver(const SentinelResolver &) = delete;
    SentinelResolver &operator=(const SentinelResolver &) = delete;

    void start();
    void stop();
    // Starts a round; during one, another follows it.
    void resolve();

private:
    void ask(std::size_t index);
    void verify(RedisUrl candidate);
    void finish();

    boost::asio::io_context &m_context;
    Options m_options;
    SwitchCallback m_onSwitch;
    std::vector<std::unique_ptr<RedisConnection>> m_sentinels; // commands
    std::vector<std::unique_ptr<RedisConnection>> m_watchers;  // +switch-master subscribers
    std::unique_ptr<RedisConnection> m_candidate;              // ROLE check of the announced primary
    boost::asio::steady_timer m_candidateTimer;
    bool m_running = false;
    bool m_again = false;      // resolve() during a round: another one after it
    bool m_verifying = false;  // waiting for the candidate's ROLE
    bool m_unanswered = false; // the last round found no Sentinel: warned once
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace l0l3
