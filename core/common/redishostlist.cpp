#include "core/common/redishostlist.h"

#include <algorithm>
#include <charconv>

namespace l0l3 {

namespace {

std::string_view trimmed(std::string_view s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

} // namespace

bool parseHostPort(std::string_view text, std::string *host, int *port, int minPort)
{
    std::string_view h;
    std::string_view p;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return false;
        h = text.substr(1, close - 1);
        p = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return false;
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
    }
    int v = 0;
    const auto r = std::from_chars(p.data(), p.data() + p.size(), v);
    if (h.empty() || p.empty() || r.ec != std::errc() || r.ptr != p.data() + p.size() || v < minPort || v > 65535)
        return false;
    *host = std::string(h);
    *port = v;
    return true;
}

RedisHostList RedisHostList::parse(std::string_view text, std::vector<std::string> *rejected)
{
    RedisHostList list;
    while (true) {
        const auto comma = text.find(',');
        const std::string_view entry = trimmed(text.substr(0, comma));
        std::string host;
        int port = 0;
        if (parseHostPort(entry, &host, &port))
            list.add(std::move(host), port);
        else if (rejected)
            rejected->emplace_back(entry);
        if (comma == std::string_view::npos)
            return list;
        text.remove_prefix(comma + 1);
    }
}

void RedisHostList::add(std::string host, int port)
{
    if (!contains(host, port))
        m_hosts.push_back({std::move(host), port});
}

bool RedisHostList::contains(std::string_view host, int port) const
{
    return std::any_of(m_hosts.begin(), m_hosts.end(), [&](const Host &h) { return h.host == host && h.port == port; });
}

} // namespace l0l3
