#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace l0l3 {

// Log-linear latency histogram: bucket upper bounds at m x 10^e microseconds
// for m in {1.5, 2.0, 2.5, ..., 10.0} and e in 0..7 (1 us .. 100 s), so every
// Prometheus bound of prometheusBounds() is an exact bucket boundary.
// record() is lock-free (relaxed atomics) and safe from any thread.
class LatencyHistogram
{
public:
    static constexpr int kSubBuckets = 18; // per decade
    static constexpr int kDecades = 8;
    static constexpr int kBuckets = kSubBuckets * kDecades + 2; // + underflow (<1us) + overflow

    // Prometheus `le` bounds in seconds, suited to sub-millisecond hits.
    static const std::vector<double> &prometheusBounds();

    void record(double seconds);
    void recordNanos(std::int64_t nanos);

    std::uint64_t count() const;
    double sumSeconds() const;
    // Linear interpolation within the bucket; 0 when empty. q in [0, 1].
    double quantile(double q) const;
    // Number of recorded values <= bound (exact when bound is a bucket boundary).
    std::uint64_t countAtOrBelow(double boundSeconds) const;
    void merge(const LatencyHistogram &other);
    void reset();

    // Upper bound in seconds of bucket i (infinity for the overflow bucket).
    static double bucketUpperBound(int i);
    static int bucketIndex(double seconds);

private:
    std::array<std::atomic<std::uint64_t>, kBuckets> m_buckets{};
    std::atomic<std::uint64_t> m_count{0};
    std::atomic<std::uint64_t> m_sumNanos{0};
};

} // namespace l0l3
