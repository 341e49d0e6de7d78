#include <string>

#include <benchmark/benchmark.h>

#include "core/common/cachekey.h"
#include "core/common/canonicaljson.h"
#include "core/common/entry.h"
#include "core/common/jsonwriter.h"
#include "core/common/latencyhistogram.h"
#include "core/common/promptnormaliser.h"

namespace {

std::string longPrompt()
{
    std::string s;
    while (s.size() < 4000)
        s += "Please summarise the following paragraph about caf\xC3\xA9 culture in Stra\xC3\x9F"
             "e, \tkeeping   it SHORT. ";
    return s + "?!";
}

void BM_NormaliseShort(benchmark::State &state)
{
    const std::string prompt = "  What is the capital of FRANCE?! ";
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::PromptNormaliser::normalise(prompt));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_NormaliseShort);

void BM_NormaliseLong(benchmark::State &state)
{
    const std::string prompt = longPrompt();
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::PromptNormaliser::normalise(prompt));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * prompt.size()));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_NormaliseLong);

// The gateway's default --max-body-bytes of combining marks in the reverse of canonical order
// after one starter: the most reordering work one request can ask of the normaliser.
void BM_NormaliseWorstCase(benchmark::State &state)
{
    constexpr std::size_t kBytes = 1u << 20;
    std::string prompt = "a";
    while (prompt.size() + 4 <= kBytes)
        prompt += "\xCC\x81\xCC\x96"; // U+0301 (class 230), U+0316 (class 220)
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::PromptNormaliser::normalise(prompt));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * prompt.size()));
}
BENCHMARK(BM_NormaliseWorstCase)->Unit(benchmark::kMillisecond);

// The same number of bytes of ordinary accented text: the reference tst_promptnormaliser's bound is relative to.
void BM_NormaliseAccented1MiB(benchmark::State &state)
{
    constexpr std::size_t kBytes = 1u << 20;
    std::string prompt;
    while (prompt.size() + 7 <= kBytes)
        prompt += "caf\xC3\xA9 x";
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::PromptNormaliser::normalise(prompt));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * prompt.size()));
}
BENCHMARK(BM_NormaliseAccented1MiB)->Unit(benchmark::kMillisecond);

void BM_DeriveKeyShort(benchmark::State &state)
{
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::CacheKey::derive({"acme",
                                                         "You are a helpful assistant.",
                                                         "What is the capital of France?",
                                                         "gpt-4o-mini-2024-07-18",
                                                         {},
                                                         {},
                                                         {}}));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DeriveKeyShort);

void BM_DeriveKeyLong(benchmark::State &state)
{
    const std::string prompt = longPrompt();
    const std::string tools = *l0l3::CanonicalJson::canonicalise(
        R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])");
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::CacheKey::derive({"acme", "You are a helpful assistant.", prompt, "gpt-4o-mini",
                                                         R"({"type":"json_object"})", tools, "\"auto\""}));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DeriveKeyLong);

void BM_CanonicaliseTools(benchmark::State &state)
{
    const std::string tools =
        R"([{"function":{"parameters":{"properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},"type":"object"},"name":"get_weather"},"type":"function"}])";
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::CanonicalJson::canonicalise(tools));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_CanonicaliseTools);

void BM_HistogramRecord(benchmark::State &state)
{
    static l0l3::LatencyHistogram h;
    std::int64_t ns = 1000;
    for (auto _ : state) {
        h.recordNanos(ns);
        ns = ns * 7 % 100'000'000'000 + 1000; // wander over all decades
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HistogramRecord)->Threads(1)->Threads(2);

void BM_JsonWriterResponse(benchmark::State &state)
{
    const std::string content(static_cast<std::size_t>(state.range(0)), 'x');
    std::string out;
    for (auto _ : state) {
        out.clear();
        l0l3::JsonWriter w(out);
        w.beginObject()
            .key("id")
            .value("chatcmpl-l0l3-0123456789abcdef")
            .key("object")
            .value("chat.completion")
            .key("created")
            .value(std::int64_t(1718000000))
            .key("model")
            .value("gpt-4o-mini")
            .key("choices")
            .beginArray()
            .beginObject()
            .key("index")
            .value(0)
            .key("message")
            .beginObject()
            .key("role")
            .value("assistant")
            .key("content")
            .value(content)
            .endObject()
            .key("finish_reason")
            .value("stop")
            .endObject()
            .endArray()
            .key("usage")
            .beginObject()
            .key("prompt_tokens")
            .value(0)
            .key("completion_tokens")
            .value(0)
            .endObject()
            .endObject();
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_JsonWriterResponse)->Arg(64)->Arg(4096);

void BM_EntryDecode(benchmark::State &state)
{
    l0l3::Entry e;
    e.key = "0123456789abcdef0123456789abcdef";
    e.response = std::string(1024, 'r');
    e.prompt = "What is X?";
    const std::string json = l0l3::EntryCodec::encode(e);
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::EntryCodec::decode(json));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_EntryDecode);

} // namespace

BENCHMARK_MAIN();
