#pragma once

#include "core/common/proposal.h"

#include <string>

namespace l0l3 {

class GatewayMetrics;
class RedisConnection;

// Turns a miss into a proposal for the operator, on the primary, off the
// request's critical path: skip keys rejected until later than now, count
// demand per region in the seen hash, XADD only on the key's first miss.
// The gateway never writes an answer to the cache itself.
class Proposer
{
public:
    Proposer(RedisConnection &primary, GatewayMetrics &metrics, std::string region);
    void propose(Proposal proposal);

private:
    RedisConnection &m_primary;
    GatewayMetrics &m_metrics;
    std::string m_region;
};

} // namespace l0l3
