#pragma once

#include "core/common/redisurl.h"
#include "core/gateway/upstreamclient.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace l0l3 {

// Everything l0l3-gateway is told at start: flags, an optional `--config FILE`
// of `key = value` lines with the same names (flags win), and credentials
// from the environment (L0L3_REPLICA_URL, L0L3_PRIMARY_URL, L0L3_REDIS_PASSWORD)
// or --redis-password-file.
struct GatewayConfig
{
    std::string listenHost = "127.0.0.1";
    std::uint16_t listenPort = 0;
    std::string region;
    RedisUrl replica;
    RedisUrl primary;
    std::string upstreamUrl;
    UpstreamClient::Options upstream;
    int threads = 1;
    std::size_t hotCacheEntries = 100000;
    std::size_t hotCacheBytes = 256u << 20;
    std::int64_t hotCacheTtlSeconds = 60;
    bool hotCacheEnabled = true;
    std::size_t maxBodyBytes = 1u << 20;
    std::string namespaceDefault = "default";
    int redisTimeoutMs = 500;

    enum class Action { Run, Help, Version, Error };
    using Environment = std::function<const char *(const char *name)>;

    // Action::Error with one line in *error for anything invalid.
    static Action parse(int argc, const char *const *argv, GatewayConfig *out, std::string *error,
                        const Environment &env = {});
    static std::string usage();
    static int defaultThreads();
};

} // namespace l0l3
