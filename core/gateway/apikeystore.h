#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/gateway/sha256.h"

namespace l0l3 {

// The gateway's API keys (--api-keys-file): lines "sha256hex namespace",
// '#' comments and blank lines ignored. Only hashes are stored, on disk and
// in memory. A key's namespace comes from the file, so two tenants never
// share cache entries whatever headers they send. Immutable after load:
// lookups from any thread, without a lock or an allocation.
class ApiKeyStore
{
public:
    // nullopt and one line in *error (file:line: why) for anything invalid.
    static std::optional<ApiKeyStore> parse(std::string_view text, std::string *error,
                                            std::string_view origin = "keys");
    static std::optional<ApiKeyStore> load(const std::string &path, std::string *error);

    // The namespace of a presented key, or null when the key is not listed.
    const std::string *namespaceFor(std::string_view apiKey) const;
    // Same, for a digest already computed.
    const std::string *namespaceFor(const Sha256::Digest &digest) const;
    std::size_t size() const { return m_keys.size(); }

private:
    struct DigestHash
    {
        std::size_t operator()(const Sha256::Digest &d) const
        {
            std::size_t h = 0;
            for (std::size_t i = 0; i < sizeof(std::size_t); ++i)
                h = (h << 8) | d[i]; // the digest is already uniformly distributed
            return h;
        }
    };
    std::unordered_map<Sha256::Digest, std::string, DigestHash> m_keys;
};

} // namespace l0l3
