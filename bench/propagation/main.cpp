#include <QCommandLineParser>
#include <QCoreApplication>
#include <QTextStream>

#include <cstdio>

#include "bench/propagation/propagationbench.h"

// l0l3_bench_propagation [--approvals N] [--failover-runs R] [--smoke] [--bin-dir DIR]
int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Approval -> hit and revoke -> gone propagation times, and failover times, on the three-region demo stack."));
    parser.addHelpOption();
    const QCommandLineOption approvals(QStringLiteral("approvals"), QStringLiteral("Approvals to time (default 200)."),
                                       QStringLiteral("N"), QStringLiteral("200"));
    const QCommandLineOption runs(QStringLiteral("failover-runs"), QStringLiteral("Failover runs (default 3)."),
                                  QStringLiteral("R"), QStringLiteral("3"));
    const QCommandLineOption smoke(QStringLiteral("smoke"),
                                   QStringLiteral("A few iterations only, to prove the benchmark runs (CI)."));
    const QCommandLineOption binDir(QStringLiteral("bin-dir"),
                                    QStringLiteral("Where l0l3-gateway and l0l3-stub-llm are (default $L0L3_BIN_DIR, "
                                                   "then next to this program)."),
                                    QStringLiteral("DIR"));
    parser.addOptions({approvals, runs, smoke, binDir});
    parser.process(app);

    l0l3::PropagationBench::Options options;
    options.approvals = parser.value(approvals).toInt();
    options.failoverRuns = parser.value(runs).toInt();
    if (parser.isSet(smoke)) {
        options.approvals = 5;
        options.failoverRuns = 1;
    }
    options.binDir = parser.value(binDir);
    if (options.approvals < 1 || options.failoverRuns < 0) {
        std::fputs("--approvals must be >= 1 and --failover-runs >= 0\n", stderr);
        return 2;
    }
    QTextStream out(stdout);
    l0l3::PropagationBench bench(options, out);
    return bench.run();
}
