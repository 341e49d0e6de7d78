#include "core/gateway/servedcounter.h"

#include <algorithm>
#include <vector>

#include <hiredis/hiredis.h>

#include "core/common/proposalfunction.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/log.h"

namespace l0l3 {

ServedCounter::ServedCounter(boost::asio::io_context &context, AsioRedisConnection &primary, Options options)
    : m_primary(primary)
    , m_options(std::move(options))
    , m_timer(context)
{
}

ServedCounter::~ServedCounter()
{
    stop();
}

void ServedCounter::count(std::string_view key)
{
    if (auto it = m_counts.find(key); it != m_counts.end()) {
        ++it->second;
        return;
    }
    if (m_counts.size() >= m_options.maxKeys) {
        ++m_dropped;
        return;
    }
    m_counts.emplace(std::string(key), 1);
}

void ServedCounter::start()
{
    m_running = true;
    arm();
}

void ServedCounter::stop()
{
    m_running = false;
    m_timer.cancel();
}

void ServedCounter::arm()
{
    m_timer.expires_after(std::chrono::milliseconds(m_options.flushIntervalMs));
    m_timer.async_wait([this](boost::system::error_code ec) {
        if (ec || !m_running)
            return;
        flush();
        arm();
    });
}

void ServedCounter::flush()
{
    if (m_counts.empty() || !m_primary.isReady())
        return; // kept for the next flush (bounded by maxKeys)
    const std::size_t pairs = std::min<std::size_t>(m_counts.size(), ProposalFunction::kServedMaxPairs);
    // The strings the arguments point into live until command() has formatted them.
    std::vector<std::string> numbers;
    numbers.reserve(pairs);
    std::vector<std::string> keys;
    keys.reserve(pairs);
    auto it = m_counts.begin();
    for (std::size_t i = 0; i < pairs; ++i) {
        auto node = m_counts.extract(it++);
        keys.push_back(std::move(node.key()));
        numbers.push_back(std::to_string(std::min<std::uint64_t>(node.mapped(), 999999999)));
    }
    std::vector<std::string_view> args{"FCALL", ProposalFunction::kServedName, "0", m_options.region};
    args.reserve(args.size() + 2 * pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
        args.push_back(keys[i]);
        args.push_back(numbers[i]);
    }
    // Nothing of this object is used by the reply: it may come after the worker is gone.
    m_primary.command(args, [](const redisReply *reply, std::string_view error) {
        if (reply && reply->type == REDIS_REPLY_INTEGER)
            return;
        const std::string_view why = reply && reply->type == REDIS_REPLY_ERROR
            ? std::string_view(reply->str, reply->len)
            : error;
        Log::warnRateLimited("served counts not flushed (the console's blast radius misses them): "
                             + Log::printable(why, 200));
    });
}

} // namespace l0l3
