#include "core/common/visibletext.h"

#include <cstdint>

namespace l0l3 {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

void appendHex(std::string &out, std::uint32_t v, int digits)
{
    for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4)
        out += kHex[(v >> shift) & 0xF];
}

// One UTF-8 sequence at s[i]: its code point and length, or length 0 when
// the bytes there are not well-formed UTF-8 (overlong forms, surrogates and
// values above U+10FFFF included).
struct Decoded
{
    char32_t c = 0;
    std::size_t length = 0;
};

Decoded decodeAt(std::string_view s, std::size_t i)
{
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80)
        return {b0, 1};
    std::size_t n = 0;
    char32_t c = 0;
    char32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        n = 2;
        c = b0 & 0x1F;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3;
        c = b0 & 0x0F;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4;
        c = b0 & 0x07;
        min = 0x10000;
    } else {
        return {};
    }
    if (i + n > s.size())
        return {};
    for (std::size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80)
            return {};
        c = (c << 6) | (b & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return {};
    return {c, n};
}

} // namespace

bool VisibleText::isHazard(char32_t c)
{
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
        return true;
    switch (c) {
    case 0x061C: // arabic letter mark
    case 0x200E: // left-to-right mark
    case 0x200F: // right-to-left mark
    case 0x2028: // line separator
    case 0x2029: // paragraph separator
        return true;
    default: break;
    }
    return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

std::string VisibleText::escapeOf(char32_t c)
{
    switch (c) {
    case U'\n': return "\\n";
    case U'\t': return "\\t";
    case U'\r': return "\\r";
    case U'\\': return "\\\\";
    default: break;
    }
    std::string out;
    if (c < 0x80) {
        out = "\\x";
        appendHex(out, c, 2);
    } else if (c <= 0xFFFF) {
        out = "\\u";
        appendHex(out, c, 4);
    } else {
        out = "\\U";
        appendHex(out, c, 8);
    }
    return out;
}

std::string VisibleText::escape(std::string_view utf8, unsigned flags)
{
    std::string out;
    out.reserve(utf8.size());
    std::size_t i = 0;
    while (i < utf8.size()) {
        const Decoded d = decodeAt(utf8, i);
        if (d.length == 0) {
            out += "\\x";
            appendHex(out, static_cast<unsigned char>(utf8[i]), 2);
            ++i;
            continue;
        }
        const char32_t c = d.c;
        const bool kept = (c == U'\n' && (flags & KeepNewlines)) || (c == U'\t' && (flags & KeepTabs));
        if ((isHazard(c) && !kept) || (c == U'\\' && (flags & EscapeBackslash)))
            out += escapeOf(c);
        else
            out.append(utf8.substr(i, d.length));
        i += d.length;
    }
    return out;
}

std::string VisibleText::escapeJson(std::string_view json)
{
    std::string out;
    out.reserve(json.size());
    std::size_t i = 0;
    while (i < json.size()) {
        const Decoded d = decodeAt(json, i);
        if (d.length == 0) {
            out += json[i++];
            continue;
        }
        // C0 controls appear raw only as white space between tokens (a JSON
        // writer escapes them inside strings); the others only inside strings,
        // where the \u escape denotes the same character.
        if (d.c >= 0x7F && isHazard(d.c)) {
            out += "\\u";
            appendHex(out, d.c, 4);
        } else {
            out.append(json.substr(i, d.length));
        }
        i += d.length;
    }
    return out;
}

} // namespace l0l3
