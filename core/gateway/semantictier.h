#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/common/latencyhistogram.h"
#include "core/common/stringhash.h"
#include "core/common/vectorindex.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/circuitbreaker.h"
#include "core/gateway/tierchain.h"
#include "core/gateway/upstreamclient.h"

namespace l0l3 {

class EmbeddingProvider;
struct VectorRecord;

// L1: an approved entry whose question means the same as the request's, found by
// similarity and served only past every check:
//   - the request is single-turn, without tools or a response format, and its prompt is
//     short enough for SemanticGuard to read;
//   - the candidate is in the request's scope (namespace, normalised system prompt,
//     model family) and its similarity reaches the entry's own threshold (its vector
//     record's, moved only by operator verdicts);
//   - the entry, read from the replica at that moment, is still there, was approved in
//     that namespace for that system prompt, and SemanticGuard finds no difference the
//     similarity misses (negation, numbers, entities, quotes, language, follow-ups, length).
// Shadow mode runs every check and serves nothing: the miss goes upstream and its
// proposal carries the best candidate. Serve mode answers with the entry's answer.
//
// The index holds the vector records (RedisSchema::vectorKey) of the local replica whose
// model id is the provider's: built by SCAN at start and after every reconnect of its own
// replica connection, kept current from the invalidation channel (the key's record read
// again, or dropped when gone; "*" rescans). A rescan keeps serving the entries it has
// until it has read them all, then drops the ones no longer there.
//
// With Options::embeddings the request's prompt is embedded by an OpenAI-compatible
// POST /v1/embeddings endpoint instead of the in-process provider (model id
// EmbeddingsApi::modelId(model); the index's dimension is the first such record's). One
// input per call, on the worker's own pooled keep-alive client: lookups are not held
// back to be batched, and the index is built from the records, embedding nothing. The
// lookup waits budgetMs at most for the vector: past it, on an error, or while the
// endpoint's own circuit breaker is open, it is an L1 miss (result "unavailable") and the
// request goes on at once; an answer after the budget counts as a failure for the breaker.
class SemanticTier
{
public:
    enum class Mode { Off, Shadow, Serve };
    struct Options
    {
        Mode mode = Mode::Shadow;
        std::size_t maxEntries = 200000; // beyond it, new records are not indexed (logged)
        // The best candidate at or above this similarity rides on a shadow miss's proposal and
        // counts as a near miss when below its threshold.
        float candidateFloor = 0.5f;
        std::string region;
    };
    // An OpenAI-compatible endpoint (--embeddings) instead of the in-process provider.
    struct Embeddings
    {
        UpstreamClient::Options endpoint; // endpoint = "/embeddings"; timeoutMs: the whole call
        std::string model;
        std::string authorization; // "Bearer <key>" or empty
        int budgetMs = 50;
        CircuitBreaker::Options breaker;
    };

    SemanticTier(Options options, std::shared_ptr<const EmbeddingProvider> provider);
    // Embeds with the endpoint.
    SemanticTier(Options options, Embeddings embeddings);
    ~SemanticTier();
    SemanticTier(const SemanticTier &) = delete;
    SemanticTier &operator=(const SemanticTier &) = delete;

    static std::string_view modeName(Mode mode);
    static std::optional<Mode> parseMode(std::string_view name);

    // The index's own connection to the replica, on context (the subscriber's: onInvalidate()
    // and resync() must be called there too).
    void start(boost::asio::io_context &context, AsioRedisConnection::Options replica);
    void stop();
    // An invalidation message: a cache key, or RedisSchema::kInvalidateAll.
    void onInvalidate(std::string_view message);
    // Invalidations may have been missed (the subscriber reconnected): read everything again.
    void resync();

    // The lookup a worker's TierChain runs after an L0 miss; entries are read from replica
    // (the worker's, on the same thread), the endpoint called on context (the worker's).
    TierChain::SemanticLookup lookupFor(AsioRedisConnection &replica, boost::asio::io_context &context);

    Mode mode() const { return m_options.mode; }
    std::size_t size() const;
    // Prometheus families l0l3_l1_*.
    void render(std::string &out) const;

    // Scans completed since start (a test waits for the first).
    std::uint64_t scansCompleted() const { return m_scansCompleted.load(); }

private:
    enum class Outcome { Hit, Miss, Guarded, Skipped, Unavailable, Count };
    enum class EmbeddingsResult { Ok, Error, Timeout, Refused, Count };
    struct Indexed
    {
        float threshold = 1.01f;
        std::uint64_t generation = 0;
    };
    struct Candidate
    {
        std::string key;
        float similarity = 0.0f;
        float threshold = 1.01f;
    };
    // Similarities from 0.5 to 1 in fixed buckets.
    struct SimilarityHistogram
    {
        static constexpr std::array<double, 12> kBounds = {0.5, 0.6,  0.7,  0.8,  0.85, 0.88,
                                                           0.9, 0.92, 0.94, 0.96, 0.98, 1.0};
        std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets{};
        std::atomic<std::uint64_t> count{0};
        std::atomic<std::uint64_t> sumMicros{0};
        void record(float similarity);
    };

    void lookup(AsioRedisConnection &replica, UpstreamClient *client, const ChatRequest &request, const std::string &ns,
                std::string_view missReason, TierChain::Callback callback);
    // The endpoint's vector of the prompt, then match(); a miss when it does not come within the budget.
    void embedRemotely(AsioRedisConnection &replica, UpstreamClient &client, const ChatRequest &request,
                       const std::string &ns, TierChain::Result miss, TierChain::Callback callback);
    // Search with the prompt's vector, then the entry's read and the guards.
    void match(AsioRedisConnection &replica, const ChatRequest &request, const std::string &ns,
               std::span<const float> query, std::chrono::steady_clock::time_point began, TierChain::Result miss,
               TierChain::Callback callback);
    std::optional<Candidate> best(std::string_view scope, std::span<const float> query) const;
    // Under the exclusive lock. False when not indexed (another model, full, malformed).
    bool upsertLocked(std::string_view key, const VectorRecord &record);
    void eraseLocked(std::string_view key);
    void count(Outcome outcome) { m_outcomes[static_cast<int>(outcome)].fetch_add(1, std::memory_order_relaxed); }

    void rescan();
    void scanStep(std::uint64_t generation, std::string cursor);
    void finishScan(std::uint64_t generation);
    void reread(std::string key);

    Options m_options;
    std::shared_ptr<const EmbeddingProvider> m_provider; // null with an endpoint
    std::optional<Embeddings> m_embeddings;
    std::string m_modelId;
    std::unique_ptr<CircuitBreaker> m_embeddingsBreaker;
    std::vector<std::unique_ptr<UpstreamClient>> m_clients; // one per worker (lookupFor)

    mutable std::shared_mutex m_mutex; // the index and m_indexed: searched by every worker
    // The provider's dimension; with an endpoint, that of the first record of its model (0 before).
    std::atomic<std::size_t> m_dimension{0};
    std::unique_ptr<VectorIndex> m_index; // created with the dimension
    std::unordered_map<std::string, Indexed, StringHash, std::equal_to<>> m_indexed;
    std::uint64_t m_generation = 0; // of the scan in progress or last finished
    bool m_fullLogged = false;

    std::unique_ptr<AsioRedisConnection> m_connection; // context thread only
    bool m_scanning = false;
    std::uint64_t m_scanIndexed = 0;
    std::uint64_t m_scanRejected = 0;
    std::atomic<std::uint64_t> m_scansCompleted{0};

    std::array<std::atomic<std::uint64_t>, static_cast<int>(Outcome::Count)> m_outcomes{};
    SimilarityHistogram m_hitSimilarity;
    SimilarityHistogram m_nearMissSimilarity;
    LatencyHistogram m_lookupLatency;
    std::array<std::atomic<std::uint64_t>, static_cast<int>(EmbeddingsResult::Count)> m_embeddingsResults{};
    LatencyHistogram m_embeddingsLatency;
    std::atomic<std::size_t> m_size{0};
};

} // namespace l0l3
