#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace l0l3 {

// A message on the control channel (RedisSchema::kControlChannel); its text is
// also the detail of the "control" audit record. Every sender builds the text
// with encode() and every receiver reads it with parseControlMessage():
//
//   drain REGION | undrain REGION | flush [REGION] | freeze | unfreeze
//   | failover [HOST:PORT] | promote HOST:PORT
//
// One space between words, none before or after. REGION is a region name (see
// isValidRegionName()) or "*"; "*" and "all" address every region. A Sentinel
// failover is recorded when it starts, before the new primary is known: then
// without HOST:PORT.
struct ControlMessage
{
    enum class Verb { Drain, Undrain, Flush, Freeze, Unfreeze, Failover, Promote };

    // Longer text is refused before it is looked at.
    static constexpr std::size_t kMaxBytes = 300;
    static constexpr std::size_t kMaxRegionBytes = 64;
    static constexpr std::size_t kMaxHostBytes = 255;

    Verb verb = Verb::Flush;
    // drain/undrain: the region (required); flush: the region, empty for every
    // region; failover/promote: HOST:PORT of the new primary (empty for a
    // failover whose new primary is not known yet); else empty.
    std::string target;

    bool operator==(const ControlMessage &) const = default;

    // Whether a gateway of this region acts on the message: a drain, undrain
    // or flush addressed to the region or to every region.
    bool addressesRegion(std::string_view region) const;
    // A Sentinel failover records what the console did to the topology: it is
    // audited, not published (gateways follow the Sentinels themselves).
    // Promote is published too: gateways treat it as a claim they verify.
    bool isAuditOnly() const { return verb == Verb::Failover; }
};

// The verb as written in the message ("drain", "flush", ...).
std::string_view controlVerbName(ControlMessage::Verb verb);

// Letters, digits, '-' and '_'; 1 to ControlMessage::kMaxRegionBytes bytes.
// The same rule as the gateway's --region.
bool isValidRegionName(std::string_view name);

// The text form. For every message parseControlMessage() returns,
// encode(message) is the exact text it was parsed from.
std::string encode(const ControlMessage &message);

// Strict: only the forms above. On failure, *error (when given) says what is
// wrong without quoting the input, which may be anything.
std::optional<ControlMessage> parseControlMessage(std::string_view text, std::string *error = nullptr);

} // namespace l0l3
