#include "core/common/semanticthreshold.h"

#include <algorithm>
#include <cmath>

namespace l0l3 {

SemanticThreshold::SemanticThreshold(float maxErrorRate)
    : m_maxErrorRate(maxErrorRate > 0.0f && maxErrorRate < 1.0f ? maxErrorRate : kDefaultMaxErrorRate)
{
}

SemanticThreshold SemanticThreshold::restore(float value, float highestDenied, std::vector<float> evidence,
                                             float maxErrorRate)
{
    SemanticThreshold t(maxErrorRate);
    if (std::isfinite(highestDenied))
        t.m_highestDenied = std::max(-1.0f, highestDenied);
    const float stored = std::isfinite(value) ? std::clamp(value, kFloor, kCeiling) : kInitial;
    t.m_value = std::min(kCeiling, std::max(stored, t.m_highestDenied + kDenialMargin));
    const float bar = std::max(kFloor, t.m_highestDenied + kDenialMargin);
    std::erase_if(evidence, [&](float s) { return !std::isfinite(s) || s < bar || s >= t.m_value; });
    std::sort(evidence.begin(), evidence.end());
    if (evidence.size() > kMaxEvidence)
        evidence.resize(kMaxEvidence);
    t.m_evidence = std::move(evidence);
    return t;
}

void SemanticThreshold::deny(float similarity)
{
    if (!std::isfinite(similarity))
        return;
    ++m_denials;
    m_highestDenied = std::max(m_highestDenied, similarity);
    m_value = std::min(kCeiling, std::max(m_value, similarity + kDenialMargin));
    // Evidence at or below a denial no longer argues for serving there.
    const float bar = m_highestDenied + kDenialMargin;
    m_evidence.erase(m_evidence.begin(), std::lower_bound(m_evidence.begin(), m_evidence.end(), bar));
}

void SemanticThreshold::confirm(float similarity)
{
    if (!std::isfinite(similarity))
        return;
    ++m_confirmations;
    if (similarity >= m_value || similarity < kFloor || similarity < m_highestDenied + kDenialMargin)
        return;
    m_evidence.insert(std::upper_bound(m_evidence.begin(), m_evidence.end(), similarity), similarity);
    if (m_evidence.size() > kMaxEvidence)
        m_evidence.pop_back();
    loosen();
}

void SemanticThreshold::loosen()
{
    // The evidence is ascending and all of it lies in [floor, value): the highest t with
    // `needed` confirmations in [t, value) is the new threshold, so it moves down one band of
    // evidence at a time, and that band's evidence is used up.
    const auto needed = static_cast<std::size_t>(std::ceil(3.0f / m_maxErrorRate));
    if (m_evidence.size() < needed)
        return;
    const float lowered = m_evidence[m_evidence.size() - needed];
    m_value = std::max({lowered, kFloor, m_highestDenied + kDenialMargin});
    m_evidence.erase(std::lower_bound(m_evidence.begin(), m_evidence.end(), m_value), m_evidence.end());
}

} // namespace l0l3
