#include "core/common/canonicaljson.h"

#include <algorithm>
#include <vector>

#include <simdjson.h>

#include "core/common/jsonwriter.h"

namespace l0l3 {

namespace {

bool write(simdjson::dom::element e, JsonWriter &w, std::string &scratch)
{
    using simdjson::dom::element_type;
    switch (e.type()) {
    case element_type::OBJECT: {
        std::vector<std::pair<std::string_view, simdjson::dom::element>> fields;
        for (auto field : simdjson::dom::object(e))
            fields.emplace_back(field.key, field.value);
        // Stable, so duplicate keys keep their relative order.
        std::stable_sort(fields.begin(), fields.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
        w.beginObject();
        for (const auto &[k, v] : fields) {
            w.key(k);
            if (!write(v, w, scratch))
                return false;
        }
        w.endObject();
        return true;
    }
    case element_type::ARRAY:
        w.beginArray();
        for (auto v : simdjson::dom::array(e)) {
            if (!write(v, w, scratch))
                return false;
        }
        w.endArray();
        return true;
    case element_type::STRING: w.value(std::string_view(e)); return true;
    case element_type::INT64: w.value(std::int64_t(e)); return true;
    case element_type::UINT64:
        scratch = std::to_string(std::uint64_t(e));
        w.raw(scratch);
        return true;
    case element_type::DOUBLE: {
        // -0.0 (also what an underflow like -1e-999 gives) would print as
        // "-0", which reads back as the integer 0: not a fixed point.
        const double d = double(e);
        if (d == 0)
            w.value(std::int64_t(0));
        else
            w.value(d);
        return true;
    }
    case element_type::BOOL: w.value(bool(e)); return true;
    case element_type::NULL_VALUE: w.null(); return true;
    }
    return false;
}

} // namespace

std::optional<std::string> CanonicalJson::canonicalise(std::string_view json)
{
    // One parser per thread: its buffers are reused across calls.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS)
        return std::nullopt;
    std::string out;
    out.reserve(json.size());
    std::string scratch;
    JsonWriter w(out);
    if (!write(root, w, scratch))
        return std::nullopt;
    return out;
}

} // namespace l0l3
