#include "core/gateway/sentinelresolver.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include <boost/asio/post.hpp>
#include <hiredis/hiredis.h>

#include "core/gateway/asioredisconnection.h"
#include "core/gateway/log.h"

namespace l0l3 {

namespace {

constexpr std::string_view kSwitchMaster = "+switch-master";

std::string_view text(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_STRING ? std::string_view(reply->str, reply->len) : std::string_view();
}

} // namespace

struct SentinelResolver::Round
{
    std::size_t pending = 0;
    std::vector<std::string> answers; // "host:port" per Sentinel; empty: none
    std::vector<std::string> failures;
};

SentinelResolver::SentinelResolver(boost::asio::io_context &context, Options options, SwitchCallback onSwitch)
    : m_context(context)
    , m_options(std::move(options))
    , m_onSwitch(std::move(onSwitch))
    , m_candidateTimer(context)
{
    const auto connectionOptions = [this](const RedisUrl &url, const char *role) {
        AsioRedisConnection::Options o{url, role, m_options.commandTimeoutMs, m_options.connectTimeoutMs, 2000};
        o.refuseAnonymous = !m_options.allowAnonymousSentinel;
        return o;
    };
    for (const RedisUrl &url : m_options.sentinels) {
        if (url.password.empty() && !m_options.allowAnonymousSentinel)
            Log::warn("Sentinel " + url.redacted() + " has no password: it will be refused if it answers without AUTH");
        m_sentinels.push_back(std::make_unique<AsioRedisConnection>(context, connectionOptions(url, "sentinel")));
        // A round needs the command links: one coming up may complete a majority.
        m_sentinels.back()->setStateCallback([this](bool up) {
            if (up)
                resolve();
        });
        auto watcher = std::make_unique<AsioRedisConnection>(context, connectionOptions(url, "sentinel_subscriber"));
        watcher->setSubscriptions(
            {std::string(kSwitchMaster)},
            [this](std::string_view, std::string_view message) {
                // "<master name> <old ip> <old port> <new ip> <new port>": only a reason to ask the majority.
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
    askAll();
}

void SentinelResolver::askAll()
{
    auto round = std::make_shared<Round>();
    round->pending = m_sentinels.size();
    round->answers.resize(m_sentinels.size());
    if (m_sentinels.empty()) {
        decide(*round); // no majority: only an operator's claim can move the primary
        return;
    }
    for (std::size_t i = 0; i < m_sentinels.size(); ++i) {
        m_sentinels[i]->command({"SENTINEL", "get-master-addr-by-name", m_options.masterName},
                                [this, round, i, alive = std::weak_ptr<bool>(m_alive)](const redisReply *reply,
                                                                                       std::string_view error) {
                                    if (alive.lock())
                                        onAnswer(round, i, reply, error);
                                });
    }
}

void SentinelResolver::onAnswer(const std::shared_ptr<Round> &round, std::size_t index, const redisReply *reply,
                                std::string_view error)
{
    int port = 0;
    const std::string_view host = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        ? text(reply->element[0])
        : std::string_view();
    const std::string_view portText = host.empty() ? std::string_view() : text(reply->element[1]);
    const auto parsed = std::from_chars(portText.data(), portText.data() + portText.size(), port);
    // Bounded like any reply: a host name is at most 255 bytes.
    if (!host.empty() && host.size() <= 255 && parsed.ec == std::errc()
        && parsed.ptr == portText.data() + portText.size() && port > 0 && port <= 65535) {
        round->answers[index] = std::string(host) + ":" + std::to_string(port);
    } else {
        const std::string why = reply && reply->type == REDIS_REPLY_ERROR
            ? std::string(reply->str, std::min<std::size_t>(reply->len, 200))
            : !error.empty() ? std::string(error)
                             : std::string("no address");
        round->failures.push_back(m_options.sentinels[index].redacted() + ": " + why);
    }
    if (--round->pending == 0)
        decide(*round);
}

void SentinelResolver::decide(const Round &round)
{
    std::string best;
    std::size_t bestVotes = 0;
    for (const std::string &a : round.answers) {
        if (a.empty())
            continue;
        const auto votes = static_cast<std::size_t>(std::count(round.answers.begin(), round.answers.end(), a));
        if (votes > bestVotes) {
            best = a;
            bestVotes = votes;
        }
    }
    const std::size_t configured = m_options.sentinels.size();
    if (bestVotes * 2 <= configured) {
        if (m_claim) {
            RedisUrl claimed = std::move(*m_claim);
            m_claim.reset();
            if (claimed.host != m_options.primary.host || claimed.port != m_options.primary.port) {
                verify(std::move(claimed), true);
                return;
            }
        }
        if (configured > 0 && !m_unanswered) {
            std::string failures;
            for (const std::string &f : round.failures)
                failures += "; " + f;
            Log::warn("no majority of the " + std::to_string(configured) + " Sentinels names primary '"
                      + m_options.masterName + "' (at most " + std::to_string(bestVotes) + " agree" + failures
                      + "); keeping " + m_options.primary.redacted());
        }
        m_unanswered = true;
        finish();
        return;
    }
    m_unanswered = false;
    const auto colon = best.rfind(':');
    RedisUrl candidate = m_options.primary;
    candidate.host = best.substr(0, colon);
    candidate.port = std::stoi(best.substr(colon + 1));
    if (m_claim) {
        if (m_claim->host != candidate.host || m_claim->port != candidate.port) {
            Log::warn("operator promotion of " + m_claim->redacted() + " refused: " + std::to_string(bestVotes) + " of "
                      + std::to_string(configured) + " Sentinels name " + candidate.redacted()
                      + " (a Sentinel majority wins)");
        }
        m_claim.reset();
    }
    if (candidate.host == m_options.primary.host && candidate.port == m_options.primary.port) {
        finish();
        return;
    }
    if (!allowed(candidate)) {
        Log::warn(std::to_string(bestVotes) + " of " + std::to_string(configured) + " Sentinels name "
                  + candidate.redacted()
                  + " as primary, but it is not one of the allowed Redis hosts (--redis-hosts, --replica, --primary, "
                    "--fallback-replica): no credentials sent; keeping "
                  + m_options.primary.redacted());
        finish();
        return;
    }
    verify(std::move(candidate), false);
}

void SentinelResolver::claim(const std::string &host, int port)
{
    RedisUrl candidate = m_options.primary; // the primary's credentials, for ROLE
    candidate.host = host;
    candidate.port = port;
    if (host == m_options.primary.host && port == m_options.primary.port) {
        Log::info("operator promotion of " + candidate.redacted() + ": already the primary");
        return;
    }
    if (!allowed(candidate)) {
        Log::warn("operator promotion of " + candidate.redacted()
                  + " refused: not one of the allowed Redis hosts (--redis-hosts, --replica, --primary, "
                    "--fallback-replica); no credentials sent; keeping "
                  + m_options.primary.redacted());
        return;
    }
    // Checked in a round: a Sentinel majority, when there is one, decides instead.
    m_claim = std::move(candidate);
    resolve();
}

bool SentinelResolver::allowed(const RedisUrl &candidate) const
{
    return m_options.redisHosts.mayReceiveCredentials(candidate.host, candidate.port,
                                                      !m_options.primary.password.empty());
}

void SentinelResolver::verify(RedisUrl candidate, bool operatorClaim)
{
    const std::string who = operatorClaim ? "the operator's promotion names " : "the Sentinels name ";
    // An allowed host: AUTH with the primary's credentials, then ROLE.
    m_candidate = std::make_unique<AsioRedisConnection>(
        m_context,
        AsioRedisConnection::Options{candidate, "primary_candidate", m_options.commandTimeoutMs,
                                     m_options.connectTimeoutMs, m_options.connectTimeoutMs});
    m_verifying = true;
    m_candidate->setStateCallback([this, candidate, who, operatorClaim](bool up) {
        if (!up)
            return;
        m_candidate->command({"ROLE"},
                             [this, candidate, who, operatorClaim](const redisReply *reply, std::string_view error) {
                                 if (!m_verifying)
                                     return;
                                 m_verifying = false;
                                 const std::string_view role = reply && reply->type == REDIS_REPLY_ARRAY
                                         && reply->elements > 0
                                     ? text(reply->element[0])
                                     : std::string_view();
                                 if (role == "master") {
                                     const RedisUrl from = m_options.primary;
                                     m_options.primary = candidate;
                                     m_onSwitch(from, candidate, operatorClaim ? "operator promotion" : "sentinel");
                                 } else {
                                     const std::string_view said = role.empty() ? error : role;
                                     Log::warn(who + candidate.redacted() + " as primary, but its ROLE is '"
                                               + Log::printable(said.substr(0, 200), 200) + "'; keeping "
                                               + m_options.primary.redacted());
                                 }
                                 finish();
                             });
    });
    m_candidate->start();
    m_candidateTimer.expires_after(std::chrono::milliseconds(m_options.connectTimeoutMs + m_options.commandTimeoutMs));
    m_candidateTimer.async_wait(
        [this, candidate, who, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
            if (ec || !alive.lock() || !m_verifying)
                return;
            m_verifying = false;
            m_candidate->stop();
            Log::warn(who + candidate.redacted() + " as primary, but it did not answer ROLE; keeping "
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
