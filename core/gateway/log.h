#pragma once

#include <string_view>

namespace l0l3 {

// One line per event on stderr: "2024-01-01T12:00:00.123Z LEVEL message".
// The line is assembled first and written with one write(2) so concurrent
// threads never interleave within a line. Never pass secrets here.
class Log
{
public:
    static void info(std::string_view message);
    static void warn(std::string_view message);
    static void error(std::string_view message);

private:
    static void write(std::string_view level, std::string_view message);
};

} // namespace l0l3
