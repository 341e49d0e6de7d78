#include "core/gateway/gatewayconfig.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "core/common/controlmessage.h"
#include "core/common/embeddingsapi.h"
#include "core/common/redishostlist.h"
#include "core/gateway/log.h"
#include "core/gateway/tlscontext.h"

namespace l0l3 {

namespace {

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
    int v = 0;
    if (!parseHostPort(text, host, &v, 0))
        return false;
    *port = static_cast<std::uint16_t>(v);
    return true;
}

// HOST:PORT or redis[s]://[user:pass@]HOST:PORT, one Sentinel of a comma-separated list
// (rediss://: over TLS).
std::optional<RedisUrl> parseSentinel(std::string_view text, std::string *why)
{
    if (text.substr(0, 8) == "redis://" || text.substr(0, 9) == "rediss://") {
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
        *why = "an entry is not HOST:PORT or redis[s]://[user:pass@]HOST:PORT"; // never echoed: it may hold a password
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

std::optional<std::string> readTrimmed(const std::string &path)
{
    std::ifstream file(path);
    if (!file)
        return std::nullopt;
    std::stringstream ss;
    ss << file.rdbuf();
    return trim(ss.str());
}

// What the option rows write to while parsing. Values that combine several
// options are staged here and settled by finish(), after every row has run.
struct Context
{
    explicit Context(const GatewayConfig::Environment &environment)
        : env(environment)
    {
    }

    const GatewayConfig::Environment &env;
    GatewayConfig c;
    std::string name;      // the option being applied, without "--"
    bool fromArgv = false; // its value came from the command line, which every local user can read
    std::string error;

    std::optional<std::string> redisPassword; // --redis-password-file's content
    std::optional<std::string> sentinelUser;
    std::optional<std::string> sentinelPasswordFile;
    bool upstreamKeyFromFile = false;
    std::optional<std::string> secondaryCaFile;

    bool fail(std::string why)
    {
        error = std::move(why);
        return false;
    }
    bool invalid(const std::string &value, std::string_view expected)
    {
        return fail("invalid --" + name + " '" + value + "', expected " + std::string(expected));
    }
    // argv is readable by every local user (ps, /proc/PID/cmdline); a config file or the environment is not.
    void warnIfPasswordInArgv(bool hasPassword)
    {
        if (hasPassword && fromArgv)
            c.warnings.push_back("the password in --" + name
                                 + " is visible to every local user (ps, /proc); give it with "
                                   "--redis-password-file FILE or L0L3_REDIS_PASSWORD instead");
    }
};

// Parses, checks and stores one option's value; false with Context::error set.
using Apply = std::function<bool(Context &, const std::string &value)>;

struct Option
{
    enum Flag : unsigned {
        Required = 1, // absent (and no env): "missing --NAME ARG"
        ArgvOnly = 2, // not accepted in a --config file
    };
    Option(std::string_view name, std::string_view arg, std::string_view help, Apply apply = {}, unsigned flags = 0,
           const char *env = nullptr, GatewayConfig::Action action = GatewayConfig::Action::Run)
        : name(name)
        , arg(arg)
        , help(help)
        , apply(std::move(apply))
        , flags(flags)
        , env(env)
        , action(action)
    {
    }

    std::string_view name; // without "--"; empty: a heading in the usage, `help` is its title
    std::string_view arg;  // empty: a switch, `--NAME` or `--NAME=BOOL`
    std::string_view help; // the usage text; '\n' starts a continuation line
    Apply apply;
    unsigned flags;
    // Read when the option is given neither as a flag nor in the config file; same meaning as its value.
    const char *env;
    // Stops parsing at once with this action (--help, --version).
    GatewayConfig::Action action;
};

template<typename T>
auto field(T GatewayConfig::*member)
{
    return [member](GatewayConfig &c) -> T & { return c.*member; };
}

// Ref: GatewayConfig & -> an arithmetic member.
template<typename Ref>
Apply integer(std::int64_t min, std::int64_t max, Ref ref)
{
    return [=](Context &x, const std::string &v) {
        std::int64_t n = 0;
        if (!parseNumber<std::int64_t>(v, min, max, &n))
            return x.invalid(v, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
        auto &target = ref(x.c);
        target = static_cast<std::remove_reference_t<decltype(target)>>(n);
        return true;
    };
}
template<typename T>
Apply integer(std::int64_t min, std::int64_t max, T GatewayConfig::*member)
{
    return integer(min, max, field(member));
}

template<typename Ref>
Apply real(double min, double max, Ref ref)
{
    return [=](Context &x, const std::string &v) {
        if (!parseReal(v, min, max, &ref(x.c)))
            return x.invalid(v, "a number from " + formatReal(min) + " to " + formatReal(max));
        return true;
    };
}
Apply real(double min, double max, double GatewayConfig::*member)
{
    return real(min, max, field(member));
}

// A switch; `negate` stores its opposite (--no-hot-cache clears hotCacheEnabled).
Apply boolean(bool GatewayConfig::*member, bool negate = false)
{
    return [=](Context &x, const std::string &v) {
        bool b = false;
        if (!parseBool(v, &b))
            return x.invalid(v, "true or false");
        x.c.*member = negate ? !b : b;
        return true;
    };
}

// A Redis URL; the Redis password (file or environment) is added in finish().
template<typename Ref>
Apply redisUrl(Ref ref)
{
    return [=](Context &x, const std::string &v) {
        std::string why;
        auto url = RedisUrl::parse(v, &why);
        if (!url)
            return x.fail("invalid --" + x.name + ": " + why); // never echo the URL: it may hold a password
        x.warnIfPasswordInArgv(!url->password.empty());
        ref(x.c) = std::move(*url);
        return true;
    };
}

// One comma-separated entry after another; each goes to `each`.
template<typename Each>
bool forEachListed(const std::string &list, Each each)
{
    std::string_view rest = list;
    while (true) {
        const auto comma = rest.find(',');
        if (!each(trim(rest.substr(0, comma))))
            return false;
        if (comma == std::string_view::npos)
            return true;
        rest.remove_prefix(comma + 1);
    }
}

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
constexpr std::int64_t kHourMs = 3600LL * 1000;

// The gateway's options, in the order of the usage text. Parsing runs the rows
// in this order for every option given (flag, config file line, or `env`),
// then finish() settles what combines several options.
//
// To add an option: add its member to GatewayConfig (with its default), then
// one row here: name, argument name ("" for a switch), help (lines split with
// '\n'), and how its value is stored: integer/real(min, max, &GatewayConfig::m)
// for a checked number, boolean(&GatewayConfig::m) for a switch, or a lambda
// `[](Context &x, const std::string &v) { ...; return true; }` that writes to
// x.c and reports with x.invalid(v, "what was expected") or x.fail(...).
// A lambda must not rely on another row having run: staging (Context) and
// finish() are for checks between options, e.g. a file read only when another
// option is set. The usage text, config-file keys and unknown-option errors
// follow from the table; tst_gatewayconfig checks every row is in the usage.
const std::vector<Option> &options()
{
    static const std::vector<Option> table = {
        {"listen", "HOST:PORT", "address to serve HTTP (HTTPS with --tls-cert) on (port 0: any\nfree port)",
         [](Context &x, const std::string &v) {
             return parseListen(v, &x.c.listenHost, &x.c.listenPort) || x.invalid(v, "HOST:PORT");
         },
         Option::Required},
        {"tls-cert", "FILE",
         "serve HTTPS (TLS 1.2+) with this PEM certificate chain, leaf\n"
         "first; needs --tls-key",
         [](Context &x, const std::string &v) {
             x.c.tlsCertFile = v; // loaded by finish(), with the key
             return !v.empty() || x.invalid(v, "a file name");
         }},
        {"tls-key", "FILE", "the PEM private key of --tls-cert",
         [](Context &x, const std::string &v) {
             x.c.tlsKeyFile = v;
             return !v.empty() || x.invalid(v, "a file name");
         }},
        {"region", "NAME", "this gateway's region (labels, seen counters, drain)",
         [](Context &x, const std::string &v) {
             if (!isValidRegionName(v))
                 return x.fail("invalid --region '" + v + "' (1 to 64 letters, digits, '-', '_')");
             x.c.region = v;
             return true;
         },
         Option::Required},
        {"replica", "URL",
         "local Redis replica to read approved entries from\n(redis://[user[:pass]@]HOST:PORT[/DB]; rediss:// for TLS)",
         redisUrl(field(&GatewayConfig::replica)), Option::Required, "L0L3_REPLICA_URL"},
        {"primary", "URL", "Redis primary to write proposals to", redisUrl(field(&GatewayConfig::primary)),
         Option::Required, "L0L3_PRIMARY_URL"},
        {"upstream", "URL",
         "OpenAI-compatible base URL, http[s]://HOST[:PORT]/PATH, e.g.\n"
         "https://api.openai.com/v1; its certificate is always verified",
         [](Context &x, const std::string &v) {
             std::string why;
             if (!UpstreamClient::parseBaseUrl(v, &x.c.upstream, &why))
                 return x.fail(why);
             x.c.upstreamUrl = v;
             return true;
         },
         Option::Required},
        {"threads", "N", "io_context threads (default: cores, at most 4)", integer(1, 256, &GatewayConfig::threads)},
        {"config", "FILE", "`key = value` lines, keys named like these flags (not config,\nhelp, version); flags win",
         // Read before the rows run: parse() merges it with the flags.
         [](Context &, const std::string &) { return true; }, Option::ArgvOnly},
        {"hot-cache-entries", "N", "L0.5 capacity in entries (default 100000)",
         integer(0, 1LL << 40, &GatewayConfig::hotCacheEntries)},
        {"hot-cache-bytes", "N", "L0.5 capacity in bytes (default 268435456)",
         integer(0, 1LL << 50, &GatewayConfig::hotCacheBytes)},
        {"hot-cache-ttl-seconds", "S", "L0.5 entry lifetime (default 60)",
         integer(1, 1LL << 31, &GatewayConfig::hotCacheTtlSeconds)},
        {"no-hot-cache", "", "disable L0.5", boolean(&GatewayConfig::hotCacheEnabled, true)},
        {"max-body-bytes", "N", "larger request bodies get 413 (default 1048576)",
         integer(1, 1LL << 34, &GatewayConfig::maxBodyBytes)},
        {"upstream-timeout-ms", "N", "whole upstream request (default 30000)",
         integer(
             1, kDayMs, [](GatewayConfig & c) -> auto & { return c.upstream.timeoutMs; })},
        {"upstream-stream-idle-timeout-ms", "N",
         "streamed miss: longest wait for the head or the next\nevent (default 30000)",
         integer(1, kDayMs, &GatewayConfig::upstreamStreamIdleTimeoutMs)},
        {"upstream-stream-total-timeout-ms", "N", "streamed miss: the whole stream (default 600000)",
         integer(1, kDayMs, &GatewayConfig::upstreamStreamTotalTimeoutMs)},
        {"upstream-connect-timeout-ms", "N",
         "upstream connect, and then the TLS handshake\nof an https upstream (default 2000)",
         integer(
             1, kHourMs, [](GatewayConfig & c) -> auto & { return c.upstream.connectTimeoutMs; })},
        {"upstream-ca-file", "FILE",
         "trust these PEM CA certificates for an https --upstream\n"
         "instead of the system store",
         [](Context &x, const std::string &v) {
             x.c.upstream.caFile = v; // loaded by finish(), when the upstream is https
             return !v.empty() || x.invalid(v, "a file name");
         }},
        {"namespace-default", "NAME", "namespace without header or API key (default \"default\")",
         [](Context &x, const std::string &v) {
             if (v.empty() || v.size() > 128)
                 return x.fail("invalid --namespace-default (1 to 128 characters)");
             x.c.namespaceDefault = v;
             return true;
         }},
        {"redis-timeout-ms", "N", "per Redis command deadline (default 500)",
         integer(1, kHourMs, &GatewayConfig::redisTimeoutMs)},
        {"redis-password-file", "FILE",
         "password for Redis URLs that carry none (else L0L3_REDIS_PASSWORD,\nfor URLs with a user)",
         [](Context &x, const std::string &v) {
             x.redisPassword = readTrimmed(v);
             return x.redisPassword || x.fail("cannot read --redis-password-file '" + v + "'");
         }},
        {"redis-ca-file", "FILE",
         "rediss:// links (replicas, primary, Sentinels): trust these PEM\n"
         "CA certificates instead of the system store; the certificate\n"
         "must also name the URL's host",
         [](Context &x, const std::string &v) {
             x.c.redisCaFile = v; // loaded by finish(), when a link is rediss://
             return !v.empty() || x.invalid(v, "a file name");
         }},
        {"redis-cert-file", "FILE",
         "client certificate (PEM chain) for rediss:// links, for\nservers with tls-auth-clients",
         [](Context &x, const std::string &v) {
             x.c.redisCertFile = v;
             return !v.empty() || x.invalid(v, "a file name");
         }},
        {"redis-key-file", "FILE", "its private key (PEM, unencrypted)",
         [](Context &x, const std::string &v) {
             x.c.redisKeyFile = v;
             return !v.empty() || x.invalid(v, "a file name");
         }},

        {"", "", "Resilience"},
        {"breaker-failures", "N", "consecutive upstream failures that open the circuit (default 5)",
         integer(
             1, 1000000, [](GatewayConfig & c) -> auto & { return c.breaker.failureThreshold; })},
        {"breaker-successes", "M", "probe successes that close it again (default 3)",
         integer(
             1, 1000000, [](GatewayConfig & c) -> auto & { return c.breaker.successThreshold; })},
        {"breaker-cooldown-ms", "T", "open -> half-open after T ms (default 30000)",
         integer(
             1, kDayMs, [](GatewayConfig & c) -> auto & { return c.breaker.cooldownMs; })},
        {"breaker-error-rate", "F", "also open at this failure ratio over the window, 0 off (default 0.5)",
         real(
             0, 1, [](GatewayConfig & c) -> auto & { return c.breaker.errorRate; })},
        {"breaker-window-ms", "W", "error-rate window (default 10000)",
         integer(
             10, kDayMs, [](GatewayConfig & c) -> auto & { return c.breaker.windowMs; })},
        {"breaker-min-calls", "N", "calls in the window before the rate counts (default 10)",
         integer(
             1, 1000000, [](GatewayConfig & c) -> auto & { return c.breaker.minCallsInWindow; })},
        {"secondary-upstream", "URL",
         "used while the upstream's circuit is open, with the upstream's other\nsettings; else misses get 503",
         [](Context &x, const std::string &v) {
             x.c.secondaryUpstreamUrl = v; // parsed by finish(), on top of the upstream's settings
             return true;
         }},
        {"secondary-upstream-ca-file", "FILE",
         "the same for --secondary-upstream, which does not inherit\n--upstream-ca-file",
         [](Context &x, const std::string &v) {
             x.secondaryCaFile = v;
             return !v.empty() || x.invalid(v, "a file name");
         }},
        {"upstream-api-key-file", "FILE",
         "key sent to the upstream(s) instead of the client's\n(else the key itself in L0L3_UPSTREAM_API_KEY)",
         [](Context &x, const std::string &v) {
             auto key = readTrimmed(v);
             if (!key)
                 return x.fail("cannot read --upstream-api-key-file '" + v + "'");
             x.c.upstreamApiKey = std::move(*key);
             x.upstreamKeyFromFile = true;
             return true;
         }},
        {"slo-p99-ms", "N", "p99 above this over the window: state elevated (default 500)",
         integer(1, kHourMs, &GatewayConfig::sloP99Ms)},
        {"slo-window-ms", "N", "latency window for the SLO (default 10000)",
         integer(1000, kHourMs, &GatewayConfig::sloWindowMs)},
        {"upstream-slo-p99-ms", "N",
         "the upstream's p99 over the SLO window above this opens its\ncircuit; 0 off (default 0)",
         integer(0, kHourMs, &GatewayConfig::upstreamSloP99Ms)},
        {"fallback-replica", "URL", "read entries here while the local replica is down\n(default: the primary)",
         redisUrl([](GatewayConfig & c) -> auto & { return c.fallbackReplica.emplace(); })},
        {"sentinel", "HOST:PORT[,HOST:PORT]",
         "follow the primary through these Sentinels (also\n"
         "redis://user@HOST:PORT, or rediss://HOST:PORT for TLS);\n"
         "default: --primary only. A new primary needs more than half\n"
         "of them to name it, must be an allowed Redis host (below)\n"
         "and answer ROLE master",
         [](Context &x, const std::string &v) {
             bool password = false;
             x.c.sentinels.clear();
             const bool ok = forEachListed(v, [&](const std::string &entry) {
                 std::string why = "empty entry, expected HOST:PORT[,HOST:PORT...]";
                 auto url = entry.empty() ? std::nullopt : parseSentinel(entry, &why);
                 if (!url)
                     return x.fail("invalid --sentinel: " + why);
                 password = password || !url->password.empty();
                 x.c.sentinels.push_back(std::move(*url));
                 return true;
             });
             x.warnIfPasswordInArgv(password); // once for the list
             return ok;
         }},
        {"master-name", "NAME", "the primary's name at the Sentinels (default \"l0l3\")",
         [](Context &x, const std::string &v) {
             if (v.empty() || v.size() > 128 || v.find_first_of(" \t") != std::string::npos)
                 return x.fail("invalid --master-name (1 to 128 characters, no spaces)");
             x.c.masterName = v;
             return true;
         }},
        {"sentinel-user", "NAME", "the Sentinels' ACL user (packaging: l0l3-sentinel)",
         [](Context &x, const std::string &v) {
             x.sentinelUser = v;
             return true;
         }},
        {"sentinel-password-file", "FILE", "its password (else L0L3_SENTINEL_AUTH_PASSWORD); never the\nRedis password",
         [](Context &x, const std::string &v) {
             x.sentinelPasswordFile = v; // read by finish(), only when there are Sentinels
             return true;
         }},
        {"allow-anonymous-sentinel", "",
         "accept Sentinels that answer without AUTH (refused\notherwise: anyone reaching one can re-point it)",
         boolean(&GatewayConfig::allowAnonymousSentinel)},
        {"redis-hosts", "HOST:PORT[,...]",
         "the data nodes a failover may promote: the Redis\n"
         "credentials go to these, --replica, --primary and\n"
         "--fallback-replica only (ROLE needs AUTH first, so a\n"
         "primary the Sentinels name elsewhere is refused)",
         [](Context &x, const std::string &v) {
             std::vector<std::string> rejected;
             x.c.redisHosts = RedisHostList::parse(v, &rejected);
             if (!rejected.empty())
                 return x.fail("invalid --redis-hosts: '" + rejected.front().substr(0, 300) + "' is not HOST:PORT");
             return true;
         }},

        {"", "", "Fleet registry"},
        {"instance-id", "ID",
         "this gateway's name in the fleet registry, 1 to 200 of letters,\n"
         "digits and '.', '_', ':', '-' (default HOSTNAME:PORT)",
         [](Context &x, const std::string &v) {
             const bool ok = !v.empty() && v.size() <= 200
                 && v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
                     == std::string::npos;
             if (!ok)
                 return x.fail("invalid --instance-id '" + Log::printable(v, 200)
                               + "' (1 to 200 letters, digits, '.', '_', ':', '-')");
             x.c.instanceId = v;
             return true;
         }},
        {"advertise-url", "URL",
         "where the console reaches /metrics and /healthz, announced in the\n"
         "registry (default http[s]://LISTEN-HOST:PORT, the host name when\n"
         "listening on every address)",
         [](Context &x, const std::string &v) {
             const bool scheme = v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0;
             const bool printable = std::all_of(v.begin(), v.end(), [](char ch) { return ch > ' ' && ch < 0x7f; });
             if (!scheme || !printable || v.size() > 400 || v.find('@') != std::string::npos)
                 return x.fail("invalid --advertise-url (http:// or https://, at most 400 printable ASCII "
                               "characters, no user info)");
             x.c.advertiseUrl = v;
             return true;
         }},
        {"announce-interval-ms", "N",
         "rewrite the registry record this often; it expires after 3\n"
         "intervals (default 5000)",
         integer(100, 600000, &GatewayConfig::announceIntervalMs)},
        {"served-flush-ms", "N",
         "send the answers served per entry (the blast radius the console\n"
         "shows before an edit or revocation) to the primary this often\n"
         "(default 10000)",
         integer(100, 600000, &GatewayConfig::servedFlushMs)},
        {"serve-past-review-by", "yes|no",
         "serve an approved entry past its review date (default yes); no:\n"
         "it is a miss until an operator keeps or edits it",
         boolean(&GatewayConfig::servePastReviewBy)},
        {"", "", "L1 (semantic matching of approved entries)"},
        {"semantic", "off|shadow|serve",
         "L1 after an L0 miss (default shadow): shadow finds the closest\n"
         "approved entry and serves nothing (the proposal carries it);\n"
         "serve answers a match past the entry's threshold and the guards",
         [](Context &x, const std::string &v) {
             if (v != "off" && v != "shadow" && v != "serve")
                 return x.invalid(v, "off, shadow or serve");
             x.c.semantic = v;
             return true;
         }},
        {"semantic-max-entries", "N", "vectors the L1 index holds at most (default 200000)",
         integer(1, 1LL << 32, &GatewayConfig::semanticMaxEntries)},
        {"semantic-review-sample", "N",
         "one L1 answer in N goes to the operators' review stream\n(default 20; 0: none)",
         integer(0, 1000000, &GatewayConfig::semanticReviewSample)},
        {"semantic-history", "N",
         "cache requests with up to N earlier user/assistant turns: the\n"
         "turns must match an entry's exactly, the last user message is\n"
         "matched exactly (L0) or by similarity (L1) (default 0: single-turn only)",
         integer(0, 64, &GatewayConfig::semanticHistory)},
        {"embeddings", "URL",
         "embed L1 prompts with this OpenAI-compatible base URL,\n"
         "http[s]://HOST[:PORT]/PATH (POST PATH/embeddings), instead of the\n"
         "embedded lexical provider; needs --embeddings-model",
         [](Context &x, const std::string &v) {
             x.c.embeddingsUrl = v; // parsed by finish()
             return !v.empty() || x.invalid(v, "a URL");
         }},
        {"embeddings-model", "NAME",
         "its model; vector records must carry the model id openai:NAME\n(the control plane's same setting)",
         [](Context &x, const std::string &v) {
             x.c.embeddingsModel = v;
             return EmbeddingsApi::isValidModel(v) || x.invalid(v, "1 to 200 printable ASCII characters");
         }},
        {"embeddings-budget-ms", "N",
         "the longest an L1 lookup waits for the prompt's vector; past it,\n"
         "or on an error or an open circuit, the request is an L1 miss\n(default 50)",
         integer(1, 60000, &GatewayConfig::embeddingsBudgetMs)},
        {"embeddings-timeout-ms", "N",
         "the whole embeddings call (default 2000); an answer after the\nbudget counts as a failure for its circuit",
         integer(
             1, kHourMs, [](GatewayConfig & c) -> auto & { return c.embeddings.timeoutMs; })},
        {"embeddings-ca-file", "FILE", "trust these PEM CA certificates for an https --embeddings",
         [](Context &x, const std::string &v) {
             x.c.embeddings.caFile = v; // loaded by finish(), when the endpoint is https
             return !v.empty() || x.invalid(v, "a file name");
         }},
        {"embeddings-api-key-file", "FILE",
         "key sent to the embeddings endpoint (else the key itself in\nL0L3_EMBEDDINGS_API_KEY; none: no key)",
         [](Context &x, const std::string &v) {
             auto key = readTrimmed(v);
             if (!key)
                 return x.fail("cannot read --embeddings-api-key-file '" + v + "'");
             x.c.embeddingsApiKey = std::move(*key);
             return true;
         }},
        {"", "", "Limits and security"},
        {"rate-limit", "R",
         "requests/s per API key, or per client address without one (default off);\n"
         "a token not checked against --api-keys-file is also charged to its\n"
         "address (IPv6: its /64)",
         real(0, 1e9, &GatewayConfig::rateLimit)},
        {"rate-burst", "B", "token bucket size (default max(1, R))", real(1, 1e9, &GatewayConfig::rateBurst)},
        {"rate-limit-clients", "N", "clients tracked at once, fixed memory (default 65536)",
         integer(64, 1LL << 26, &GatewayConfig::rateLimitClients)},
        {"max-header-bytes", "N",
         "larger request headers (or trailers) get 431 (default 16384;\nat most 65535, larger values are clamped)",
         [parse = integer(512, 1LL << 24, &GatewayConfig::maxHeaderBytes)](Context &x, const std::string &v) {
             if (!parse(x, v))
                 return false;
             // Beast keeps a header field's size in 16 bits (HttpServer::kMaxHeaderBytes).
             x.c.maxHeaderBytes = std::min<std::size_t>(x.c.maxHeaderBytes, 65535);
             return true;
         }},
        {"max-messages", "N", "more messages get 400 too_many_messages (default 512)",
         integer(1, 1LL << 24, &GatewayConfig::maxMessages)},
        {"max-prompt-chars", "N", "longer message text gets 400 prompt_too_long (default 262144)",
         integer(1, 1LL << 34, &GatewayConfig::maxPromptChars)},
        {"idle-timeout-ms", "N", "close keep-alive connections idle this long (default 75000)",
         integer(1, kDayMs, &GatewayConfig::idleTimeoutMs)},
        {"read-timeout-ms", "N", "close connections that take longer to send a request (default 10000)",
         integer(1, kDayMs, &GatewayConfig::readTimeoutMs)},
        {"max-connections", "N",
         "beyond this, new connections get 503 and are closed (default 10000;\n"
         "lowered to fit the open-file limit, which is raised to its hard\n"
         "limit at start). Health checks and scrapes are exempt: beyond\n"
         "the cap a few more connections may each send one GET /healthz,\n"
         "/readyz or /metrics within a second; anything else gets the 503",
         integer(1, 1LL << 24, &GatewayConfig::maxConnections)},
        {"max-connections-per-client", "N",
         "open connections per client address (IPv6: per /64), beyond\nit 503 (default 256)",
         integer(1, 1LL << 24, &GatewayConfig::maxConnectionsPerClient)},
        {"first-request-timeout-ms", "N",
         "close a new connection that has not sent a whole request head\nby then (default 5000)",
         integer(1, kDayMs, &GatewayConfig::firstRequestTimeoutMs)},
        {"max-buffered-bytes", "N",
         "bytes of requests being received, all connections together;\n"
         "over it, a connection holding more than a head gets 503 and is\n"
         "closed (default 268435456). A request (head, body with its chunk\n"
         "framing, trailer) is at most 2 x (max-header-bytes +\n"
         "max-body-bytes), else 413",
         integer(1LL << 16, 1LL << 40, &GatewayConfig::maxBufferedBytes)},
        {"api-keys-file", "FILE",
         "lines 'sha256hex namespace': require one of these keys as\n"
         "'Authorization: Bearer KEY'; the namespace comes from the file\n"
         "(x-l0l3-namespace is ignored)",
         [](Context &x, const std::string &v) {
             std::string why;
             auto keys = ApiKeyStore::load(v, &why);
             if (!keys)
                 return x.fail(why);
             x.c.apiKeysFile = v;
             x.c.apiKeys = std::make_shared<const ApiKeyStore>(std::move(*keys));
             return true;
         }},
        {"allow-anonymous", "",
         "serve a non-loopback --listen without --api-keys-file (refused\n"
         "otherwise: clients could name any tenant's namespace)",
         boolean(&GatewayConfig::allowAnonymous)},
        {"check-config", "",
         "check the options and the files they name, print the result and\n"
         "exit (0: valid, 2: not) without connecting to anything",
         boolean(&GatewayConfig::checkConfig), Option::ArgvOnly},
        {"help", "", "show this text and exit", nullptr, Option::ArgvOnly, nullptr, GatewayConfig::Action::Help},
        {"version", "", "show the version and exit", nullptr, Option::ArgvOnly, nullptr,
         GatewayConfig::Action::Version},
    };
    return table;
}

const Option *findOption(std::string_view name)
{
    if (name.empty())
        return nullptr; // headings are not options
    for (const Option &o : options())
        if (o.name == name)
            return &o;
    return nullptr;
}

// What needs several options, after every row has run.
bool finish(Context &x)
{
    GatewayConfig &c = x.c;
    const char *envPassword = x.env("L0L3_REDIS_PASSWORD");
    auto fillPassword = [&](RedisUrl &url) {
        if (!url.password.empty())
            return;
        if (x.redisPassword)
            url.password = *x.redisPassword;
        else if (!url.user.empty() && envPassword && *envPassword)
            url.password = envPassword;
    };
    fillPassword(c.replica);
    fillPassword(c.primary);
    if (c.fallbackReplica)
        fillPassword(*c.fallbackReplica);

    if (!c.sentinels.empty()) {
        std::optional<std::string> sentinelPassword;
        if (x.sentinelPasswordFile) {
            sentinelPassword = readTrimmed(*x.sentinelPasswordFile);
            if (!sentinelPassword)
                return x.fail("cannot read --sentinel-password-file '" + *x.sentinelPasswordFile + "'");
        } else if (const char *e = x.env("L0L3_SENTINEL_AUTH_PASSWORD"); e && *e) {
            sentinelPassword = trim(e);
        }
        for (RedisUrl &url : c.sentinels) {
            if (url.user.empty() && x.sentinelUser)
                url.user = *x.sentinelUser;
            if (url.password.empty() && sentinelPassword)
                url.password = *sentinelPassword;
            if (url.password.empty() && !c.allowAnonymousSentinel)
                return x.fail(
                    "Sentinel " + url.redacted()
                    + " has no password: give --sentinel-user and "
                      "--sentinel-password-file (or L0L3_SENTINEL_AUTH_PASSWORD), or --allow-anonymous-sentinel");
        }
    }

    // The secondary upstream differs in where it is only: timeouts and limits are the upstream's.
    if (!c.secondaryUpstreamUrl.empty()) {
        c.secondaryUpstream = c.upstream;
        // Its trust is its own: often another provider.
        c.secondaryUpstream.caFile = x.secondaryCaFile.value_or(std::string());
        std::string why;
        if (!UpstreamClient::parseBaseUrl(c.secondaryUpstreamUrl, &c.secondaryUpstream, &why))
            return x.fail("--secondary-upstream: " + why);
    } else if (x.secondaryCaFile) {
        return x.fail("--secondary-upstream-ca-file needs --secondary-upstream");
    } else {
        c.secondaryUpstream.timeoutMs = c.upstream.timeoutMs;
        c.secondaryUpstream.connectTimeoutMs = c.upstream.connectTimeoutMs;
    }
    if (!c.embeddingsUrl.empty()) {
        std::string why;
        if (!UpstreamClient::parseBaseUrl(c.embeddingsUrl, &c.embeddings, &why))
            return x.fail("--embeddings: " + why);
        if (c.embeddingsModel.empty())
            return x.fail("--embeddings needs --embeddings-model");
        c.embeddings.endpoint = "/embeddings";
        c.embeddings.maxResponseBytes = 1u << 20; // one vector of at most 2048 numbers
        if (c.embeddingsApiKey.empty())
            if (const char *e = x.env("L0L3_EMBEDDINGS_API_KEY"); e && *e)
                c.embeddingsApiKey = trim(e);
    } else if (!c.embeddingsModel.empty()) {
        return x.fail("--embeddings-model needs --embeddings");
    }
    // TLS contexts are built once here and shared by every thread; a file that cannot be used stops the start.
    for (auto [u, option] : {std::pair{&c.upstream, "upstream"}, std::pair{&c.secondaryUpstream, "secondary-upstream"},
                             std::pair{&c.embeddings, "embeddings"}}) {
        if (!u->tls) {
            if (!u->caFile.empty())
                return x.fail(std::string("--") + option + "-ca-file is for an https:// --" + option);
            continue;
        }
        std::string why;
        u->tlsContext = TlsContext::client(u->caFile, &why);
        if (!u->tlsContext)
            return x.fail(std::string("--") + option + ": " + why);
    }
    bool redisTls = c.replica.tls || c.primary.tls || (c.fallbackReplica && c.fallbackReplica->tls);
    for (const RedisUrl &url : c.sentinels)
        redisTls = redisTls || url.tls;
    if (!redisTls) {
        if (!c.redisCaFile.empty() || !c.redisCertFile.empty() || !c.redisKeyFile.empty())
            return x.fail("--redis-ca-file, --redis-cert-file and --redis-key-file are for rediss:// links");
    } else {
        if (c.redisCertFile.empty() != c.redisKeyFile.empty())
            return x.fail(c.redisCertFile.empty() ? "--redis-key-file needs --redis-cert-file"
                                                  : "--redis-cert-file needs --redis-key-file");
        std::string why;
        c.redisTls = TlsContext::client(c.redisCaFile, c.redisCertFile, c.redisKeyFile, &why);
        if (!c.redisTls)
            return x.fail("rediss://: " + why);
    }
    if (c.tlsCertFile.empty() != c.tlsKeyFile.empty())
        return x.fail(c.tlsCertFile.empty() ? "--tls-key needs --tls-cert (HTTPS needs both; neither: HTTP)"
                                            : "--tls-cert needs --tls-key (HTTPS needs both; neither: HTTP)");
    if (!c.tlsCertFile.empty()) {
        std::string why;
        c.listenTls = TlsContext::server(c.tlsCertFile, c.tlsKeyFile, &why);
        if (!c.listenTls)
            return x.fail(why);
    }
    if (!x.upstreamKeyFromFile) {
        if (const char *e = x.env("L0L3_UPSTREAM_API_KEY"); e && *e)
            c.upstreamApiKey = trim(e);
    }
    if (c.rateBurst <= 0)
        c.rateBurst = std::max(1.0, c.rateLimit);

    // Without keys every client picks its tenant (x-l0l3-namespace) and spends the upstream's key.
    if (!c.apiKeys && !c.allowAnonymous && !isLoopbackHost(c.listenHost))
        return x.fail("--listen " + c.listenHost
                      + " is reachable from other hosts but no --api-keys-file is given: "
                        "any client could read every tenant's answers and use the upstream at your expense; "
                        "give --api-keys-file, or --allow-anonymous to serve anonymous clients anyway");
    return true;
}

// Where the help text starts in the usage; a longer "  --NAME ARG" puts its help on the next line.
constexpr std::size_t kHelpColumn = 37;

} // namespace

int GatewayConfig::defaultThreads()
{
    const unsigned hc = std::thread::hardware_concurrency();
    return static_cast<int>(std::clamp(hc == 0 ? 1u : hc, 1u, 4u));
}

std::vector<std::string> GatewayConfig::optionNames()
{
    std::vector<std::string> names;
    for (const Option &o : options())
        if (!o.name.empty())
            names.emplace_back(o.name);
    return names;
}

std::string GatewayConfig::usage()
{
    std::string synopsis = "Usage: l0l3-gateway";
    std::size_t lineStart = 0;
    for (const Option &o : options()) {
        if (!(o.flags & Option::Required))
            continue;
        const std::string word = " --" + std::string(o.name) + " " + std::string(o.arg);
        if (synopsis.size() - lineStart + word.size() > 80) {
            synopsis += "\n";
            lineStart = synopsis.size();
            synopsis += std::string(19, ' ');
        }
        synopsis += word;
    }
    std::string out = synopsis
        + " [options]\n"
          "\n"
          "L0L3 edge gateway: serves human-approved answers (L0.5 hot cache, L0 local replica),\n"
          "forwards misses to the upstream LLM and proposes them to the operator. It never\n"
          "writes an upstream answer to the cache.\n"
          "\n";
    for (const Option &o : options()) {
        if (o.name.empty()) {
            out += "\n" + std::string(o.help) + ":\n";
            continue;
        }
        std::string line = "  --" + std::string(o.name);
        if (!o.arg.empty())
            line += " " + std::string(o.arg);
        std::vector<std::string> lines;
        for (std::string_view help = o.help;;) {
            const auto nl = help.find('\n');
            lines.emplace_back(help.substr(0, nl));
            if (nl == std::string_view::npos)
                break;
            help.remove_prefix(nl + 1);
        }
        if (o.env)
            lines.push_back("(env " + std::string(o.env) + ")");
        for (const std::string &text : lines) {
            if (line.size() + 1 > kHelpColumn) {
                out += line + "\n";
                line.clear();
            }
            line.resize(kHelpColumn, ' ');
            out += line + text + "\n";
            line.clear();
        }
    }
    out += "\n"
           "L0L3_REDIS_PASSWORD is used for Redis URLs with a user and no password.\n";
    return out;
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
        const auto eq = arg.find('=');
        const std::string name(arg.substr(0, eq));
        std::optional<std::string> value;
        if (eq != std::string_view::npos)
            value = std::string(arg.substr(eq + 1));
        const Option *option = findOption(name);
        if (!option)
            return fail("unknown option --" + name + " (see --help)");
        if (option->action != Action::Run)
            return option->action;
        if (!value) {
            if (option->arg.empty())
                value = "true";
            else if (i + 1 >= argc)
                return fail("option --" + name + " needs a value (" + std::string(option->arg) + ")");
            else
                value = argv[++i];
        }
        flags[name] = *value;
    }

    std::map<std::string, std::string, std::less<>> given; // the config file's lines, then the flags over them
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
            const Option *option = findOption(key);
            if (!option || (option->flags & Option::ArgvOnly))
                return fail(it->second + ":" + std::to_string(lineNo) + ": unknown option '" + key + "'"
                            + (option ? " (command line only)" : ""));
            given[key] = std::move(value);
        }
    }
    for (const auto &[name, value] : flags)
        given[name] = value;

    Context x{env};
    x.c.threads = defaultThreads();
    for (const Option &o : options()) {
        if (o.name.empty() || !o.apply)
            continue;
        x.name = std::string(o.name);
        x.fromArgv = flags.count(o.name) != 0;
        std::optional<std::string> value;
        if (auto it = given.find(o.name); it != given.end())
            value = it->second;
        else if (const char *e = o.env ? env(o.env) : nullptr; e && *e)
            value = std::string(e);
        if (!value) {
            if (o.flags & Option::Required)
                return fail("missing --" + x.name + " " + std::string(o.arg)
                            + (o.env ? " (or " + std::string(o.env) + ")" : std::string()));
            continue;
        }
        if (!o.apply(x, *value))
            return fail(std::move(x.error));
    }
    if (!finish(x))
        return fail(std::move(x.error));
    *out = std::move(x.c);
    return Action::Run;
}

} // namespace l0l3
