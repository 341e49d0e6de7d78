#include "core/gateway/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <unistd.h>

namespace l0l3 {

void Log::info(std::string_view message) { write("INFO", message); }
void Log::warn(std::string_view message) { write("WARN", message); }
void Log::error(std::string_view message) { write("ERROR", message); }

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
    line.reserve(64 + message.size());
    line.append(stamp);
    line.append(level);
    line.push_back(' ');
    for (char c : message)
        line.push_back(c == '\n' || c == '\r' ? ' ' : c); // keep one event on one line
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
