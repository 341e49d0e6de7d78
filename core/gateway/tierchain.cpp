#include "core/gateway/tierchain.h"

#include <hiredis/hiredis.h>
#include <xxhash.h>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/redisschema.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/gatewaymetrics.h"
#include "core/gateway/hotcache.h"
#include "core/gateway/log.h"

namespace l0l3 {

namespace {

// xxh3-64 of the prompt as sent, seeded with that of the system prompt: the cheap first comparison.
std::uint64_t rawQuestionHash(std::string_view system, std::string_view user)
{
    return XXH3_64bits_withSeed(user.data(), user.size(), XXH3_64bits(system.data(), system.size()));
}

} // namespace

bool TierChain::asksSameQuestion(const Decoded &entry, const ChatRequest &request)
{
    if (rawQuestionHash(request.system, request.user) == entry.rawQuestion)
        return true;
    return CacheKey::questionHash(request.system, request.user) == entry.normalisedQuestion;
}

bool TierChain::sameNamespace(const Decoded &entry, std::string_view ns)
{
    return entry.ns == ns;
}

TierChain::TierChain(HotCache *hot, AsioRedisConnection &replica, GatewayMetrics &metrics)
    : m_hot(hot)
    , m_replica(replica)
    , m_metrics(metrics)
{
}

bool TierChain::refusedForReview(const CachedAnswer &answer) const
{
    if (m_servePastReviewBy || answer.reviewByMs <= 0)
        return false;
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return answer.reviewByMs <= now.count();
}

std::shared_ptr<const CachedAnswer> TierChain::lookupHot(std::string_view key) const
{
    auto answer = m_hot ? m_hot->get(key) : nullptr;
    return answer && refusedForReview(*answer) ? nullptr : answer;
}

void TierChain::lookup(const std::string &key, const std::string &ns, const ChatRequest &request, Callback callback)
{
    if (auto answer = lookupHot(key)) {
        callback(Result{Tier::HotCache, std::move(answer), {}});
        return;
    }
    lookupBeyondHot(key, ns, request, std::move(callback));
}

void TierChain::lookupBeyondHot(const std::string &key, const std::string &ns, const ChatRequest &request,
                                Callback callback)
{
    lookupExact(key, ns, request, std::move(callback));
}

AsioRedisConnection *TierChain::fallback() const
{
    if (m_fallbackReplica && m_fallbackReplica->isReady())
        return m_fallbackReplica;
    if (m_primary && m_primary->isReady())
        return m_primary;
    return nullptr;
}

void TierChain::lookupExact(const std::string &key, const std::string &ns, const ChatRequest &request,
                            Callback callback)
{
    if (!m_replica.isReady()) {
        if (AsioRedisConnection *other = fallback()) {
            readEntry(*other, key, ns, request, std::move(callback));
            return;
        }
    }
    readEntry(m_replica, key, ns, request, std::move(callback));
}

void TierChain::readEntry(AsioRedisConnection &source, const std::string &key, const std::string &ns,
                          const ChatRequest &request, Callback callback)
{
    m_redisKey.clear();
    RedisSchema::appendKey(m_redisKey, RedisSchema::kEntryKind, key);
    const bool isFallback = &source != &m_replica;
    if (isFallback) {
        m_metrics.fallbackRead(&source == m_fallbackReplica ? GatewayMetrics::FallbackSource::FallbackReplica
                                                            : GatewayMetrics::FallbackSource::Primary);
    }
    // Taken before the GET goes out: an invalidation that arrives while it is in flight refuses its put.
    const HotCache::PutTicket ticket = m_hot ? m_hot->ticket(key) : HotCache::PutTicket{};
    // The request and key outlive the lookup (the gateway keeps them until it responds); the command is
    // formatted at once, so m_redisKey is free again when command() returns.
    source.command({"GET", m_redisKey},
                   [this, &key, &ns, &request, isFallback, ticket,
                    callback = std::move(callback)](const redisReply *reply, std::string_view error) mutable {
                       if (!reply) {
                           // The replica died under this command: ask another source once rather than fail.
                           if (!isFallback) {
                               if (AsioRedisConnection *other = fallback()) {
                                   readEntry(*other, key, ns, request, std::move(callback));
                                   return;
                               }
                           }
                           lookupSemantic(ns, request, "replica unavailable", std::move(callback));
                           return;
                       }
                       if (reply->type == REDIS_REPLY_NIL) {
                           lookupSemantic(ns, request, "absent", std::move(callback));
                           return;
                       }
                       if (reply->type != REDIS_REPLY_STRING) {
                           lookupSemantic(ns, request, "replica error", std::move(callback));
                           return;
                       }
                       std::string why;
                       const Decoded *entry = decodeEntry(key, std::string_view(reply->str, reply->len), &why);
                       if (!entry) {
                           m_metrics.corruptEntry();
                           Log::warn("corrupt entry " + RedisSchema::entryKey(key) + " treated as a miss: " + why);
                           lookupSemantic(ns, request, "corrupt entry", std::move(callback));
                           return;
                       }
                       if (!sameNamespace(*entry, ns)) {
                           m_metrics.entryMismatch();
                           Log::warnRateLimited("entry " + RedisSchema::entryKey(key) + " was approved in namespace '"
                                                + Log::printable(entry->ns, 128) + "', requested in '"
                                                + Log::printable(ns, 128) + "': treated as a miss");
                           lookupSemantic(ns, request, "entry for another namespace", std::move(callback));
                           return;
                       }
                       if (!asksSameQuestion(*entry, request)) {
                           m_metrics.entryMismatch();
                           Log::warnRateLimited(
                               "entry " + RedisSchema::entryKey(key)
                               + " was approved for another prompt or system prompt: treated as a miss");
                           lookupSemantic(ns, request, "entry for another question", std::move(callback));
                           return;
                       }
                       if (refusedForReview(*entry->answer)) {
                           // Not L1 either: it could answer with this same entry.
                           m_metrics.pastReviewBy();
                           callback(Result{Tier::None, nullptr, "past its review date"});
                           return;
                       }
                       if (m_hot)
                           m_hot->put(key, entry->answer, entry->ttlMs, ticket);
                       Result result{Tier::Exact, entry->answer, {}};
                       result.fromFallback = isFallback;
                       m_oneOff = Decoded{}; // the result and L0.5 hold the answer now
                       callback(std::move(result));
                   });
}

const TierChain::Decoded *TierChain::decodeEntry(const std::string &key, std::string_view raw, std::string *why)
{
    constexpr std::size_t kMaxEntries = 1024;
    constexpr std::size_t kMaxBytes = 16u << 20;
    // Larger entries are decoded every time rather than remembered: one outsized answer must not stay
    // in memory for as long as the worker runs (L0.5 keeps what it can, under its own bounds).
    constexpr std::size_t kMaxRememberedBytes = 256 * 1024;
    constexpr std::size_t kMaxNamespaceBytes = 1024;
    m_oneOff = Decoded{};
    const XXH128_hash_t h = XXH3_128bits(raw.data(), raw.size());
    const auto it = m_decoded.find(key);
    if (it != m_decoded.end() && it->second.fingerprintLow == h.low64 && it->second.fingerprintHigh == h.high64)
        return &it->second;
    auto entry = EntryCodec::decode(raw, why);
    if (entry && entry->key != key)
        *why = "entry is stored under another key";
    else if (entry && entry->ns.size() > kMaxNamespaceBytes)
        *why = "its namespace is longer than any request's";
    if (!entry || !why->empty()) {
        if (it != m_decoded.end()) {
            m_decodedBytes -= it->second.answer->bytes();
            m_decoded.erase(it);
        }
        return nullptr;
    }
    auto answer = CachedAnswer::fromContent(entry->response, entry->version);
    answer->reviewByMs = entry->reviewByMs;
    Decoded decoded{h.low64,
                    h.high64,
                    std::move(answer),
                    entry->ttlSeconds > 0 ? entry->ttlSeconds * 1000 : -1,
                    rawQuestionHash(entry->system, entry->prompt),
                    CacheKey::questionHash(entry->system, entry->prompt),
                    std::move(entry->ns)};
    if (decoded.answer->bytes() > kMaxRememberedBytes) {
        if (it != m_decoded.end()) {
            m_decodedBytes -= it->second.answer->bytes();
            m_decoded.erase(it);
        }
        m_oneOff = std::move(decoded);
        return &m_oneOff;
    }
    if (it != m_decoded.end()) {
        m_decodedBytes += decoded.answer->bytes() - it->second.answer->bytes();
        it->second = std::move(decoded);
        return &it->second;
    }
    if (m_decoded.size() >= kMaxEntries || m_decodedBytes >= kMaxBytes) {
        m_decoded.clear(); // a new working set; the hot entries come back at once
        m_decodedBytes = 0;
    }
    m_decodedBytes += decoded.answer->bytes();
    return &m_decoded.emplace(key, std::move(decoded)).first->second;
}

void TierChain::lookupSemantic(const std::string &ns, const ChatRequest &request, std::string_view missReason,
                               Callback callback)
{
    if (m_semantic) {
        m_semantic(request, ns, missReason, std::move(callback));
        return;
    }
    callback(Result{Tier::None, nullptr, missReason});
}

} // namespace l0l3
