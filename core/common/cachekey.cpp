#include "core/common/cachekey.h"

#include <array>
#include <cstdint>

#include <xxhash.h>

#include "core/common/promptnormaliser.h"

namespace l0l3 {

namespace {

void appendField(std::string &buf, std::string_view field)
{
    std::uint64_t len = field.size();
    for (int i = 0; i < 8; ++i) { // little-endian, independent of the host
        buf.push_back(static_cast<char>(len & 0xFF));
        len >>= 8;
    }
    buf.append(field);
}

bool allDigits(std::string_view s)
{
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
    }
    return true;
}

int twoDigits(std::string_view s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

bool plausibleMonthDay(std::string_view mm, std::string_view dd)
{
    const int m = twoDigits(mm);
    const int d = twoDigits(dd);
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

// Length of a trailing snapshot suffix (including its '-'), 0 if none.
std::size_t snapshotSuffix(std::string_view s)
{
    const auto endsWithDashed = [&](std::size_t n) { return s.size() > n + 1 && s[s.size() - n - 1] == '-'; };
    // -YYYY-MM-DD
    if (endsWithDashed(10)) {
        const auto t = s.substr(s.size() - 10);
        if (t[4] == '-' && t[7] == '-' && allDigits(t.substr(0, 4)) && allDigits(t.substr(5, 2))
            && allDigits(t.substr(8, 2)) && plausibleMonthDay(t.substr(5, 2), t.substr(8, 2)))
            return 11;
    }
    // -YYYYMMDD
    if (endsWithDashed(8)) {
        const auto t = s.substr(s.size() - 8);
        if (allDigits(t) && plausibleMonthDay(t.substr(4, 2), t.substr(6, 2)))
            return 9;
    }
    // -MMDD (OpenAI's old snapshots: gpt-4-0613)
    if (endsWithDashed(4)) {
        const auto t = s.substr(s.size() - 4);
        if (allDigits(t) && plausibleMonthDay(t.substr(0, 2), t.substr(2, 2)))
            return 5;
    }
    return 0;
}

} // namespace

std::string CacheKey::derive(const CacheKeyInput &input)
{
    const std::string system = PromptNormaliser::normalise(input.system);
    const std::string user = PromptNormaliser::normalise(input.user);
    const std::string family = modelFamily(input.model);

    std::string buf;
    buf.reserve(8 * 8 + kSchemaVersion.size() + input.ns.size() + system.size() + user.size() + family.size()
                + input.responseFormat.size() + input.tools.size() + input.toolChoice.size());
    appendField(buf, kSchemaVersion);
    appendField(buf, input.ns);
    appendField(buf, system);
    appendField(buf, user);
    appendField(buf, family);
    appendField(buf, input.responseFormat);
    appendField(buf, input.tools);
    appendField(buf, input.toolChoice);

    const XXH128_hash_t h = XXH3_128bits(buf.data(), buf.size());
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(32, '0');
    for (int i = 0; i < 16; ++i) {
        out[static_cast<std::size_t>(15 - i)] = kHex[(h.high64 >> (4 * i)) & 0xF];
        out[static_cast<std::size_t>(31 - i)] = kHex[(h.low64 >> (4 * i)) & 0xF];
    }
    return out;
}

std::uint64_t CacheKey::questionHash(std::string_view system, std::string_view user)
{
    const std::string normalisedSystem = PromptNormaliser::normalise(system);
    const std::string normalisedUser = PromptNormaliser::normalise(user);
    std::string buf;
    buf.reserve(16 + normalisedSystem.size() + normalisedUser.size());
    appendField(buf, normalisedSystem);
    appendField(buf, normalisedUser);
    return XXH3_64bits(buf.data(), buf.size());
}

std::string CacheKey::modelFamily(std::string_view model)
{
    while (!model.empty() && (model.front() == ' ' || model.front() == '\t'))
        model.remove_prefix(1);
    while (!model.empty() && (model.back() == ' ' || model.back() == '\t'))
        model.remove_suffix(1);
    std::string out(model);
    for (char &c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    out.resize(out.size() - snapshotSuffix(out));
    return out;
}

bool CacheKey::isValid(std::string_view key)
{
    if (key.size() != 32)
        return false;
    for (char c : key) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

} // namespace l0l3
