#include "core/common/auditrecord.h"

#include <charconv>

namespace l0l3 {

namespace {

std::string decimal(std::int64_t n)
{
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    return std::string(buf, r.ptr);
}

bool parseInt(std::string_view s, std::int64_t &out)
{
    if (s.empty())
        return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

} // namespace

StreamFields AuditCodec::encode(const AuditRecord &r)
{
    return {
        {"action", r.action},
        {"key", r.key},
        {"actor", r.actor},
        {"ts", decimal(r.tsMs)},
        {"version", decimal(r.version)},
        {"prev_version", decimal(r.prevVersion)},
        {"detail", r.detail},
    };
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
        } else if (name == "detail") {
            r.detail = value;
        } else if (name == "ts") {
            number = &r.tsMs;
        } else if (name == "version") {
            number = &r.version;
        } else if (name == "prev_version") {
            number = &r.prevVersion;
        }
        if (number && !parseInt(value, *number)) {
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
