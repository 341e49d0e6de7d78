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
    const StreamFields fields = ProposalCodec::encode(*p);
    const std::string_view packed = fields.at(1).second;
    m_primary.command({"FCALL", ProposalFunction::kProposeName, "0", p->key, packed},
                      [this, p](const redisReply *reply, std::string_view error) {
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
