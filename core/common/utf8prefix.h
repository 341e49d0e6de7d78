#pragma once

#include <cstddef>
#include <string_view>

namespace l0l3 {

// The longest prefix of s of at most max bytes that does not split a UTF-8
// sequence: the cut goes before any continuation byte at position max.
inline std::string_view utf8Prefix(std::string_view s, std::size_t max)
{
    if (s.size() <= max)
        return s;
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
        --n;
    return s.substr(0, n);
}

} // namespace l0l3
