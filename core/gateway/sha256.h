#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace l0l3 {

// SHA-256 (FIPS 180-4), self-contained so that hashing an API key on every
// request costs no allocation and no library lock.
class Sha256
{
public:
    using Digest = std::array<std::uint8_t, 32>;

    static Digest digest(std::string_view data);
    static std::string hex(const Digest &digest);
    // 64 hex digits (either case) -> digest; false for anything else.
    static bool fromHex(std::string_view hex, Digest *out);
};

} // namespace l0l3
