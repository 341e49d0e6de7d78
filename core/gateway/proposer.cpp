#include "core/gateway/proposer.h"

#include "core/common/redisschema.h"
#include "core/gateway/gatewaymetrics.h"
#include "core/gateway/log.h"
#include "core/gateway/redisconnection.h"

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <memory>

namespace l0l3 {

namespace {

std::int64_t epochMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace

Proposer::Proposer(RedisConnection &primary, GatewayMetrics &metrics, std::string region)
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
    Log::warn("proposal for " + proposal.key + " dropped: " + std::string(stage) + ": " + std::string(why));
    if (redisError && why.substr(0, 8) == "READONLY" && m_onReadOnly)
        m_onReadOnly();
}

void Proposer::propose(Proposal proposal)
{
    auto p = std::make_shared<Proposal>(std::move(proposal));
    if (p->tsMs == 0)
        p->tsMs = epochMs();
    m_primary.command({"ZSCORE", RedisSchema::kRejected, p->key}, [this, p](const redisReply *reply, std::string_view error) {
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
            failed(*p, "primary", reply, error);
            return;
        }
        if (reply->type == REDIS_REPLY_STRING) {
            const double until = std::strtod(std::string(reply->str, reply->len).c_str(), nullptr);
            if (until > static_cast<double>(epochMs()))
                return; // rejected by an operator; not proposed again until then
        }
        const std::string seen = RedisSchema::seenKey(p->key);
        m_primary.command({"HINCRBY", seen, m_region, "1"}, {});
        m_primary.command({"HINCRBY", seen, RedisSchema::kSeenTotalField, "1"}, [this, p](const redisReply *reply,
                                                                                          std::string_view error) {
            if (!reply || reply->type != REDIS_REPLY_INTEGER) {
                failed(*p, "seen counter", reply, error);
                return;
            }
            if (reply->integer != 1)
                return; // already proposed; the counter ranks it by demand
            const StreamFields fields = ProposalCodec::encode(*p);
            const std::string maxLen = std::to_string(RedisSchema::kProposalsMaxLen);
            std::vector<std::string_view> args{"XADD", RedisSchema::kProposals, "MAXLEN", "~", maxLen, "*"};
            for (const auto &[name, value] : fields) {
                args.push_back(name);
                args.push_back(value);
            }
            m_primary.command(args, [this, p](const redisReply *reply, std::string_view error) {
                if (!reply || reply->type != REDIS_REPLY_STRING) {
                    failed(*p, "XADD", reply, error);
                    return;
                }
                m_metrics.proposal();
                Log::info("proposed key=" + p->key + " region=" + m_region + " id=" + std::string(reply->str, reply->len));
            });
        });
    });
}

} // namespace l0l3
