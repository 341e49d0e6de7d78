#include "core/common/vectorrecord.h"

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

#include <simdjson.h>

#include "core/common/jsonwriter.h"

namespace l0l3 {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool fail(std::string *error, std::string reason)
{
    if (error)
        *error = std::move(reason);
    return false;
}

bool isLowerHex(std::string_view s)
{
    for (const char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

std::uint32_t toLittleEndian(std::uint32_t v)
{
    if constexpr (std::endian::native == std::endian::little)
        return v;
    else
        return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}

// The rules decode() enforces on the decoded values.
bool validate(const VectorRecord &r, std::string *error)
{
    if (r.model.empty() || r.model.size() > VectorRecordCodec::kMaxModelBytes)
        return fail(error, "field \"model\" is empty or longer than 256 bytes");
    if (r.ns.size() > VectorRecordCodec::kMaxNamespaceBytes)
        return fail(error, "field \"ns\" is longer than 1024 bytes");
    if (r.modelFamily.size() > VectorRecordCodec::kMaxModelFamilyBytes)
        return fail(error, "field \"model_family\" is longer than 256 bytes");
    if (r.systemSha256.size() != 64 || !isLowerHex(r.systemSha256))
        return fail(error, "field \"system_sha256\" is not 64 lower-case hex digits");
    if (!std::isfinite(r.threshold) || r.threshold < VectorRecordCodec::kMinThreshold
        || r.threshold > VectorRecordCodec::kMaxThreshold)
        return fail(error, "field \"threshold\" is out of range");
    if (r.denied && !(*r.denied >= -1.0f && *r.denied <= 1.0f))
        return fail(error, "field \"denied\" is not a number from -1 to 1");
    if (r.evidence.size() > VectorRecordCodec::kMaxEvidence)
        return fail(error, "field \"evidence\" holds more than 256 values");
    for (std::size_t i = 0; i < r.evidence.size(); ++i) {
        const float s = r.evidence[i];
        if (!(s >= VectorRecordCodec::kMinThreshold && s < r.threshold) || (i > 0 && s < r.evidence[i - 1]))
            return fail(error, "field \"evidence\" is not ascending within [0.8, threshold)");
    }
    if (r.vector.empty() || r.vector.size() > VectorRecordCodec::kMaxDimension)
        return fail(error, "the vector's dimension is not from 1 to 2048");
    double norm = 0.0;
    for (const float x : r.vector) {
        if (!std::isfinite(x))
            return fail(error, "the vector holds a value that is not finite");
        norm += static_cast<double>(x) * x;
    }
    if (norm != 0.0 && std::fabs(std::sqrt(norm) - 1.0) > 1e-3)
        return fail(error, "the vector is not L2-normalised");
    return true;
}

std::string floatBytes(const std::vector<float> &values)
{
    std::string bytes(values.size() * 4, '\0');
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint32_t v = toLittleEndian(std::bit_cast<std::uint32_t>(values[i]));
        std::memcpy(bytes.data() + i * 4, &v, 4);
    }
    return bytes;
}

std::vector<float> floatsOf(const std::string &bytes)
{
    std::vector<float> values(bytes.size() / 4);
    for (std::size_t i = 0; i < values.size(); ++i) {
        std::uint32_t v = 0;
        std::memcpy(&v, bytes.data() + i * 4, 4);
        values[i] = std::bit_cast<float>(toLittleEndian(v));
    }
    return values;
}

std::string_view shortest(char (&buffer)[32], float value)
{
    const auto r = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string_view(buffer, r.ptr);
}

} // namespace

std::string VectorRecordCodec::base64Encode(std::string_view bytes)
{
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) | (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8)
            | std::uint8_t(bytes[i + 2]);
        out.push_back(kAlphabet[(n >> 18) & 63]);
        out.push_back(kAlphabet[(n >> 12) & 63]);
        out.push_back(kAlphabet[(n >> 6) & 63]);
        out.push_back(kAlphabet[n & 63]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
        if (rest == 2)
            n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
        out.push_back(kAlphabet[(n >> 18) & 63]);
        out.push_back(kAlphabet[(n >> 12) & 63]);
        out.push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::optional<std::string> VectorRecordCodec::base64Decode(std::string_view text)
{
    static const std::array<std::int8_t, 256> table = [] {
        std::array<std::int8_t, 256> t{};
        t.fill(-1);
        for (std::size_t i = 0; i < kAlphabet.size(); ++i)
            t[std::uint8_t(kAlphabet[i])] = std::int8_t(i);
        return t;
    }();
    if (text.size() % 4 != 0)
        return std::nullopt;
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=')
        padding = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        std::uint32_t n = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = text[i + k];
            if (last && c == '=' && k >= 4 - padding) {
                n <<= 6;
                continue;
            }
            const std::int8_t d = table[std::uint8_t(c)];
            if (d < 0)
                return std::nullopt;
            n = (n << 6) | std::uint32_t(d);
        }
        out.push_back(char((n >> 16) & 0xff));
        if (!(last && padding == 2))
            out.push_back(char((n >> 8) & 0xff));
        if (!(last && padding >= 1))
            out.push_back(char(n & 0xff));
        // Canonical: the bits the padding drops must be zero.
        if (last && ((padding == 2 && (n & 0xffff) != 0) || (padding == 1 && (n & 0xff) != 0)))
            return std::nullopt;
    }
    return out;
}

std::optional<std::string> VectorRecordCodec::encode(const VectorRecord &record, std::string *error)
{
    if (!validate(record, error))
        return std::nullopt;
    const std::string bytes = floatBytes(record.vector);
    char threshold[32];
    std::string out;
    out.reserve(200 + record.ns.size() + record.modelFamily.size()
                + (bytes.size() + record.evidence.size() * 4) * 4 / 3);
    JsonWriter w(out);
    w.beginObject()
        .key("model")
        .value(record.model)
        .key("dim")
        .value(static_cast<std::int64_t>(record.vector.size()))
        .key("ns")
        .value(record.ns)
        .key("system_sha256")
        .value(record.systemSha256)
        .key("model_family")
        .value(record.modelFamily)
        .key("threshold")
        .raw(shortest(threshold, record.threshold))
        .key("v")
        .value(base64Encode(bytes));
    if (record.denied) {
        char denied[32];
        w.key("denied").raw(shortest(denied, *record.denied));
    }
    if (!record.evidence.empty())
        w.key("evidence").value(base64Encode(floatBytes(record.evidence)));
    w.endObject();
    if (out.size() > kMaxBytes) {
        fail(error, "the record is larger than 16 KiB");
        return std::nullopt;
    }
    return out;
}

std::optional<VectorRecord> VectorRecordCodec::decode(std::string_view json, std::string *error)
{
    if (json.size() > kMaxBytes) {
        fail(error, "the record is larger than 16 KiB");
        return std::nullopt;
    }
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (const auto err = parser.parse(json.data(), json.size(), true).get(root); err != simdjson::SUCCESS) {
        fail(error, std::string("invalid JSON: ") + simdjson::error_message(err));
        return std::nullopt;
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) {
        fail(error, "the record is not a JSON object");
        return std::nullopt;
    }
    VectorRecord r;
    std::set<std::string_view> seen;
    std::int64_t dim = -1;
    std::string_view base64;
    std::string_view evidence;
    for (auto field : obj) {
        const std::string_view k = field.key;
        if (!seen.insert(k).second) {
            fail(error, "field \"" + std::string(k.substr(0, 64)) + "\" occurs twice");
            return std::nullopt;
        }
        const auto v = field.value;
        std::string_view s;
        auto readString = [&](std::string &target) {
            if (v.get_string().get(s) != simdjson::SUCCESS)
                return fail(error, "field \"" + std::string(k) + "\" is not a string");
            target.assign(s);
            return true;
        };
        bool ok = true;
        if (k == "model") {
            ok = readString(r.model);
        } else if (k == "ns") {
            ok = readString(r.ns);
        } else if (k == "system_sha256") {
            ok = readString(r.systemSha256);
        } else if (k == "model_family") {
            ok = readString(r.modelFamily);
        } else if (k == "dim") {
            if (!v.is_int64() || v.get_int64().get(dim) != simdjson::SUCCESS)
                ok = fail(error, "field \"dim\" is not an integer");
        } else if (k == "threshold") {
            double t = 0.0;
            if (v.get_double().get(t) != simdjson::SUCCESS)
                ok = fail(error, "field \"threshold\" is not a number");
            r.threshold = static_cast<float>(t);
        } else if (k == "v") {
            if (v.get_string().get(base64) != simdjson::SUCCESS)
                ok = fail(error, "field \"v\" is not a string");
        } else if (k == "denied") {
            double d = 0.0;
            if (v.get_double().get(d) != simdjson::SUCCESS)
                ok = fail(error, "field \"denied\" is not a number");
            r.denied = static_cast<float>(d);
        } else if (k == "evidence") {
            if (v.get_string().get(evidence) != simdjson::SUCCESS)
                ok = fail(error, "field \"evidence\" is not a string");
        }
        if (!ok)
            return std::nullopt;
    }
    for (const std::string_view name : {"model", "dim", "ns", "system_sha256", "model_family", "threshold", "v"}) {
        if (!seen.contains(name)) {
            fail(error, "missing field \"" + std::string(name) + "\"");
            return std::nullopt;
        }
    }
    if (dim < 1 || dim > static_cast<std::int64_t>(kMaxDimension)) {
        fail(error, "field \"dim\" is not from 1 to 2048");
        return std::nullopt;
    }
    const auto bytes = base64Decode(base64);
    if (!bytes) {
        fail(error, "field \"v\" is not canonical base64");
        return std::nullopt;
    }
    if (bytes->size() != static_cast<std::size_t>(dim) * 4) {
        fail(error, "field \"v\" does not hold dim float32 values");
        return std::nullopt;
    }
    r.vector = floatsOf(*bytes);
    if (seen.contains("evidence")) {
        const auto values = evidence.size() <= (kMaxEvidence * 4 + 2) / 3 * 4 ? base64Decode(evidence) : std::nullopt;
        if (!values || values->empty() || values->size() % 4 != 0) {
            fail(error, "field \"evidence\" is not canonical base64 of float32 values");
            return std::nullopt;
        }
        r.evidence = floatsOf(*values);
    }
    if (!validate(r, error))
        return std::nullopt;
    return r;
}

} // namespace l0l3
