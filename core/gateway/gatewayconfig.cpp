#include "core/gateway/gatewayconfig.h"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace l0l3 {

namespace {

const std::set<std::string, std::less<>> kValueOptions = {
    "listen", "region", "replica", "primary", "upstream", "threads", "config", "hot-cache-entries",
    "hot-cache-bytes", "hot-cache-ttl-seconds", "max-body-bytes", "upstream-timeout-ms",
    "upstream-connect-timeout-ms", "namespace-default", "redis-password-file", "redis-timeout-ms",
    "breaker-failures", "breaker-successes", "breaker-cooldown-ms", "breaker-error-rate", "breaker-window-ms",
    "breaker-min-calls", "secondary-upstream", "upstream-api-key-file", "slo-p99-ms", "slo-window-ms",
    "fallback-replica", "rate-limit", "rate-burst", "rate-limit-clients", "max-header-bytes", "max-messages",
    "max-prompt-chars", "idle-timeout-ms", "read-timeout-ms", "max-connections", "api-keys-file", "sentinel",
    "master-name", "sentinel-user", "sentinel-password-file", "redis-hosts",
    "first-request-timeout-ms", "max-connections-per-client", "max-buffered-bytes"};
const std::set<std::string, std::less<>> kSwitches = {"no-hot-cache", "allow-anonymous", "allow-anonymous-sentinel",
                                                      "help", "version"};

std::string trim(std::string_view s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

template<typename T>
bool parseNumber(std::string_view text, T min, T max, T *out)
{
    T v{};
    auto res = std::from_chars(text.data(), text.data() + text.size(), v);
    if (res.ec != std::errc() || res.ptr != text.data() + text.size() || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool parseReal(std::string_view text, double min, double max, double *out)
{
    const std::string t(text);
    char *end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || !end || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

std::string formatReal(double v)
{
    std::ostringstream ss;
    ss << v;
    return ss.str();
}

bool parseBool(std::string_view text, bool *out)
{
    if (text == "true" || text == "1" || text == "yes" || text == "on" || text.empty()) {
        *out = true;
        return true;
    }
    if (text == "false" || text == "0" || text == "no" || text == "off") {
        *out = false;
        return true;
    }
    return false;
}

bool parseListen(std::string_view text, std::string *host, std::uint16_t *port)
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
    if (h.empty())
        return false;
    unsigned v = 0;
    if (!parseNumber<unsigned>(p, 0, 65535, &v))
        return false;
    *host = std::string(h);
    *port = static_cast<std::uint16_t>(v);
    return true;
}

// HOST:PORT or redis://[user:pass@]HOST:PORT, one Sentinel of a comma-separated list.
std::optional<RedisUrl> parseSentinel(std::string_view text, std::string *why)
{
    if (text.substr(0, 8) == "redis://") {
        auto url = RedisUrl::parse(text, why);
        if (url && url->db != 0) {
            *why = "a Sentinel has no database";
            return std::nullopt;
        }
        return url;
    }
    RedisUrl url;
    std::uint16_t port = 0;
    if (!parseListen(text, &url.host, &port) || port == 0 || url.host.find_first_of("/@") != std::string::npos) {
        *why = "an entry is not HOST:PORT or redis://[user:pass@]HOST:PORT"; // never echoed: it may hold a password
        return std::nullopt;
    }
    url.port = port;
    return url;
}

// Only what certainly stays on this host: a literal loopback address or "localhost".
bool isLoopbackHost(const std::string &host)
{
    if (host == "localhost")
        return true;
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    if (ec)
        return false; // a name: it may resolve to anything
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()).is_loopback();
    return address.is_loopback();
}

bool validRegion(std::string_view r)
{
    return !r.empty() && r.size() <= 64 && std::all_of(r.begin(), r.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

} // namespace

int GatewayConfig::defaultThreads()
{
    const unsigned hc = std::thread::hardware_concurrency();
    return static_cast<int>(std::clamp(hc == 0 ? 1u : hc, 1u, 4u));
}

std::string GatewayConfig::usage()
{
    return "Usage: l0l3-gateway --listen HOST:PORT --region NAME --replica redis://[user:pass@]HOST:PORT\n"
           "                    --primary redis://[user:pass@]HOST:PORT --upstream http://HOST:PORT/v1 [options]\n"
           "\n"
           "L0L3 edge gateway: serves human-approved answers (L0.5 hot cache, L0 local replica),\n"
           "forwards misses to the upstream LLM and proposes them to the operator. It never\n"
           "writes an upstream answer to the cache.\n"
           "\n"
           "  --listen HOST:PORT                 address to serve HTTP on (port 0: any free port)\n"
           "  --region NAME                      this gateway's region (labels, seen counters, drain)\n"
           "  --replica URL                      local Redis replica to read approved entries from\n"
           "                                     (env L0L3_REPLICA_URL)\n"
           "  --primary URL                      Redis primary to write proposals to (env L0L3_PRIMARY_URL)\n"
           "  --upstream URL                     OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1\n"
           "  --threads N                        io_context threads (default: cores, at most 4)\n"
           "  --config FILE                      `key = value` lines with the names above; flags win\n"
           "  --hot-cache-entries N              L0.5 capacity in entries (default 100000)\n"
           "  --hot-cache-bytes N                L0.5 capacity in bytes (default 268435456)\n"
           "  --hot-cache-ttl-seconds S          L0.5 entry lifetime (default 60)\n"
           "  --no-hot-cache                     disable L0.5\n"
           "  --max-body-bytes N                 larger request bodies get 413 (default 1048576)\n"
           "  --upstream-timeout-ms N            whole upstream request (default 30000)\n"
           "  --upstream-connect-timeout-ms N    upstream connect (default 2000)\n"
           "  --namespace-default NAME           namespace without header or API key (default \"default\")\n"
           "  --redis-timeout-ms N               per Redis command deadline (default 500)\n"
           "  --redis-password-file FILE         password for Redis URLs that carry none\n"
           "\n"
           "Resilience:\n"
           "  --breaker-failures N               consecutive upstream failures that open the circuit (default 5)\n"
           "  --breaker-successes M              probe successes that close it again (default 3)\n"
           "  --breaker-cooldown-ms T            open -> half-open after T ms (default 30000)\n"
           "  --breaker-error-rate F             also open at this failure ratio over the window, 0 off (default 0.5)\n"
           "  --breaker-window-ms W              error-rate window (default 10000)\n"
           "  --breaker-min-calls N              calls in the window before the rate counts (default 10)\n"
           "  --secondary-upstream URL           used while the upstream's circuit is open; else misses get 503\n"
           "  --upstream-api-key-file FILE       key sent to the upstream(s) instead of the client's\n"
           "                                     (env L0L3_UPSTREAM_API_KEY)\n"
           "  --slo-p99-ms N                     p99 above this over the window: state elevated (default 500)\n"
           "  --slo-window-ms N                  latency window for the SLO (default 10000)\n"
           "  --fallback-replica URL             read entries here while the local replica is down\n"
           "                                     (default: the primary)\n"
           "  --sentinel HOST:PORT[,HOST:PORT]   follow the primary through these Sentinels (also\n"
           "                                     redis://user@HOST:PORT); default: --primary only. A new\n"
           "                                     primary needs more than half of them to name it, must be\n"
           "                                     an allowed Redis host (below) and answer ROLE master\n"
           "  --master-name NAME                 the primary's name at the Sentinels (default \"l0l3\")\n"
           "  --sentinel-user NAME               the Sentinels' ACL user (packaging: l0l3-sentinel)\n"
           "  --sentinel-password-file FILE      its password (env L0L3_SENTINEL_AUTH_PASSWORD); never the\n"
           "                                     Redis password\n"
           "  --allow-anonymous-sentinel         accept Sentinels that answer without AUTH (refused\n"
           "                                     otherwise: anyone reaching one can re-point it)\n"
           "  --redis-hosts HOST:PORT[,...]      the data nodes a failover may promote: the Redis\n"
           "                                     credentials go to these, --replica, --primary and\n"
           "                                     --fallback-replica only (ROLE needs AUTH first, so a\n"
           "                                     primary the Sentinels name elsewhere is refused)\n"
           "\n"
           "Limits and security:\n"
           "  --rate-limit R                     requests/s per API key, or per client address without one (default off);\n"
           "                                     a token not checked against --api-keys-file is also charged to its\n"
           "                                     address (IPv6: its /64)\n"
           "  --rate-burst B                     token bucket size (default max(1, R))\n"
           "  --rate-limit-clients N             clients tracked at once, fixed memory (default 65536)\n"
           "  --max-header-bytes N               larger request headers (or trailers) get 431 (default 16384;\n"
           "                                     at most 65535, larger values are clamped)\n"
           "  --max-messages N                   more messages get 400 too_many_messages (default 512)\n"
           "  --max-prompt-chars N               longer message text gets 400 prompt_too_long (default 262144)\n"
           "  --idle-timeout-ms N                close keep-alive connections idle this long (default 75000)\n"
           "  --read-timeout-ms N                close connections that take longer to send a request (default 10000)\n"
           "  --max-connections N                beyond this, new connections get 503 and are closed (default 10000;\n"
           "                                     lowered to fit the open-file limit, which is raised to its hard\n"
           "                                     limit at start). Health checks and scrapes are exempt: beyond\n"
           "                                     the cap a few more connections may each send one GET /healthz,\n"
           "                                     /readyz or /metrics within a second; anything else gets the 503\n"
           "  --max-connections-per-client N     open connections per client address (IPv6: per /64), beyond\n"
           "                                     it 503 (default 256)\n"
           "  --first-request-timeout-ms N       close a new connection that has not sent a whole request head\n"
           "                                     by then (default 5000)\n"
           "  --max-buffered-bytes N             bytes of requests being received, all connections together;\n"
           "                                     over it, a connection holding more than a head gets 503 and is\n"
           "                                     closed (default 268435456). A request (head, body with its chunk\n"
           "                                     framing, trailer) is at most 2 x (max-header-bytes +\n"
           "                                     max-body-bytes), else 413\n"
           "  --api-keys-file FILE               lines 'sha256hex namespace': require one of these keys as\n"
           "                                     'Authorization: Bearer KEY'; the namespace comes from the file\n"
           "                                     (x-l0l3-namespace is ignored)\n"
           "  --allow-anonymous                  serve a non-loopback --listen without --api-keys-file (refused\n"
           "                                     otherwise: clients could name any tenant's namespace)\n"
           "  --help, --version\n"
           "\n"
           "L0L3_REDIS_PASSWORD is used for Redis URLs with a user and no password.\n";
}

GatewayConfig::Action GatewayConfig::parse(int argc, const char *const *argv, GatewayConfig *out, std::string *error,
                                           const Environment &envIn)
{
    const Environment env = envIn ? envIn : Environment([](const char *name) { return std::getenv(name); });
    auto fail = [&](std::string why) {
        if (error)
            *error = std::move(why);
        return Action::Error;
    };

    std::map<std::string, std::string, std::less<>> flags;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.substr(0, 2) != "--")
            return fail("unexpected argument '" + std::string(arg) + "' (see --help)");
        arg.remove_prefix(2);
        std::string name(arg);
        std::optional<std::string> value;
        if (const auto eq = arg.find('='); eq != std::string_view::npos) {
            name = std::string(arg.substr(0, eq));
            value = std::string(arg.substr(eq + 1));
        }
        if (kSwitches.count(name)) {
            if (name == "help")
                return Action::Help;
            if (name == "version")
                return Action::Version;
            flags[name] = value.value_or("true");
            continue;
        }
        if (!kValueOptions.count(name))
            return fail("unknown option --" + name + " (see --help)");
        if (!value) {
            if (i + 1 >= argc)
                return fail("option --" + name + " needs a value");
            value = argv[++i];
        }
        flags[name] = *value;
    }

    std::map<std::string, std::string, std::less<>> options;
    if (auto it = flags.find("config"); it != flags.end()) {
        std::ifstream file(it->second);
        if (!file)
            return fail("cannot read --config file '" + it->second + "'");
        std::string line;
        int lineNo = 0;
        while (std::getline(file, line)) {
            ++lineNo;
            const std::string t = trim(line);
            if (t.empty() || t.front() == '#')
                continue;
            const auto eq = t.find('=');
            std::string key = trim(t.substr(0, eq));
            std::string value = eq == std::string::npos ? std::string("true") : trim(t.substr(eq + 1));
            if (key.substr(0, 2) == "--")
                key.erase(0, 2);
            if (key == "config"
                || (!kValueOptions.count(key) && key != "no-hot-cache" && key != "allow-anonymous"
                    && key != "allow-anonymous-sentinel"))
                return fail(it->second + ":" + std::to_string(lineNo) + ": unknown option '" + key + "'");
            options[key] = value;
        }
    }
    for (auto &[k, v] : flags)
        options[k] = v;

    GatewayConfig c;
    auto get = [&](std::string_view key) -> const std::string * {
        auto it = options.find(key);
        return it == options.end() ? nullptr : &it->second;
    };
    auto getOrEnv = [&](std::string_view key, const char *envName) -> std::optional<std::string> {
        if (const std::string *v = get(key))
            return *v;
        if (const char *e = env(envName); e && *e)
            return std::string(e);
        return std::nullopt;
    };

    const std::string *listen = get("listen");
    if (!listen)
        return fail("missing --listen HOST:PORT");
    if (!parseListen(*listen, &c.listenHost, &c.listenPort))
        return fail("invalid --listen '" + *listen + "', expected HOST:PORT");
    const std::string *region = get("region");
    if (!region)
        return fail("missing --region NAME");
    if (!validRegion(*region))
        return fail("invalid --region '" + *region + "' (letters, digits, '-', '_')");
    c.region = *region;

    std::optional<std::string> passwordFromFile;
    if (const std::string *pf = get("redis-password-file")) {
        std::ifstream file(*pf);
        if (!file)
            return fail("cannot read --redis-password-file '" + *pf + "'");
        std::stringstream ss;
        ss << file.rdbuf();
        passwordFromFile = trim(ss.str());
    }
    // argv is readable by every local user (ps, /proc/PID/cmdline); a config file or the environment is not.
    auto warnIfPasswordInArgv = [&](std::string_view key, bool hasPassword) {
        if (hasPassword && flags.count(key))
            c.warnings.push_back("the password in --" + std::string(key)
                                 + " is visible to every local user (ps, /proc); give it with "
                                   "--redis-password-file FILE or L0L3_REDIS_PASSWORD instead");
    };
    const char *envPassword = env("L0L3_REDIS_PASSWORD");
    auto fillPassword = [&](RedisUrl &url) {
        if (!url.password.empty())
            return;
        if (passwordFromFile)
            url.password = *passwordFromFile;
        else if (!url.user.empty() && envPassword && *envPassword)
            url.password = envPassword;
    };
    for (auto [key, envName, target] : {std::tuple{"replica", "L0L3_REPLICA_URL", &c.replica},
                                        std::tuple{"primary", "L0L3_PRIMARY_URL", &c.primary}}) {
        const auto text = getOrEnv(key, envName);
        if (!text)
            return fail(std::string("missing --") + key + " redis://HOST:PORT (or " + envName + ")");
        std::string why;
        auto url = RedisUrl::parse(*text, &why);
        if (!url)
            return fail(std::string("invalid --") + key + ": " + why); // never echo the URL: it may hold a password
        warnIfPasswordInArgv(key, !url->password.empty());
        fillPassword(*url);
        *target = *url;
    }

    if (const std::string *fb = get("fallback-replica")) {
        std::string why;
        auto url = RedisUrl::parse(*fb, &why);
        if (!url)
            return fail("invalid --fallback-replica: " + why);
        warnIfPasswordInArgv("fallback-replica", !url->password.empty());
        fillPassword(*url);
        c.fallbackReplica = *url;
    }

    if (const std::string *list = get("sentinel")) {
        bool sentinelPassword = false;
        std::string_view rest = *list;
        while (true) {
            const auto comma = rest.find(',');
            const std::string entry = trim(rest.substr(0, comma));
            std::string why = "empty entry, expected HOST:PORT[,HOST:PORT...]";
            auto url = entry.empty() ? std::nullopt : parseSentinel(entry, &why);
            if (!url)
                return fail("invalid --sentinel: " + why);
            sentinelPassword = sentinelPassword || !url->password.empty();
            c.sentinels.push_back(std::move(*url));
            if (comma == std::string_view::npos)
                break;
            rest.remove_prefix(comma + 1);
        }
        warnIfPasswordInArgv("sentinel", sentinelPassword); // once for the list
    }
    if (const std::string *name = get("master-name")) {
        if (name->empty() || name->size() > 128 || name->find_first_of(" \t") != std::string::npos)
            return fail("invalid --master-name (1 to 128 characters, no spaces)");
        c.masterName = *name;
    }
    if (const std::string *v = get("allow-anonymous-sentinel")) {
        if (!parseBool(*v, &c.allowAnonymousSentinel))
            return fail("invalid --allow-anonymous-sentinel '" + *v + "'");
    }
    if (!c.sentinels.empty()) {
        std::optional<std::string> sentinelPassword;
        if (const std::string *pf = get("sentinel-password-file")) {
            std::ifstream file(*pf);
            if (!file)
                return fail("cannot read --sentinel-password-file '" + *pf + "'");
            std::stringstream ss;
            ss << file.rdbuf();
            sentinelPassword = trim(ss.str());
        } else if (const char *e = env("L0L3_SENTINEL_AUTH_PASSWORD"); e && *e) {
            sentinelPassword = trim(e);
        }
        const std::string *sentinelUser = get("sentinel-user");
        for (RedisUrl &url : c.sentinels) {
            if (url.user.empty() && sentinelUser)
                url.user = *sentinelUser;
            if (url.password.empty() && sentinelPassword)
                url.password = *sentinelPassword;
            if (url.password.empty() && !c.allowAnonymousSentinel)
                return fail("Sentinel " + url.redacted() + " has no password: give --sentinel-user and "
                            "--sentinel-password-file (or L0L3_SENTINEL_AUTH_PASSWORD), or --allow-anonymous-sentinel");
        }
    }
    if (const std::string *list = get("redis-hosts")) {
        std::string_view rest = *list;
        while (true) {
            const auto comma = rest.find(',');
            const std::string entry = trim(rest.substr(0, comma));
            std::string host;
            std::uint16_t port = 0;
            if (!parseListen(entry, &host, &port) || port == 0)
                return fail("invalid --redis-hosts: '" + entry.substr(0, 300) + "' is not HOST:PORT");
            c.redisHosts.emplace_back(std::move(host), port);
            if (comma == std::string_view::npos)
                break;
            rest.remove_prefix(comma + 1);
        }
    }

    const std::string *upstream = get("upstream");
    if (!upstream)
        return fail("missing --upstream http://HOST:PORT/v1");
    std::string why;
    if (!UpstreamClient::parseBaseUrl(*upstream, &c.upstream, &why))
        return fail(why);
    c.upstreamUrl = *upstream;
    if (const std::string *secondary = get("secondary-upstream")) {
        c.secondaryUpstream = c.upstream;
        if (!UpstreamClient::parseBaseUrl(*secondary, &c.secondaryUpstream, &why))
            return fail("--secondary-upstream: " + why);
        c.secondaryUpstreamUrl = *secondary;
    }
    if (const std::string *kf = get("upstream-api-key-file")) {
        std::ifstream file(*kf);
        if (!file)
            return fail("cannot read --upstream-api-key-file '" + *kf + "'");
        std::stringstream ss;
        ss << file.rdbuf();
        c.upstreamApiKey = trim(ss.str());
    } else if (const char *e = env("L0L3_UPSTREAM_API_KEY"); e && *e) {
        c.upstreamApiKey = trim(e);
    }
    if (const std::string *kf = get("api-keys-file")) {
        std::string why2;
        auto keys = ApiKeyStore::load(*kf, &why2);
        if (!keys)
            return fail(why2);
        c.apiKeysFile = *kf;
        c.apiKeys = std::make_shared<const ApiKeyStore>(std::move(*keys));
    }

    c.threads = defaultThreads();
    struct Num { const char *key; std::int64_t min; std::int64_t max; std::int64_t *target; };
    std::int64_t threads = c.threads, entries = static_cast<std::int64_t>(c.hotCacheEntries),
                 bytes = static_cast<std::int64_t>(c.hotCacheBytes), ttl = c.hotCacheTtlSeconds,
                 body = static_cast<std::int64_t>(c.maxBodyBytes), upTimeout = c.upstream.timeoutMs,
                 upConnect = c.upstream.connectTimeoutMs, redisTimeout = c.redisTimeoutMs,
                 brFailures = c.breaker.failureThreshold, brSuccesses = c.breaker.successThreshold,
                 brCooldown = c.breaker.cooldownMs, brWindow = c.breaker.windowMs, brMinCalls = c.breaker.minCallsInWindow,
                 sloP99 = c.sloP99Ms, sloWindow = c.sloWindowMs,
                 rlClients = static_cast<std::int64_t>(c.rateLimitClients),
                 maxHeader = static_cast<std::int64_t>(c.maxHeaderBytes), maxMessages = static_cast<std::int64_t>(c.maxMessages),
                 maxPrompt = static_cast<std::int64_t>(c.maxPromptChars), idleTimeout = c.idleTimeoutMs,
                 readTimeout = c.readTimeoutMs, maxConnections = static_cast<std::int64_t>(c.maxConnections);
    std::int64_t firstRequestTimeout = c.firstRequestTimeoutMs,
                 perClient = static_cast<std::int64_t>(c.maxConnectionsPerClient),
                 maxBuffered = static_cast<std::int64_t>(c.maxBufferedBytes);
    const Num nums[] = {
        {"threads", 1, 256, &threads},
        {"hot-cache-entries", 0, 1LL << 40, &entries},
        {"hot-cache-bytes", 0, 1LL << 50, &bytes},
        {"hot-cache-ttl-seconds", 1, 1LL << 31, &ttl},
        {"max-body-bytes", 1, 1LL << 34, &body},
        {"upstream-timeout-ms", 1, 24LL * 3600 * 1000, &upTimeout},
        {"upstream-connect-timeout-ms", 1, 3600LL * 1000, &upConnect},
        {"redis-timeout-ms", 1, 3600LL * 1000, &redisTimeout},
        {"breaker-failures", 1, 1000000, &brFailures},
        {"breaker-successes", 1, 1000000, &brSuccesses},
        {"breaker-cooldown-ms", 1, 24LL * 3600 * 1000, &brCooldown},
        {"breaker-window-ms", 10, 24LL * 3600 * 1000, &brWindow},
        {"breaker-min-calls", 1, 1000000, &brMinCalls},
        {"slo-p99-ms", 1, 3600LL * 1000, &sloP99},
        {"slo-window-ms", 1000, 3600LL * 1000, &sloWindow},
        {"rate-limit-clients", 64, 1LL << 26, &rlClients},
        {"max-header-bytes", 512, 1LL << 24, &maxHeader},
        {"max-messages", 1, 1LL << 24, &maxMessages},
        {"max-prompt-chars", 1, 1LL << 34, &maxPrompt},
        {"idle-timeout-ms", 1, 24LL * 3600 * 1000, &idleTimeout},
        {"read-timeout-ms", 1, 24LL * 3600 * 1000, &readTimeout},
        {"max-connections", 1, 1LL << 24, &maxConnections},
        {"first-request-timeout-ms", 1, 24LL * 3600 * 1000, &firstRequestTimeout},
        {"max-connections-per-client", 1, 1LL << 24, &perClient},
        {"max-buffered-bytes", 1LL << 16, 1LL << 40, &maxBuffered},
    };
    for (const Num &n : nums) {
        if (const std::string *v = get(n.key)) {
            if (!parseNumber<std::int64_t>(*v, n.min, n.max, n.target))
                return fail(std::string("invalid --") + n.key + " '" + *v + "', expected an integer from "
                            + std::to_string(n.min) + " to " + std::to_string(n.max));
        }
    }
    c.threads = static_cast<int>(threads);
    c.hotCacheEntries = static_cast<std::size_t>(entries);
    c.hotCacheBytes = static_cast<std::size_t>(bytes);
    c.hotCacheTtlSeconds = ttl;
    c.maxBodyBytes = static_cast<std::size_t>(body);
    c.upstream.timeoutMs = static_cast<int>(upTimeout);
    c.upstream.connectTimeoutMs = static_cast<int>(upConnect);
    c.redisTimeoutMs = static_cast<int>(redisTimeout);
    c.secondaryUpstream.timeoutMs = c.upstream.timeoutMs;
    c.secondaryUpstream.connectTimeoutMs = c.upstream.connectTimeoutMs;
    c.breaker.failureThreshold = static_cast<int>(brFailures);
    c.breaker.successThreshold = static_cast<int>(brSuccesses);
    c.breaker.cooldownMs = brCooldown;
    c.breaker.windowMs = brWindow;
    c.breaker.minCallsInWindow = static_cast<int>(brMinCalls);
    c.sloP99Ms = static_cast<int>(sloP99);
    c.sloWindowMs = static_cast<int>(sloWindow);
    c.rateLimitClients = static_cast<std::size_t>(rlClients);
    // Beast keeps a header field's size in 16 bits (HttpServer::kMaxHeaderBytes).
    c.maxHeaderBytes = std::min<std::size_t>(static_cast<std::size_t>(maxHeader), 65535);
    c.maxMessages = static_cast<std::size_t>(maxMessages);
    c.maxPromptChars = static_cast<std::size_t>(maxPrompt);
    c.idleTimeoutMs = static_cast<int>(idleTimeout);
    c.readTimeoutMs = static_cast<int>(readTimeout);
    c.maxConnections = static_cast<std::size_t>(maxConnections);
    c.firstRequestTimeoutMs = static_cast<int>(firstRequestTimeout);
    c.maxConnectionsPerClient = static_cast<std::size_t>(perClient);
    c.maxBufferedBytes = static_cast<std::size_t>(maxBuffered);
    struct Real { const char *key; double min; double max; double *target; };
    const Real reals[] = {
        {"breaker-error-rate", 0, 1, &c.breaker.errorRate},
        {"rate-limit", 0, 1e9, &c.rateLimit},
        {"rate-burst", 1, 1e9, &c.rateBurst},
    };
    for (const Real &r : reals) {
        if (const std::string *v = get(r.key)) {
            if (!parseReal(*v, r.min, r.max, r.target))
                return fail(std::string("invalid --") + r.key + " '" + *v + "', expected a number from "
                            + formatReal(r.min) + " to " + formatReal(r.max));
        }
    }
    if (c.rateBurst <= 0)
        c.rateBurst = std::max(1.0, c.rateLimit);
    if (const std::string *v = get("no-hot-cache")) {
        bool off = false;
        if (!parseBool(*v, &off))
            return fail("invalid --no-hot-cache '" + *v + "'");
        c.hotCacheEnabled = !off;
    }
    if (const std::string *v = get("namespace-default")) {
        if (v->empty() || v->size() > 128)
            return fail("invalid --namespace-default (1 to 128 characters)");
        c.namespaceDefault = *v;
    }
    if (const std::string *v = get("allow-anonymous")) {
        if (!parseBool(*v, &c.allowAnonymous))
            return fail("invalid --allow-anonymous '" + *v + "'");
    }
    // Without keys every client picks its tenant (x-l0l3-namespace) and spends the upstream's key.
    if (!c.apiKeys && !c.allowAnonymous && !isLoopbackHost(c.listenHost))
        return fail("--listen " + c.listenHost + " is reachable from other hosts but no --api-keys-file is given: "
                    "any client could read every tenant's answers and use the upstream at your expense; "
                    "give --api-keys-file, or --allow-anonymous to serve anonymous clients anyway");
    *out = std::move(c);
    return Action::Run;
}

} // namespace l0l3
