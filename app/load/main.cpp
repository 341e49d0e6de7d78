// l0l3-load: replays the demo dataset against one or more gateways and prints
// a summary. The generator itself lives in core/localstack (the console runs it too).
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QTextStream>
#include <QTimer>

#include <csignal>

#include "core/localstack/dataset.h"
#include "core/localstack/toolcommandline.h"
#include "core/localstack/trafficgenerator.h"
#include "core/localstack/unixsignalnotifier.h"

using namespace l0l3;

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("l0l3-load"));
    QCoreApplication::setApplicationVersion(QStringLiteral(L0L3_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Open-loop traffic generator: Zipf-popular intents and paraphrases from a dataset, "
                       "POSTed as OpenAI chat requests to L0L3 gateways."));
    const QCommandLineOption target(QStringLiteral("target"), QStringLiteral("Gateway base URLs, comma separated."),
                                    QStringLiteral("URL[,URL...]"));
    const QCommandLineOption rate(QStringLiteral("rate"), QStringLiteral("Arrivals per second, across all targets."),
                                  QStringLiteral("R"));
    const QCommandLineOption duration(QStringLiteral("duration"),
                                      QStringLiteral("Seconds of traffic; 0 runs until SIGINT/SIGTERM."),
                                      QStringLiteral("S"));
    const QCommandLineOption dataset(
        QStringLiteral("dataset"),
        QStringLiteral("Dataset JSON (resources/demo/dataset.json); \":builtin\" for the embedded copy."),
        QStringLiteral("FILE"));
    const QCommandLineOption regions(QStringLiteral("region-of-target"),
                                     QStringLiteral(
                                         "Region of each target, comma separated, for the per-region intent mix."),
                                     QStringLiteral("nyc,tokyo,eu"));
    const QCommandLineOption concurrency(QStringLiteral("concurrency"),
                                         QStringLiteral(
                                             "Most requests in flight; later arrivals are dropped (default 64)."),
                                         QStringLiteral("N"), QStringLiteral("64"));
    const QCommandLineOption seed(QStringLiteral("seed"), QStringLiteral("Random seed (default 1)."),
                                  QStringLiteral("N"), QStringLiteral("1"));
    const QCommandLineOption stream(QStringLiteral("stream-fraction"),
                                    QStringLiteral("Share of requests with stream=true (default 0)."),
                                    QStringLiteral("F"), QStringLiteral("0"));
    const QCommandLineOption apiKey(QStringLiteral("api-key"), QStringLiteral("Sent as Authorization: Bearer K."),
                                    QStringLiteral("K"));
    const QCommandLineOption quiet(QStringLiteral("quiet"),
                                   QStringLiteral("No progress line every 5 s, only the summary."));
    parser.addOptions({target, rate, duration, dataset, regions, concurrency, seed, stream, apiKey, quiet});

    if (const auto exitCode = ToolCommandLine::parse(parser))
        return *exitCode;
    if (!parser.positionalArguments().isEmpty())
        return ToolCommandLine::usageError(
            QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().constFirst()));
    for (const QCommandLineOption *required : {&target, &rate, &duration, &dataset})
        if (!parser.isSet(*required))
            return ToolCommandLine::usageError(QStringLiteral("--%1 is required").arg(required->names().constFirst()));

    TrafficOptions options;
    const QStringList urls = parser.value(target).split(QLatin1Char(','), Qt::SkipEmptyParts);
    const QStringList regionNames = parser.value(regions).split(QLatin1Char(','), Qt::SkipEmptyParts);
    if (urls.isEmpty())
        return ToolCommandLine::usageError(QStringLiteral("--target needs at least one URL"));
    if (parser.isSet(regions) && regionNames.size() != urls.size())
        return ToolCommandLine::usageError(
            QStringLiteral("--region-of-target has %1 names for %2 targets").arg(regionNames.size()).arg(urls.size()));
    for (qsizetype i = 0; i < urls.size(); ++i) {
        const QUrl url(urls.at(i).trimmed(), QUrl::StrictMode);
        if (!url.isValid() || (url.scheme() != QLatin1String("http") && url.scheme() != QLatin1String("https"))
            || url.host().isEmpty())
            return ToolCommandLine::usageError(QStringLiteral("--target '%1' is not an http(s) URL").arg(urls.at(i)));
        options.targets.append({url, regionNames.value(i).trimmed()});
    }

    bool ok = false;
    options.rate = parser.value(rate).toDouble(&ok);
    if (!ok || !(options.rate > 0) || options.rate > 100000)
        return ToolCommandLine::usageError(QStringLiteral("--rate must be a number in (0, 100000]"));
    options.durationSeconds = parser.value(duration).toDouble(&ok);
    if (!ok || options.durationSeconds < 0)
        return ToolCommandLine::usageError(QStringLiteral("--duration must be a number of seconds >= 0"));
    options.concurrency = parser.value(concurrency).toInt(&ok);
    if (!ok || options.concurrency < 1 || options.concurrency > 10000)
        return ToolCommandLine::usageError(QStringLiteral("--concurrency must be an integer in [1, 10000]"));
    options.seed = parser.value(seed).toULongLong(&ok);
    if (!ok)
        return ToolCommandLine::usageError(QStringLiteral("--seed must be a non-negative integer"));
    options.streamFraction = parser.value(stream).toDouble(&ok);
    if (!ok || options.streamFraction < 0 || options.streamFraction > 1)
        return ToolCommandLine::usageError(QStringLiteral("--stream-fraction must be a number in [0, 1]"));
    options.apiKey = parser.value(apiKey);

    QString datasetPath = parser.value(dataset);
    if (datasetPath == QLatin1String(":builtin"))
        datasetPath = Dataset::builtinPath();
    QString error;
    auto loaded = Dataset::load(datasetPath, &error);
    if (!loaded)
        return ToolCommandLine::usageError(error);

    TrafficGenerator generator(std::move(*loaded), options);
    UnixSignalNotifier signalNotifier({SIGINT, SIGTERM});
    QObject::connect(&signalNotifier, &UnixSignalNotifier::received, &generator, &TrafficGenerator::stop);
    QObject::connect(&generator, &TrafficGenerator::finished, &app, &QCoreApplication::quit);

    QTimer progress;
    if (!parser.isSet(quiet)) {
        QObject::connect(&progress, &QTimer::timeout, &generator, [&generator] {
            const TrafficSummary s = generator.summary();
            QTextStream(stderr) << QStringLiteral("l0l3-load: %1 s sent=%2 ok=%3 errors=%4 hit_rate=%5\n")
                                       .arg(s.elapsedSeconds, 0, 'f', 0)
                                       .arg(s.sent)
                                       .arg(s.ok)
                                       .arg(s.errors)
                                       .arg(s.hitRate(), 0, 'f', 3);
        });
        progress.start(5000);
    }

    generator.start();
    app.exec();
    QTextStream(stdout) << generator.summary().toText();
    return 0;
}
