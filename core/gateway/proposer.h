#pragma once

#include <functional>
#include <string>
#include <string_view>

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
class Proposer
{
public:
    Proposer(AsioRedisConnection &primary, GatewayMetrics &metrics, std::string region);
    // Called when the primary answers READONLY: it was demoted, the new one is elsewhere.
    void setReadOnlyCallback(std::function<void()> callback) { m_onReadOnly = std::move(callback); }
    void propose(Proposal proposal);

private:
    void failed(const Proposal &proposal, std::string_view stage, const redisReply *reply, std::string_view error);

    AsioRedisConnection &m_primary;
    GatewayMetrics &m_metrics;
    std::string m_region;
    std::function<void()> m_onReadOnly;
};

} // namespace l0l3
