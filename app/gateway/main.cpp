#include <csignal>
#include <cstdio>

#include "core/common/redisschema.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/gateway.h"
#include "core/gateway/gatewayconfig.h"
#include "core/gateway/redisprobe.h"

using namespace l0l3;

int main(int argc, char **argv)
{
    // hiredis writes with write(2): a dropped Redis must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);

    GatewayConfig config;
    std::string error;
    switch (GatewayConfig::parse(argc, argv, &config, &error)) {
    case GatewayConfig::Action::Help: std::fputs(GatewayConfig::usage().c_str(), stdout); return 0;
    case GatewayConfig::Action::Version: std::puts("l0l3-gateway " L0L3_VERSION); return 0;
    case GatewayConfig::Action::Error: std::fprintf(stderr, "l0l3-gateway: %s\n", error.c_str()); return 2;
    case GatewayConfig::Action::Run: break;
    }
    for (const std::string &warning : config.warnings)
        std::fprintf(stderr, "l0l3-gateway: warning: %s\n", warning.c_str());
    if (config.checkConfig) {
        std::puts("l0l3-gateway: configuration OK");
        return 0;
    }

    AsioRedisConnection::setDefaultTls(config.redisTls); // the start-up checks use it too
    for (const auto *url : {&config.replica, &config.primary}) {
        // With Sentinels, --primary may be out of date (failed over since): the Sentinels know.
        if (url == &config.primary && !config.sentinels.empty())
            continue;
        if (!RedisProbe::check(*url, 2000, &error)) {
            std::fprintf(stderr, "l0l3-gateway: %s\n", error.c_str());
            return 1;
        }
    }

    Gateway gateway(config);
    // A drain survives restarts: the console keeps it in a hash.
    if (RedisProbe::hget(config.replica, 2000, RedisSchema::kDrained, config.region) == std::optional<std::string>("1"))
        gateway.setDraining(true);
    if (!gateway.start(&error)) {
        std::fprintf(stderr, "l0l3-gateway: %s\n", error.c_str());
        return 1;
    }
    std::printf("l0l3-gateway listening on %s:%u region=%s\n", config.listenHost.c_str(),
                static_cast<unsigned>(gateway.port()), config.region.c_str());
    std::fflush(stdout);
    gateway.run();
    return 0;
}
