#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/common/proposal.h"

namespace l0l3 {

// One entry of the audit stream (RedisSchema::kAudit).
struct AuditRecord
{
    std::string id;     // stream id when read back
    std::string action; // approve | edit | reject | revoke | control
    std::string key;    // cache key, or the region/target for control actions
    std::string actor;  // operator name: the authenticated operator (ACL user op-NAME), or the name a
                        // service account (e.g. "console", the demo autopilot) wrote on someone's behalf
    std::string user;   // the authenticated ACL user (ACL WHOAMI) that wrote the record; empty in records
                        // written before it was recorded, or when the server would not say
    std::int64_t tsMs = 0;
    std::int64_t version = 0;     // version written (0 for reject/revoke/control)
    std::int64_t prevVersion = 0; // version replaced (0 if none)
    std::string detail;           // free text: intent, proposal id, control command...

    bool operator==(const AuditRecord &) const = default;
};

class AuditCodec
{
public:
    static StreamFields encode(const AuditRecord &record);
    static std::optional<AuditRecord> decode(std::string_view id, const StreamFields &fields,
                                             std::string *error = nullptr);
};

} // namespace l0l3
