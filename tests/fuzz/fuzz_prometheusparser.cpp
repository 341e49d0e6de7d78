// PrometheusParser on arbitrary bytes (what the console scrapes from a
// gateway it does not control). Properties: no crash; every sample has a
// non-empty name; a sample with well-formed names, written back with
// PrometheusWriter, parses to the same name, labels and value.
#include <cmath>

#include "core/common/prometheusparser.h"
#include "core/common/prometheuswriter.h"
#include "tests/fuzz/fuzzcheck.h"

namespace {

// Metric and label names as the exposition format defines them; the writer
// only ever gets such names, so only those must round-trip.
bool isMetricName(std::string_view s)
{
    if (s.empty())
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    int malformed = -1;
    const auto samples = PrometheusParser::parse(text, &malformed);
    FUZZ_CHECK(malformed >= 0);
    for (const PromSample &s : samples) {
        FUZZ_CHECK(!s.name.empty());
        // The writer must accept whatever the parser produced, and its output parse back.
        std::string out;
        PrometheusWriter writer(out);
        bool plainNames = isMetricName(s.name);
        for (const auto &[k, v] : s.labels)
            plainNames = plainNames && isMetricName(k);
        if (plainNames && s.labels.size() <= 2) {
            auto it = s.labels.begin();
            const auto pair = [&]() -> std::pair<std::string_view, std::string_view> {
                const auto &[k, v] = *it++;
                return {k, v};
            };
            if (s.labels.empty())
                writer.sample(s.name, {}, s.value);
            else if (s.labels.size() == 1)
                writer.sample(s.name, {pair()}, s.value);
            else
                writer.sample(s.name, {pair(), pair()}, s.value);
            int bad = 0;
            const auto back = PrometheusParser::parse(out, &bad);
            FUZZ_CHECK(bad == 0);
            FUZZ_CHECK(back.size() == 1);
            FUZZ_CHECK(back[0].name == s.name);
            FUZZ_CHECK(back[0].labels == s.labels);
            FUZZ_CHECK(back[0].value == s.value || (std::isnan(back[0].value) && std::isnan(s.value)));
        }
    }
    return 0;
}
