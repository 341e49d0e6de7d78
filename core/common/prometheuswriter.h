#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace l0l3 {

class LatencyHistogram;

using PromLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Prometheus text exposition format 0.0.4. Label values are escaped (\\, \", \n).
class PrometheusWriter
{
public:
    explicit PrometheusWriter(std::string &out);

    // Writes "# HELP" and "# TYPE" once per family.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, PromLabels labels, double value);
    // name_bucket{...,le="..."} for LatencyHistogram::prometheusBounds() and +Inf,
    // name_sum, name_count.
    void histogram(std::string_view name, PromLabels labels, const LatencyHistogram &h);

    static std::string formatValue(double v); // "+Inf", "NaN", shortest round-trip

private:
    void labelsTo(PromLabels labels, std::string_view extraName = {}, std::string_view extraValue = {});
    std::string &m_out;
};

} // namespace l0l3
