#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/common/cachekey.h"

namespace l0l3 {

// Remembers CacheKey::derive() per raw input, so a byte-identical repeat (the
// common case for a hot key) is fingerprinted with one xxh3-128 pass instead
// of normalising its system prompt and user turn again. derive() is a pure
// function of its input and the fingerprint covers every field
// (length-prefixed), so a memoised key is the derived key. Bounded: cleared
// when full. One per thread; not thread-safe itself.
class KeyMemo
{
public:
    explicit KeyMemo(std::size_t maxEntries = 4096);

    // CacheKey::derive(input) into *key (its capacity reused).
    void derive(const CacheKeyInput &input, std::string *key);

    std::size_t size() const { return m_keys.size(); }
    std::uint64_t hits() const { return m_hits; }

private:
    struct Fingerprint
    {
        std::uint64_t low;
        std::uint64_t high;
        bool operator==(const Fingerprint &) const = default;
    };
    struct FingerprintHash
    {
        std::size_t operator()(const Fingerprint &f) const { return static_cast<std::size_t>(f.low); }
    };

    std::size_t m_maxEntries;
    std::string m_raw; // the fingerprinted bytes, reused
    std::unordered_map<Fingerprint, std::array<char, 32>, FingerprintHash> m_keys;
    std::uint64_t m_hits = 0;
};

} // namespace l0l3
