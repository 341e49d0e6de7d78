#pragma once

#include <string>
#include <string_view>

namespace l0l3 {

// Untrusted text (prompts, answers, region names, audit fields, Redis error
// strings) made safe to show: every character a terminal or a text layout
// would act on rather than show becomes a visible escape. One definition of
// those characters for the console (ui/formatting) and l0l3-ctl.
//
// Escapes: "\n", "\t", "\r"; "\xHH" for the other C0 controls and DEL;
// "\uHHHH" for C1 controls, the bidi controls (ALM, LRM, RLM, U+202A-U+202E
// embeddings and overrides, U+2066-U+2069 isolates) and the line and
// paragraph separators; "\xHH" for each byte of invalid UTF-8; "\\" for a
// backslash when EscapeBackslash is set, which makes the output unambiguous.
class VisibleText
{
public:
    enum Flag : unsigned {
        KeepNewlines = 1u << 0,    // "\n" passes through (a field printed on purpose over several lines)
        KeepTabs = 1u << 1,        // "\t" passes through
        EscapeBackslash = 1u << 2, // "\" becomes "\\"
    };

    // True for a code point that must never reach a terminal or a text layout raw.
    static bool isHazard(char32_t c);
    // The visible escape of c (any code point; meant for hazards).
    static std::string escapeOf(char32_t c);
    // UTF-8 in, valid UTF-8 out, without a hazard (except those flags keep).
    static std::string escape(std::string_view utf8, unsigned flags = EscapeBackslash);
    // A JSON text with every hazard JSON allows raw inside strings (DEL, C1,
    // bidi controls, separators) written as a \uHHHH escape: the same JSON
    // value, safe on a terminal. C0 controls are left alone: a JSON writer
    // escapes them inside strings and the white space between tokens is
    // structure. Invalid UTF-8 bytes are passed through unchanged.
    static std::string escapeJson(std::string_view json);
};

} // namespace l0l3
