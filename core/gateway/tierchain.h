#pragma once

#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatrequest.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace l0l3 {

class GatewayMetrics;
class HotCache;
class RedisConnection;

// The lookup tiers in order: L0.5 hot cache (in process, synchronous) ->
// L0 exact match (one GET on the local replica) -> L1 semantic match (an
// extension point, not implemented) -> miss, which the gateway answers from
// L3, the upstream. Only approved entries are ever returned.
class TierChain
{
public:
    enum class Tier { HotCache, Exact, Semantic, None };
    struct Result
    {
        Tier tier = Tier::None;
        std::shared_ptr<const CachedAnswer> answer; // null on a miss
        std::string_view missReason;               // "absent", "replica unavailable", "corrupt entry"...
    };
    using Callback = std::function<void(Result)>;
    // L1: look for an approved paraphrase of the request. Absent today.
    using SemanticLookup = std::function<void(const ChatRequest &request, std::string_view key, Callback callback)>;

    // hot may be null (--no-hot-cache). One TierChain per io_context thread.
    TierChain(HotCache *hot, RedisConnection &replica, GatewayMetrics &metrics);

    void setSemanticLookup(SemanticLookup lookup) { m_semantic = std::move(lookup); }

    // L0.5 only; synchronous, the hit path.
    std::shared_ptr<const CachedAnswer> lookupHot(std::string_view key) const;
    // L0 then L1; callback runs later on this thread. An L0 hit is copied into L0.5.
    void lookupBeyondHot(const std::string &key, const ChatRequest &request, Callback callback);
    // Every tier: calls back synchronously on an L0.5 hit.
    void lookup(const std::string &key, const ChatRequest &request, Callback callback);

private:
    void lookupExact(const std::string &key, const ChatRequest &request, Callback callback);
    void lookupSemantic(const std::string &key, const ChatRequest &request, std::string_view missReason, Callback callback);

    HotCache *m_hot;
    RedisConnection &m_replica;
    GatewayMetrics &m_metrics;
    SemanticLookup m_semantic;
};

} // namespace l0l3
