#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace l0l3 {

// How long an approved answer stays true before an operator looks at it
// again: RedisSchema::kReviewPolicy, a hash namespace -> days, with the field
// kDefaultField for every other namespace (kDefaultDays when absent). An entry
// may carry its own period (Entry::reviewDays), which wins over the policy.
struct ReviewPolicy
{
    static constexpr std::int64_t kDefaultDays = 90;
    static constexpr std::int64_t kMaxDays = 3650;
    static constexpr std::string_view kDefaultField = "*";
    // Fields read from the hash at most: the policy names namespaces, not keys.
    static constexpr std::size_t kMaxNamespaces = 10000;
    static constexpr std::int64_t kDayMs = 86400000;

    std::int64_t defaultDays = kDefaultDays;
    std::unordered_map<std::string, std::int64_t> days; // by namespace

    // A number of days from a hash value or an argument: 1..kMaxDays in decimal, else 0.
    static std::int64_t parseDays(std::string_view text)
    {
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > kMaxDays)
            return 0;
        return v;
    }
    // One field of the hash; a value that is not a valid number of days is ignored.
    void set(std::string_view field, std::string_view value)
    {
        const std::int64_t d = parseDays(value);
        if (d == 0)
            return;
        if (field == kDefaultField)
            defaultDays = d;
        else if (days.size() < kMaxNamespaces)
            days[std::string(field)] = d;
    }
    std::int64_t daysFor(std::string_view ns) const
    {
        const auto it = days.find(std::string(ns));
        return it == days.end() ? defaultDays : it->second;
    }
    // The period an entry renews by: its own, else its namespace's.
    std::int64_t daysFor(std::string_view ns, std::int64_t entryDays) const
    {
        return entryDays > 0 ? entryDays : daysFor(ns);
    }
};

} // namespace l0l3
