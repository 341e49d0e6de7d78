#pragma once

#include <cstddef>
#include <vector>

namespace l0l3 {

// The similarity an L1 match with one entry must reach, moved only by
// operator verdicts. It starts strict (kInitial). A denial at similarity s
// (an L1 answer judged wrong, or "not the same question") tightens at once to
// s + kDenialMargin, and nothing at or below a denied similarity + margin is
// ever served again. A confirmation at s (an L1 answer judged right, or a
// near miss attached as a variant) is evidence; the threshold loosens to a
// lower t only when the confirmations in [t, current) number at least
// 3 / maxErrorRate with no denial among them or above t - kDenialMargin: by the
// rule of three, the wrong-answer rate in the band opened is then below
// maxErrorRate with 95 % confidence, assuming (as vCache does) that a match
// is no less likely right at a higher similarity. It never goes below kFloor.
// Not thread-safe; a value type to store with the entry: restore() takes back
// what value(), highestDenied() and evidence() gave.
class SemanticThreshold
{
public:
    static constexpr float kInitial = 0.92f;
    static constexpr float kFloor = 0.80f;
    static constexpr float kCeiling = 1.01f; // above every similarity: L1 off for the entry
    static constexpr float kDenialMargin = 0.02f;
    static constexpr float kDefaultMaxErrorRate = 0.05f;
    static constexpr std::size_t kMaxEvidence = 256; // confirmations kept (the highest dropped first)

    explicit SemanticThreshold(float maxErrorRate = kDefaultMaxErrorRate);
    // A stored threshold (highestDenied -1: no denial). Never looser than what was stored: the
    // value is raised to the denial + margin, clamped to [kFloor, kCeiling] (kInitial when not
    // finite), and the evidence keeps only what the rule keeps (finite, below the value, at
    // or above the floor and the denial + margin, the lowest kMaxEvidence), sorted. Counters
    // start at 0; it does not loosen until the next confirmation.
    static SemanticThreshold restore(float value, float highestDenied, std::vector<float> evidence,
                                     float maxErrorRate = kDefaultMaxErrorRate);

    float value() const { return m_value; }
    bool serves(float similarity) const { return similarity >= m_value; }

    void deny(float similarity);
    void confirm(float similarity);

    std::size_t denials() const { return m_denials; }
    std::size_t confirmations() const { return m_confirmations; }
    float highestDenied() const { return m_highestDenied; } // -1: none
    const std::vector<float> &evidence() const { return m_evidence; }

private:
    void loosen();

    float m_maxErrorRate;
    float m_value = kInitial;
    float m_highestDenied = -1.0f;
    std::size_t m_denials = 0;
    std::size_t m_confirmations = 0;
    std::vector<float> m_evidence; // confirmed similarities below the threshold, ascending
};

} // namespace l0l3
