// l0l3-openload: an open-loop, fixed-rate HTTP load generator for chat
// completion endpoints (a gateway or an upstream directly).
//
// Request i is due at start + i / rate, whatever happened to the others; its
// latency is measured from that intended start to the last byte of its
// response, so a server that stalls is charged for every request queued
// behind the stall (no coordinated omission). Due requests wait in one FIFO
// for a free keep-alive connection; that wait is part of their latency and
// the deepest the FIFO got is reported. One thread, epoll, plain HTTP/1.1
// with Content-Length responses. Prints one JSON object on stdout.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;
using Nanos = std::int64_t;

Nanos nowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Options
{
    std::string host = "127.0.0.1";
    int port = 0;
    std::string path = "/v1/chat/completions";
    double rate = 0;
    double duration = 0;
    int connections = 64;
    double hitFraction = 0; // share of requests reusing one of hotPrompts fixed prompts
    int hotPrompts = 16;
    double drain = 10; // seconds to wait for answers after the last scheduled request
    std::uint64_t seed = 1;
    std::string tag = "run"; // part of every distinct prompt, so two runs never share a key
    std::vector<std::string> headers;
};

struct Connection
{
    int fd = -1;
    bool busy = false;
    bool connecting = false;
    Nanos intended = 0; // of the request in flight
    std::string out;
    std::size_t outOffset = 0;
    std::string in;
};

struct Stats
{
    std::uint64_t scheduled = 0, sent = 0, completed = 0, ok = 0, non2xx = 0, transportErrors = 0;
    // What the transport errors were, and connections that failed with no request on them.
    std::uint64_t sendFailed = 0, closedInFlight = 0, badResponse = 0, connectFailed = 0;
    std::uint64_t cacheHit = 0, cacheMiss = 0, cacheOther = 0;
    std::size_t maxBacklog = 0;
    std::vector<Nanos> latencies; // of completed requests, any status
};

[[noreturn]] void usage(const char *why)
{
    if (why)
        std::fprintf(stderr, "l0l3-openload: %s\n", why);
    std::fputs("Usage: l0l3-openload --target http://HOST:PORT[/PATH] --rate R --duration S [--connections N]\n"
               "                     [--hit-fraction F] [--hot-prompts K] [--header 'Name: value']...\n"
               "                     [--drain S] [--seed N] [--tag T]\n"
               "Sends R requests/s for S seconds, each due at its own intended time; latency is measured from\n"
               "that time. Every request has a distinct prompt (a miss), except a share F that reuses one of K\n"
               "fixed prompts. Prints a JSON summary; exit 0 when it ran (errors are in the JSON).\n",
               why ? stderr : stdout);
    std::exit(why ? 2 : 0);
}

bool parseNumber(const char *s, double *out)
{
    char *end = nullptr;
    errno = 0;
    const double v = std::strtod(s, &end);
    if (errno || end == s || *end || !std::isfinite(v))
        return false;
    *out = v;
    return true;
}

Options parseArgs(int argc, char **argv)
{
    Options o;
    std::string target;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "-h" || a == "--help")
            usage(nullptr);
        if (i + 1 >= argc)
            usage(("missing value for " + std::string(a)).c_str());
        const char *v = argv[++i];
        double d = 0;
        if (a == "--target")
            target = v;
        else if (a == "--rate" && parseNumber(v, &d) && d > 0 && d <= 1e6)
            o.rate = d;
        else if (a == "--duration" && parseNumber(v, &d) && d > 0 && d <= 3600)
            o.duration = d;
        else if (a == "--connections" && parseNumber(v, &d) && d >= 1 && d <= 10000)
            o.connections = static_cast<int>(d);
        else if (a == "--hit-fraction" && parseNumber(v, &d) && d >= 0 && d <= 1)
            o.hitFraction = d;
        else if (a == "--hot-prompts" && parseNumber(v, &d) && d >= 1 && d <= 1e6)
            o.hotPrompts = static_cast<int>(d);
        else if (a == "--drain" && parseNumber(v, &d) && d >= 0 && d <= 600)
            o.drain = d;
        else if (a == "--seed" && parseNumber(v, &d) && d >= 0)
            o.seed = static_cast<std::uint64_t>(d);
        else if (a == "--tag" && *v && std::strlen(v) <= 64)
            o.tag = v;
        else if (a == "--header" && std::strchr(v, ':') && !std::strpbrk(v, "\r\n"))
            o.headers.emplace_back(v);
        else
            usage(("bad option or value: " + std::string(a) + " " + v).c_str());
    }
    if (o.rate <= 0 || o.duration <= 0 || target.empty())
        usage("--target, --rate and --duration are required");
    // http://HOST:PORT[/PATH], an IPv4 address only: this is a loopback benchmark tool.
    constexpr std::string_view scheme = "http://";
    if (target.rfind(scheme, 0) != 0)
        usage("--target must start with http://");
    std::string rest = target.substr(scheme.size());
    const auto slash = rest.find('/');
    if (slash != std::string::npos) {
        o.path = rest.substr(slash);
        rest.resize(slash);
    }
    const auto colon = rest.rfind(':');
    double port = 0;
    if (colon == std::string::npos || !parseNumber(rest.c_str() + colon + 1, &port) || port < 1 || port > 65535)
        usage("--target needs HOST:PORT");
    o.host = rest.substr(0, colon);
    o.port = static_cast<int>(port);
    in_addr probe{};
    if (inet_pton(AF_INET, o.host.c_str(), &probe) != 1)
        usage("--target host must be an IPv4 address");
    return o;
}

std::string jsonEscape(std::string_view s)
{
    std::string out;
    for (const char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20)
            continue;
        out += c;
    }
    return out;
}

class Generator
{
public:
    explicit Generator(Options o)
        : m_o(std::move(o))
        , m_rng(m_o.seed)
    {
        m_addr.sin_family = AF_INET;
        m_addr.sin_port = htons(static_cast<std::uint16_t>(m_o.port));
        inet_pton(AF_INET, m_o.host.c_str(), &m_addr.sin_addr);
        m_epoll = epoll_create1(EPOLL_CLOEXEC);
        m_conns.resize(static_cast<std::size_t>(m_o.connections));
        for (std::size_t i = 0; i < m_conns.size(); ++i)
            open(i);
        m_total = static_cast<std::uint64_t>(std::llround(m_o.rate * m_o.duration));
        m_stats.latencies.reserve(m_total);
    }

    void run()
    {
        const Nanos interval = static_cast<Nanos>(1e9 / m_o.rate);
        m_start = nowNs();
        const Nanos lastDue = m_start + static_cast<Nanos>(m_total ? (m_total - 1) : 0) * interval;
        const Nanos deadline = lastDue + static_cast<Nanos>(m_o.drain * 1e9);
        std::vector<epoll_event> events(256);
        for (;;) {
            const Nanos now = nowNs();
            while (m_stats.scheduled < m_total && m_start + static_cast<Nanos>(m_stats.scheduled) * interval <= now) {
                m_backlog.push_back(m_start + static_cast<Nanos>(m_stats.scheduled) * interval);
                ++m_stats.scheduled;
            }
            m_stats.maxBacklog = std::max(m_stats.maxBacklog, m_backlog.size());
            dispatch();
            if (m_stats.scheduled == m_total && m_backlog.empty() && inFlight() == 0)
                break;
            if (now >= deadline)
                break;
            Nanos wake = deadline;
            if (m_stats.scheduled < m_total)
                wake = std::min(wake, m_start + static_cast<Nanos>(m_stats.scheduled) * interval);
            timespec ts{};
            const Nanos wait = std::max<Nanos>(0, wake - nowNs());
            ts.tv_sec = static_cast<time_t>(wait / 1000000000);
            ts.tv_nsec = static_cast<long>(wait % 1000000000);
            const int n = epoll_pwait2(m_epoll, events.data(), static_cast<int>(events.size()), &ts, nullptr);
            for (int k = 0; k < n; ++k)
                onEvent(events[static_cast<std::size_t>(k)].data.u64, events[static_cast<std::size_t>(k)].events);
        }
        m_end = nowNs();
        m_unanswered = m_backlog.size() + inFlight();
        m_unscheduled = m_total - m_stats.scheduled;
    }

    void print() const
    {
        std::vector<Nanos> l = m_stats.latencies;
        std::sort(l.begin(), l.end());
        auto q = [&l](double p) -> double {
            if (l.empty())
                return 0;
            const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(l.size()))) - (p > 0 ? 1 : 0);
            return static_cast<double>(l[std::min(i, l.size() - 1)]) / 1e6;
        };
        double mean = 0;
        for (const Nanos v : l)
            mean += static_cast<double>(v);
        mean = l.empty() ? 0 : mean / static_cast<double>(l.size()) / 1e6;
        const double elapsed = static_cast<double>(m_end - m_start) / 1e9;
        const double window = std::max(m_o.duration, elapsed);
        const std::uint64_t errors = m_stats.non2xx + m_stats.transportErrors + m_unanswered + m_unscheduled;
        std::printf("{\"target\":\"http://%s:%d%s\",\"rate\":%.1f,\"duration_s\":%.3f,\"connections\":%d,"
                    "\"hit_fraction\":%.3f,\"scheduled\":%llu,\"sent\":%llu,\"completed\":%llu,\"ok\":%llu,"
                    "\"non_2xx\":%llu,\"transport_errors\":%llu,\"send_failed\":%llu,\"closed_in_flight\":%llu,"
                    "\"bad_response\":%llu,\"connect_failed\":%llu,\"unanswered\":%llu,\"errors\":%llu,"
                    "\"achieved_rate\":%.1f,\"elapsed_s\":%.3f,\"max_backlog\":%zu,"
                    "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},"
                    "\"x_l0l3_cache\":{\"hit\":%llu,\"miss\":%llu,\"other\":%llu}}\n",
                    jsonEscape(m_o.host).c_str(), m_o.port, jsonEscape(m_o.path).c_str(), m_o.rate, m_o.duration,
                    m_o.connections, m_o.hitFraction, ull(m_total), ull(m_stats.sent), ull(m_stats.completed),
                    ull(m_stats.ok), ull(m_stats.non2xx), ull(m_stats.transportErrors), ull(m_stats.sendFailed),
                    ull(m_stats.closedInFlight), ull(m_stats.badResponse), ull(m_stats.connectFailed),
                    ull(m_unanswered + m_unscheduled), ull(errors), static_cast<double>(m_stats.ok) / window, elapsed,
                    m_stats.maxBacklog, q(0.5), q(0.9), q(0.99), l.empty() ? 0.0 : static_cast<double>(l.back()) / 1e6,
                    mean, ull(m_stats.cacheHit), ull(m_stats.cacheMiss), ull(m_stats.cacheOther));
    }

private:
    static unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

    std::size_t inFlight() const
    {
        std::size_t n = 0;
        for (const auto &c : m_conns)
            n += c.busy ? 1 : 0;
        return n;
    }

    void open(std::size_t i)
    {
        Connection &c = m_conns[i];
        c = Connection{};
        c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        const int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c.fd, reinterpret_cast<const sockaddr *>(&m_addr), sizeof m_addr) != 0 && errno != EINPROGRESS) {
            close(c.fd);
            c.fd = -1;
            ++m_stats.connectFailed;
            return;
        }
        c.connecting = true;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
        ev.data.u64 = i;
        epoll_ctl(m_epoll, EPOLL_CTL_ADD, c.fd, &ev);
    }

    enum class Why { Connect, Send, Closed, BadResponse, Idle };
    void fail(std::size_t i, Why why)
    {
        Connection &c = m_conns[i];
        if (c.busy) {
            ++m_stats.transportErrors;
            ++(why == Why::Send              ? m_stats.sendFailed
                   : why == Why::BadResponse ? m_stats.badResponse
                                             : m_stats.closedInFlight);
        }
        if (why == Why::Connect)
            ++m_stats.connectFailed;
        if (c.fd >= 0)
            close(c.fd);
        c.fd = -1;
        c.busy = false;
        if (nowNs() < m_start + static_cast<Nanos>((m_o.duration + m_o.drain) * 1e9))
            open(i);
    }

    std::string prompt()
    {
        std::uniform_real_distribution<double> u(0, 1);
        if (m_o.hitFraction > 0 && u(m_rng) < m_o.hitFraction) {
            std::uniform_int_distribution<int> pick(0, m_o.hotPrompts - 1);
            return "Where is my order? Frequently asked question number " + std::to_string(pick(m_rng)) + ".";
        }
        return "Ticket " + m_o.tag + "-" + std::to_string(m_stats.sent)
            + ": my order has not arrived yet, what should I do?";
    }

    // Round robin over the connections, so that none stays unused: a server may close a
    // connection that has sent no request for a while (the gateway's first-request timeout),
    // and a request sent just then would fail.
    void dispatch()
    {
        const std::size_t start = m_next;
        for (std::size_t k = 0; k < m_conns.size() && !m_backlog.empty(); ++k) {
            const std::size_t i = (start + k) % m_conns.size();
            Connection &c = m_conns[i];
            if (c.fd < 0 || c.busy || c.connecting)
                continue;
            m_next = i + 1;
            const std::string body = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\""
                + prompt() + "\"}]}";
            c.out = "POST " + m_o.path + " HTTP/1.1\r\nHost: " + m_o.host + "\r\nContent-Type: application/json\r\n";
            for (const auto &h : m_o.headers)
                c.out += h + "\r\n";
            c.out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
            c.outOffset = 0;
            c.in.clear();
            c.busy = true;
            c.intended = m_backlog.front();
            m_backlog.pop_front();
            ++m_stats.sent;
            writeSome(i);
        }
    }

    void writeSome(std::size_t i)
    {
        Connection &c = m_conns[i];
        while (c.outOffset < c.out.size()) {
            const ssize_t n = send(c.fd, c.out.data() + c.outOffset, c.out.size() - c.outOffset, MSG_NOSIGNAL);
            if (n > 0) {
                c.outOffset += static_cast<std::size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return; // EPOLLOUT is registered: resumed by onEvent
            } else {
                fail(i, Why::Send);
                return;
            }
        }
    }

    void onEvent(std::uint64_t i, std::uint32_t events)
    {
        Connection &c = m_conns[i];
        if (c.fd < 0)
            return;
        if (c.connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                fail(i, Why::Connect);
                return;
            }
            c.connecting = false;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u64 = i;
            epoll_ctl(m_epoll, EPOLL_CTL_MOD, c.fd, &ev);
            dispatch();
            return;
        }
        if (c.busy && c.outOffset < c.out.size())
            writeSome(i);
        if (c.fd < 0 || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            return;
        char buf[16384];
        for (;;) {
            const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
            if (n > 0) {
                if (!c.busy || c.in.size() + static_cast<std::size_t>(n) > (8u << 20)) {
                    fail(i, Why::BadResponse); // bytes nobody asked for, or an answer too large for this tool
                    return;
                }
                c.in.append(buf, static_cast<std::size_t>(n));
                if (responseComplete(i))
                    return;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return;
            } else {
                fail(i, Why::Closed); // closed by the server (an answer in flight is a transport error)
                return;
            }
        }
    }

    // True when the connection's response was complete and handled (the connection may be new).
    bool responseComplete(std::size_t i)
    {
        Connection &c = m_conns[i];
        const auto headEnd = c.in.find("\r\n\r\n");
        if (headEnd == std::string::npos)
            return false;
        std::string head = c.in.substr(0, headEnd);
        for (char &ch : head)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const auto lengthAt = head.find("\r\ncontent-length:");
        if (head.rfind("http/1.1 ", 0) != 0 || head.size() < 12 || lengthAt == std::string::npos) {
            if (m_shownBad++ < 3)
                std::fprintf(stderr, "l0l3-openload: unexpected answer: %.300s\n", head.c_str());
            fail(i, Why::BadResponse); // not HTTP/1.1 with a Content-Length (chunked answers are not supported)
            return true;
        }
        const std::size_t length = std::strtoull(head.c_str() + lengthAt + 17, nullptr, 10);
        if (c.in.size() < headEnd + 4 + length)
            return false;
        const Nanos done = nowNs();
        const int status = std::atoi(head.c_str() + 9);
        m_stats.latencies.push_back(done - c.intended);
        ++m_stats.completed;
        if (status >= 200 && status < 300)
            ++m_stats.ok;
        else
            ++m_stats.non2xx;
        const auto cacheAt = head.find("\r\nx-l0l3-cache:");
        if (cacheAt == std::string::npos)
            ++m_stats.cacheOther;
        else if (head.compare(cacheAt + 15, 4, " hit") == 0)
            ++m_stats.cacheHit;
        else if (head.compare(cacheAt + 15, 5, " miss") == 0)
            ++m_stats.cacheMiss;
        else
            ++m_stats.cacheOther;
        const bool closing = head.find("\r\nconnection: close") != std::string::npos;
        c.busy = false;
        if (closing || c.in.size() != headEnd + 4 + length) {
            fail(i, Why::Idle); // the server closes, or sent more than one answer
        }
        dispatch();
        return true;
    }

    Options m_o;
    std::mt19937_64 m_rng;
    sockaddr_in m_addr{};
    int m_epoll = -1;
    std::vector<Connection> m_conns;
    std::deque<Nanos> m_backlog; // intended start times of due requests not yet sent
    std::uint64_t m_total = 0;
    Nanos m_start = 0, m_end = 0;
    std::uint64_t m_unanswered = 0, m_unscheduled = 0;
    Stats m_stats;
    int m_shownBad = 0;
    std::size_t m_next = 0; // where dispatch() starts looking for a free connection
};

} // namespace

int main(int argc, char **argv)
{
    Generator generator(parseArgs(argc, argv));
    generator.run();
    generator.print();
    return 0;
}
