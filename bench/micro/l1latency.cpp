// Per-query latency distribution of the L1 building blocks (Google Benchmark
// reports means; the target is a p99): embedding, search, and the whole
// lookup, over one scope of N lexical vectors.
//   l0l3_bench_l1 [entries...]     (default: 10000 100000)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/micro/l1corpus.h"
#include "core/common/lexicalembedder.h"
#include "core/common/semanticguard.h"
#include "core/common/vectorindex.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Quantiles
{
    double p50 = 0, p99 = 0, max = 0;
};

Quantiles quantiles(std::vector<double> us)
{
    std::sort(us.begin(), us.end());
    Quantiles q;
    q.p50 = us[us.size() / 2];
    q.p99 = us[us.size() * 99 / 100];
    q.max = us.back();
    return q;
}

void row(const char *what, std::size_t n, const Quantiles &q)
{
    std::printf("| %-34s | %7zu | %8.1f | %8.1f | %8.1f |\n", what, n, q.p50, q.p99, q.max);
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<std::size_t> sizes;
    for (int i = 1; i < argc; ++i)
        sizes.push_back(static_cast<std::size_t>(std::strtoul(argv[i], nullptr, 10)));
    if (sizes.empty())
        sizes = {10000, 100000};
    const std::string scope = l0l3::VectorIndex::scopeKey("default", "0123456789abcdef", "gpt-4o");
    const l0l3::LexicalEmbedder embedder;
    constexpr int kQueries = 5000;

    std::printf("| what (µs per query) | entries | p50 | p99 | max |\n|---|---:|---:|---:|---:|\n");
    std::vector<std::string> notes;
    for (const std::size_t n : sizes) {
        l0l3::bench::L1Corpus corpus;
        l0l3::VectorIndex index(embedder.dimension());
        std::vector<std::string> texts;
        texts.reserve(n);
        const auto buildStart = Clock::now();
        for (std::size_t i = 0; i < n; ++i) {
            texts.push_back(corpus.text());
            index.upsert(scope, std::to_string(i), embedder.embed(texts.back()));
        }
        const double buildS = std::chrono::duration<double>(Clock::now() - buildStart).count();

        std::vector<std::string> queries;
        for (int i = 0; i < kQueries; ++i)
            queries.push_back(corpus.typo(texts[corpus.pick(n)]));
        std::vector<float> q(embedder.dimension());
        std::vector<double> embedUs, searchUs, exactUs, lookupUs;
        int agree = 0, asked = 0;
        for (const std::string &text : queries) {
            auto t0 = Clock::now();
            embedder.embedInto(text, q);
            auto t1 = Clock::now();
            const auto fast = index.search(scope, q, 5, 0.5f);
            auto t2 = Clock::now();
            const auto exact = index.searchExact(scope, q, 5, 0.5f);
            auto t3 = Clock::now();
            embedUs.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
            searchUs.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
            exactUs.push_back(std::chrono::duration<double, std::micro>(t3 - t2).count());
            if (!exact.empty()) {
                ++asked;
                agree += !fast.empty() && fast[0].key == exact[0].key ? 1 : 0;
            }
            // The whole lookup: embed, search, guard the best candidate.
            auto t4 = Clock::now();
            embedder.embedInto(text, q);
            const auto hits = index.search(scope, q, 1, 0.5f);
            if (!hits.empty())
                (void)l0l3::SemanticGuard::check(text, texts[std::stoul(hits[0].key)]);
            auto t5 = Clock::now();
            lookupUs.push_back(std::chrono::duration<double, std::micro>(t5 - t4).count());
        }
        row("embed (lexical, d=256)", n, quantiles(embedUs));
        row(n > l0l3::VectorIndex::Options{}.exactScanLimit ? "search (sketch + rerank 256)" : "search (exact scan)", n,
            quantiles(searchUs));
        row("search, exact scan", n, quantiles(exactUs));
        row("lookup: embed + search + guard", n, quantiles(lookupUs));
        char note[256];
        std::snprintf(note, sizeof note,
                      "%zu entries: built in %.1f s, %.0f bytes per entry, search found the exact best in %d of %d "
                      "queries",
                      n, buildS, static_cast<double>(index.memoryBytes()) / static_cast<double>(n), agree, asked);
        notes.push_back(note);
    }
    for (const std::string &note : notes)
        std::printf("\n%s", note.c_str());
    std::printf("\n");
    return 0;
}
