#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace l0l3 {

// One line per event on stderr: "2024-01-01T12:00:00.123Z LEVEL message".
// The line is assembled first and written with one write(2) so concurrent
// threads never interleave within a line. Never pass secrets here. A line
// holds at most kMaxMessageBytes of the message, with control characters and
// bytes outside ASCII escaped as \xHH; values from clients, upstreams or Redis
// go through printable() first. Warnings a client can cause at will
// (one per bad request) go through warnRateLimited(): beyond
// kWarningsPerSecond in a second they are counted, and the count is logged
// with the next one let through; a flood of bad requests does not flood the log.
class Log
{
public:
    static constexpr std::size_t kMaxMessageBytes = 2048;
    static constexpr int kWarningsPerSecond = 20;

    static void info(std::string_view message);
    static void warn(std::string_view message);
    static void warnRateLimited(std::string_view message);
    static void error(std::string_view message);

    // Untrusted text made safe to echo in a log line or an error message: at most
    // maxBytes of it, then "..."; control characters, DEL, backslash and every byte
    // outside ASCII (C1 controls, invalid UTF-8) as \xHH.
    static std::string printable(std::string_view text, std::size_t maxBytes = 200);

private:
    static void write(std::string_view level, std::string_view message);
};

} // namespace l0l3
