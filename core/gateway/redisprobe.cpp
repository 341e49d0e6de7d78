#include "core/gateway/redisprobe.h"

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <hiredis/hiredis.h>

#include "core/gateway/asioredisconnection.h"

namespace l0l3 {

namespace {

using Clock = std::chrono::steady_clock;

// One AsioRedisConnection (so TLS, AUTH and SELECT exactly as the gateway's
// own links) on a private io_context, driven until it is ready, fails or
// timeoutMs passes.
class Probe
{
public:
    Probe(const RedisUrl &url, int timeoutMs)
        : m_deadline(Clock::now() + std::chrono::milliseconds(timeoutMs))
        , m_connection(m_context, options(url, timeoutMs))
    {
    }

    bool open(std::string *error)
    {
        m_connection.start();
        runUntil([this] { return m_connection.isReady() || !m_connection.lastError().empty(); });
        if (m_connection.isReady())
            return true;
        if (error)
            *error = "cannot use " + m_connection.options().url.redacted() + ": "
                + (m_connection.lastError().empty() ? std::string("no answer in time") : m_connection.lastError());
        return false;
    }

    std::optional<std::string> hget(std::string_view key, std::string_view field)
    {
        std::optional<std::string> value;
        bool answered = false;
        m_connection.command({"HGET", key, field}, [&](const redisReply *reply, std::string_view) {
            answered = true;
            if (reply && reply->type == REDIS_REPLY_STRING)
                value = std::string(reply->str, reply->len);
        });
        runUntil([&] { return answered; });
        return value;
    }

private:
    static AsioRedisConnection::Options options(const RedisUrl &url, int timeoutMs)
    {
        AsioRedisConnection::Options o;
        o.url = url;
        o.role = "startup check";
        o.commandTimeoutMs = timeoutMs;
        o.connectTimeoutMs = timeoutMs;
        o.maxBackoffMs = timeoutMs;
        o.quiet = true; // main() prints the one line that says why
        return o;
    }

    template<typename Done>
    void runUntil(Done done)
    {
        while (!done() && Clock::now() < m_deadline) {
            m_context.restart();
            m_context.run_one_until(m_deadline);
        }
    }

    Clock::time_point m_deadline;
    boost::asio::io_context m_context;
    AsioRedisConnection m_connection;
};

} // namespace

bool RedisProbe::check(const RedisUrl &url, int timeoutMs, std::string *error)
{
    Probe probe(url, timeoutMs);
    return probe.open(error);
}

std::optional<std::string> RedisProbe::hget(const RedisUrl &url, int timeoutMs, std::string_view key,
                                            std::string_view field)
{
    Probe probe(url, timeoutMs);
    if (!probe.open(nullptr))
        return std::nullopt;
    return probe.hget(key, field);
}

} // namespace l0l3
