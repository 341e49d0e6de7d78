#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

// "HOST:PORT" or "[IPv6]:PORT" with a port from minPort to 65535; the host is
// returned as written (IPv6 without brackets) and must not be empty.
bool parseHostPort(std::string_view text, std::string *host, int *port, int minPort = 1);

// The Redis servers (host:port) that may be sent the data nodes' credentials
// when the Sentinels name a new primary: the operator's list and nothing else,
// so a Sentinel that lies cannot collect the password by naming its own
// address. The gateway (SentinelResolver) and the console (SentinelClient)
// both decide with it.
class RedisHostList
{
public:
    struct Host
    {
        std::string host; // as written, IPv6 without brackets
        int port = 0;
        bool operator==(const Host &) const = default;
    };

    // "HOST:PORT[,HOST:PORT...]", IPv6 in brackets ("[::1]:6380"), blanks around
    // entries ignored. An entry that is not HOST:PORT with a port from 1 to 65535
    // (an empty one included) is left out and, when rejected is given, appended
    // to it as written.
    static RedisHostList parse(std::string_view text, std::vector<std::string> *rejected = nullptr);

    void add(std::string host, int port);
    bool contains(std::string_view host, int port) const;
    // Without credentials there is nothing to give away: any host may be asked.
    bool mayReceiveCredentials(std::string_view host, int port, bool haveCredentials) const
    {
        return !haveCredentials || contains(host, port);
    }

    const std::vector<Host> &hosts() const { return m_hosts; }
    bool empty() const { return m_hosts.empty(); }
    std::size_t size() const { return m_hosts.size(); }

private:
    std::vector<Host> m_hosts;
};

} // namespace l0l3
