#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/common/redishostlist.h"
#include "core/common/redisurl.h"
#include "core/gateway/apikeystore.h"
#include "core/gateway/circuitbreaker.h"
#include "core/gateway/upstreamclient.h"

namespace l0l3 {

// Everything l0l3-gateway is told at start: flags, an optional `--config FILE`
// of `key = value` lines with the same names (flags win), and credentials
// from the environment (L0L3_REPLICA_URL, L0L3_PRIMARY_URL, L0L3_REDIS_PASSWORD,
// L0L3_SENTINEL_AUTH_PASSWORD) or --redis-password-file / --sentinel-password-file.
// The Redis password never goes to a Sentinel, the Sentinel password never to Redis.
struct GatewayConfig
{
    std::string listenHost = "127.0.0.1";
    std::uint16_t listenPort = 0;
    std::string region;
    RedisUrl replica;
    RedisUrl primary;
    std::string upstreamUrl;
    UpstreamClient::Options upstream; // caFile from --upstream-ca-file; tlsContext built for https
    // Streamed misses (stream: true), to either upstream: the longest wait for the head or the next
    // bytes, and for the whole stream (upstream.timeoutMs bounds buffered calls only).
    int upstreamStreamIdleTimeoutMs = 30000;
    int upstreamStreamTotalTimeoutMs = 600000;
    // --tls-cert/--tls-key: the listener serves HTTPS with listenTls; both empty: HTTP.
    std::string tlsCertFile;
    std::string tlsKeyFile;
    std::shared_ptr<boost::asio::ssl::context> listenTls;
    int threads = 1;
    std::size_t hotCacheEntries = 100000;
    std::size_t hotCacheBytes = 256u << 20;
    std::int64_t hotCacheTtlSeconds = 60;
    bool hotCacheEnabled = true;
    std::size_t maxBodyBytes = 1u << 20;
    std::string namespaceDefault = "default";
    int redisTimeoutMs = 500;
    // TLS of every rediss:// link (replica, primary, fallback, subscribers, Sentinels):
    // --redis-ca-file (empty: the system store), --redis-cert-file/--redis-key-file (a
    // client certificate, both or neither); redisTls is built from them when a link is rediss://.
    std::string redisCaFile;
    std::string redisCertFile;
    std::string redisKeyFile;
    std::shared_ptr<boost::asio::ssl::context> redisTls;

    // Resilience: the upstream's circuit breaker and an optional second upstream
    // used while it is open; the latency SLO behind the "elevated" state.
    CircuitBreaker::Options breaker;
    std::string secondaryUpstreamUrl;          // empty: none
    UpstreamClient::Options secondaryUpstream; // its own caFile (--secondary-upstream-ca-file) and tlsContext
    std::string upstreamApiKey;                // sent upstream instead of the client's Authorization when set
    int sloP99Ms = 500;
    int sloWindowMs = 10000;
    // The primary upstream's own p99 (its calls, over sloWindowMs) above this opens its circuit; 0: off.
    int upstreamSloP99Ms = 0;
    // Another replica (or any server with the entries) read while the local one is down; else the primary.
    std::optional<RedisUrl> fallbackReplica;
    // Sentinels asked where the primary is (at start, when it fails, on +switch-master); empty: --primary only.
    std::vector<RedisUrl> sentinels;
    std::string masterName = "l0l3";
    // A Sentinel must require AUTH: one answering before it is refused unless allowAnonymousSentinel
    // (then, too, entries may carry no password).
    bool allowAnonymousSentinel = false;
    // --redis-hosts: besides --replica, --primary and --fallback-replica, the only servers the
    // Redis credentials are sent to when the Sentinels name a new primary.
    RedisHostList redisHosts;

    // The fleet registry (FleetAnnouncer). Empty instanceId: "<host name>:<port>"; empty
    // advertiseUrl: http(s)://<listenHost, or the host name when it is a wildcard>:<port>.
    std::string instanceId;
    std::string advertiseUrl;
    int announceIntervalMs = 5000;
    // Answers served per entry (ServedCounter), flushed to the primary this often.
    int servedFlushMs = 10000;
    // false: an entry past its review date is a miss (L0 and L0.5) until an operator keeps or edits it.
    bool servePastReviewBy = true;

    // Abuse limits. 0 disables a limit where noted.
    double rateLimit = 0; // requests per second per API key or client address; 0: off
    double rateBurst = 0; // bucket size; 0: max(1, rateLimit)
    std::size_t rateLimitClients = 65536;
    std::size_t maxHeaderBytes = 16 * 1024;
    std::size_t maxMessages = 512;
    std::size_t maxPromptChars = 256 * 1024;
    int idleTimeoutMs = 75000; // keep-alive connection with no request starting
    int readTimeoutMs = 10000; // a started request must be read completely within this
    std::size_t maxConnections = 10000;
    int firstRequestTimeoutMs = 5000;          // a new connection must send a whole request head within this
    std::size_t maxConnectionsPerClient = 256; // per client address (IPv6: per /64)
    std::size_t maxBufferedBytes = 256u << 20; // bytes of requests being received, all connections together

    // --api-keys-file: when set, every chat request needs a listed key and gets its namespace
    // (x-l0l3-namespace is then ignored).
    std::string apiKeysFile;
    std::shared_ptr<const ApiKeyStore> apiKeys;
    // --allow-anonymous: serve a non-loopback --listen without API keys (refused otherwise).
    bool allowAnonymous = false;
    // L1 (SemanticTier): "off", "shadow" (find the candidate, serve nothing) or "serve";
    // its index holds at most semanticMaxEntries vectors.
    std::string semantic = "shadow";
    std::size_t semanticMaxEntries = 200000;
    // One L1 answer in this many goes to the review stream (FCALL l0l3_l1_review); 0: none.
    int semanticReviewSample = 20;
    // Earlier user/assistant turns a request may have and still be cached at L0 and L1
    // (ChatRequestParser::Limits::historyTurns); 0: single-turn requests only.
    int semanticHistory = 0;
    // --embeddings URL --embeddings-model NAME: L1 embeds prompts with this OpenAI-compatible
    // endpoint (POST URL/embeddings) instead of the lexical provider. A lookup waits
    // embeddingsBudgetMs at most for the vector; the call itself is bounded by
    // embeddings.timeoutMs (--embeddings-timeout-ms) and has its own circuit breaker.
    std::string embeddingsUrl; // empty: the lexical provider
    // caFile from --embeddings-ca-file; tlsContext built for https.
    UpstreamClient::Options embeddings = [] {
        UpstreamClient::Options o;
        o.connectTimeoutMs = 1000;
        o.timeoutMs = 2000;
        return o;
    }();
    std::string embeddingsModel;
    std::string embeddingsApiKey; // --embeddings-api-key-file, else L0L3_EMBEDDINGS_API_KEY
    int embeddingsBudgetMs = 50;

    // --check-config: l0l3-gateway validates everything above and exits instead of serving.
    bool checkConfig = false;

    // Things worth telling the operator at start that do not stop it (a password on the command line).
    std::vector<std::string> warnings;

    enum class Action { Run, Help, Version, Error };
    using Environment = std::function<const char *(const char *name)>;

    // Action::Error with one line in *error for anything invalid.
    static Action parse(int argc, const char *const *argv, GatewayConfig *out, std::string *error,
                        const Environment &env = {});
    static std::string usage();
    // Every option's name, without "--", in the order of the usage.
    static std::vector<std::string> optionNames();
    static int defaultThreads();
};

} // namespace l0l3
