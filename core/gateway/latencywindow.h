#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "core/common/latencyhistogram.h"

namespace l0l3 {

// A quantile of the latencies recorded over the last window, from periodic
// snapshots of cumulative histograms (bucket deltas, as histogram_quantile
// does over a range). Used for the "elevated" degradation state and the
// upstream's latency SLO. One thread.
class LatencyWindow
{
public:
    LatencyWindow(std::int64_t windowMs, std::uint64_t minSamples);

    // Adds a snapshot of the sum of histograms at nowMs.
    void sample(std::int64_t nowMs, const std::vector<const LatencyHistogram *> &histograms);
    // The q-quantile in seconds of what was recorded between the oldest
    // snapshot in the window and the newest; NaN with fewer than minSamples.
    double quantile(double q) const;
    std::uint64_t samplesInWindow() const;
    // Forgets every snapshot: what was recorded before the next sample() no longer counts.
    void clear() { m_snapshots.clear(); }

private:
    struct Snapshot
    {
        std::int64_t atMs;
        std::vector<double> cumulative; // per bucket boundary, le semantics
    };
    std::int64_t m_windowMs;
    std::uint64_t m_minSamples;
    std::vector<double> m_bounds;
    std::deque<Snapshot> m_snapshots;
};

} // namespace l0l3
