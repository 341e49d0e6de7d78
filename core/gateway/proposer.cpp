#include "core/gateway/proposer.h"

#include <chrono>
#include <memory>

#include <hiredis/hiredis.h>

#include "core/common/proposalfunction.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/gatewaymetrics.h"
#include "core/gateway/log.h"

namespace l0l3 {

namespace {

std::int64_t epochMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

Proposer::Proposer(AsioRedisConnection &primary, GatewayMetrics &metrics, std::string region)
    : m_primary(primary)
    , m_metrics(metrics)
    , m_region(std::move(region))
{
}

Proposer::Proposer(boost::asio::io_context &context, AsioRedisConnection &primary, GatewayMetrics &metrics,
                   std::string region, int batchMs)
    : Proposer(primary, metrics, std::move(region))
{
    if (batchMs > 0) {
        m_timer = std::make_unique<boost::asio::steady_timer>(context);
        m_batchMs = batchMs;
        m_waiting.reserve(kMaxBatch);
    }
}

Proposer::~Proposer()
{
    if (m_timer)
        m_timer->cancel();
}

void Proposer::failed(const Proposal &proposal, std::string_view stage, const redisReply *reply, std::string_view error)
{
    const bool redisError = reply && reply->type == REDIS_REPLY_ERROR;
    const std::string_view why = redisError ? std::string_view(reply->str, reply->len) : error;
    m_metrics.proposalFailed();
    // One line per miss at most, and bounded per second: a flood of misses is what the limits refuse.
    if (redisError && why.find("Function not found") != std::string_view::npos) {
        Log::warnRateLimited(
            "proposal for " + proposal.key + " dropped: the Redis function "
            + std::string(ProposalFunction::kProposeName)
            + " is not loaded on the primary (the console loads it when it connects); hits are still served");
        return;
    }
    Log::warnRateLimited("proposal for " + proposal.key + " dropped: " + std::string(stage) + ": "
                         + Log::printable(why, 300));
    if (redisError && why.substr(0, 8) == "READONLY" && m_onReadOnly)
        m_onReadOnly();
}

void Proposer::propose(Proposal proposal)
{
    auto p = std::make_shared<Proposal>(std::move(proposal));
    if (p->tsMs == 0)
        p->tsMs = epochMs();
    // The console refuses a proposal whose fields do not give back its key; do not send one.
    if (p->derivedKey() != p->key) {
        failed(*p, "fields", nullptr, "they do not reproduce the key (a model name whose family is not stable?)");
        return;
    }
    StreamFields fields = ProposalCodec::encode(*p);
    if (!m_timer) {
        send(p, fields.at(1).second);
        return;
    }
    m_waiting.push_back({std::move(p), std::move(fields.at(1).second)});
    m_unsettled.fetch_add(1, std::memory_order_relaxed);
    if (m_waiting.size() >= kMaxBatch) {
        flush();
        return;
    }
    if (m_armed)
        return;
    m_armed = true;
    m_timer->expires_after(std::chrono::milliseconds(m_batchMs));
    m_timer->async_wait([this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
        if (ec || !alive.lock())
            return;
        m_armed = false;
        flush();
    });
}

void Proposer::flush()
{
    if (m_armed) {
        m_armed = false;
        m_timer->cancel();
    }
    std::vector<Waiting> batch;
    batch.swap(m_waiting);
    for (const Waiting &w : batch)
        send(w.proposal, w.packed);
    // Counted again by send(): no longer waiting. Subtracted after, so unsettled() never dips below the truth.
    m_unsettled.fetch_sub(batch.size(), std::memory_order_relaxed);
    batch.clear();
    m_waiting.swap(batch); // keeps the capacity
}

void Proposer::send(const std::shared_ptr<Proposal> &p, std::string_view packed)
{
    m_unsettled.fetch_add(1, std::memory_order_relaxed);
    m_primary.command({"FCALL", ProposalFunction::kProposeName, "0", p->key, packed},
                      [this, p](const redisReply *reply, std::string_view error) {
                          m_unsettled.fetch_sub(1, std::memory_order_relaxed);
                          if (!reply || reply->type == REDIS_REPLY_ERROR) {
                              failed(*p, "FCALL " + std::string(ProposalFunction::kProposeName), reply, error);
                              return;
                          }
                          const std::string_view answer = reply->type == REDIS_REPLY_STATUS
                                  || reply->type == REDIS_REPLY_STRING
                              ? std::string_view(reply->str, reply->len)
                              : std::string_view();
                          if (answer != ProposalFunction::kProposed)
                              return; // counted (already proposed) or rejected by an operator
                          m_metrics.proposal();
                          Log::info("proposed key=" + p->key + " region=" + m_region);
                      });
}

} // namespace l0l3
