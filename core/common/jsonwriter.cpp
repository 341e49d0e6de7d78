#include "core/common/jsonwriter.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace l0l3 {

namespace {

// 0: copy as is; otherwise the short escape letter, 'u' for \u00XX, or
// '8' for the lead of a UTF-8 sequence that must be checked.
constexpr std::array<char, 256> makeEscapeTable()
{
    std::array<char, 256> t{};
    for (int c = 0; c < 0x20; ++c)
        t[static_cast<std::size_t>(c)] = 'u';
    for (int c = 0x80; c < 0x100; ++c)
        t[static_cast<std::size_t>(c)] = '8';
    t['\b'] = 'b';
    t['\f'] = 'f';
    t['\n'] = 'n';
    t['\r'] = 'r';
    t['\t'] = 't';
    t['"'] = '"';
    t['\\'] = '\\';
    return t;
}

constexpr auto kEscape = makeEscapeTable();

// True if none of the 8 bytes at p needs kEscape: no control character,
// '"', '\\' or byte >= 0x80 (the "has a byte less than n" bit trick).
bool plainWord(const char *p)
{
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    constexpr std::uint64_t kHigh = 0x8080808080808080ull;
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    const std::uint64_t quote = w ^ (kOnes * '"');
    const std::uint64_t backslash = w ^ (kOnes * '\\');
    const std::uint64_t hits = ((w - kOnes * 0x20) & ~w) | ((quote - kOnes) & ~quote)
        | ((backslash - kOnes) & ~backslash) | w;
    return (hits & kHigh) == 0;
}

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF) starting at p, 0 if there is none.
std::size_t utf8SequenceLength(const unsigned char *p, const unsigned char *end)
{
    const unsigned char c = *p;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (static_cast<std::size_t>(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (std::size_t i = 2; i < n; ++i) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    }
    return n;
}

} // namespace

JsonWriter::JsonWriter(std::string &out)
    : m_out(out)
{
}

void JsonWriter::separator()
{
    if (m_needComma)
        m_out.push_back(',');
}

JsonWriter &JsonWriter::beginObject()
{
    separator();
    m_out.push_back('{');
    m_needComma = false;
    return *this;
}

JsonWriter &JsonWriter::endObject()
{
    m_out.push_back('}');
    m_needComma = true;
    return *this;
}

JsonWriter &JsonWriter::beginArray()
{
    separator();
    m_out.push_back('[');
    m_needComma = false;
    return *this;
}

JsonWriter &JsonWriter::endArray()
{
    m_out.push_back(']');
    m_needComma = true;
    return *this;
}

JsonWriter &JsonWriter::key(std::string_view k)
{
    separator();
    m_out.push_back('"');
    appendEscaped(m_out, k);
    m_out.append("\":", 2);
    m_needComma = false;
    return *this;
}

JsonWriter &JsonWriter::value(std::string_view s)
{
    separator();
    m_out.push_back('"');
    appendEscaped(m_out, s);
    m_out.push_back('"');
    m_needComma = true;
    return *this;
}

JsonWriter &JsonWriter::value(std::int64_t n)
{
    separator();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    m_out.append(buf, r.ptr);
    m_needComma = true;
    return *this;
}

JsonWriter &JsonWriter::value(double d)
{
    if (!std::isfinite(d))
        return null(); // JSON has no NaN/Infinity
    separator();
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    // Shortest form may be 20+ digits with no '.' or exponent; beyond int64
    // readers (simdjson) take that for an integer too big to represent, so
    // canonical JSON would not parse back. The exponent form always does.
    if (std::fabs(d) >= 9223372036854775808.0
        && std::string_view(buf, r.ptr).find_first_of(".e") == std::string_view::npos)
        r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    m_out.append(buf, r.ptr);
    m_needComma = true;
    return *this;
}

JsonWriter &JsonWriter::value(bool b)
{
    separator();
    if (b)
        m_out.append("true", 4);
    else
        m_out.append("false", 5);
    m_needComma = true;
    return *this;
}

JsonWriter &JsonWriter::null()
{
    separator();
    m_out.append("null", 4);
    m_needComma = true;
    return *this;
}

JsonWriter &JsonWriter::raw(std::string_view json)
{
    separator();
    m_out.append(json);
    m_needComma = true;
    return *this;
}

void JsonWriter::appendEscaped(std::string &out, std::string_view s)
{
    static constexpr char kHex[] = "0123456789abcdef";
    const char *run = s.data();
    const char *end = s.data() + s.size();
    for (const char *p = run; p != end; ++p) {
        while (end - p >= 8 && plainWord(p))
            p += 8;
        if (p == end)
            break;
        const char e = kEscape[static_cast<unsigned char>(*p)];
        if (e == 0)
            continue;
        if (e == '8') {
            // JSON text is UTF-8; a byte that is not part of a well-formed
            // sequence (a raw request path, a corrupt value) becomes U+FFFD.
            const auto n = utf8SequenceLength(reinterpret_cast<const unsigned char *>(p),
                                              reinterpret_cast<const unsigned char *>(end));
            if (n > 0) {
                p += n - 1;
                continue;
            }
            out.append(run, p);
            out.append("\xEF\xBF\xBD", 3);
            run = p + 1;
            continue;
        }
        out.append(run, p);
        if (e == 'u') {
            const auto c = static_cast<unsigned char>(*p);
            const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
            out.append(esc, 6);
        } else {
            const char esc[2] = {'\\', e};
            out.append(esc, 2);
        }
        run = p + 1;
    }
    out.append(run, end);
}

} // namespace l0l3
