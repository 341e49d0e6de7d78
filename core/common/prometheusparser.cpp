#include "core/common/prometheusparser.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

namespace l0l3 {

namespace {

bool isNameStart(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

bool isNameChar(char c)
{
    return isNameStart(c) || (c >= '0' && c <= '9');
}

void skipBlanks(std::string_view s, std::size_t &i)
{
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
        ++i;
}

std::optional<double> parseValue(std::string_view s)
{
    if (s.empty())
        return std::nullopt;
    // from_chars knows inf/nan (any case) but not a leading '+'.
    if (s.front() == '+') {
        s.remove_prefix(1);
        if (s.empty() || s.front() == '-' || s.front() == '+')
            return std::nullopt;
    }
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size())
        return std::nullopt;
    return v;
}

std::optional<PromSample> parseLine(std::string_view line)
{
    PromSample sample;
    std::size_t i = 0;
    skipBlanks(line, i);
    if (i >= line.size() || !isNameStart(line[i]))
        return std::nullopt;
    const std::size_t nameStart = i;
    while (i < line.size() && isNameChar(line[i]))
        ++i;
    sample.name = std::string(line.substr(nameStart, i - nameStart));
    skipBlanks(line, i);

    if (i < line.size() && line[i] == '{') {
        ++i;
        for (;;) {
            skipBlanks(line, i);
            if (i >= line.size())
                return std::nullopt;
            if (line[i] == '}') {
                ++i;
                break;
            }
            if (!isNameStart(line[i]) || line[i] == ':')
                return std::nullopt;
            const std::size_t ls = i;
            while (i < line.size() && isNameChar(line[i]) && line[i] != ':')
                ++i;
            std::string labelName(line.substr(ls, i - ls));
            skipBlanks(line, i);
            if (i >= line.size() || line[i] != '=')
                return std::nullopt;
            ++i;
            skipBlanks(line, i);
            if (i >= line.size() || line[i] != '"')
                return std::nullopt;
            ++i;
            std::string value;
            bool closed = false;
            while (i < line.size()) {
                const char c = line[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\' && i < line.size()) {
                    const char e = line[i++];
                    switch (e) {
                    case 'n': value.push_back('\n'); break;
                    case '\\': value.push_back('\\'); break;
                    case '"': value.push_back('"'); break;
                    default: // not an escape the format defines: keep it verbatim
                        value.push_back('\\');
                        value.push_back(e);
                    }
                    continue;
                }
                value.push_back(c);
            }
            if (!closed)
                return std::nullopt;
            sample.labels.insert_or_assign(std::move(labelName), std::move(value));
            skipBlanks(line, i);
            if (i < line.size() && line[i] == ',') {
                ++i;
                continue;
            }
            if (i < line.size() && line[i] == '}') {
                ++i;
                break;
            }
            return std::nullopt;
        }
    }

    skipBlanks(line, i);
    const std::size_t vs = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t')
        ++i;
    const auto value = parseValue(line.substr(vs, i - vs));
    if (!value)
        return std::nullopt;
    sample.value = *value;

    skipBlanks(line, i);
    if (i < line.size()) { // optional timestamp (ms), ignored but must be an integer
        const std::size_t ts = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            ++i;
        std::int64_t stamp = 0;
        const auto t = line.substr(ts, i - ts);
        const auto r = std::from_chars(t.data(), t.data() + t.size(), stamp);
        if (r.ec != std::errc() || r.ptr != t.data() + t.size())
            return std::nullopt;
        skipBlanks(line, i);
        if (i < line.size())
            return std::nullopt;
    }
    return sample;
}

} // namespace

std::vector<PromSample> PrometheusParser::parse(std::string_view text, int *malformedLines)
{
    std::vector<PromSample> out;
    int malformed = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        std::size_t i = 0;
        skipBlanks(line, i);
        if (i == line.size() || line[i] == '#')
            continue;
        if (auto s = parseLine(line))
            out.push_back(std::move(*s));
        else
            ++malformed;
    }
    if (malformedLines)
        *malformedLines = malformed;
    return out;
}

} // namespace l0l3
