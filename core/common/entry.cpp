#include "core/common/entry.h"

#include <simdjson.h>

#include "core/common/jsonwriter.h"

namespace l0l3 {

std::string EntryCodec::encode(const Entry &entry)
{
    std::string out;
    out.reserve(160 + entry.response.size() + entry.prompt.size() + entry.system.size());
    JsonWriter w(out);
    w.beginObject();
    // Written only for a variant, so every other entry stays byte for byte what it was.
    if (!entry.variantOf.empty())
        w.key("variant_of").value(entry.variantOf);
    w.key("fmt")
        .value(kFormat)
        .key("key")
        .value(entry.key)
        .key("response")
        .value(entry.response)
        .key("prompt")
        .value(entry.prompt)
        .key("system")
        .value(entry.system)
        .key("ns")
        .value(entry.ns)
        .key("model")
        .value(entry.model)
        .key("intent")
        .value(entry.intent)
        .key("version")
        .value(entry.version)
        .key("approved_by")
        .value(entry.approvedBy)
        .key("approved_at_ms")
        .value(entry.approvedAtMs)
        .key("ttl_s")
        .value(entry.ttlSeconds);
    // Written only when set, so an entry without a review date stays byte for byte what it was.
    if (entry.reviewByMs > 0)
        w.key("review_by_ms").value(entry.reviewByMs);
    if (entry.reviewDays > 0)
        w.key("review_days").value(entry.reviewDays);
    w.endObject();
    return out;
}

namespace {

bool fail(std::string *error, std::string reason)
{
    if (error)
        *error = std::move(reason);
    return false;
}

bool readString(simdjson::dom::element v, std::string_view name, std::string &target, std::string *error)
{
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS)
        return fail(error, "field \"" + std::string(name) + "\" is not a string");
    target.assign(s);
    return true;
}

bool readInt(simdjson::dom::element v, std::string_view name, std::int64_t &target, std::string *error)
{
    // get_int64 also accepts an unsigned value that fits; doubles are refused.
    if (!v.is_int64() || v.get_int64().get(target) != simdjson::SUCCESS)
        return fail(error, "field \"" + std::string(name) + "\" is not an integer");
    return true;
}

} // namespace

std::optional<Entry> EntryCodec::decode(std::string_view json, std::string *error)
{
    thread_local simdjson::dom::parser parser;
    // The parser keeps buffers sized for the largest document it has parsed (about twice its size):
    // after an outsized entry they are given back, once the Entry holds its own copies.
    struct ReleaseIfOutsized
    {
        simdjson::dom::parser &parser;
        ~ReleaseIfOutsized()
        {
            if (parser.capacity() > 256 * 1024)
                parser = simdjson::dom::parser();
        }
    } release{parser};
    simdjson::dom::element root;
    if (const auto err = parser.parse(json.data(), json.size(), true).get(root); err != simdjson::SUCCESS) {
        fail(error, std::string("invalid JSON: ") + simdjson::error_message(err));
        return std::nullopt;
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) {
        fail(error, "entry is not a JSON object");
        return std::nullopt;
    }

    Entry e;
    bool haveFormat = false;
    bool haveKey = false;
    bool haveResponse = false;
    for (auto field : obj) {
        const std::string_view k = field.key;
        const auto v = field.value;
        bool ok = true;
        if (k == "fmt") {
            std::int64_t fmt = 0;
            ok = readInt(v, k, fmt, error);
            if (ok && fmt != kFormat)
                ok = fail(error, "unknown entry format " + std::to_string(fmt));
            haveFormat = true;
        } else if (k == "key") {
            ok = readString(v, k, e.key, error);
            haveKey = true;
        } else if (k == "response") {
            ok = readString(v, k, e.response, error);
            haveResponse = true;
        } else if (k == "prompt") {
            ok = readString(v, k, e.prompt, error);
        } else if (k == "system") {
            ok = readString(v, k, e.system, error);
        } else if (k == "ns") {
            ok = readString(v, k, e.ns, error);
        } else if (k == "model") {
            ok = readString(v, k, e.model, error);
        } else if (k == "intent") {
            ok = readString(v, k, e.intent, error);
        } else if (k == "variant_of") {
            ok = readString(v, k, e.variantOf, error);
        } else if (k == "version") {
            ok = readInt(v, k, e.version, error);
        } else if (k == "approved_by") {
            ok = readString(v, k, e.approvedBy, error);
        } else if (k == "approved_at_ms") {
            ok = readInt(v, k, e.approvedAtMs, error);
        } else if (k == "ttl_s") {
            ok = readInt(v, k, e.ttlSeconds, error);
        } else if (k == "review_by_ms") {
            ok = readInt(v, k, e.reviewByMs, error);
        } else if (k == "review_days") {
            ok = readInt(v, k, e.reviewDays, error);
        }
        // Unknown fields are ignored so a newer writer does not break older readers.
        if (!ok)
            return std::nullopt;
    }
    if (!haveFormat) {
        fail(error, "missing field \"fmt\"");
        return std::nullopt;
    }
    if (!haveKey) {
        fail(error, "missing field \"key\"");
        return std::nullopt;
    }
    if (!haveResponse) {
        fail(error, "missing field \"response\"");
        return std::nullopt;
    }
    return e;
}

} // namespace l0l3
