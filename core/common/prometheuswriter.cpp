#include "core/common/prometheuswriter.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "core/common/latencyhistogram.h"

namespace l0l3 {

namespace {

void appendEscapedLabel(std::string &out, std::string_view v)
{
    for (char c : v) {
        switch (c) {
        case '\\': out.append("\\\\"); break;
        case '"': out.append("\\\""); break;
        case '\n': out.append("\\n"); break;
        default: out.push_back(c);
        }
    }
}

// HELP text escapes only backslash and newline.
void appendEscapedHelp(std::string &out, std::string_view v)
{
    for (char c : v) {
        switch (c) {
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        default: out.push_back(c);
        }
    }
}

void appendCount(std::string &out, std::uint64_t n)
{
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, r.ptr);
}

} // namespace

PrometheusWriter::PrometheusWriter(std::string &out)
    : m_out(out)
{
}

void PrometheusWriter::family(std::string_view name, std::string_view type, std::string_view help)
{
    m_out.append("# HELP ").append(name).push_back(' ');
    appendEscapedHelp(m_out, help);
    m_out.append("\n# TYPE ").append(name).push_back(' ');
    m_out.append(type).push_back('\n');
}

void PrometheusWriter::sample(std::string_view name, PromLabels labels, double value)
{
    m_out.append(name);
    labelsTo(labels);
    m_out.push_back(' ');
    m_out.append(formatValue(value));
    m_out.push_back('\n');
}

void PrometheusWriter::histogram(std::string_view name, PromLabels labels, const LatencyHistogram &h)
{
    const std::string bucket = std::string(name) + "_bucket";
    // _count is the +Inf bucket, taken from the buckets themselves, so the
    // series stays monotonic even while other threads record.
    for (double bound : LatencyHistogram::prometheusBounds()) {
        m_out.append(bucket);
        labelsTo(labels, "le", formatValue(bound));
        m_out.push_back(' ');
        appendCount(m_out, h.countAtOrBelow(bound));
        m_out.push_back('\n');
    }
    const std::uint64_t total = h.countAtOrBelow(std::numeric_limits<double>::infinity());
    m_out.append(bucket);
    labelsTo(labels, "le", "+Inf");
    m_out.push_back(' ');
    appendCount(m_out, total);
    m_out.push_back('\n');

    m_out.append(name).append("_sum");
    labelsTo(labels);
    m_out.push_back(' ');
    m_out.append(formatValue(h.sumSeconds()));
    m_out.push_back('\n');

    m_out.append(name).append("_count");
    labelsTo(labels);
    m_out.push_back(' ');
    appendCount(m_out, total);
    m_out.push_back('\n');
}

std::string PrometheusWriter::formatValue(double v)
{
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

void PrometheusWriter::labelsTo(PromLabels labels, std::string_view extraName, std::string_view extraValue)
{
    if (labels.size() == 0 && extraName.empty())
        return;
    m_out.push_back('{');
    bool first = true;
    const auto one = [&](std::string_view k, std::string_view v) {
        if (!first)
            m_out.push_back(',');
        first = false;
        m_out.append(k).append("=\"");
        appendEscapedLabel(m_out, v);
        m_out.push_back('"');
    };
    for (const auto &[k, v] : labels)
        one(k, v);
    if (!extraName.empty())
        one(extraName, extraValue);
    m_out.push_back('}');
}

} // namespace l0l3
