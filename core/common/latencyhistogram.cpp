#include "core/common/latencyhistogram.h"

#include <cmath>
#include <limits>

namespace l0l3 {

namespace {

// Bounds are integers in nanoseconds: m x 10^e us = (3 + j) x 500 x 10^e ns.
// Working in integer nanoseconds places a value exactly on a bound into the
// bucket that bound closes, with no floating-point doubt.
constexpr std::int64_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
constexpr std::int64_t kUnderflowNanos = 1000;            // 1 us
constexpr std::int64_t kMaxFiniteNanos = 100'000'000'000; // 100 s
constexpr int kOverflow = LatencyHistogram::kBuckets - 1;

int indexForNanos(std::int64_t ns)
{
    if (ns <= kUnderflowNanos)
        return 0;
    if (ns > kMaxFiniteNanos)
        return kOverflow;
    int e = 0;
    while (ns > kUnderflowNanos * kPow10[e + 1]) // at most kDecades steps
        ++e;
    const std::int64_t unit = 500 * kPow10[e];
    const auto j = static_cast<int>((ns + unit - 1) / unit) - 3; // ceil(ns / unit) in 3..20
    return 1 + LatencyHistogram::kSubBuckets * e + j;
}

std::int64_t boundNanos(int i)
{
    if (i <= 0)
        return kUnderflowNanos;
    const int e = (i - 1) / LatencyHistogram::kSubBuckets;
    const int j = (i - 1) % LatencyHistogram::kSubBuckets;
    return (3 + j) * 500 * kPow10[e];
}

std::int64_t toNanos(double seconds)
{
    if (!(seconds > 0)) // also NaN
        return 0;
    if (seconds > 1e9)
        return std::numeric_limits<std::int64_t>::max() / 2;
    return std::llround(seconds * 1e9);
}

} // namespace

const std::vector<double> &LatencyHistogram::prometheusBounds()
{
    static const std::vector<double> bounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                               0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
    return bounds;
}

void LatencyHistogram::record(double seconds)
{
    recordNanos(toNanos(seconds));
}

void LatencyHistogram::recordNanos(std::int64_t nanos)
{
    if (nanos < 0)
        nanos = 0;
    m_buckets[static_cast<std::size_t>(indexForNanos(nanos))].fetch_add(1, std::memory_order_relaxed);
    m_count.fetch_add(1, std::memory_order_relaxed);
    m_sumNanos.fetch_add(static_cast<std::uint64_t>(nanos), std::memory_order_relaxed);
}

std::uint64_t LatencyHistogram::count() const
{
    return m_count.load(std::memory_order_relaxed);
}

double LatencyHistogram::sumSeconds() const
{
    return static_cast<double>(m_sumNanos.load(std::memory_order_relaxed)) / 1e9;
}

double LatencyHistogram::quantile(double q) const
{
    std::array<std::uint64_t, kBuckets> snapshot;
    std::uint64_t total = 0;
    for (int i = 0; i < kBuckets; ++i) {
        snapshot[static_cast<std::size_t>(i)] = m_buckets[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
        total += snapshot[static_cast<std::size_t>(i)];
    }
    if (total == 0)
        return 0;
    if (!(q > 0))
        q = 0;
    if (q > 1)
        q = 1;
    const double rank = q * static_cast<double>(total);
    std::uint64_t cumulative = 0;
    for (int i = 0; i < kBuckets; ++i) {
        const std::uint64_t n = snapshot[static_cast<std::size_t>(i)];
        if (n == 0)
            continue;
        if (static_cast<double>(cumulative + n) >= rank) {
            if (i == kOverflow) // no upper bound to interpolate towards
                return static_cast<double>(kMaxFiniteNanos) / 1e9;
            const double lower = i == 0 ? 0.0 : static_cast<double>(boundNanos(i - 1)) / 1e9;
            const double upper = static_cast<double>(boundNanos(i)) / 1e9;
            const double within = (rank - static_cast<double>(cumulative)) / static_cast<double>(n);
            return lower + (upper - lower) * within;
        }
        cumulative += n;
    }
    return static_cast<double>(kMaxFiniteNanos) / 1e9;
}

std::uint64_t LatencyHistogram::countAtOrBelow(double boundSeconds) const
{
    if (std::isnan(boundSeconds) || boundSeconds < 0)
        return 0;
    const int last = std::isinf(boundSeconds) ? kOverflow : bucketIndex(boundSeconds);
    std::uint64_t n = 0;
    for (int i = 0; i <= last; ++i)
        n += m_buckets[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    return n;
}

void LatencyHistogram::merge(const LatencyHistogram &other)
{
    for (std::size_t i = 0; i < m_buckets.size(); ++i)
        m_buckets[i].fetch_add(other.m_buckets[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    m_count.fetch_add(other.m_count.load(std::memory_order_relaxed), std::memory_order_relaxed);
    m_sumNanos.fetch_add(other.m_sumNanos.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void LatencyHistogram::reset()
{
    for (auto &b : m_buckets)
        b.store(0, std::memory_order_relaxed);
    m_count.store(0, std::memory_order_relaxed);
    m_sumNanos.store(0, std::memory_order_relaxed);
}

double LatencyHistogram::bucketUpperBound(int i)
{
    if (i >= kOverflow)
        return std::numeric_limits<double>::infinity();
    // Integer nanoseconds divided once: the correctly rounded quotient is the
    // same double as the decimal literal (0.00025 == 250000 / 1e9).
    return static_cast<double>(boundNanos(i)) / 1e9;
}

int LatencyHistogram::bucketIndex(double seconds)
{
    if (std::isinf(seconds) && seconds > 0)
        return kOverflow;
    return indexForNanos(toNanos(seconds));
}

} // namespace l0l3
