#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

struct PromSample
{
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// Parses Prometheus text exposition (0.0.4): comments and blank lines are
// skipped, escapes in label values decoded, +Inf/-Inf/NaN understood,
// optional timestamps ignored. Malformed lines are skipped and counted.
class PrometheusParser
{
public:
    static std::vector<PromSample> parse(std::string_view text, int *malformedLines = nullptr);
};

} // namespace l0l3
