#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/common/redisurl.h"

namespace l0l3 {

// Synchronous start-up check (an AsioRedisConnection driven on its own
// io_context until ready or timeoutMs): connect (TLS for rediss://), AUTH,
// SELECT, PING. The gateway refuses to start against a Redis it cannot use.
class RedisProbe
{
public:
    static bool check(const RedisUrl &url, int timeoutMs, std::string *error);
    // HGET key field on a fresh connection; nullopt when absent or on error.
    static std::optional<std::string> hget(const RedisUrl &url, int timeoutMs, std::string_view key,
                                           std::string_view field);
};

} // namespace l0l3
