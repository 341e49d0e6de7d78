#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

// A violated property is a crash for libFuzzer: print what broke, then trap
// so the input is saved like any other crash.
#define FUZZ_CHECK(cond)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            __builtin_trap();                                                                    \
        }                                                                                        \
    } while (0)

namespace l0l3::fuzz {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
inline bool isValidUtf8(std::string_view s)
{
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    while (i < s.size()) {
        const unsigned char c = byte(i);
        std::size_t n = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c == 0xE0) {
            n = 2, lo = 0xA0;
        } else if (c == 0xED) {
            n = 2, hi = 0x9F;
        } else if (c >= 0xE1 && c <= 0xEF) {
            n = 2;
        } else if (c == 0xF0) {
            n = 3, lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            n = 3;
        } else if (c == 0xF4) {
            n = 3, hi = 0x8F;
        } else {
            return false;
        }
        if (i + n >= s.size()) // truncated sequence
            return false;
        if (byte(i + 1) < lo || byte(i + 1) > hi)
            return false;
        for (std::size_t k = 2; k <= n; ++k) {
            if (byte(i + k) < 0x80 || byte(i + k) > 0xBF)
                return false;
        }
        i += n + 1;
    }
    return true;
}

// Splits the fuzzer's bytes at NUL: the corpus files stay readable (fields
// on one line, NUL-separated) and every other byte can appear in a field.
inline std::vector<std::string_view> splitFields(const std::uint8_t *data, std::size_t size)
{
    std::vector<std::string_view> fields;
    std::string_view rest(reinterpret_cast<const char *>(data), size);
    while (true) {
        const auto nul = rest.find('\0');
        fields.push_back(rest.substr(0, nul));
        if (nul == std::string_view::npos)
            break;
        rest.remove_prefix(nul + 1);
    }
    return fields;
}

} // namespace l0l3::fuzz
