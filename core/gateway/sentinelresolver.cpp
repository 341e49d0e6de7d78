#include "core/gateway/sentinelresolver.h"

#include "core/gateway/log.h"
#include "core/gateway/redisconnection.h"

#include <boost/asio/post.hpp>

#include <hiredis/hiredis.h>

#include <charconv>
#include <string_view>

namespace l0l3 {

namespace {

constexpr std::string_view kSwitchMaster = "+switch-master";

std::string_view text(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_STRING ? std::string_view(reply->str, reply->len) : std::string_view();
}

} // namespace

SentinelResolver::SentinelResolver(boost::asio::io_context &context, Options options, SwitchCallback onSwitch)
    : m_context(context)
    , m_options(std::move(options))
    , m_onSwitch(std::move(onSwitch))
    , m_candidateTimer(context)
{
    const auto connectionOptions = [this](const RedisUrl &url, const char *role) {
        return RedisConnection::Options{url, role, m_options.commandTimeoutMs, m_options.connectTimeoutMs, 2000};
    };
    for (const RedisUrl &url : m_options.sentinels) {
        m_sentinels.push_back(std::make_unique<RedisConnection>(context, connectionOptions(url, "sentinel")));
        auto watcher = std::make_unique<RedisConnection>(context, connectionOptions(url, "sentinel_subscriber"));
        watcher->setSubscriptions(
            {std::string(kSwitchMaster)},
            [this](std::string_view, std::string_view message) {
                // "<master name> <old ip> <old port> <new ip> <new port>"
                if (message.substr(0, message.find(' ')) == m_options.masterName)
                    resolve();
            },
            [this] { resolve(); }); // a switch may have happened while not subscribed
        m_watchers.push_back(std::move(watcher));
    }
}

SentinelResolver::~SentinelResolver()
{
    stop();
    *m_alive = false;
}

void SentinelResolver::start()
{
    for (auto &c : m_sentinels)
        c->start();
    for (auto &c : m_watchers)
        c->start();
    // The command connections are not up yet: the first round runs when a watcher has subscribed.
}

void SentinelResolver::stop()
{
    m_candidateTimer.cancel();
    m_candidate.reset();
    for (auto &c : m_watchers)
        c->stop();
    for (auto &c : m_sentinels)
        c->stop();
}

void SentinelResolver::resolve()
{
    if (m_running) {
        m_again = true;
        return;
    }
    m_running = true;
    ask(0);
}

void SentinelResolver::ask(std::size_t index)
{
    if (index >= m_sentinels.size()) {
        if (!m_unanswered)
            Log::warn("no Sentinel answered where primary '" + m_options.masterName + "' is; keeping "
                      + m_options.primary.redacted());
        m_unanswered = true;
        finish();
        return;
    }
    RedisConnection &sentinel = *m_sentinels[index];
    sentinel.command({"SENTINEL", "get-master-addr-by-name", m_options.masterName},
                     [this, index, alive = std::weak_ptr<bool>(m_alive)](const redisReply *reply, std::string_view) {
        if (!alive.lock())
            return;
        int port = 0;
        const std::string_view host = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
            ? text(reply->element[0]) : std::string_view();
        const std::string_view portText = host.empty() ? std::string_view() : text(reply->element[1]);
        const auto parsed = std::from_chars(portText.data(), portText.data() + portText.size(), port);
        if (host.empty() || parsed.ec != std::errc() || port <= 0 || port > 65535) {
            ask(index + 1); // down, not answering, or does not know the name
            return;
        }
        m_unanswered = false;
        if (host == m_options.primary.host && port == m_options.primary.port) {
            finish();
            return;
        }
        RedisUrl candidate = m_options.primary;
        candidate.host = std::string(host);
        candidate.port = port;
        verify(std::move(candidate));
    });
}

void SentinelResolver::verify(RedisUrl candidate)
{
    m_candidate = std::make_unique<RedisConnection>(
        m_context, RedisConnection::Options{candidate, "primary_candidate", m_options.commandTimeoutMs,
                                            m_options.connectTimeoutMs, m_options.connectTimeoutMs});
    m_verifying = true;
    m_candidate->setStateCallback([this, candidate](bool up) {
        if (!up)
            return;
        m_candidate->command({"ROLE"}, [this, candidate](const redisReply *reply, std::string_view error) {
            if (!m_verifying)
                return;
            m_verifying = false;
            const std::string_view role = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
                ? text(reply->element[0]) : std::string_view();
            if (role == "master") {
                const RedisUrl from = m_options.primary;
                m_options.primary = candidate;
                m_onSwitch(from, candidate);
            } else {
                Log::warn("Sentinel names " + candidate.redacted() + " as primary, but its ROLE is '"
                          + std::string(role.empty() ? error : role) + "'; keeping " + m_options.primary.redacted());
            }
            finish();
        });
    });
    m_candidate->start();
    m_candidateTimer.expires_after(std::chrono::milliseconds(m_options.connectTimeoutMs + m_options.commandTimeoutMs));
    m_candidateTimer.async_wait([this, candidate, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
        if (ec || !alive.lock() || !m_verifying)
            return;
        m_verifying = false;
        m_candidate->stop();
        Log::warn("Sentinel names " + candidate.redacted() + " as primary, but it did not answer ROLE; keeping "
                  + m_options.primary.redacted());
        finish();
    });
}

void SentinelResolver::finish()
{
    m_candidateTimer.cancel();
    // Maybe inside the candidate's own callback: it goes on the next turn, and so does another round.
    boost::asio::post(m_context, [this, alive = std::weak_ptr<bool>(m_alive)] {
        if (!alive.lock())
            return;
        m_candidate.reset();
        m_running = false;
        if (m_again) {
            m_again = false;
            resolve();
        }
    });
}

} // namespace l0l3
