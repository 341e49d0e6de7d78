#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace l0l3 {

// Hash for std::unordered_map<std::string, T, StringHash, std::equal_to<>>:
// lets find() take a std::string_view (or const char *) without building a
// std::string first.
struct StringHash
{
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

} // namespace l0l3
