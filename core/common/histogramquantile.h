#pragma once

#include <limits>
#include <vector>

namespace l0l3 {

struct HistogramBucket
{
    double upperBound; // `le`; +Inf for the last bucket
    double cumulativeCount;
};

// Prometheus's histogram_quantile(q, ...) on one series of cumulative buckets
// (already deltas over a window when used for rates): buckets sorted by
// upperBound, the last one +Inf. Same edge cases as PromQL: NaN when there
// are no observations or fewer than two buckets, the lower bound of the
// highest finite bucket when the quantile falls in +Inf, 0 as the lower bound
// of the first bucket when it is positive, -Inf/+Inf for q < 0 / q > 1.
class HistogramQuantile
{
public:
    static double compute(double q, std::vector<HistogramBucket> buckets);
    // Element-wise later - earlier (counter deltas over a window); a counter
    // reset (a later count below the earlier one) yields the later counts.
    static std::vector<HistogramBucket> delta(const std::vector<HistogramBucket> &earlier,
                                              const std::vector<HistogramBucket> &later);
};

} // namespace l0l3
