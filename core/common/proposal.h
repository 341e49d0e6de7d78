#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace l0l3 {

// One entry of the proposals stream (RedisSchema::kProposals), appended
// through ProposalFunction on the first miss of a key. Demand is counted
// separately in RedisSchema::seenKey(key). It carries every field of the
// cache key, so the console recomputes the key from what it shows
// (derivedKey()) and refuses a proposal whose key does not match.
struct Proposal
{
    std::string id;  // stream id, filled when read back; not encoded
    std::string key; // cache key
    std::string ns;
    std::string system;
    std::string prompt;            // the user turn as the client sent it
    std::string response;          // what the upstream answered
    std::string model;             // model family
    std::string region;            // region of the gateway that proposed it
    std::int64_t tsMs = 0;         // when it was proposed
    std::int64_t upstreamMs = 0;   // upstream latency the miss paid (what a hit saves)
    std::int64_t promptTokens = 0; // from the upstream's usage, 0 if unknown
    std::int64_t completionTokens = 0;
    std::string responseFormat; // canonical JSON or empty, as in CacheKeyInput
    std::string tools;          // canonical JSON or empty
    std::string toolChoice;     // canonical JSON or empty
    // L1 shadow candidate: the approved entry most similar to the prompt (its cache key) and the
    // similarity; empty and 0 when the gateway found none. Not part of the cache key.
    std::string l1Key;
    float l1Similarity = 0.0f;

    // CacheKey::derive over ns, system, prompt, model and the JSON fields.
    std::string derivedKey() const;

    bool operator==(const Proposal &) const = default;
};

using StreamFields = std::vector<std::pair<std::string, std::string>>;

// A decoded proposal whose strings point into the stream entry it was
// decoded from: no copies, valid as long as that entry. Proposal owns them.
struct ProposalView
{
    std::string_view id;
    std::string_view key;
    std::string_view ns;
    std::string_view system;
    std::string_view prompt;
    std::string_view response;
    std::string_view model;
    std::string_view region;
    std::int64_t tsMs = 0;
    std::int64_t upstreamMs = 0;
    std::int64_t promptTokens = 0;
    std::int64_t completionTokens = 0;
    std::string_view responseFormat;
    std::string_view tools;
    std::string_view toolChoice;
    std::string_view l1Key;
    float l1Similarity = 0.0f;

    Proposal toProposal() const;
    std::string derivedKey() const;
    // False and a reason in *error when key is not derivedKey(): the fields
    // shown are not what the key was made from (a forged or damaged proposal).
    bool keyMatches(std::string *error = nullptr) const;
};

class ProposalCodec
{
public:
    // The stream field that carries all of a proposal's fields but the key,
    // packed as netstring pairs: 2:ns,5:bench,6:system,...
    static constexpr std::string_view kPackedField = "fields";
    // Field/value pairs for XADD: key, then kPackedField with ns, system,
    // prompt, response, model, region, ts, upstream_ms, prompt_tokens,
    // completion_tokens, response_format, tools and tool_choice, in this order, then l1_key and
    // l1_similarity (4 decimals) only when l1Key is set. Two stream fields instead of eleven:
    // Redis replies with 4 bulk strings per entry instead of 22, which keeps
    // a console's XREADGROUP of a large queue short.
    static StreamFields encode(const Proposal &proposal);
    // Reads both layouts: each field a stream field of its own (as written
    // before the packing) or packed in kPackedField, or a mix. Unknown fields
    // are ignored; nullopt and a reason in *error when key or response is
    // missing, a number field is not a number or kPackedField is not a list
    // of netstring pairs. An l1_key that is not a cache key, or an l1_similarity
    // that is not a number in [-1, 1], is dropped (both become empty and 0).
    static std::optional<Proposal> decode(std::string_view id, const StreamFields &fields,
                                          std::string *error = nullptr);
    // The same rules over field, value, field, value... views (e.g. straight
    // from a Redis reply); an odd count is an error.
    static std::optional<ProposalView> decodeView(std::string_view id,
                                                  std::span<const std::string_view> fieldsAndValues,
                                                  std::string *error = nullptr);
};

} // namespace l0l3
