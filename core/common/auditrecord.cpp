#include "core/common/auditrecord.h"

#include "core/common/decimal.h"

namespace l0l3 {

StreamFields AuditCodec::encode(const AuditRecord &r)
{
    StreamFields fields{
        {"action", r.action},
        {"key", r.key},
        {"actor", r.actor},
        {"ts", Decimal::format(r.tsMs)},
        {"version", Decimal::format(r.version)},
        {"prev_version", Decimal::format(r.prevVersion)},
        {"detail", r.detail},
    };
    if (!r.user.empty())
        fields.emplace_back("user", r.user);
    return fields;
}

std::optional<AuditRecord> AuditCodec::decode(std::string_view id, const StreamFields &fields, std::string *error)
{
    AuditRecord r;
    r.id = std::string(id);
    bool haveAction = false;
    for (const auto &[name, value] : fields) {
        std::int64_t *number = nullptr;
        if (name == "action") {
            r.action = value;
            haveAction = true;
        } else if (name == "key") {
            r.key = value;
        } else if (name == "actor") {
            r.actor = value;
        } else if (name == "user") {
            r.user = value;
        } else if (name == "detail") {
            r.detail = value;
        } else if (name == "ts") {
            number = &r.tsMs;
        } else if (name == "version") {
            number = &r.version;
        } else if (name == "prev_version") {
            number = &r.prevVersion;
        }
        if (number && !Decimal::parse(value, *number)) {
            if (error)
                *error = "field \"" + name + "\" is not a number: \"" + value + "\"";
            return std::nullopt;
        }
    }
    if (!haveAction) {
        if (error)
            *error = "missing field \"action\"";
        return std::nullopt;
    }
    return r;
}

} // namespace l0l3
