#include "core/common/histogramquantile.h"

#include <algorithm>
#include <cmath>

namespace l0l3 {

// A port of bucketQuantile from Prometheus's promql/quantile.go.
double HistogramQuantile::compute(double q, std::vector<HistogramBucket> buckets)
{
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    constexpr double inf = std::numeric_limits<double>::infinity();
    if (std::isnan(q))
        return nan;
    if (q < 0)
        return -inf;
    if (q > 1)
        return inf;
    if (buckets.empty())
        return nan;
    std::sort(buckets.begin(), buckets.end(),
              [](const HistogramBucket &a, const HistogramBucket &b) { return a.upperBound < b.upperBound; });
    if (!std::isinf(buckets.back().upperBound) || buckets.back().upperBound < 0)
        return nan;

    // coalesceBuckets: series whose `le` parse to the same value (e.g. "1" and "1.0").
    std::vector<HistogramBucket> merged;
    merged.reserve(buckets.size());
    for (const auto &b : buckets) {
        if (!merged.empty() && merged.back().upperBound == b.upperBound)
            merged.back().cumulativeCount += b.cumulativeCount;
        else
            merged.push_back(b);
    }
    buckets.swap(merged);

    // ensureMonotonic: scrapes at slightly different times can make a
    // cumulative count dip; Prometheus raises it to the running maximum.
    double max = -inf;
    for (auto &b : buckets) {
        if (b.cumulativeCount > max)
            max = b.cumulativeCount;
        else if (b.cumulativeCount < max)
            b.cumulativeCount = max;
    }

    if (buckets.size() < 2)
        return nan;
    const double observations = buckets.back().cumulativeCount;
    if (observations == 0 || std::isnan(observations))
        return nan;
    double rank = q * observations;
    // sort.Search over all but the +Inf bucket: first with count >= rank.
    std::size_t b = 0;
    const std::size_t searchLen = buckets.size() - 1;
    while (b < searchLen && !(buckets[b].cumulativeCount >= rank))
        ++b;

    if (b == buckets.size() - 1)
        return buckets[buckets.size() - 2].upperBound;
    if (b == 0 && buckets[0].upperBound <= 0)
        return buckets[0].upperBound;

    double bucketStart = 0;
    const double bucketEnd = buckets[b].upperBound;
    double count = buckets[b].cumulativeCount;
    if (b > 0) {
        bucketStart = buckets[b - 1].upperBound;
        count -= buckets[b - 1].cumulativeCount;
        rank -= buckets[b - 1].cumulativeCount;
    }
    return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}

std::vector<HistogramBucket> HistogramQuantile::delta(const std::vector<HistogramBucket> &earlier,
                                                      const std::vector<HistogramBucket> &later)
{
    // A reset anywhere means the process restarted: the whole later series
    // is the increase, as PromQL's rate() treats counter resets.
    bool reset = earlier.size() != later.size();
    for (std::size_t i = 0; !reset && i < later.size(); ++i) {
        if (later[i].upperBound != earlier[i].upperBound || later[i].cumulativeCount < earlier[i].cumulativeCount)
            reset = true;
    }
    if (reset)
        return later;
    std::vector<HistogramBucket> out = later;
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i].cumulativeCount -= earlier[i].cumulativeCount;
    return out;
}

} // namespace l0l3
