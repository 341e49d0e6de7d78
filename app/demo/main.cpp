// l0l3-demo: the three-region demo stack with a status line per second, until
// Ctrl+C or --quit-after. `l0l3-console --demo --headless` does the same
// inside the console; this stays as a dependency-free way to run the stack.
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QTextStream>
#include <QTimer>

#include "core/localstack/demoheadlessrunner.h"
#include "core/localstack/demostack.h"
#include "core/localstack/toolcommandline.h"
#include "core/localstack/unixsignalnotifier.h"

using namespace l0l3;

namespace {

void printTopology(const DemoTopology &t)
{
    QTextStream out(stdout);
    out << "primary " << t.primary.region << ' ' << t.host << ':' << t.primary.port << " pid=" << t.primary.pid << '\n';
    for (const DemoRegion &r : t.regions)
        out << "replica " << r.name << ' ' << t.host << ':' << r.replica.port << " pid=" << r.replica.pid << '\n';
    for (const DemoRedisNode &s : t.sentinels)
        out << "sentinel " << s.name << ' ' << t.host << ':' << s.port << " pid=" << s.pid << '\n';
    out << "upstream " << t.upstreamUrl.toString() << " pid=" << t.upstreamPid << '\n';
    for (const DemoRegion &r : t.regions)
        out << "gateway " << r.name << ' ' << r.gatewayUrl.toString() << " pid=" << r.gatewayPid << '\n';
    out << "data " << t.dataDir << '\n';
    out << "demo ready" << Qt::endl;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("l0l3-demo"));
    QCoreApplication::setApplicationVersion(QStringLiteral(L0L3_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Runs the local three-region L0L3 demo stack and prints its status every second."));
    const QCommandLineOption quitAfter(QStringLiteral("quit-after"),
                                       QStringLiteral("Stop after S seconds of traffic (default: until Ctrl+C)."),
                                       QStringLiteral("S"));
    const QCommandLineOption rate(QStringLiteral("rate"),
                                  QStringLiteral("Requests per second across regions (default 20)."),
                                  QStringLiteral("R"), QStringLiteral("20"));
    const QCommandLineOption noTraffic(QStringLiteral("no-traffic"),
                                       QStringLiteral("Start the stack without the traffic generator."));
    const QCommandLineOption dataset(QStringLiteral("dataset"),
                                     QStringLiteral("Dataset JSON instead of the built-in one."),
                                     QStringLiteral("FILE"));
    const QCommandLineOption quiet(QStringLiteral("quiet"), QStringLiteral("No per-second status line."));
    const QCommandLineOption tls(QStringLiteral("tls"),
                                 QStringLiteral("Every Redis link over TLS only, with a CA made for the run."));
    parser.addOptions({quitAfter, rate, noTraffic, dataset, quiet, tls});
    if (const auto exitCode = ToolCommandLine::parse(parser))
        return *exitCode;

    DemoOptions options;
    bool ok = true;
    options.trafficRate = parser.value(rate).toDouble(&ok);
    if (!ok || options.trafficRate < 0)
        return ToolCommandLine::usageError(QStringLiteral("--rate must be a number >= 0"));
    options.startTraffic = !parser.isSet(noTraffic) && options.trafficRate > 0;
    options.datasetPath = parser.value(dataset);
    options.tls = parser.isSet(tls);
    double quitSeconds = 0;
    if (parser.isSet(quitAfter)) {
        quitSeconds = parser.value(quitAfter).toDouble(&ok);
        if (!ok || !(quitSeconds > 0))
            return ToolCommandLine::usageError(QStringLiteral("--quit-after must be a number of seconds > 0"));
    }

    UnixSignalNotifier::quitOnTermination(&app);
    DemoStack stack(options);
    DemoHeadlessRunner runner(&stack);
    runner.setPrinting(!parser.isSet(quiet));
    int exitCode = 0;

    QObject::connect(&stack, &DemoStack::progress, &app, [](int i, int n, const QString &text) {
        QTextStream(stdout) << '[' << i << '/' << n << "] " << text << Qt::endl;
    });
    QObject::connect(&stack, &DemoStack::failed, &app, [&exitCode](const QString &error) {
        QTextStream(stderr) << "l0l3-demo: " << error << Qt::endl;
        exitCode = 1;
        QCoreApplication::quit();
    });
    QObject::connect(&stack, &DemoStack::processExited, &app, [](const QString &name, int code) {
        QTextStream(stderr) << "l0l3-demo: " << name << " exited with code " << code << Qt::endl;
    });
    QObject::connect(&stack, &DemoStack::ready, &app, [&] {
        printTopology(stack.topology());
        runner.start();
        if (quitSeconds > 0)
            QTimer::singleShot(int(quitSeconds * 1000), &app, &QCoreApplication::quit);
    });

    QTimer::singleShot(0, &stack, &DemoStack::start);
    app.exec();
    runner.stop();
    stack.stop();
    // A child that crashed or exited non-zero fails the run; stop() logged which and why.
    if (const qsizetype unclean = stack.uncleanExits().size()) {
        QTextStream(stderr) << "l0l3-demo: " << unclean << " process(es) of the stack did not exit cleanly" << Qt::endl;
        exitCode = 1;
    }
    return exitCode;
}
