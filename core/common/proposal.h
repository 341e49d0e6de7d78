#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace l0l3 {

// One entry of the proposals stream (RedisSchema::kProposals), XADDed by a
// gateway on the first miss of a key. Demand is counted separately in
// RedisSchema::seenKey(key).
struct Proposal
{
    std::string id;         // stream id, filled when read back; not encoded
    std::string key;        // cache key
    std::string ns;
    std::string system;
    std::string prompt;     // the user turn as the client sent it
    std::string response;   // what the upstream answered
    std::string model;      // model family
    std::string region;     // region of the gateway that proposed it
    std::int64_t tsMs = 0;  // when it was proposed
    std::int64_t upstreamMs = 0; // upstream latency the miss paid (what a hit saves)
    std::int64_t promptTokens = 0;     // from the upstream's usage, 0 if unknown
    std::int64_t completionTokens = 0;

    bool operator==(const Proposal &) const = default;
};

using StreamFields = std::vector<std::pair<std::string, std::string>>;

class ProposalCodec
{
public:
    // Field/value pairs for XADD, in a fixed order; field names are
    // key, ns, system, prompt, response, model, region, ts, upstream_ms,
    // prompt_tokens, completion_tokens.
    static StreamFields encode(const Proposal &proposal);
    // Unknown fields are ignored; nullopt and a reason in *error when key or
    // response is missing or a number field is not a number. Pass fields as
    // an rvalue to move the values instead of copying them.
    static std::optional<Proposal> decode(std::string_view id, StreamFields fields, std::string *error = nullptr);
};

} // namespace l0l3
