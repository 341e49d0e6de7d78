#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace l0l3 {

// An approved cache entry, stored as JSON (EntryCodec) at RedisSchema::entryKey(key).
struct Entry
{
    std::string key;      // cache key (CacheKey::derive)
    std::string response; // the assistant message content served on a hit
    std::string prompt;   // the user prompt it was approved for (display, L1)
    std::string system;   // the system prompt (display)
    std::string ns;       // namespace
    std::string model;    // model family
    std::string intent;   // optional intent name
    // A variant (an operator-confirmed phrasing of another entry's question): the main entry's
    // key, whose answer it serves and with which it is edited and revoked. Empty otherwise.
    std::string variantOf;
    std::int64_t version = 1; // incremented by every edit; guards concurrent writers
    std::string approvedBy;
    std::int64_t approvedAtMs = 0; // ms since epoch
    std::int64_t ttlSeconds = 0;   // 0: no expiry
    // When an operator must look at the answer again (ms since epoch); 0: not recorded (an entry
    // written before review dates existed: reviewDueMs() derives it).
    std::int64_t reviewByMs = 0;
    // The entry's own review period in days, kept by every renewal; 0: its namespace's policy.
    std::int64_t reviewDays = 0;

    // reviewByMs, or approvedAtMs + defaultDays for an entry that records no date.
    std::int64_t reviewDueMs(std::int64_t defaultDays) const
    {
        return reviewByMs > 0 ? reviewByMs : approvedAtMs + defaultDays * 86400000LL;
    }

    bool operator==(const Entry &) const = default;
};

class EntryCodec
{
public:
    static constexpr int kFormat = 1; // "fmt" field in the JSON

    static std::string encode(const Entry &entry);
    // nullopt and a reason in *error for corrupt or wrong-typed JSON, a
    // missing key/response, or an unknown format.
    static std::optional<Entry> decode(std::string_view json, std::string *error = nullptr);
};

} // namespace l0l3
