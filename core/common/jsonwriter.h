#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace l0l3 {

// Appends JSON to a caller-owned string; no allocation beyond the string's
// growth. The caller is responsible for structure (commas are handled by the
// writer for keys and values within one object/array).
class JsonWriter
{
public:
    explicit JsonWriter(std::string &out);

    JsonWriter &beginObject();
    JsonWriter &endObject();
    JsonWriter &beginArray();
    JsonWriter &endArray();
    JsonWriter &key(std::string_view k);
    JsonWriter &value(std::string_view s);
    JsonWriter &value(const char *s) { return value(std::string_view(s)); }
    JsonWriter &value(std::int64_t n);
    JsonWriter &value(int n) { return value(static_cast<std::int64_t>(n)); }
    JsonWriter &value(double d);
    JsonWriter &value(bool b);
    JsonWriter &null();
    JsonWriter &raw(std::string_view json); // pre-serialised JSON value

    // Appends s as a JSON string body (without quotes), escaping as RFC 8259
    // requires; bytes that are not well-formed UTF-8 become U+FFFD.
    static void appendEscaped(std::string &out, std::string_view s);

private:
    void separator();
    std::string &m_out;
    bool m_needComma = false;
};

} // namespace l0l3
