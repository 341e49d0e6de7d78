#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/common/cachekey.h"
#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatrequest.h"
#include "core/gateway/chatrequestparser.h"
#include "core/gateway/chatresponsewriter.h"
#include "core/gateway/hotcache.h"
#include "core/gateway/keymemo.h"

using namespace l0l3;

// Micro-benchmarks of the pieces of the gateway's L0.5 hit path. Throughput is
// reported as items/s (one item = one lookup, parse or serialised response).

namespace {

constexpr std::size_t kCachedKeys = 10000;

// Single-thread figures are CPU time (one core, whatever else the machine
// runs); the ->Threads(2) variants are wall time, which is what contention costs.

// A typical support-bot request: system prompt, one user turn, sampling noise.
const std::string kRequestBody =
    R"({"model":"gpt-4o-mini-2024-07-18","messages":[)"
    R"({"role":"system","content":"You are the support assistant of Acme Cloud. Answer briefly, )"
    R"(cite the relevant documentation page when there is one, and never invent prices."},)"
    R"({"role":"user","content":"How do I rotate the API key of my project without downtime?"}],)"
    R"("temperature":0.2,"top_p":1,"max_tokens":512,"stream":false,"user":"user-4711",)"
    R"("metadata":{"session":"b9f1c0de"}})";

const std::string kAnswer =
    "To rotate a project's API key without downtime, create a second key first: open Settings > API keys, "
    "choose \"Create key\" and give it the same scopes as the current one. Deploy the new key to every "
    "service that calls the API and check the \"last used\" column until the old key stops receiving "
    "traffic. Then revoke the old key. Both keys are valid at the same time, so there is no window in which "
    "requests fail. If you use the CLI, `acme keys create --project P --scopes read,write` followed by "
    "`acme keys revoke OLD_ID` does the same. See docs.acme.example/security/keys for the audit log of "
    "every rotation.";

std::string hexKey(std::size_t i)
{
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016zx%016zx", static_cast<std::size_t>(i * 0x9E3779B97F4A7C15ull), ~i);
    return buf;
}

struct HotCacheFixture
{
    HotCache cache{HotCache::Options{200000, 256u << 20, 3600 * 1000, 0}};
    std::vector<std::string> present;
    std::vector<std::string> absent;

    HotCacheFixture()
    {
        // One answer per key, as in a gateway: a hit's reference count is its own entry's, so the
        // contended run measures the shards, not one shared control block (BM_HotCacheHitSameKey does).
        for (std::size_t i = 0; i < kCachedKeys; ++i) {
            present.push_back(hexKey(i));
            absent.push_back(hexKey(i + kCachedKeys));
            cache.put(present.back(), CachedAnswer::fromContent(kAnswer, 1));
        }
    }
};

HotCacheFixture &hotCache()
{
    static HotCacheFixture fixture; // shared by the threads of a ->Threads(n) run
    return fixture;
}

void BM_HotCacheHit(benchmark::State &state)
{
    auto &f = hotCache();
    // Threads start at different offsets so they mostly touch different shards.
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 4999;
    for (auto _ : state) {
        auto answer = f.cache.get(f.present[i % kCachedKeys]);
        benchmark::DoNotOptimize(answer.get());
        ++i;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HotCacheHit);
BENCHMARK(BM_HotCacheHit)->Threads(2)->UseRealTime();

// Worst case: every thread asks for the same popular key (one shard, one mutex,
// one shared_ptr control block bounced between cores).
void BM_HotCacheHitSameKey(benchmark::State &state)
{
    auto &f = hotCache();
    const std::string &key = f.present[42];
    for (auto _ : state) {
        auto answer = f.cache.get(key);
        benchmark::DoNotOptimize(answer.get());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HotCacheHitSameKey);
BENCHMARK(BM_HotCacheHitSameKey)->Threads(2)->UseRealTime();

void BM_HotCacheMiss(benchmark::State &state)
{
    auto &f = hotCache();
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 4999;
    for (auto _ : state) {
        auto answer = f.cache.get(f.absent[i % kCachedKeys]);
        benchmark::DoNotOptimize(answer.get());
        ++i;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HotCacheMiss);
BENCHMARK(BM_HotCacheMiss)->Threads(2)->UseRealTime();

// A body seen for the first time: 4096 variants in turn (the user turn's ticket number differs), far more
// than the parser's table of recent results holds, so each is a real JSON parse (plus remembering it).
void BM_ChatRequestParse(benchmark::State &state)
{
    std::vector<std::string> bodies;
    const std::string marker = "How do I rotate";
    for (int i = 0; i < 4096; ++i) {
        std::string body = kRequestBody;
        body.insert(body.find(marker), "Ticket " + std::to_string(100000 + i) + ": ");
        bodies.push_back(std::move(body));
    }
    ChatRequestParser parser;
    ChatRequest request;
    ChatRequestError error;
    std::size_t i = 0;
    std::int64_t bytes = 0;
    for (auto _ : state) {
        const std::string &body = bodies[i++ % bodies.size()];
        if (!parser.parse(body, &request, &error)) {
            state.SkipWithError(error.message.c_str());
            break;
        }
        bytes += static_cast<std::int64_t>(body.size());
        benchmark::DoNotOptimize(request.user.data());
    }
    if (parser.repeats() * 100 > static_cast<std::uint64_t>(state.iterations())) // these must be real parses
        state.SkipWithError("the parser answered repeats: the bodies are not distinct enough");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_ChatRequestParse);

// The same body again (a hot key's repeat): answered from the parser's recent results.
void BM_ChatRequestParseRepeat(benchmark::State &state)
{
    ChatRequestParser parser;
    ChatRequest request;
    ChatRequestError error;
    for (auto _ : state) {
        if (!parser.parse(kRequestBody, &request, &error)) {
            state.SkipWithError(error.message.c_str());
            break;
        }
        benchmark::DoNotOptimize(request.user.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequestBody.size()));
}
BENCHMARK(BM_ChatRequestParseRepeat);

ChatResponseWriter::Meta responseMeta(const std::string &id)
{
    ChatResponseWriter::Meta meta;
    meta.id = id;
    meta.created = 1718000000;
    meta.model = "gpt-4o-mini-2024-07-18";
    meta.promptTokens = 42;
    return meta;
}

void BM_ResponseCompletion(benchmark::State &state)
{
    const auto answer = CachedAnswer::fromContent(kAnswer, 1);
    const std::string id = ChatResponseWriter::newId();
    const auto meta = responseMeta(id);
    std::string out;
    for (auto _ : state) {
        out.clear();
        ChatResponseWriter::completion(out, meta, *answer);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_ResponseCompletion);

void BM_ResponseSse(benchmark::State &state)
{
    const auto answer = CachedAnswer::fromContent(kAnswer, 1, static_cast<int>(state.range(0)));
    const std::string id = ChatResponseWriter::newId();
    const auto meta = responseMeta(id);
    std::string out;
    for (auto _ : state) {
        out.clear();
        ChatResponseWriter::sse(out, meta, *answer);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_ResponseSse)->Arg(4)->Arg(32);

void BM_ResponseNewId(benchmark::State &state)
{
    for (auto _ : state)
        benchmark::DoNotOptimize(ChatResponseWriter::newId());
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ResponseNewId);

// Everything the gateway does on an L0.5 hit except HTTP framing and the
// socket: parse, derive the key, look it up, serialise the reply.
void BM_HitPathCpu(benchmark::State &state)
{
    HotCache cache{HotCache::Options{}};
    ChatRequestParser parser;
    ChatRequest request;
    ChatRequestError error;
    if (!parser.parse(kRequestBody, &request, &error)) {
        state.SkipWithError(error.message.c_str());
        return;
    }
    const std::string key = CacheKey::derive({"bench", request.system, request.user, request.model,
                                              request.responseFormat, request.tools, request.toolChoice});
    cache.put(key, CachedAnswer::fromContent(kAnswer, 1));
    std::string out;
    for (auto _ : state) {
        parser.parse(kRequestBody, &request, &error);
        const std::string k = CacheKey::derive({"bench", request.system, request.user, request.model,
                                                request.responseFormat, request.tools, request.toolChoice});
        const auto answer = cache.get(k);
        if (!answer) {
            state.SkipWithError("hot cache miss");
            break;
        }
        const std::string id = ChatResponseWriter::newId();
        ChatResponseWriter::Meta meta;
        meta.id = id;
        meta.created = static_cast<std::int64_t>(std::time(nullptr));
        meta.model = request.model;
        meta.promptTokens = CachedAnswer::estimateTokens(request.system.size() + request.user.size());
        out.clear();
        ChatResponseWriter::completion(out, meta, *answer);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HitPathCpu);

// BM_HitPathCpu as the gateway now runs it: the key from its per-worker
// KeyMemo (a repeat skips normalisation), the reply id in a stack buffer.
void BM_HitPathCpuMemo(benchmark::State &state)
{
    HotCache cache{HotCache::Options{}};
    ChatRequestParser parser;
    KeyMemo memo;
    ChatRequest request;
    ChatRequestError error;
    if (!parser.parse(kRequestBody, &request, &error)) {
        state.SkipWithError(error.message.c_str());
        return;
    }
    std::string key = CacheKey::derive({"bench", request.system, request.user, request.model, request.responseFormat,
                                        request.tools, request.toolChoice});
    cache.put(key, CachedAnswer::fromContent(kAnswer, 1));
    std::string out;
    for (auto _ : state) {
        parser.parse(kRequestBody, &request, &error);
        memo.derive({"bench", request.system, request.user, request.model, request.responseFormat, request.tools,
                     request.toolChoice},
                    &key);
        const auto answer = cache.get(key);
        if (!answer) {
            state.SkipWithError("hot cache miss");
            break;
        }
        ChatResponseWriter::IdBuffer id;
        const auto meta = ChatResponseWriter::newMeta(
            id, request.model, CachedAnswer::estimateTokens(request.system.size() + request.user.size()));
        out.clear();
        ChatResponseWriter::completion(out, meta, *answer);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HitPathCpuMemo);

} // namespace
