#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/common/stringhash.h"

namespace l0l3 {

class AsioRedisConnection;

// Counts the answers one worker serves from the cache, per cache key, and
// flushes them to the primary every flush interval with one FCALL l0l3_served
// (ProposalFunction): the console shows these counts as the blast radius of
// an edit or a revocation. Off the request path: count() is a hash map
// increment on the worker's thread; the flush is one command of at most
// ProposalFunction::kServedMaxPairs keys (the rest wait for the next one).
// At most maxKeys keys are held between flushes: a hit on another key is not
// counted (dropped() says how many). Counts of a failed flush, and those not
// flushed when the gateway stops, are lost: the numbers are a lower bound.
//
// Thread affinity: the worker's io_context thread only.
class ServedCounter
{
public:
    struct Options
    {
        std::string region;
        int flushIntervalMs = 10000;
        std::size_t maxKeys = 20000;
    };

    ServedCounter(boost::asio::io_context &context, AsioRedisConnection &primary, Options options);
    ~ServedCounter();
    ServedCounter(const ServedCounter &) = delete;
    ServedCounter &operator=(const ServedCounter &) = delete;

    void count(std::string_view key);
    // Arms the periodic flush; stop() cancels it.
    void start();
    void stop();
    // Sends what is counted now (at most kServedMaxPairs keys).
    void flush();

    std::size_t pendingKeys() const { return m_counts.size(); }
    std::uint64_t dropped() const { return m_dropped; }

private:
    void arm();

    AsioRedisConnection &m_primary;
    Options m_options;
    boost::asio::steady_timer m_timer;
    std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> m_counts;
    std::uint64_t m_dropped = 0;
    bool m_running = false;
};

} // namespace l0l3
