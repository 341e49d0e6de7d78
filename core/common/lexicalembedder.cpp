#include "core/common/lexicalembedder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include <utf8proc.h>
#include <xxhash.h>

#include "core/common/promptnormaliser.h"
#include "core/common/utf8prefix.h"

namespace l0l3 {

namespace {

// Feature families: each its own hash seed, so a word and a character n-gram
// with the same bytes are different features.
constexpr std::uint64_t kSeedUnigram = 0x4c304c3355310001ull;
constexpr std::uint64_t kSeedBigram = 0x4c304c3355310002ull;
constexpr std::uint64_t kSeedCharGram = 0x4c304c3355310003ull;

constexpr float kWeightUnigram = 1.0f;
constexpr float kWeightBigram = 0.6f;
constexpr float kWeightCharGram = 0.35f;
constexpr float kWeightFiller = 0.3f; // multiplies a filler word's unigram (and a bigram of two)
constexpr int kMinGram = 3;
constexpr int kMaxGram = 5;

// Words that carry little of a question's meaning. Negations are not here:
// SemanticGuard handles them, and they must still move the vector.
constexpr std::array<std::string_view, 44> kFiller = {
    "a",     "an",     "and",  "are",  "be",    "can",    "could", "do",   "does",  "for",   "hello",
    "hey",   "hi",     "how",  "i",    "in",    "is",     "it",    "me",   "my",    "of",    "on",
    "or",    "please", "so",   "tell", "thank", "thanks", "that",  "the",  "this",  "to",    "what",
    "would", "you",    "your", "just", "now",   "at",     "with",  "some", "there", "whats", "was"};

bool isFiller(std::string_view word)
{
    return std::find(kFiller.begin(), kFiller.end(), word) != kFiller.end();
}

struct Feature
{
    std::uint64_t hash;
    float weight;
};

bool isWordCodePoint(utf8proc_int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return true;
    default: return false;
    }
}

} // namespace

std::vector<std::string> LexicalEmbedder::words(std::string_view normalised)
{
    std::vector<std::string> words;
    std::string current;
    const auto *p = reinterpret_cast<const utf8proc_uint8_t *>(normalised.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(normalised.size());
    bool pendingApostrophe = false;
    while (left > 0) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n <= 0) {
            n = 1;
            cp = -1;
        }
        if (cp >= 0 && isWordCodePoint(cp)) {
            if (pendingApostrophe)
                current += '\'';
            pendingApostrophe = false;
            current.append(reinterpret_cast<const char *>(p), static_cast<std::size_t>(n));
        } else if ((cp == '\'' || cp == 0x2019) && !current.empty() && !pendingApostrophe) {
            pendingApostrophe = true;
        } else {
            pendingApostrophe = false;
            if (!current.empty())
                words.push_back(std::move(current));
            current.clear();
        }
        p += n;
        left -= n;
    }
    if (!current.empty())
        words.push_back(std::move(current));
    return words;
}

LexicalEmbedder::LexicalEmbedder(std::size_t dimension)
    : m_dimension(dimension >= 64 && dimension <= 65536 && (dimension & (dimension - 1)) == 0 ? dimension
                                                                                              : kDefaultDimension)
{
}

std::string LexicalEmbedder::modelId() const
{
    return "lexical-v1-d" + std::to_string(m_dimension);
}

void LexicalEmbedder::embedInto(std::string_view text, std::span<float> out) const
{
    std::fill(out.begin(), out.end(), 0.0f);
    if (out.size() != m_dimension)
        return;
    const std::string normalised = PromptNormaliser::normalise(utf8Prefix(text, kMaxInputBytes));
    const std::vector<std::string> words = LexicalEmbedder::words(normalised);

    std::vector<Feature> features;
    features.reserve(words.size() * 16);
    std::string gram;
    std::vector<std::size_t> starts; // byte offsets of the code points of "<word>", and its end
    for (std::size_t i = 0; i < words.size(); ++i) {
        const std::string &w = words[i];
        const bool filler = isFiller(w);
        features.push_back(
            {XXH3_64bits_withSeed(w.data(), w.size(), kSeedUnigram), kWeightUnigram * (filler ? kWeightFiller : 1.0f)});
        if (i + 1 < words.size()) {
            gram.assign(w);
            gram += ' ';
            gram += words[i + 1];
            const bool fillerPair = filler && isFiller(words[i + 1]);
            features.push_back({XXH3_64bits_withSeed(gram.data(), gram.size(), kSeedBigram),
                                kWeightBigram * (fillerPair ? kWeightFiller : 1.0f)});
        }
        gram.assign("<");
        gram += w;
        gram += '>';
        starts.clear();
        for (std::size_t b = 0; b < gram.size(); ++b) {
            if ((static_cast<unsigned char>(gram[b]) & 0xC0) != 0x80)
                starts.push_back(b);
        }
        starts.push_back(gram.size());
        const std::size_t codePoints = starts.size() - 1;
        for (int n = kMinGram; n <= kMaxGram; ++n) {
            const auto un = static_cast<std::size_t>(n);
            if (codePoints < un)
                break;
            for (std::size_t s = 0; s + un <= codePoints; ++s) {
                const std::size_t from = starts[s];
                const std::size_t to = starts[s + un];
                features.push_back(
                    {XXH3_64bits_withSeed(gram.data() + from, to - from, kSeedCharGram), kWeightCharGram});
            }
        }
    }

    std::sort(features.begin(), features.end(), [](const Feature &a, const Feature &b) { return a.hash < b.hash; });
    const std::uint64_t mask = m_dimension - 1;
    for (std::size_t i = 0; i < features.size();) {
        std::size_t j = i + 1;
        float weight = features[i].weight;
        while (j < features.size() && features[j].hash == features[i].hash) {
            weight = std::max(weight, features[j].weight);
            ++j;
        }
        const float tf = static_cast<float>(j - i);
        const float w = weight * (1.0f + std::log(tf));
        const std::uint64_t h = features[i].hash;
        out[h & mask] += (h >> 63) ? -w : w;
        i = j;
    }

    double norm = 0.0;
    for (const float x : out)
        norm += static_cast<double>(x) * x;
    if (norm > 0.0) {
        const auto inv = static_cast<float>(1.0 / std::sqrt(norm));
        for (float &x : out)
            x *= inv;
    }
}

} // namespace l0l3
