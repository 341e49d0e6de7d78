#include "core/common/promptnormaliser.h"

#include <cstdint>
#include <cstdlib>

#include <utf8proc.h>

namespace l0l3 {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD"; // U+FFFD
constexpr char kGraphemeJoiner[] = "\xCD\x8F";  // U+034F COMBINING GRAPHEME JOINER, a starter

void appendUtf8(std::string &out, utf8proc_int32_t cp)
{
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(cp, buf);
    out.append(reinterpret_cast<const char *>(buf), static_cast<std::size_t>(n));
}

// Invisible characters that users paste along with text; they would make
// otherwise identical prompts miss. ZWJ/ZWNJ stay: they change emoji and
// scripts.
bool isInvisible(utf8proc_int32_t cp)
{
    return cp == 0x200B || cp == 0x2060 || cp == 0xFEFF;
}

// Non-starters (canonical combining class != 0) in what utf8proc's
// decomposition, with case folding, makes of one code point: how many lead,
// how many trail, and whether there is a starter at all.
struct NonStarters
{
    int leading = 0;
    int trailing = 0;
    bool all = false; // no starter: the whole decomposition extends the run
};

NonStarters nonStartersOf(utf8proc_int32_t cp)
{
    const utf8proc_property_t *prop = utf8proc_get_property(cp);
    const bool hangul = cp >= 0xAC00 && cp <= 0xD7A3; // decomposes to starters only
    if (hangul || (prop->decomp_seqindex == UINT16_MAX && prop->casefold_seqindex == UINT16_MAX)) {
        if (prop->combining_class == 0)
            return {};
        return {1, 1, true};
    }
    utf8proc_int32_t buf[32];
    int boundClass = 0;
    const auto n = utf8proc_decompose_char(cp, buf, 32, utf8proc_option_t(UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD),
                                           &boundClass);
    if (n <= 0 || n > 32) // not produced by Unicode's tables; count it as a starter
        return {};
    NonStarters r;
    while (r.leading < n && utf8proc_get_property(buf[r.leading])->combining_class != 0)
        ++r.leading;
    if (r.leading == n)
        return {static_cast<int>(n), static_cast<int>(n), true};
    while (r.trailing < n && utf8proc_get_property(buf[n - 1 - r.trailing])->combining_class != 0)
        ++r.trailing;
    return r;
}

// utf8proc_map refuses invalid UTF-8 as a whole; replacing only the bad bytes
// keeps the rest of the prompt (and so the key) meaningful.
// The result is also made stream-safe (UAX #15): a COMBINING GRAPHEME JOINER
// goes before the non-starter that would make a run longer than
// kMaxNonStarters. utf8proc's canonical reordering is a bubble sort over each
// run between starters: unbounded runs would make it quadratic in the prompt.
// Text without such runs is left as it was, so its keys do not change.
std::string sanitise(std::string_view in)
{
    constexpr int kMaxNonStarters = 30;
    std::string out;
    out.reserve(in.size() + in.size() / 32);
    int run = 0; // non-starters since the last starter
    const auto *p = reinterpret_cast<const utf8proc_uint8_t *>(in.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(in.size());
    while (left > 0) {
        if (*p < 0x80) {
            out.push_back(static_cast<char>(*p));
            run = 0;
            ++p;
            --left;
            continue;
        }
        utf8proc_int32_t cp = 0;
        const auto n = utf8proc_iterate(p, left, &cp);
        if (n <= 0) {
            out.append(kReplacement);
            run = 0;
            ++p;
            --left;
            continue;
        }
        // Dropped before NFC so that a mark after one still composes.
        if (!isInvisible(cp)) {
            const NonStarters ns = nonStartersOf(cp);
            if (run + ns.leading > kMaxNonStarters) {
                out.append(kGraphemeJoiner);
                run = 0;
            }
            run = ns.all ? run + ns.leading : ns.trailing;
            out.append(reinterpret_cast<const char *>(p), static_cast<std::size_t>(n));
        }
        p += n;
        left -= n;
    }
    return out;
}

bool isSpace(utf8proc_int32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    if (cp == 0x85)
        return true;
    const auto cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// Sentence-ending and separating punctuation only: closing brackets and
// quotes carry meaning ("what is f(x)") and stay.
bool isTrailingPunctuation(utf8proc_int32_t cp)
{
    switch (cp) {
    case '.':
    case '!':
    case '?':
    case ',':
    case ';':
    case ':':
    case 0x037E: // Greek question mark
    case 0x0589: // Armenian full stop
    case 0x061F: // Arabic question mark
    case 0x060C: // Arabic comma
    case 0x061B: // Arabic semicolon
    case 0x06D4: // Arabic full stop
    case 0x0964:
    case 0x0965: // Devanagari danda, double danda
    case 0x2026: // ellipsis
    case 0x203C:
    case 0x203D:
    case 0x2047:
    case 0x2048:
    case 0x2049:
    case 0x3001:
    case 0x3002: // ideographic comma, full stop
    case 0xFF01:
    case 0xFF0C:
    case 0xFF0E:
    case 0xFF1A:
    case 0xFF1B:
    case 0xFF1F:
    case 0xFF61:
    case 0xFF64: // half-width ideographic full stop, comma
    case 0xFE50:
    case 0xFE51:
    case 0xFE52:
    case 0xFE54:
    case 0xFE55:
    case 0xFE56:
    case 0xFE57: return true;
    default: return false;
    }
}

} // namespace

std::string PromptNormaliser::normalise(std::string_view utf8)
{
    bool ascii = true;
    for (char c : utf8) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            ascii = false;
            break;
        }
    }
    // Most prompts are ASCII, where NFC is the identity and case folding is
    // lower-casing: skip utf8proc's decompose/compose round trip.
    std::string clean;
    if (ascii) {
        clean.assign(utf8);
        for (char &c : clean) {
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        }
    } else {
        clean = sanitise(utf8);
    }

    utf8proc_uint8_t *mapped = nullptr;
    const auto mappedLen = ascii
        ? utf8proc_ssize_t(-1)
        : utf8proc_map(reinterpret_cast<const utf8proc_uint8_t *>(clean.data()),
                       static_cast<utf8proc_ssize_t>(clean.size()), &mapped,
                       utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD));
    std::string_view folded = clean;
    if (mappedLen >= 0)
        folded = std::string_view(reinterpret_cast<const char *>(mapped), static_cast<std::size_t>(mappedLen));

    std::string out;
    out.reserve(folded.size());
    bool pendingSpace = false;
    const auto *p = reinterpret_cast<const utf8proc_uint8_t *>(folded.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(folded.size());
    while (left > 0) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t n = 1;
        if (*p < 0x80) {
            cp = *p;
        } else {
            n = utf8proc_iterate(p, left, &cp);
            if (n <= 0) { // cannot happen after sanitise(); stay safe anyway
                cp = 0xFFFD;
                n = 1;
            }
        }
        p += n;
        left -= n;
        if (isSpace(cp)) {
            pendingSpace = !out.empty();
            continue;
        }
        if (pendingSpace) {
            out.push_back(' ');
            pendingSpace = false;
        }
        if (cp < 0x80)
            out.push_back(static_cast<char>(cp));
        else
            appendUtf8(out, cp);
    }
    if (mapped)
        std::free(mapped);

    while (!out.empty()) {
        if (out.back() == ' ') {
            out.pop_back();
            continue;
        }
        std::size_t start = out.size() - 1;
        while (start > 0 && (static_cast<unsigned char>(out[start]) & 0xC0) == 0x80)
            --start;
        utf8proc_int32_t cp = 0;
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t *>(out.data() + start),
                         static_cast<utf8proc_ssize_t>(out.size() - start), &cp);
        if (!isTrailingPunctuation(cp))
            break;
        out.resize(start);
    }
    return out;
}

} // namespace l0l3
