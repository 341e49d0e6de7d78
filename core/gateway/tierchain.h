#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatrequest.h"

namespace l0l3 {

class GatewayMetrics;
class HotCache;
class AsioRedisConnection;

// The lookup tiers in order: L0.5 hot cache (in process, synchronous) ->
// L0 exact match (one GET on the local replica) -> L1 semantic match (when
// set: SemanticTier) -> miss, which the gateway answers from
// L3, the upstream. Only approved entries are ever returned.
class TierChain
{
public:
    enum class Tier { HotCache, Exact, Semantic, None };
    struct Result
    {
        Tier tier = Tier::None;
        std::shared_ptr<const CachedAnswer> answer; // null on a miss
        std::string_view missReason;                // "absent", "replica unavailable", "corrupt entry"...
        bool fromFallback = false;                  // L0 was read from the fallback replica or the primary
        // L1: the entry that answered (Tier::Semantic), or on a miss the best candidate found
        // (a shadow proposal carries it); empty when none.
        std::string l1Key{};
        float l1Similarity = 0.0f;
    };
    using Callback = std::function<void(Result)>;
    // L1: look for an approved paraphrase of the request after an L0 miss (SemanticTier). ns and
    // request live until the callback has run; missReason is L0's.
    using SemanticLookup = std::function<void(const ChatRequest &request, const std::string &ns,
                                              std::string_view missReason, Callback callback)>;

    // hot may be null (--no-hot-cache). One TierChain per io_context thread.
    TierChain(HotCache *hot, AsioRedisConnection &replica, GatewayMetrics &metrics);

    void setSemanticLookup(SemanticLookup lookup) { m_semantic = std::move(lookup); }
    // Where L0 reads go while the local replica is unreachable, in this order
    // (either may be null). Entries are the same everywhere: the primary writes them.
    void setFallbacks(AsioRedisConnection *fallbackReplica, AsioRedisConnection *primary)
    {
        m_fallbackReplica = fallbackReplica;
        m_primary = primary;
    }

    // false: an entry past its review date (Entry::reviewByMs) is a miss, from L0 and from L0.5.
    void setServePastReviewBy(bool serve) { m_servePastReviewBy = serve; }

    // L0.5 only; synchronous, the hit path.
    std::shared_ptr<const CachedAnswer> lookupHot(std::string_view key) const;
    // L0 then L1; callback runs later on this thread. An L0 hit is copied into L0.5, unless an
    // invalidation of its key (or a flush) arrived while the GET was in flight. ns is the request's
    // namespace (the one hashed into key). key, ns and request must stay alive until the callback
    // has run (the gateway's pending chat holds them).
    void lookupBeyondHot(const std::string &key, const std::string &ns, const ChatRequest &request, Callback callback);
    // Every tier: calls back synchronously on an L0.5 hit. Arguments as for lookupBeyondHot().
    void lookup(const std::string &key, const std::string &ns, const ChatRequest &request, Callback callback);

private:
    void lookupExact(const std::string &key, const std::string &ns, const ChatRequest &request, Callback callback);
    // The first fallback source that is connected, or null.
    AsioRedisConnection *fallback() const;
    void readEntry(AsioRedisConnection &source, const std::string &key, const std::string &ns,
                   const ChatRequest &request, Callback callback);
    void lookupSemantic(const std::string &ns, const ChatRequest &request, std::string_view missReason,
                        Callback callback);

    // An entry as served: its answer and its L0.5 lifetime (-1: the cache's default).
    struct Decoded
    {
        std::uint64_t fingerprintLow = 0; // xxh3-128 of the raw Redis value
        std::uint64_t fingerprintHigh = 0;
        std::shared_ptr<const CachedAnswer> answer;
        std::int64_t ttlMs = -1;
        std::uint64_t rawQuestion = 0;        // rawQuestionHash() of the entry's system and prompt
        std::uint64_t normalisedQuestion = 0; // CacheKey::questionHash() of them
        std::string ns;                       // the namespace it was approved in; empty: not recorded
    };
    // True when the entry was approved for this request's question: its system prompt and prompt,
    // byte for byte or normalised. The key hashes them too, so a difference means an entry filed
    // under the wrong key (or a collision): never served.
    static bool asksSameQuestion(const Decoded &entry, const ChatRequest &request);
    // True when the entry was approved in the request's namespace. The key hashes the namespace
    // too: another one means an entry filed under the wrong key, served to another tenant. An
    // entry that records no namespace was not written by the console and is never served.
    static bool sameNamespace(const Decoded &entry, std::string_view ns);
    // The raw value of the entry stored under key, decoded and escaped; null
    // and *why when it is corrupt. The last decoding per key is remembered:
    // the GET still decides every hit, but an unchanged value (the common
    // case) is not decoded and escaped again. An edit or a revocation changes
    // or removes the value.
    const Decoded *decodeEntry(const std::string &key, std::string_view raw, std::string *why);

    // True when answers past their review date are refused and this one is.
    bool refusedForReview(const CachedAnswer &answer) const;

    HotCache *m_hot;
    bool m_servePastReviewBy = true;
    AsioRedisConnection &m_replica;
    AsioRedisConnection *m_fallbackReplica = nullptr;
    AsioRedisConnection *m_primary = nullptr;
    GatewayMetrics &m_metrics;
    SemanticLookup m_semantic;
    std::unordered_map<std::string, Decoded> m_decoded; // by cache key; bounded, cleared when full
    Decoded m_oneOff;                                   // an entry too large to remember, until its lookup has answered
    std::string m_redisKey;                             // the GET's key, formatted here (its capacity reused)
    std::size_t m_decodedBytes = 0;
};

} // namespace l0l3
