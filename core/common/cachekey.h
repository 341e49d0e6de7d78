#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace l0l3 {

// Everything that changes the answer of a single-turn chat request. Sampling
// noise (temperature, top_p, user, stream, n, seed...) is deliberately absent.
// The JSON fields are canonical JSON (CanonicalJson) or empty when absent.
struct CacheKeyInput
{
    std::string_view ns;             // tenant: x-l0l3-namespace or derived from the API key
    std::string_view system;         // system prompt(s), joined with "\n" when several
    std::string_view user;           // the user turn, raw (derive() normalises it)
    std::string_view model;          // raw model name (derive() reduces it to a family)
    std::string_view responseFormat; // canonical JSON or empty
    std::string_view tools;          // canonical JSON or empty
    std::string_view toolChoice;     // canonical JSON or empty
};

class CacheKey
{
public:
    // Version tag hashed into every key; bump with RedisSchema::kVersion.
    static constexpr std::string_view kSchemaVersion = "v1";

    // xxh3-128 over the version tag and every field (length-prefixed, so
    // field boundaries cannot be forged), lower-case hex, 32 characters.
    // system and user are normalised with PromptNormaliser; model with modelFamily().
    static std::string derive(const CacheKeyInput &input);

    // "gpt-4o-mini-2024-07-18" -> "gpt-4o-mini", "GPT-4-0613" -> "gpt-4":
    // lower-cased, a trailing date (-YYYY-MM-DD, -YYYYMMDD) or -MMDD snapshot removed.
    static std::string modelFamily(std::string_view model);

    // xxh3-64 over the normalised system prompt and user turn (length-prefixed):
    // what an entry was approved for, compared with a request on every L0 hit.
    static std::uint64_t questionHash(std::string_view system, std::string_view user);

    // True for a 32-character lower-case hex string.
    static bool isValid(std::string_view key);
};

} // namespace l0l3
