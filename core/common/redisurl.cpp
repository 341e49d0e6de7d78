#include "core/common/redisurl.h"

#include <charconv>

#include "core/common/hex.h"

namespace l0l3 {

namespace {

std::optional<std::string> percentDecode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size())
            return std::nullopt;
        const int hi = hexDigitValue(s[i + 1]);
        const int lo = hexDigitValue(s[i + 2]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

bool parseNumber(std::string_view s, int lo, int hi, int &out)
{
    if (s.empty())
        return false;
    int v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
        return false;
    out = v;
    return true;
}

std::optional<RedisUrl> failWith(std::string *error, const char *reason)
{
    if (error)
        *error = reason;
    return std::nullopt;
}

} // namespace

std::optional<RedisUrl> RedisUrl::parse(std::string_view url, std::string *error)
{
    constexpr std::string_view kScheme = "redis://";
    constexpr std::string_view kTlsScheme = "rediss://";
    const bool tls = url.substr(0, kTlsScheme.size()) == kTlsScheme;
    if (!tls && url.substr(0, kScheme.size()) != kScheme)
        return failWith(error, "URL must start with redis:// or rediss://");
    url.remove_prefix(tls ? kTlsScheme.size() : kScheme.size());

    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view() : url.substr(slash + 1);

    RedisUrl r;
    r.tls = tls;
    // The password may contain '@' unencoded in sloppy URLs; the host never does.
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        authority.remove_prefix(at + 1);
        const auto colon = userinfo.find(':');
        const auto user = percentDecode(userinfo.substr(0, colon));
        if (!user)
            return failWith(error, "bad percent-encoding in user");
        r.user = *user;
        if (colon != std::string_view::npos) {
            const auto password = percentDecode(userinfo.substr(colon + 1));
            if (!password)
                return failWith(error, "bad percent-encoding in password");
            r.password = *password;
        }
    }

    std::string_view portText;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos)
            return failWith(error, "unterminated IPv6 address");
        r.host = std::string(authority.substr(1, close - 1));
        const auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                return failWith(error, "garbage after IPv6 address");
            portText = rest.substr(1);
            if (portText.empty())
                return failWith(error, "empty port");
        }
    } else {
        const auto colon = authority.find(':');
        r.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            portText = authority.substr(colon + 1);
            if (portText.empty())
                return failWith(error, "empty port");
        }
    }
    if (r.host.empty())
        return failWith(error, "missing host");
    if (!portText.empty() && !parseNumber(portText, 1, 65535, r.port))
        return failWith(error, "port must be a number in 1..65535");

    if (!path.empty() && !parseNumber(path, 0, 1 << 20, r.db))
        return failWith(error, "database must be a non-negative number");
    return r;
}

std::string RedisUrl::redacted() const
{
    std::string out = tls ? "rediss://" : "redis://";
    if (!user.empty())
        out += user + "@";
    if (host.find(':') != std::string::npos)
        out += "[" + host + "]";
    else
        out += host;
    out += ":" + std::to_string(port);
    if (db != 0)
        out += "/" + std::to_string(db);
    return out;
}

} // namespace l0l3
