#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace l0l3 {

// redis://[user[:password]@]host[:port][/db]  (port 6379, db 0 by default),
// or rediss://... for the same over TLS (tls set; whoever connects verifies
// the server's certificate against host). User and password are
// percent-decoded. IPv6 hosts in brackets.
struct RedisUrl
{
    std::string host;
    int port = 6379;
    std::string user;
    std::string password;
    int db = 0;
    bool tls = false; // rediss://

    static std::optional<RedisUrl> parse(std::string_view url, std::string *error = nullptr);
    // Without the password (for logs): redis://user@host:port (rediss:// with TLS)
    std::string redacted() const;
};

} // namespace l0l3
