#include "core/gateway/gatewayconfig.h"

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
    "upstream-connect-timeout-ms", "namespace-default", "redis-password-file", "redis-timeout-ms"};
const std::set<std::string, std::less<>> kSwitches = {"no-hot-cache", "help", "version"};

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
            if (key == "config" || (!kValueOptions.count(key) && key != "no-hot-cache"))
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
    const char *envPassword = env("L0L3_REDIS_PASSWORD");
    for (auto [key, envName, target] : {std::tuple{"replica", "L0L3_REPLICA_URL", &c.replica},
                                        std::tuple{"primary", "L0L3_PRIMARY_URL", &c.primary}}) {
        const auto text = getOrEnv(key, envName);
        if (!text)
            return fail(std::string("missing --") + key + " redis://HOST:PORT (or " + envName + ")");
        std::string why;
        auto url = RedisUrl::parse(*text, &why);
        if (!url)
            return fail(std::string("invalid --") + key + ": " + why); // never echo the URL: it may hold a password
        if (url->password.empty()) {
            if (passwordFromFile)
                url->password = *passwordFromFile;
            else if (!url->user.empty() && envPassword && *envPassword)
                url->password = envPassword;
        }
        *target = *url;
    }

    const std::string *upstream = get("upstream");
    if (!upstream)
        return fail("missing --upstream http://HOST:PORT/v1");
    std::string why;
    if (!UpstreamClient::parseBaseUrl(*upstream, &c.upstream, &why))
        return fail(why);
    c.upstreamUrl = *upstream;

    c.threads = defaultThreads();
    struct Num { const char *key; std::int64_t min; std::int64_t max; std::int64_t *target; };
    std::int64_t threads = c.threads, entries = static_cast<std::int64_t>(c.hotCacheEntries),
                 bytes = static_cast<std::int64_t>(c.hotCacheBytes), ttl = c.hotCacheTtlSeconds,
                 body = static_cast<std::int64_t>(c.maxBodyBytes), upTimeout = c.upstream.timeoutMs,
                 upConnect = c.upstream.connectTimeoutMs, redisTimeout = c.redisTimeoutMs;
    const Num nums[] = {
        {"threads", 1, 256, &threads},
        {"hot-cache-entries", 0, 1LL << 40, &entries},
        {"hot-cache-bytes", 0, 1LL << 50, &bytes},
        {"hot-cache-ttl-seconds", 1, 1LL << 31, &ttl},
        {"max-body-bytes", 1, 1LL << 34, &body},
        {"upstream-timeout-ms", 1, 24LL * 3600 * 1000, &upTimeout},
        {"upstream-connect-timeout-ms", 1, 3600LL * 1000, &upConnect},
        {"redis-timeout-ms", 1, 3600LL * 1000, &redisTimeout},
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
    *out = std::move(c);
    return Action::Run;
}

} // namespace l0l3
