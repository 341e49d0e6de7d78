#include "core/localstack/toolcommandline.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QTextStream>

namespace l0l3 {

std::optional<int> ToolCommandLine::parse(QCommandLineParser &parser)
{
    parser.addHelpOption();
    parser.addVersionOption();
    if (!parser.parse(QCoreApplication::arguments()))
        return usageError(parser.errorText());
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);
    if (parser.isSet(QStringLiteral("version")))
        parser.showVersion();
    return std::nullopt;
}

int ToolCommandLine::usageError(const QString &message)
{
    QTextStream(stderr) << QCoreApplication::applicationName() << ": " << message << " (see --help)\n";
    return 2;
}

} // namespace l0l3
