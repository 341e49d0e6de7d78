#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace l0l3 {

// Minified JSON with object keys sorted byte-wise and numbers/strings
// re-serialised canonically, so {"b":1, "a":[true]} and {"a":[true],"b":1}
// hash to the same cache key. Returns nullopt for invalid JSON.
class CanonicalJson
{
public:
    static std::optional<std::string> canonicalise(std::string_view json);
};

} // namespace l0l3
