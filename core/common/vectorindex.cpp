#include "core/common/vectorindex.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define L0L3_VECTORINDEX_X86 1
#endif

namespace l0l3 {

struct VectorIndex::Scope
{
    std::string name;
    std::vector<const std::string *> keys; // into m_locations (node-based: stable addresses)
    std::vector<std::int8_t> codes;        // keys.size() * dimension
    std::vector<float> scales;
    std::vector<std::int8_t> sketches; // keys.size() * kSketchDimension
    std::vector<float> sketchScales;
};

namespace {

using DotFn = std::int32_t (*)(const std::int8_t *, const std::int8_t *, std::size_t);

std::int32_t dotPortable(const std::int8_t *a, const std::int8_t *b, std::size_t n)
{
    std::int32_t sum = 0;
    for (std::size_t i = 0; i < n; ++i)
        sum += static_cast<std::int32_t>(a[i]) * static_cast<std::int32_t>(b[i]);
    return sum;
}

#ifdef L0L3_VECTORINDEX_X86
// n is a multiple of 32 (every dimension the index accepts is).
__attribute__((target("avx2"))) std::int32_t dotAvx2(const std::int8_t *a, const std::int8_t *b, std::size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    for (std::size_t i = 0; i < n; i += 32) {
        const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a + i));
        const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b + i));
        const __m256i alo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(va));
        const __m256i ahi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(va, 1));
        const __m256i blo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(vb));
        const __m256i bhi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(vb, 1));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(alo, blo));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(ahi, bhi));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
#endif

// Scores every sketch against the query sketch: out[i] = dot(q, sketches[i]) * scales[i].
using SketchScanFn = void (*)(const std::int8_t *, const std::int8_t *, const float *, std::size_t, float *);

void sketchScanPortable(const std::int8_t *q, const std::int8_t *sketches, const float *scales, std::size_t n,
                        float *out)
{
    for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(
                     dotPortable(q, sketches + i * VectorIndex::kSketchDimension, VectorIndex::kSketchDimension))
            * scales[i];
}

#ifdef L0L3_VECTORINDEX_X86
// maddubs multiplies unsigned by signed bytes: |q| times b with q's sign moved onto b.
// Two products of at most 127 * 127 never saturate the int16 sum.
__attribute__((target("avx2"))) void sketchScanAvx2(const std::int8_t *q, const std::int8_t *sketches,
                                                    const float *scales, std::size_t n, float *out)
{
    static_assert(VectorIndex::kSketchDimension == 32);
    const __m256i vq = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q));
    const __m256i absQ = _mm256_abs_epi8(vq);
    const __m256i ones = _mm256_set1_epi16(1);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i s[4];
        for (int k = 0; k < 4; ++k) {
            const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(sketches + (i + k) * 32));
            s[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(absQ, _mm256_sign_epi8(b, vq)), ones);
        }
        // Four vectors of 8 int32 partial sums reduced to 4 totals.
        const __m256i h01 = _mm256_hadd_epi32(s[0], s[1]);
        const __m256i h23 = _mm256_hadd_epi32(s[2], s[3]);
        const __m256i h = _mm256_hadd_epi32(h01, h23);
        const __m128i total = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        _mm_storeu_ps(out + i, _mm_mul_ps(_mm_cvtepi32_ps(total), _mm_loadu_ps(scales + i)));
    }
    for (; i < n; ++i)
        out[i] = static_cast<float>(dotPortable(q, sketches + i * 32, 32)) * scales[i];
}
#endif

SketchScanFn chooseSketchScan()
{
#ifdef L0L3_VECTORINDEX_X86
    __builtin_cpu_init(); // these run during static initialisation
    if (__builtin_cpu_supports("avx2"))
        return sketchScanAvx2;
#endif
    return sketchScanPortable;
}

const SketchScanFn kSketchScan = chooseSketchScan();

DotFn chooseDot()
{
#ifdef L0L3_VECTORINDEX_X86
    __builtin_cpu_init(); // these run during static initialisation
    if (__builtin_cpu_supports("avx2"))
        return dotAvx2;
#endif
    return dotPortable;
}

const DotFn kDot = chooseDot();

// Symmetric int8 quantisation, out[i] ~ v[i] / scale; returns scale (0 for a zero vector).
float quantise(std::span<const float> v, std::int8_t *out)
{
    float maxAbs = 0.0f;
    for (const float x : v)
        maxAbs = std::max(maxAbs, std::abs(x));
    if (!(maxAbs > 0.0f) || !std::isfinite(maxAbs)) {
        std::fill(out, out + v.size(), std::int8_t(0));
        return 0.0f;
    }
    const float inv = 127.0f / maxAbs;
    std::int64_t squares = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        out[i] = static_cast<std::int8_t>(std::lround(v[i] * inv));
        squares += static_cast<std::int64_t>(out[i]) * out[i];
    }
    // The scale that makes the quantised vector unit-length: equal weights round the same
    // way, so maxAbs / 127 would bias every similarity (a vector with itself by up to 1 %).
    return squares > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(squares))) : 0.0f;
}

// The vector folded to kSketchDimension (a signed-hash projection of a hashed
// vector is another one), renormalised and quantised.
float sketch(std::span<const float> v, std::int8_t *out)
{
    float folded[VectorIndex::kSketchDimension] = {};
    for (std::size_t i = 0; i < v.size(); ++i)
        folded[i % VectorIndex::kSketchDimension] += v[i];
    double norm = 0.0;
    for (const float x : folded)
        norm += static_cast<double>(x) * x;
    if (norm > 0.0) {
        const auto inv = static_cast<float>(1.0 / std::sqrt(norm));
        for (float &x : folded)
            x *= inv;
    }
    return quantise(folded, out);
}

struct Scored
{
    float score;
    std::size_t slot;
};
// A min-heap by score: the worst kept candidate on top.
bool heapOrder(const Scored &a, const Scored &b)
{
    return a.score > b.score;
}

void keepBest(std::vector<Scored> &heap, std::size_t capacity, Scored s)
{
    if (heap.size() < capacity) {
        heap.push_back(s);
        std::push_heap(heap.begin(), heap.end(), heapOrder);
    } else if (s.score > heap.front().score) {
        std::pop_heap(heap.begin(), heap.end(), heapOrder);
        heap.back() = s;
        std::push_heap(heap.begin(), heap.end(), heapOrder);
    }
}

} // namespace

VectorIndex::VectorIndex(std::size_t dimension)
    : VectorIndex(dimension, Options{})
{
}

VectorIndex::VectorIndex(std::size_t dimension, Options options)
    : m_inputDimension(std::max<std::size_t>(dimension, 1))
    , m_dimension((m_inputDimension + 31) / 32 * 32)
    , m_options(options)
{
    m_options.rerankCandidates = std::max<std::size_t>(m_options.rerankCandidates, 1);
}

VectorIndex::~VectorIndex() = default;

std::string VectorIndex::scopeKey(std::string_view ns, std::string_view systemPromptHash, std::string_view modelFamily)
{
    std::string key;
    key.reserve(ns.size() + systemPromptHash.size() + modelFamily.size() + 2);
    key.append(ns);
    key += '\0';
    key.append(systemPromptHash);
    key += '\0';
    key.append(modelFamily);
    return key;
}

bool VectorIndex::upsert(std::string_view scopeName, std::string_view key, std::span<const float> vector)
{
    if (vector.size() != m_inputDimension)
        return false;
    for (const float x : vector) {
        if (!std::isfinite(x))
            return false;
    }
    auto scopeIt = m_scopes.find(scopeName);
    if (scopeIt == m_scopes.end()) {
        auto scope = std::make_unique<Scope>();
        scope->name = std::string(scopeName);
        scopeIt = m_scopes.emplace(scope->name, std::move(scope)).first;
    }
    Scope &scope = *scopeIt->second;

    auto loc = m_locations.find(key);
    if (loc != m_locations.end() && loc->second.scope != &scope) {
        Scope &old = *loc->second.scope;
        removeSlot(old, loc->second.slot);
        if (old.keys.empty())
            m_scopes.erase(old.name);
    }
    std::size_t slot = 0;
    if (loc != m_locations.end() && loc->second.scope == &scope) {
        slot = loc->second.slot;
    } else {
        if (loc == m_locations.end())
            loc = m_locations.emplace(std::string(key), Location{}).first;
        slot = scope.keys.size();
        scope.keys.push_back(&loc->first);
        scope.codes.resize(scope.codes.size() + m_dimension);
        scope.scales.push_back(0.0f);
        scope.sketches.resize(scope.sketches.size() + kSketchDimension);
        scope.sketchScales.push_back(0.0f);
        loc->second = Location{&scope, slot};
    }
    std::int8_t *code = scope.codes.data() + slot * m_dimension;
    std::fill(code, code + m_dimension, std::int8_t(0));
    scope.scales[slot] = quantise(vector, code);
    scope.sketchScales[slot] = sketch(vector, scope.sketches.data() + slot * kSketchDimension);
    return true;
}

void VectorIndex::removeSlot(Scope &scope, std::size_t slot)
{
    const std::size_t last = scope.keys.size() - 1;
    if (slot != last) {
        std::copy_n(scope.codes.data() + last * m_dimension, m_dimension, scope.codes.data() + slot * m_dimension);
        std::copy_n(scope.sketches.data() + last * kSketchDimension, kSketchDimension,
                    scope.sketches.data() + slot * kSketchDimension);
        scope.scales[slot] = scope.scales[last];
        scope.sketchScales[slot] = scope.sketchScales[last];
        scope.keys[slot] = scope.keys[last];
        m_locations.find(*scope.keys[slot])->second.slot = slot;
    }
    scope.keys.pop_back();
    scope.codes.resize(last * m_dimension);
    scope.sketches.resize(last * kSketchDimension);
    scope.scales.pop_back();
    scope.sketchScales.pop_back();
}

bool VectorIndex::erase(std::string_view key)
{
    const auto loc = m_locations.find(key);
    if (loc == m_locations.end())
        return false;
    Scope &scope = *loc->second.scope;
    removeSlot(scope, loc->second.slot);
    m_locations.erase(loc);
    if (scope.keys.empty())
        m_scopes.erase(scope.name);
    return true;
}

void VectorIndex::clear()
{
    m_scopes.clear();
    m_locations.clear();
}

std::vector<VectorIndex::Match> VectorIndex::search(std::string_view scope, std::span<const float> query, std::size_t k,
                                                    float threshold) const
{
    const auto it = m_scopes.find(scope);
    if (it == m_scopes.end())
        return {};
    return scan(*it->second, query, k, threshold, it->second->keys.size() <= m_options.exactScanLimit);
}

std::vector<VectorIndex::Match> VectorIndex::searchExact(std::string_view scope, std::span<const float> query,
                                                         std::size_t k, float threshold) const
{
    const auto it = m_scopes.find(scope);
    if (it == m_scopes.end())
        return {};
    return scan(*it->second, query, k, threshold, true);
}

std::vector<VectorIndex::Match> VectorIndex::scan(const Scope &scope, std::span<const float> query, std::size_t k,
                                                  float threshold, bool exact) const
{
    if (k == 0 || query.size() != m_inputDimension)
        return {};
    std::vector<std::int8_t> q(m_dimension, 0);
    const float qScale = quantise(query, q.data());
    if (qScale == 0.0f)
        return {};
    const std::size_t n = scope.keys.size();

    std::vector<Scored> best;
    best.reserve(k + 1);
    auto score = [&](std::size_t slot) {
        const std::int32_t d = kDot(q.data(), scope.codes.data() + slot * m_dimension, m_dimension);
        const float s = static_cast<float>(d) * qScale * scope.scales[slot];
        if (s >= threshold)
            keepBest(best, k, Scored{s, slot});
    };
    if (exact) {
        for (std::size_t slot = 0; slot < n; ++slot)
            score(slot);
    } else {
        std::int8_t qs[kSketchDimension];
        const float qsScale = sketch(query, qs);
        if (qsScale == 0.0f)
            return {};
        thread_local std::vector<float> sketchScores;
        sketchScores.resize(n);
        kSketchScan(qs, scope.sketches.data(), scope.sketchScales.data(), n, sketchScores.data());
        std::vector<Scored> candidates;
        candidates.reserve(m_options.rerankCandidates + 1);
        // In units of the sketch scores (not yet multiplied by the query's scale): below the
        // threshold by more than the margin, or below every kept candidate, is not a candidate.
        float cutoff = (threshold - m_options.sketchMargin) / qsScale;
        for (std::size_t slot = 0; slot < n; ++slot) {
            if (sketchScores[slot] <= cutoff)
                continue;
            keepBest(candidates, m_options.rerankCandidates, Scored{sketchScores[slot], slot});
            if (candidates.size() == m_options.rerankCandidates)
                cutoff = std::max(cutoff, candidates.front().score);
        }
        for (const Scored &c : candidates)
            score(c.slot);
    }
    std::sort(best.begin(), best.end(), [](const Scored &a, const Scored &b) {
        return a.score != b.score ? a.score > b.score : a.slot < b.slot;
    });
    std::vector<Match> out;
    out.reserve(best.size());
    for (const Scored &s : best)
        out.push_back(Match{*scope.keys[s.slot], s.score});
    return out;
}

std::size_t VectorIndex::memoryBytes() const
{
    std::size_t bytes = 0;
    for (const auto &[name, scope] : m_scopes) {
        bytes += sizeof(Scope) + name.capacity() + scope->name.capacity() + 64;
        bytes += scope->keys.capacity() * sizeof(const std::string *) + scope->codes.capacity()
            + scope->scales.capacity() * sizeof(float) + scope->sketches.capacity()
            + scope->sketchScales.capacity() * sizeof(float);
    }
    // A node of the location map: the key (with its heap buffer when longer than the
    // small-string buffer), the location, the hash and next pointer, and a bucket.
    for (const auto &[key, loc] : m_locations)
        bytes += sizeof(std::string) + (key.capacity() > 15 ? key.capacity() + 1 : 0) + sizeof(Location) + 16 + 8;
    return bytes;
}

} // namespace l0l3
