#pragma once

#include <QString>

#include <optional>

class QCommandLineParser;

namespace l0l3 {

// What the command-line tools of app/ (l0l3-demo, l0l3-load) share about
// their arguments: --help and --version, and how a usage error is reported.
class ToolCommandLine
{
public:
    // Adds --help and --version to parser, parses the application's
    // arguments and handles those two (they exit). nullopt: go on; otherwise
    // the exit code after a usage error was printed.
    static std::optional<int> parse(QCommandLineParser &parser);
    // Prints "<application>: message (see --help)" to stderr; returns 2.
    static int usageError(const QString &message);
};

} // namespace l0l3
