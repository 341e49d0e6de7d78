// l0l3_bench_console: the console benchmark (see consolebench.h).
//   l0l3_bench_console [--smoke] [--proposals N] [--runs N] [--ticks N] [--gateways N] [--regions N]
//                      [--decisions N] [--decisions-only]
// Progress on stderr, a markdown section on stdout. Exit 1 when something did
// not work (never because a target was missed).
#include <QApplication>
#include <QCommandLineParser>

#include <cstdio>

#include "bench/console/consolebench.h"
#include "bench/console/decisionbench.h"

int main(int argc, char **argv)
{
    if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("l0l3_bench_console"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Console benchmark: queue load time and UI-thread stalls."));
    parser.addHelpOption();
    const QCommandLineOption smoke(QStringLiteral("smoke"),
                                   QStringLiteral("5k proposals, 1 run, 3 ticks; no speed verdict."));
    const QCommandLineOption proposals(QStringLiteral("proposals"), QStringLiteral("Proposals to load."),
                                       QStringLiteral("n"));
    const QCommandLineOption runs(QStringLiteral("runs"), QStringLiteral("Timed loads (median)."), QStringLiteral("n"));
    const QCommandLineOption ticks(QStringLiteral("ticks"), QStringLiteral("Dashboard ticks (1 s each)."),
                                   QStringLiteral("n"));
    const QCommandLineOption gateways(QStringLiteral("gateways"), QStringLiteral("Synthetic gateways."),
                                      QStringLiteral("n"));
    const QCommandLineOption regions(QStringLiteral("regions"), QStringLiteral("Regions they are spread over."),
                                     QStringLiteral("n"));
    const QCommandLineOption decisions(QStringLiteral("decisions"),
                                       QStringLiteral("Keyboard decisions at a queue of --proposals."),
                                       QStringLiteral("n"));
    const QCommandLineOption decisionsOnly(QStringLiteral("decisions-only"),
                                           QStringLiteral("Only the keyboard decisions (no loads, no dashboard)."));
    parser.addOptions({smoke, proposals, runs, ticks, gateways, regions, decisions, decisionsOnly});
    parser.process(app);

    l0l3::ConsoleBench::Options options;
    l0l3::DecisionBench::Options decide;
    if (parser.isSet(smoke)) {
        options.smoke = true;
        options.proposals = 5000;
        options.runs = 1;
        options.ticks = 3;
        options.idleSeconds = 0.3;
        decide.smoke = true;
        decide.decisions = 20;
    }
    auto intOption = [&](const QCommandLineOption &o, int &into, int min) {
        if (!parser.isSet(o))
            return true;
        bool ok = false;
        const int v = parser.value(o).toInt(&ok);
        if (!ok || v < min) {
            std::fprintf(stderr, "l0l3_bench_console: --%s needs a number >= %d\n", qPrintable(o.names().first()), min);
            return false;
        }
        into = v;
        return true;
    };
    if (!intOption(proposals, options.proposals, 1) || !intOption(runs, options.runs, 1)
        || !intOption(ticks, options.ticks, 2) || !intOption(gateways, options.gateways, 1)
        || !intOption(regions, options.regions, 1) || !intOption(decisions, decide.decisions, 1))
        return 2;
    decide.queue = options.proposals;

    l0l3::ConsoleBench bench(options);
    if (!parser.isSet(decisionsOnly)) {
        if (!bench.runLoad() || !bench.runDashboard()) {
            std::fprintf(stderr, "l0l3_bench_console: FAILED: %s\n", qPrintable(bench.error()));
            return 1;
        }
    }
    l0l3::DecisionBench decisionBench(decide);
    if (!decisionBench.run()) {
        std::fprintf(stderr, "l0l3_bench_console: FAILED: %s\n", qPrintable(decisionBench.error()));
        return 1;
    }
    if (!parser.isSet(decisionsOnly))
        std::fputs(qPrintable(bench.markdown()), stdout);
    std::fputs(qPrintable(QStringLiteral("\n") + decisionBench.markdown()), stdout);
    return 0;
}
