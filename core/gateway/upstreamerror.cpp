#include "core/gateway/upstreamerror.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <span>
#include <string>
#include <vector>

#include <simdjson.h>

namespace l0l3 {

namespace {

constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                       "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Consumes the parts of a date from the front of text; every step fails without a partial match mattering,
// since a failed parse is thrown away whole.
struct DateReader
{
    std::string_view text;

    bool literal(std::string_view token)
    {
        if (text.substr(0, token.size()) != token)
            return false;
        text.remove_prefix(token.size());
        return true;
    }

    bool digits(std::size_t count, int *out)
    {
        if (text.size() < count)
            return false;
        int value = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const char c = text[i];
            if (c < '0' || c > '9')
                return false;
            value = value * 10 + (c - '0');
        }
        text.remove_prefix(count);
        *out = value;
        return true;
    }

    bool name(std::span<const std::string_view> names, int *index = nullptr)
    {
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (literal(names[i])) {
                if (index)
                    *index = static_cast<int>(i);
                return true;
            }
        }
        return false;
    }

    // HH:MM:SS, a leap second allowed.
    bool timeOfDay(int *seconds)
    {
        int h = 0;
        int m = 0;
        int s = 0;
        if (!digits(2, &h) || !literal(":") || !digits(2, &m) || !literal(":") || !digits(2, &s))
            return false;
        if (h > 23 || m > 59 || s > 60)
            return false;
        *seconds = h * 3600 + m * 60 + s;
        return true;
    }
};

std::optional<std::int64_t> unixSeconds(int year, int month, int day, int secondsOfDay)
{
    using namespace std::chrono;
    const year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                              std::chrono::day{static_cast<unsigned>(day)}};
    if (!date.ok())
        return std::nullopt;
    return sys_days{date}.time_since_epoch().count() * std::int64_t{86400} + secondsOfDay;
}

// IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
std::optional<std::int64_t> imfFixdate(std::string_view text)
{
    DateReader r{text};
    int day = 0, month = 0, year = 0, time = 0;
    if (!r.name(kDays) || !r.literal(", ") || !r.digits(2, &day) || !r.literal(" ") || !r.name(kMonths, &month)
        || !r.literal(" ") || !r.digits(4, &year) || !r.literal(" ") || !r.timeOfDay(&time) || !r.literal(" GMT")
        || !r.text.empty())
        return std::nullopt;
    return unixSeconds(year, month + 1, day, time);
}

// RFC 850: Sunday, 06-Nov-94 08:49:37 GMT. A two-digit year more than 50 years ahead is in the past century.
std::optional<std::int64_t> rfc850Date(std::string_view text, std::int64_t nowUnixSeconds)
{
    DateReader r{text};
    int day = 0, month = 0, yy = 0, time = 0;
    if (!r.name(kLongDays) || !r.literal(", ") || !r.digits(2, &day) || !r.literal("-") || !r.name(kMonths, &month)
        || !r.literal("-") || !r.digits(2, &yy) || !r.literal(" ") || !r.timeOfDay(&time) || !r.literal(" GMT")
        || !r.text.empty())
        return std::nullopt;
    using namespace std::chrono;
    const int nowYear = static_cast<int>(year_month_day{floor<days>(sys_seconds{seconds{nowUnixSeconds}})}.year());
    int year = nowYear / 100 * 100 + yy;
    if (year > nowYear + 50)
        year -= 100;
    return unixSeconds(year, month + 1, day, time);
}

// asctime: Sun Nov  6 08:49:37 1994
std::optional<std::int64_t> asctimeDate(std::string_view text)
{
    DateReader r{text};
    int day = 0, month = 0, year = 0, time = 0;
    if (!r.name(kDays) || !r.literal(" ") || !r.name(kMonths, &month) || !r.literal(" "))
        return std::nullopt;
    if (!r.digits(2, &day) && !(r.literal(" ") && r.digits(1, &day)))
        return std::nullopt;
    if (!r.literal(" ") || !r.timeOfDay(&time) || !r.literal(" ") || !r.digits(4, &year) || !r.text.empty())
        return std::nullopt;
    return unixSeconds(year, month + 1, day, time);
}

bool uniqueNames(simdjson::dom::object object, std::vector<std::string_view> &names)
{
    names.clear();
    for (const auto field : object)
        names.push_back(field.key);
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) == names.end();
}

} // namespace

std::optional<UpstreamError::RetryAfter> UpstreamError::parseRetryAfter(std::string_view raw,
                                                                        std::int64_t nowUnixSeconds)
{
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t'))
        raw.remove_prefix(1);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t'))
        raw.remove_suffix(1);
    if (raw.empty() || raw.size() > kMaxRetryAfterBytes)
        return std::nullopt;
    if (std::all_of(raw.begin(), raw.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (raw.size() > 10)
            return std::nullopt;
        std::int64_t seconds = 0;
        for (const char c : raw)
            seconds = seconds * 10 + (c - '0');
        return RetryAfter{raw, seconds};
    }
    std::optional<std::int64_t> at = imfFixdate(raw);
    if (!at)
        at = rfc850Date(raw, nowUnixSeconds);
    if (!at)
        at = asctimeDate(raw);
    if (!at)
        return std::nullopt;
    return RetryAfter{raw, std::max<std::int64_t>(0, *at - nowUnixSeconds)};
}

bool UpstreamError::isPassableBody(std::string_view body)
{
    if (body.size() > kMaxBodyBytes)
        return false;
    thread_local simdjson::dom::parser parser;
    thread_local std::vector<std::string_view> names;
    simdjson::dom::object top;
    if (parser.parse(body.data(), body.size()).get_object().get(top) != simdjson::SUCCESS)
        return false;
    if (!uniqueNames(top, names))
        return false;
    simdjson::dom::object error;
    if (top["error"].get_object().get(error) != simdjson::SUCCESS || !uniqueNames(error, names))
        return false;
    std::string_view message;
    return error["message"].get_string().get(message) == simdjson::SUCCESS;
}

} // namespace l0l3
