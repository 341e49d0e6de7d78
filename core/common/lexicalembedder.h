#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/embedding.h"

namespace l0l3 {

// The embedded provider: no model, no download. Features of the normalised
// text (PromptNormaliser: case-folded, white space collapsed):
//   - word unigrams and word bigrams (a word: a run of letters, digits and
//     inner apostrophes; any non-ASCII byte counts as a letter),
//   - character n-grams of 3 to 5 bytes inside each word, with the word's
//     boundaries marked, so typos and inflections still share most features.
// Each feature's weight is its family's weight times 1 + ln(tf) (sublinear);
// a small list of English filler words weighs less. Features are hashed with
// xxh3-64 (fixed seeds, the same on every platform) into `dimension` signed
// buckets, then the vector is L2-normalised.
// Catches: reordering, filler words, typos, inflection. Misses: synonyms and
// paraphrases that share no words ("reset my password" vs "forgot my password"
// share only "my password").
// Only the first kMaxInputBytes of the text are considered (SemanticGuard
// refuses longer texts, so two long prompts alike in their head never match).
class LexicalEmbedder final : public EmbeddingProvider
{
public:
    static constexpr std::size_t kDefaultDimension = 256;
    static constexpr std::size_t kMaxInputBytes = 2048;

    // dimension: a power of two from 64 to 65536; anything else becomes kDefaultDimension.
    explicit LexicalEmbedder(std::size_t dimension = kDefaultDimension);

    std::string modelId() const override;
    std::size_t dimension() const override { return m_dimension; }
    void embedInto(std::string_view text, std::span<float> out) const override;

    // The words of normalised text: runs of letters, marks and digits; an
    // apostrophe (' or U+2019, kept as ') between two of them stays inside the word.
    static std::vector<std::string> words(std::string_view normalised);

private:
    std::size_t m_dimension;
};

} // namespace l0l3
