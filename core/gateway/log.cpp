#include "core/gateway/log.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

#include <unistd.h>

namespace l0l3 {

namespace {

void appendPrintable(std::string &out, std::string_view text, std::size_t maxBytes, bool escapeBackslash)
{
    static constexpr char kHex[] = "0123456789abcdef";
    const std::size_t n = std::min(text.size(), maxBytes);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && (c != '\\' || !escapeBackslash)) {
            out.push_back(static_cast<char>(c));
        } else {
            out.append("\\x");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    if (text.size() > maxBytes)
        out.append("...");
}

// The warnings of the current second, and those suppressed since the last one logged.
std::atomic<std::int64_t> g_warnSecond{0};
std::atomic<int> g_warnsThisSecond{0};
std::atomic<std::uint64_t> g_warnsSuppressed{0};

} // namespace

std::string Log::printable(std::string_view text, std::size_t maxBytes)
{
    std::string out;
    out.reserve(std::min(text.size(), maxBytes) + 8);
    appendPrintable(out, text, maxBytes, true);
    return out;
}

void Log::info(std::string_view message)
{
    write("INFO", message);
}
void Log::warn(std::string_view message)
{
    write("WARN", message);
}
void Log::error(std::string_view message)
{
    write("ERROR", message);
}

void Log::warnRateLimited(std::string_view message)
{
    const std::int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::int64_t seen = g_warnSecond.load(std::memory_order_relaxed);
    if (seen != second && g_warnSecond.compare_exchange_strong(seen, second, std::memory_order_relaxed))
        g_warnsThisSecond.store(0, std::memory_order_relaxed);
    if (g_warnsThisSecond.fetch_add(1, std::memory_order_relaxed) >= kWarningsPerSecond) {
        g_warnsSuppressed.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::uint64_t suppressed = g_warnsSuppressed.exchange(0, std::memory_order_relaxed);
    if (suppressed > 0)
        write("WARN",
              std::to_string(suppressed) + " warnings suppressed (more than " + std::to_string(kWarningsPerSecond)
                  + " per second)");
    write("WARN", message);
}

void Log::write(std::string_view level, std::string_view message)
{
    const auto now = std::chrono::system_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    std::string line;
    line.reserve(64 + std::min(message.size(), kMaxMessageBytes));
    line.append(stamp);
    line.append(level);
    line.push_back(' ');
    // One event on one line, nothing a terminal would act on. Messages are ASCII built by the
    // gateway around values that may come from clients, upstreams or Redis (those already through
    // printable(), whose backslashes are escaped: a backslash here is one of its escapes).
    appendPrintable(line, message, kMaxMessageBytes, false);
    line.push_back('\n');
    std::size_t off = 0;
    while (off < line.size()) {
        const ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
        if (n <= 0)
            break;
        off += static_cast<std::size_t>(n);
    }
}

} // namespace l0l3
