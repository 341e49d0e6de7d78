#include "core/gateway/latencywindow.h"

#include <cmath>
#include <limits>

#include "core/common/histogramquantile.h"

namespace l0l3 {

LatencyWindow::LatencyWindow(std::int64_t windowMs, std::uint64_t minSamples)
    : m_windowMs(windowMs)
    , m_minSamples(minSamples)
{
    for (int i = 0; i < LatencyHistogram::kBuckets - 1; ++i)
        m_bounds.push_back(LatencyHistogram::bucketUpperBound(i));
}

void LatencyWindow::sample(std::int64_t nowMs, const std::vector<const LatencyHistogram *> &histograms)
{
    Snapshot s{nowMs, std::vector<double>(m_bounds.size() + 1, 0.0)};
    for (const LatencyHistogram *h : histograms) {
        for (std::size_t i = 0; i < m_bounds.size(); ++i)
            s.cumulative[i] += static_cast<double>(h->countAtOrBelow(m_bounds[i]));
        s.cumulative.back() += static_cast<double>(h->countAtOrBelow(std::numeric_limits<double>::infinity()));
    }
    m_snapshots.push_back(std::move(s));
    // Keep one snapshot at or before the window's start as the baseline.
    while (m_snapshots.size() > 2 && m_snapshots[1].atMs <= nowMs - m_windowMs)
        m_snapshots.pop_front();
}

std::uint64_t LatencyWindow::samplesInWindow() const
{
    if (m_snapshots.size() < 2)
        return 0;
    const double d = m_snapshots.back().cumulative.back() - m_snapshots.front().cumulative.back();
    return d > 0 ? static_cast<std::uint64_t>(d) : 0;
}

double LatencyWindow::quantile(double q) const
{
    if (samplesInWindow() < m_minSamples || m_snapshots.size() < 2)
        return std::numeric_limits<double>::quiet_NaN();
    std::vector<HistogramBucket> earlier;
    std::vector<HistogramBucket> later;
    earlier.reserve(m_bounds.size() + 1);
    later.reserve(m_bounds.size() + 1);
    for (std::size_t i = 0; i <= m_bounds.size(); ++i) {
        const double bound = i < m_bounds.size() ? m_bounds[i] : std::numeric_limits<double>::infinity();
        earlier.push_back({bound, m_snapshots.front().cumulative[i]});
        later.push_back({bound, m_snapshots.back().cumulative[i]});
    }
    return HistogramQuantile::compute(q, HistogramQuantile::delta(earlier, later));
}

} // namespace l0l3
