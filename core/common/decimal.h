#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace l0l3 {

// Decimal integers as the Redis stream codecs store them: no locale, no
// leading '+', no trailing garbage.
class Decimal
{
public:
    static std::string format(std::int64_t n)
    {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, n);
        return std::string(buf, r.ptr);
    }

    static bool parse(std::string_view s, std::int64_t &out)
    {
        if (s.empty())
            return false;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
        return r.ec == std::errc() && r.ptr == s.data() + s.size();
    }
};

} // namespace l0l3
