#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/micro/l1corpus.h"
#include "core/common/lexicalembedder.h"
#include "core/common/semanticguard.h"
#include "core/common/vectorindex.h"

namespace {

const std::string kScope = l0l3::VectorIndex::scopeKey("default", "0123456789abcdef", "gpt-4o");

// One index of n entries per (n, exact scan limit), built once per process, and its typo queries.
struct L1Fixture
{
    std::unique_ptr<l0l3::VectorIndex> index;
    std::vector<std::string> queries;
    std::vector<std::vector<float>> queryVectors;
};

const L1Fixture &fixture(std::size_t n, std::size_t exactScanLimit)
{
    static std::map<std::pair<std::size_t, std::size_t>, L1Fixture> fixtures;
    L1Fixture &f = fixtures[{n, exactScanLimit}];
    if (f.index)
        return f;
    const l0l3::LexicalEmbedder embedder;
    l0l3::bench::L1Corpus corpus;
    f.index = std::make_unique<l0l3::VectorIndex>(embedder.dimension(),
                                                  l0l3::VectorIndex::Options{exactScanLimit, 256});
    std::vector<std::string> texts;
    texts.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        texts.push_back(corpus.text());
        f.index->upsert(kScope, std::to_string(i), embedder.embed(texts.back()));
    }
    for (int i = 0; i < 256; ++i) {
        f.queries.push_back(corpus.typo(texts[corpus.pick(n)]));
        f.queryVectors.push_back(embedder.embed(f.queries.back()));
    }
    return f;
}

void BM_LexicalEmbedShort(benchmark::State &state)
{
    const l0l3::LexicalEmbedder embedder;
    std::vector<float> out(embedder.dimension());
    const std::string prompt = "How do I reset my password?";
    for (auto _ : state) {
        embedder.embedInto(prompt, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LexicalEmbedShort);

// The input cap's worth of text: the most one embedding costs.
void BM_LexicalEmbedCapped(benchmark::State &state)
{
    const l0l3::LexicalEmbedder embedder;
    std::vector<float> out(embedder.dimension());
    std::string prompt;
    while (prompt.size() < l0l3::LexicalEmbedder::kMaxInputBytes)
        prompt += "Please summarise the following paragraph about caf\xC3\xA9 culture, keeping it short. ";
    for (auto _ : state) {
        embedder.embedInto(prompt, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LexicalEmbedCapped)->Unit(benchmark::kMicrosecond);

void BM_SemanticGuard(benchmark::State &state)
{
    const std::string a = "Can't log in, I don't remember my password for the Acme portal";
    const std::string b = "How do I reset my password for the Acme portal?";
    for (auto _ : state)
        benchmark::DoNotOptimize(l0l3::SemanticGuard::check(a, b));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SemanticGuard);

// Every entry of the scope scored (int8, AVX2 when the CPU has it).
void BM_L1SearchExact(benchmark::State &state)
{
    const L1Fixture &f = fixture(static_cast<std::size_t>(state.range(0)), 0);
    std::size_t i = 0;
    for (auto _ : state) {
        const auto &q = f.queryVectors[i++ % f.queryVectors.size()];
        benchmark::DoNotOptimize(f.index->searchExact(kScope, q, 5, 0.5f));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_L1SearchExact)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// The 32-byte sketch of every entry, then the best 256 scored exactly.
void BM_L1SearchSketch(benchmark::State &state)
{
    const L1Fixture &f = fixture(static_cast<std::size_t>(state.range(0)), 0);
    std::size_t i = 0;
    for (auto _ : state) {
        const auto &q = f.queryVectors[i++ % f.queryVectors.size()];
        benchmark::DoNotOptimize(f.index->search(kScope, q, 5, 0.5f));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_L1SearchSketch)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// What an L1 lookup costs the gateway: embed the request, search with the default options.
void BM_L1EmbedAndSearch(benchmark::State &state)
{
    const L1Fixture &f = fixture(static_cast<std::size_t>(state.range(0)), l0l3::VectorIndex::Options{}.exactScanLimit);
    const l0l3::LexicalEmbedder embedder;
    std::vector<float> q(embedder.dimension());
    std::size_t i = 0;
    for (auto _ : state) {
        embedder.embedInto(f.queries[i++ % f.queries.size()], q);
        benchmark::DoNotOptimize(f.index->search(kScope, q, 5, 0.5f));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_L1EmbedAndSearch)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

} // namespace
