#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/common/proposal.h"

struct redisReply;

namespace l0l3 {

class GatewayMetrics;
class AsioRedisConnection;

// Turns a miss into a proposal for the operator, on the primary, off the
// request's critical path, with one FCALL of ProposalFunction (which skips
// rejected keys, counts demand per region, appends only on the key's first
// miss and enforces the limits). The gateway never writes an answer to the
// cache itself. A proposal that fails (primary down, being switched,
// read-only, the function not loaded, refused or rate limited) is logged,
// counted and dropped; a proposal whose fields do not reproduce its key is
// never sent.
//
// Batching (the constructor with an io_context): proposals wait up to
// batchMs, or until kMaxBatch wait, and then go out together, each its own
// FCALL, in one write (AsioRedisConnection writes what is issued in one turn
// at once), so Redis reads and answers them in one wakeup instead of one per
// miss. A graceful stop (SIGTERM) flushes the waiting proposals and waits,
// bounded, for their answers (unsettled()). Without an io_context (or
// batchMs 0) each proposal is sent at once.
//
// Thread affinity: the worker's io_context thread only.
class Proposer
{
public:
    // The most proposals one batch holds: one more sends the batch at once.
    static constexpr std::size_t kMaxBatch = 64;

    Proposer(AsioRedisConnection &primary, GatewayMetrics &metrics, std::string region);
    Proposer(boost::asio::io_context &context, AsioRedisConnection &primary, GatewayMetrics &metrics,
             std::string region, int batchMs);
    ~Proposer();
    Proposer(const Proposer &) = delete;
    Proposer &operator=(const Proposer &) = delete;
    // Called when the primary answers READONLY: it was demoted, the new one is elsewhere.
    void setReadOnlyCallback(std::function<void()> callback) { m_onReadOnly = std::move(callback); }
    void propose(Proposal proposal);

    // Sends the proposals waiting for their batch now.
    void flush();
    // Proposals accepted and not yet answered by the primary (waiting for their batch or sent):
    // the gateway's graceful stop flushes and waits for this to reach 0. Read from any thread.
    std::size_t unsettled() const { return m_unsettled.load(std::memory_order_relaxed); }

private:
    struct Waiting
    {
        std::shared_ptr<Proposal> proposal;
        std::string packed;
    };

    void send(const std::shared_ptr<Proposal> &p, std::string_view packed);
    void failed(const Proposal &proposal, std::string_view stage, const redisReply *reply, std::string_view error);

    AsioRedisConnection &m_primary;
    GatewayMetrics &m_metrics;
    std::string m_region;
    std::function<void()> m_onReadOnly;
    std::unique_ptr<boost::asio::steady_timer> m_timer; // null: no batching
    int m_batchMs = 0;
    std::vector<Waiting> m_waiting;
    bool m_armed = false;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
    std::atomic<std::size_t> m_unsettled{0};
};

} // namespace l0l3
