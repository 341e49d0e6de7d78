#include "core/gateway/semantictier.h"

#include <chrono>
#include <mutex>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <hiredis/hiredis.h>

#include "core/common/cachekey.h"
#include "core/common/embedding.h"
#include "core/common/embeddingsapi.h"
#include "core/common/entry.h"
#include "core/common/prometheuswriter.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "core/common/semanticguard.h"
#include "core/common/vectorrecord.h"
#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatrequest.h"
#include "core/gateway/log.h"
#include "core/gateway/sha256.h"

namespace l0l3 {

namespace {

// Keys per SCAN step: each step's MGET answers at most this many records of at most
// VectorRecordCodec::kMaxBytes (Redis may return a few more keys than COUNT).
constexpr std::string_view kScanCount = "256";
// A system prompt longer than this is not hashed on the request path: no L1.
constexpr std::size_t kMaxSystemBytes = 64 * 1024;

std::string toString(const redisReply *r)
{
    return std::string(r->str, r->len);
}

} // namespace

void SemanticTier::SimilarityHistogram::record(float similarity)
{
    std::size_t i = 0;
    while (i < kBounds.size() && similarity > kBounds[i])
        ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    const double clamped = std::max(0.0, static_cast<double>(similarity));
    sumMicros.fetch_add(static_cast<std::uint64_t>(clamped * 1e6), std::memory_order_relaxed);
}

SemanticTier::SemanticTier(Options options, std::shared_ptr<const EmbeddingProvider> provider)
    : m_options(std::move(options))
    , m_provider(std::move(provider))
    , m_modelId(m_provider->modelId())
    , m_dimension(m_provider->dimension())
    , m_index(std::make_unique<VectorIndex>(m_provider->dimension()))
{
}

SemanticTier::SemanticTier(Options options, Embeddings embeddings)
    : m_options(std::move(options))
    , m_embeddings(std::move(embeddings))
    , m_modelId(EmbeddingsApi::modelId(m_embeddings->model))
    , m_embeddingsBreaker(std::make_unique<CircuitBreaker>(m_embeddings->breaker))
{
    m_embeddings->endpoint.endpoint = "/embeddings";
    m_embeddingsBreaker->setTransitionCallback(
        [](CircuitBreaker::State from, CircuitBreaker::State to, std::string_view why) {
            Log::warn("embeddings circuit " + std::string(CircuitBreaker::stateName(from)) + " -> "
                      + std::string(CircuitBreaker::stateName(to)) + ": " + std::string(why)
                      + (to == CircuitBreaker::State::Open ? "; L1 is skipped until it closes" : ""));
        });
}

SemanticTier::~SemanticTier()
{
    stop();
}

std::string_view SemanticTier::modeName(Mode mode)
{
    switch (mode) {
    case Mode::Off: return "off";
    case Mode::Shadow: return "shadow";
    case Mode::Serve: return "serve";
    }
    return "off";
}

std::optional<SemanticTier::Mode> SemanticTier::parseMode(std::string_view name)
{
    for (Mode m : {Mode::Off, Mode::Shadow, Mode::Serve})
        if (modeName(m) == name)
            return m;
    return std::nullopt;
}

std::size_t SemanticTier::size() const
{
    return m_size.load(std::memory_order_relaxed);
}

void SemanticTier::start(boost::asio::io_context &context, AsioRedisConnection::Options replica)
{
    replica.role = "l1_index";
    // One step's MGET may carry a few MiB of records.
    replica.commandTimeoutMs = std::max(replica.commandTimeoutMs, 5000);
    m_connection = std::make_unique<AsioRedisConnection>(context, std::move(replica));
    m_connection->setStateCallback([this](bool up) {
        // Every (re)connect reads the whole set again: changes made while away were not seen.
        if (up)
            rescan();
    });
    m_connection->start();
}

void SemanticTier::stop()
{
    if (m_connection)
        m_connection->stop();
}

void SemanticTier::resync()
{
    if (m_connection && m_connection->isReady())
        rescan();
}

void SemanticTier::onInvalidate(std::string_view message)
{
    if (!m_connection)
        return;
    if (message == RedisSchema::kInvalidateAll) {
        resync();
        return;
    }
    if (CacheKey::isValid(message))
        reread(std::string(message));
}

void SemanticTier::reread(std::string key)
{
    const std::string redisKey = RedisSchema::vectorKey(key);
    m_connection->command({"GET", redisKey}, [this, key = std::move(key)](const redisReply *reply, std::string_view) {
        if (!reply || (reply->type != REDIS_REPLY_NIL && reply->type != REDIS_REPLY_STRING)) {
            // Unknown: keep what the index has; the next reconnect or "*" reads everything again.
            Log::warnRateLimited("L1 index: cannot read the vector of " + key);
            return;
        }
        std::unique_lock lock(m_mutex);
        if (reply->type == REDIS_REPLY_NIL) {
            eraseLocked(key);
            return;
        }
        std::string why;
        const auto record = VectorRecordCodec::decode(std::string_view(reply->str, reply->len), &why);
        if (!record || !upsertLocked(key, *record)) {
            eraseLocked(key);
            if (!record)
                Log::warnRateLimited("L1 index: vector of " + key + " ignored: " + why);
        }
    });
}

void SemanticTier::rescan()
{
    std::uint64_t generation = 0;
    {
        std::unique_lock lock(m_mutex);
        generation = ++m_generation;
    }
    m_scanning = true;
    m_scanIndexed = 0;
    m_scanRejected = 0;
    scanStep(generation, "0");
}

void SemanticTier::scanStep(std::uint64_t generation, std::string cursor)
{
    m_connection->command(
        {"SCAN", cursor, "MATCH", RedisSchema::kVectorPattern, "COUNT", kScanCount},
        [this, generation](const redisReply *reply, std::string_view error) {
            {
                std::shared_lock lock(m_mutex);
                if (generation != m_generation)
                    return; // a newer scan took over
            }
            if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
                || reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
                // The next reconnect (or "*") scans again; until then the index keeps what it has.
                m_scanning = false;
                Log::warnRateLimited("L1 index: SCAN failed ("
                                     + (reply && reply->type == REDIS_REPLY_ERROR
                                            ? Log::printable(toString(reply), 200)
                                            : std::string(error.empty() ? "bad reply" : error))
                                     + "); L1 serves from the entries indexed so far");
                return;
            }
            std::string next = toString(reply->element[0]);
            std::vector<std::string> keys;
            for (std::size_t i = 0; i < reply->element[1]->elements; ++i) {
                const redisReply *k = reply->element[1]->element[i];
                if (k->type == REDIS_REPLY_STRING)
                    keys.push_back(toString(k));
            }
            auto advance = [this, generation, next = std::move(next)] {
                if (next == "0")
                    finishScan(generation);
                else
                    scanStep(generation, next);
            };
            if (keys.empty()) {
                advance();
                return;
            }
            std::vector<std::string_view> args{"MGET"};
            for (const std::string &k : keys)
                args.push_back(k);
            m_connection->command(
                args,
                [this, generation, keys = std::move(keys), advance = std::move(advance)](const redisReply *values,
                                                                                         std::string_view) {
                    if (!values || values->type != REDIS_REPLY_ARRAY || values->elements != keys.size()) {
                        std::shared_lock lock(m_mutex);
                        if (generation == m_generation) {
                            m_scanning = false;
                            Log::warnRateLimited("L1 index: MGET of vector records failed; scanning again later");
                        }
                        return;
                    }
                    std::unique_lock lock(m_mutex);
                    if (generation != m_generation)
                        return;
                    const std::size_t prefix = RedisSchema::kVectorPattern.size() - 1; // without the '*'
                    for (std::size_t i = 0; i < keys.size(); ++i) {
                        const redisReply *v = values->element[i];
                        const std::string_view cacheKey = std::string_view(keys[i]).substr(
                            std::min(prefix, keys[i].size()));
                        if (v->type != REDIS_REPLY_STRING || !CacheKey::isValid(cacheKey))
                            continue; // gone since the SCAN (its invalidation follows), or not ours
                        const auto record = VectorRecordCodec::decode(std::string_view(v->str, v->len));
                        if (record && upsertLocked(cacheKey, *record))
                            ++m_scanIndexed;
                        else
                            ++m_scanRejected;
                    }
                    lock.unlock();
                    advance();
                });
        });
}

void SemanticTier::finishScan(std::uint64_t generation)
{
    std::size_t dropped = 0;
    {
        std::unique_lock lock(m_mutex);
        if (generation != m_generation)
            return;
        // Entries the scan did not see are gone (or were replaced by another model's vector).
        for (auto it = m_indexed.begin(); it != m_indexed.end();) {
            if (it->second.generation < generation) {
                if (m_index)
                    m_index->erase(it->first);
                it = m_indexed.erase(it);
                ++dropped;
            } else {
                ++it;
            }
        }
        m_size.store(m_indexed.size(), std::memory_order_relaxed);
    }
    m_scanning = false;
    m_scansCompleted.fetch_add(1);
    Log::info("L1 index (" + m_modelId + ", " + std::string(modeName(m_options.mode))
              + "): " + std::to_string(m_scanIndexed) + " vectors indexed, " + std::to_string(m_scanRejected)
              + " of another model or unreadable, " + std::to_string(dropped) + " dropped, " + std::to_string(size())
              + " in the index");
}

bool SemanticTier::upsertLocked(std::string_view key, const VectorRecord &record)
{
    if (record.model != m_modelId)
        return false;
    if (!m_index) {
        // An endpoint's dimension: its vectors' (every record of one model id has the same).
        m_dimension.store(record.vector.size());
        m_index = std::make_unique<VectorIndex>(record.vector.size());
        Log::info("L1 index: " + m_modelId + " vectors have " + std::to_string(record.vector.size()) + " dimensions");
    }
    if (record.vector.size() != m_dimension.load(std::memory_order_relaxed))
        return false;
    auto it = m_indexed.find(key);
    if (it == m_indexed.end() && m_indexed.size() >= m_options.maxEntries) {
        if (!m_fullLogged) {
            m_fullLogged = true;
            Log::warn("L1 index full (" + std::to_string(m_options.maxEntries)
                      + " entries, --semantic-max-entries): further entries are not indexed");
        }
        return false;
    }
    const std::string scope = VectorIndex::scopeKey(record.ns, record.systemSha256, record.modelFamily);
    if (!m_index->upsert(scope, key, record.vector))
        return false;
    if (it == m_indexed.end())
        it = m_indexed.emplace(std::string(key), Indexed{}).first;
    it->second.threshold = record.threshold;
    it->second.generation = m_generation;
    m_size.store(m_indexed.size(), std::memory_order_relaxed);
    return true;
}

void SemanticTier::eraseLocked(std::string_view key)
{
    if (m_index)
        m_index->erase(key);
    if (auto it = m_indexed.find(key); it != m_indexed.end())
        m_indexed.erase(it);
    m_size.store(m_indexed.size(), std::memory_order_relaxed);
}

std::optional<SemanticTier::Candidate> SemanticTier::best(std::string_view scope, std::span<const float> query) const
{
    std::shared_lock lock(m_mutex);
    if (!m_index || query.size() != m_index->dimension())
        return std::nullopt;
    const auto matches = m_index->search(scope, query, 1, m_options.candidateFloor);
    if (matches.empty())
        return std::nullopt;
    const auto it = m_indexed.find(matches.front().key);
    return Candidate{matches.front().key, matches.front().similarity,
                     it == m_indexed.end() ? VectorRecordCodec::kMaxThreshold : it->second.threshold};
}

TierChain::SemanticLookup SemanticTier::lookupFor(AsioRedisConnection &replica, boost::asio::io_context &context)
{
    UpstreamClient *client = nullptr;
    if (m_embeddings) {
        m_clients.push_back(std::make_unique<UpstreamClient>(context, m_embeddings->endpoint));
        client = m_clients.back().get();
    }
    return [this, &replica, client](const ChatRequest &request, const std::string &ns, std::string_view missReason,
                                    TierChain::Callback callback) {
        lookup(replica, client, request, ns, missReason, std::move(callback));
    };
}

void SemanticTier::lookup(AsioRedisConnection &replica, UpstreamClient *client, const ChatRequest &request,
                          const std::string &ns, std::string_view missReason, TierChain::Callback callback)
{
    TierChain::Result miss{TierChain::Tier::None, nullptr, missReason};
    if (m_options.mode == Mode::Off) {
        callback(std::move(miss));
        return;
    }
    // What L1 never answers: tools and response formats change what an answer must be; a
    // multi-turn request is not looked up at all (TierChain).
    if (!request.singleTurn || !request.tools.empty() || !request.responseFormat.empty() || !request.toolChoice.empty()
        || request.user.size() > SemanticGuard::kMaxInputBytes || request.system.size() > kMaxSystemBytes
        || !replica.isReady()) {
        count(Outcome::Skipped);
        callback(std::move(miss));
        return;
    }
    if (size() == 0) {
        count(Outcome::Miss);
        callback(std::move(miss));
        return;
    }
    const auto began = std::chrono::steady_clock::now();
    if (client) {
        embedRemotely(replica, *client, request, ns, std::move(miss), std::move(callback));
        return;
    }
    thread_local std::vector<float> query;
    query.resize(m_provider->dimension());
    m_provider->embedInto(request.user, query);
    match(replica, request, ns, query, began, std::move(miss), std::move(callback));
}

void SemanticTier::embedRemotely(AsioRedisConnection &replica, UpstreamClient &client, const ChatRequest &request,
                                 const std::string &ns, TierChain::Result miss, TierChain::Callback callback)
{
    const auto began = std::chrono::steady_clock::now();
    const CircuitBreaker::Permit permit = m_embeddingsBreaker->allow();
    if (permit == CircuitBreaker::Permit::Denied) {
        m_embeddingsResults[static_cast<int>(EmbeddingsResult::Refused)].fetch_add(1, std::memory_order_relaxed);
        count(Outcome::Unavailable);
        callback(std::move(miss));
        return;
    }
    // The answer and the budget's timer run on this worker's thread: whichever comes first
    // decides, exactly once, and reports to the breaker.
    struct Pending
    {
        explicit Pending(boost::asio::io_context &context)
            : timer(context)
        {
        }
        boost::asio::steady_timer timer;
        bool done = false;
        CircuitBreaker::Permit permit = CircuitBreaker::Permit::Normal;
        TierChain::Result miss;
        TierChain::Callback callback;
    };
    auto pending = std::make_shared<Pending>(client.context());
    pending->permit = permit;
    pending->miss = std::move(miss);
    pending->callback = std::move(callback);
    pending->timer.expires_after(std::chrono::milliseconds(m_embeddings->budgetMs));
    pending->timer.async_wait([this, pending](boost::system::error_code ec) {
        if (ec || pending->done)
            return;
        pending->done = true;
        m_embeddingsBreaker->record(pending->permit, false);
        m_embeddingsResults[static_cast<int>(EmbeddingsResult::Timeout)].fetch_add(1, std::memory_order_relaxed);
        count(Outcome::Unavailable);
        pending->callback(std::move(pending->miss));
    });
    const std::string_view inputs[] = {request.user};
    client.post(
        EmbeddingsApi::request(m_embeddings->model, inputs), m_embeddings->authorization,
        [this, pending, &replica, &request, &ns, began](UpstreamClient::Result result) {
            if (result.failure == UpstreamClient::Failure::None)
                m_embeddingsLatency.record(
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
            if (pending->done)
                return; // past the budget: already a miss, and a failure for the breaker
            pending->done = true;
            pending->timer.cancel();
            std::vector<std::vector<float>> vectors;
            std::string why;
            if (result.failure != UpstreamClient::Failure::None)
                why = result.error;
            else if (result.status != 200)
                why = "HTTP status " + std::to_string(result.status);
            else if (EmbeddingsApi::parseResponse(result.body, 1, &vectors, &why)
                     && vectors.front().size() != m_dimension.load(std::memory_order_relaxed))
                why = "a vector of " + std::to_string(vectors.front().size()) + " dimensions, the index has "
                    + std::to_string(m_dimension.load());
            const bool ok = why.empty();
            m_embeddingsBreaker->record(pending->permit, ok);
            if (!ok) {
                m_embeddingsResults[static_cast<int>(EmbeddingsResult::Error)].fetch_add(1, std::memory_order_relaxed);
                count(Outcome::Unavailable);
                Log::warnRateLimited("L1: embeddings endpoint failed (" + Log::printable(why, 200)
                                     + "); the request is an L1 miss");
                pending->callback(std::move(pending->miss));
                return;
            }
            m_embeddingsResults[static_cast<int>(EmbeddingsResult::Ok)].fetch_add(1, std::memory_order_relaxed);
            match(replica, request, ns, vectors.front(), began, std::move(pending->miss), std::move(pending->callback));
        });
}

void SemanticTier::match(AsioRedisConnection &replica, const ChatRequest &request, const std::string &ns,
                         std::span<const float> query, std::chrono::steady_clock::time_point began,
                         TierChain::Result miss, TierChain::Callback callback)
{
    const Sha256::Digest system = Sha256::digest(PromptNormaliser::normalise(request.system));
    const std::string scope = VectorIndex::scopeKey(ns, Sha256::hex(system), CacheKey::modelFamily(request.model));
    const std::optional<Candidate> candidate = best(scope, query);
    m_lookupLatency.record(std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    if (!candidate) {
        count(Outcome::Miss);
        callback(std::move(miss));
        return;
    }
    miss.l1Key = candidate->key;
    miss.l1Similarity = candidate->similarity;
    if (candidate->similarity < candidate->threshold) {
        m_nearMissSimilarity.record(candidate->similarity);
        count(Outcome::Miss);
        callback(std::move(miss));
        return;
    }
    // Over the threshold: the entry as it is now decides. The request and ns outlive the
    // lookup (the gateway's pending chat holds them until it answers).
    const std::string redisKey = RedisSchema::entryKey(candidate->key);
    replica.command({"GET", redisKey},
                    [this, &request, &ns, candidate = *candidate, miss = std::move(miss),
                     callback = std::move(callback)](const redisReply *reply, std::string_view) mutable {
                        if (!reply || reply->type != REDIS_REPLY_STRING) {
                            // Revoked since it was indexed (its invalidation is on the way), or the replica failed.
                            count(Outcome::Miss);
                            callback(std::move(miss));
                            return;
                        }
                        std::string why;
                        auto entry = EntryCodec::decode(std::string_view(reply->str, reply->len), &why);
                        const bool sameScope = entry && entry->key == candidate.key && entry->ns == ns
                            && entry->model == CacheKey::modelFamily(request.model)
                            && PromptNormaliser::normalise(entry->system)
                                == PromptNormaliser::normalise(request.system);
                        if (!sameScope) {
                            count(Outcome::Miss);
                            Log::warnRateLimited(
                                "L1 candidate " + candidate.key
                                + (entry ? " is filed for another namespace, model or system prompt than its vector"
                                         : " is unreadable: " + why));
                            callback(std::move(miss));
                            return;
                        }
                        const SemanticGuard::Reason reason = SemanticGuard::check(request.user, entry->prompt);
                        if (reason != SemanticGuard::Reason::None) {
                            count(Outcome::Guarded);
                            callback(std::move(miss));
                            return;
                        }
                        count(Outcome::Hit);
                        m_hitSimilarity.record(candidate.similarity);
                        if (m_options.mode != Mode::Serve) {
                            callback(std::move(miss));
                            return;
                        }
                        TierChain::Result hit{TierChain::Tier::Semantic,
                                              CachedAnswer::fromContent(entry->response, entry->version),
                                              {}};
                        hit.l1Key = candidate.key;
                        hit.l1Similarity = candidate.similarity;
                        callback(std::move(hit));
                    });
}

void SemanticTier::render(std::string &out) const
{
    PrometheusWriter w(out);
    const std::string_view region = m_options.region;
    w.family("l0l3_l1_lookups_total", "counter",
             "L1 (semantic) lookups after an L0 miss by result: hit (every check passed; served in serve mode, "
             "only counted in shadow mode), miss (no candidate at its entry's threshold), guarded (a candidate "
             "refused by SemanticGuard), skipped (not eligible: tools, response format, long prompt, replica down), "
             "unavailable (the embeddings endpoint failed, was over its budget or its circuit was open).");
    static constexpr std::string_view kResults[] = {"hit", "miss", "guarded", "skipped", "unavailable"};
    for (int i = 0; i < static_cast<int>(Outcome::Count); ++i)
        w.sample("l0l3_l1_lookups_total", {{"region", region}, {"result", kResults[i]}},
                 static_cast<double>(m_outcomes[i].load(std::memory_order_relaxed)));

    w.family("l0l3_l1_similarity", "histogram",
             "Similarity of L1 hits (result=hit) and of best candidates below their entry's threshold "
             "(result=near_miss, from 0.5).");
    auto histogram = [&](std::string_view result, const SimilarityHistogram &h) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= SimilarityHistogram::kBounds.size(); ++i) {
            cumulative += h.buckets[i].load(std::memory_order_relaxed);
            const std::string le = i < SimilarityHistogram::kBounds.size()
                ? PrometheusWriter::formatValue(SimilarityHistogram::kBounds[i])
                : std::string("+Inf");
            w.sample("l0l3_l1_similarity_bucket", {{"region", region}, {"result", result}, {"le", le}},
                     static_cast<double>(cumulative));
        }
        w.sample("l0l3_l1_similarity_sum", {{"region", region}, {"result", result}},
                 static_cast<double>(h.sumMicros.load(std::memory_order_relaxed)) / 1e6);
        w.sample("l0l3_l1_similarity_count", {{"region", region}, {"result", result}},
                 static_cast<double>(h.count.load(std::memory_order_relaxed)));
    };
    histogram("hit", m_hitSimilarity);
    histogram("near_miss", m_nearMissSimilarity);

    w.family("l0l3_l1_lookup_duration_seconds", "histogram",
             "L1 index lookup: embedding the prompt and searching its scope (not the entry's read).");
    w.histogram("l0l3_l1_lookup_duration_seconds", {{"region", region}}, m_lookupLatency);

    w.family("l0l3_l1_index_entries", "gauge", "Vectors in the gateway's L1 index (of the configured model).");
    w.sample("l0l3_l1_index_entries", {{"region", region}}, static_cast<double>(size()));

    if (!m_embeddings)
        return;
    w.family("l0l3_l1_embeddings_requests_total", "counter",
             "Prompts sent to the embeddings endpoint (--embeddings) by result: ok, error (failed, an error "
             "status or an unusable answer), timeout (no answer within --embeddings-budget-ms), refused (its "
             "circuit open: not sent).");
    static constexpr std::string_view kEmbeddingsResults[] = {"ok", "error", "timeout", "refused"};
    for (int i = 0; i < static_cast<int>(EmbeddingsResult::Count); ++i)
        w.sample("l0l3_l1_embeddings_requests_total", {{"region", region}, {"result", kEmbeddingsResults[i]}},
                 static_cast<double>(m_embeddingsResults[i].load(std::memory_order_relaxed)));
    w.family("l0l3_l1_embeddings_duration_seconds", "histogram",
             "Embeddings endpoint calls that got an HTTP answer (any status, within the budget or not), from "
             "the call to the answer.");
    w.histogram("l0l3_l1_embeddings_duration_seconds", {{"region", region}}, m_embeddingsLatency);
    w.family("l0l3_l1_embeddings_circuit_state", "gauge",
             "Embeddings endpoint circuit breaker: 0 closed, 1 half-open, 2 open.");
    w.sample("l0l3_l1_embeddings_circuit_state", {{"region", region}},
             static_cast<double>(static_cast<int>(m_embeddingsBreaker->state())));
}

} // namespace l0l3
