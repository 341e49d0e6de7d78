#include "bench/console/consolebench.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QTableView>
#include <QTextStream>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "bench/console/proposalseeder.h"
#include "bench/console/stallprobe.h"
#include "bench/console/syntheticgateways.h"
#include "core/control/metricssnapshot.h"
#include "tests/support/redisserver.h"
#include "ui/dashboard/dashboardpage.h"
#include "ui/proposals/proposalfiltermodel.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"
#include "ui/workers/monitorclient.h"
#include "ui/workers/monitorconfig.h"
#include "ui/workers/monitorworker.h"

namespace l0l3 {

namespace {

void note(const QString &line)
{
    std::fprintf(stderr, "consolebench: %s\n", qPrintable(line));
    std::fflush(stderr);
}

QString ms(double v)
{
    return QString::number(v, 'f', v < 10 ? 2 : 1);
}

} // namespace

ConsoleBench::ConsoleBench(const Options &options)
    : m_options(options)
{
}

bool ConsoleBench::fail(const QString &message)
{
    m_error = message;
    return false;
}

bool ConsoleBench::waitUntil(const std::function<bool()> &done, int timeoutMs)
{
    if (done())
        return true;
    QEventLoop loop;
    QElapsedTimer clock;
    clock.start();
    QTimer check;
    // The check runs on the same loop; what is timed is recorded by the
    // signal handlers themselves, so its period does not limit resolution.
    QObject::connect(&check, &QTimer::timeout, &loop, [&] {
        if (done() || clock.elapsed() > timeoutMs)
            loop.quit();
    });
    check.start(10);
    loop.exec();
    return done();
}

double ConsoleBench::median(QList<double> values)
{
    return percentile(std::move(values), 0.5);
}

double ConsoleBench::percentile(QList<double> values, double q)
{
    if (values.isEmpty())
        return 0;
    std::sort(values.begin(), values.end());
    const qsizetype rank = std::clamp<qsizetype>(qsizetype(std::ceil(q * double(values.size()))), 1, values.size());
    return values[rank - 1];
}

namespace {

// CPU time of this whole process (UI thread, control worker, probe) or of the
// calling thread, in ms.
double cpuMs(clockid_t clock)
{
    timespec ts{};
    clock_gettime(clock, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

} // namespace

bool ConsoleBench::runLoad()
{
    test::RedisServer server;
    test::RedisServer::Options redisOptions;
    redisOptions.acl = false; // the console gets a credential-less URL, as bench/http does
    QString why;
    if (!server.start(redisOptions, &why))
        return fail(QStringLiteral("redis-server did not start: %1").arg(why));
    note(QStringLiteral("redis-server on port %1").arg(server.port()));

    ControlClient client;
    ProposalsPage page(&client);
    page.resize(1280, 800);
    page.show();
    StallProbe probe;

    const int target = m_options.proposals;
    QElapsedTimer clock;
    double rowsAt = -1;
    double finishedAt = -1;
    int finishedCount = -1;
    QString failure;
    // All rows, in a proxy that keeps them sorted by savings (highest first);
    // whether they really are in that order is checked after each run.
    ProposalFilterModel *proxy = page.proxy();
    auto allRowsSorted = [&] {
        return page.model()->rowCount() >= target && proxy->rowCount() >= target && proxy->dynamicSortFilter()
            && proxy->sortColumn() == ProposalTableModel::Savings && proxy->sortOrder() == Qt::DescendingOrder;
    };
    auto checkRows = [&] {
        if (rowsAt < 0 && clock.isValid() && allRowsSorted())
            rowsAt = double(clock.nsecsElapsed()) / 1e6;
    };
    QObject::connect(proxy, &QAbstractItemModel::rowsInserted, &page, checkRows);
    QObject::connect(proxy, &QAbstractItemModel::layoutChanged, &page, checkRows);
    QObject::connect(proxy, &QAbstractItemModel::modelReset, &page, checkRows);
    ControlWorker *worker = client.worker();
    QObject::connect(worker, &ControlWorker::proposalsLoaded, &page, [&](int count, qint64) {
        finishedCount = count;
        if (clock.isValid())
            finishedAt = double(clock.nsecsElapsed()) / 1e6;
    });
    QObject::connect(worker, &ControlWorker::proposalsFailed, &page,
                     [&](const QString &message) { failure = message; });

    const auto options = RedisConnection::Options::fromUrl(server.url({}), &why);
    if (!options)
        return fail(why);
    // The first load (on connect) sees an empty stream; polling stays off so
    // only the timed reloads read the stream.
    client.setPollInterval(0);
    client.connectTo(*options, QStringLiteral("consolebench"));
    if (!waitUntil([&] { return finishedCount >= 0 || !failure.isEmpty(); }, 20000) || !failure.isEmpty())
        return fail(QStringLiteral("the console did not connect: %1")
                        .arg(failure.isEmpty() ? QStringLiteral("timeout") : failure));

    ProposalSeeder seeder(server.host(), server.port());
    QElapsedTimer seedClock;
    seedClock.start();
    if (!seeder.seed(0, target, &why))
        return fail(QStringLiteral("seeding failed: %1").arg(why));
    m_results.seedMs = double(seedClock.nsecsElapsed()) / 1e6;
    const qint64 length = seeder.streamLength(&why);
    note(QStringLiteral("seeded %1 proposals in %2 ms (XLEN %3)").arg(target).arg(ms(m_results.seedMs)).arg(length));
    if (length != target)
        return fail(QStringLiteral("XLEN is %1, expected %2").arg(length).arg(target));

    // Redis' own time by command, summed over the console's loads only (the reference loads
    // in between are not counted): INFO commandstats before and after each.
    QHash<QString, ProposalSeeder::CommandStat> loadStats;
    auto addStats = [&](const QList<ProposalSeeder::CommandStat> &stats, int sign) {
        for (const auto &stat : stats) {
            auto &sum = loadStats[stat.command];
            sum.command = stat.command;
            sum.calls += sign * stat.calls;
            sum.usec += sign * stat.usec;
        }
    };
    for (int run = 1; run <= 2 * m_options.runs; ++run) {
        const bool fresh = run <= m_options.runs;
        Results::LoadSeries &series = fresh ? m_results.fresh : m_results.pending;
        // As between an operator's reloads, the UI thread has had idle turns: the previous load's
        // rows, retired by its reload, are freed before the next one starts.
        waitUntil([&] { return !page.model()->hasRetired(); }, 10000);
        if (fresh && !seeder.destroyGroup(&why))
            return fail(QStringLiteral("XGROUP DESTROY failed: %1").arg(why));
        rowsAt = -1;
        finishedAt = -1;
        finishedCount = -1;
        if (fresh)
            addStats(seeder.commandStats(&why), -1);
        const double cpuBefore = seeder.cpuMs(&why);
        const double ownCpuBefore = cpuMs(CLOCK_PROCESS_CPUTIME_ID);
        const double uiCpuBefore = cpuMs(CLOCK_THREAD_CPUTIME_ID);
        probe.start();
        clock.start();
        client.reloadProposals();
        const bool done = waitUntil([&] { return (rowsAt >= 0 && finishedAt >= 0) || !failure.isEmpty(); },
                                    60000 + target / 10);
        probe.stop();
        series.consoleCpuMs.append(cpuMs(CLOCK_PROCESS_CPUTIME_ID) - ownCpuBefore);
        series.uiCpuMs.append(cpuMs(CLOCK_THREAD_CPUTIME_ID) - uiCpuBefore);
        const double cpuAfter = seeder.cpuMs(&why);
        if (cpuBefore >= 0 && cpuAfter >= 0)
            series.redisCpuMs.append(cpuAfter - cpuBefore);
        if (fresh)
            addStats(seeder.commandStats(&why), +1);
        if (!failure.isEmpty())
            return fail(QStringLiteral("load %1 failed: %2").arg(run).arg(failure));
        if (!done)
            return fail(QStringLiteral("load %1 timed out: %2 rows in the model, %3 in the proxy, loadFinished %4")
                            .arg(run)
                            .arg(page.model()->rowCount())
                            .arg(page.proxy()->rowCount())
                            .arg(finishedAt >= 0 ? QStringLiteral("arrived") : QStringLiteral("missing")));
        series.rowsMs.append(rowsAt);
        series.finishedMs.append(finishedAt);
        series.stallMaxMs.append(probe.maxMs());
        m_results.rowsLoaded = page.model()->rowCount();
        m_results.proxyRows = page.proxy()->rowCount();
        note(QStringLiteral(
                 "%10 load run %1: all %2 rows after %3 ms, loadFinished(%4) after %5 ms, longest UI stall %6 ms, "
                 "Redis CPU %7 ms, console CPU %8 ms (UI thread %9 ms)")
                 .arg(run)
                 .arg(m_results.rowsLoaded)
                 .arg(ms(rowsAt))
                 .arg(finishedCount)
                 .arg(ms(finishedAt))
                 .arg(ms(probe.maxMs()))
                 .arg(series.redisCpuMs.isEmpty() ? QStringLiteral("?") : ms(series.redisCpuMs.last()))
                 .arg(ms(series.consoleCpuMs.last()), ms(series.uiCpuMs.last()),
                      fresh ? QStringLiteral("fresh") : QStringLiteral("pending")));
        if (finishedCount != target || m_results.rowsLoaded != target || m_results.proxyRows != target)
            return fail(QStringLiteral("load %1: loadFinished(%2), model %3 rows, proxy %4 rows; expected %5")
                            .arg(run)
                            .arg(finishedCount)
                            .arg(m_results.rowsLoaded)
                            .arg(m_results.proxyRows)
                            .arg(target));
        for (int row = 1; row < proxy->rowCount(); ++row) {
            const double above =
                proxy->index(row - 1, ProposalTableModel::Savings).data(ProposalTableModel::SortRole).toDouble();
            const double below =
                proxy->index(row, ProposalTableModel::Savings).data(ProposalTableModel::SortRole).toDouble();
            if (above < below)
                return fail(QStringLiteral("load %1: proxy row %2 (savings %3) is above row %4 (savings %5)")
                                .arg(run)
                                .arg(row - 1)
                                .arg(above)
                                .arg(row)
                                .arg(below));
        }

        // The reference, right after (same phase of this machine): the same Redis work by a plain client.
        if (!fresh)
            continue;
        const double plainCpuBefore = seeder.cpuMs(&why);
        QElapsedTimer plainClock;
        plainClock.start();
        const qint64 plainRows = seeder.plainLoad(ControlWorker::kProposalPageSize, &why);
        const double plainMs = double(plainClock.nsecsElapsed()) / 1e6;
        if (plainRows != target)
            return fail(QStringLiteral("reference load %1 read %2 entries, expected %3: %4")
                            .arg(run)
                            .arg(plainRows)
                            .arg(target)
                            .arg(why));
        m_results.plainMs.append(plainMs);
        m_results.plainRedisCpuMs.append(seeder.cpuMs(&why) - plainCpuBefore);
        note(QStringLiteral("reference run %1: plain hiredis client, the same Redis work: %2 ms, Redis CPU %3 ms")
                 .arg(run)
                 .arg(ms(plainMs), ms(m_results.plainRedisCpuMs.last())));
    }
    // Where Redis' time went: the commands of the timed loads (INFO excepted).
    QList<ProposalSeeder::CommandStat> stats = loadStats.values();
    std::sort(stats.begin(), stats.end(), [](const auto &a, const auto &b) { return a.usec > b.usec; });
    qint64 totalUsec = 0;
    QStringList parts;
    for (const auto &stat : std::as_const(stats)) {
        if (stat.command == QLatin1String("INFO") || stat.calls <= 0)
            continue;
        totalUsec += stat.usec;
        parts.append(QStringLiteral("%1 %2 ms (%3 calls)")
                         .arg(stat.command, ms(double(stat.usec) / 1000.0 / m_options.runs))
                         .arg(stat.calls / m_options.runs));
    }
    m_results.redisPerLoad = QStringLiteral("%1 ms: %2")
                                 .arg(ms(double(totalUsec) / 1000.0 / m_options.runs),
                                      parts.join(QStringLiteral(", ")));
    note(QStringLiteral("Redis time per load: %1").arg(m_results.redisPerLoad));
    // The worker (and its Redis connection) goes before the server.
    return true;
}

bool ConsoleBench::runDashboard()
{
    SyntheticGateways fleet;
    if (!fleet.start(m_options.gateways, m_options.regions))
        return fail(QStringLiteral("the synthetic gateways could not listen"));

    StallProbe probe;

    // Reference in the same run: the probe with nothing else to do (before
    // the page exists, so its first paint is not counted as idle).
    probe.start();
    waitUntil([] { return false; }, int(m_options.idleSeconds * 1000));
    probe.stop();
    m_results.idleMaxMs = probe.maxMs();
    m_results.idleCpuInLongestMs = probe.cpuInLongestMs();
    m_results.idleP99Ms = probe.percentileMs(0.99);
    note(QStringLiteral("idle probe: max %1 ms (UI-thread CPU in it %2 ms), p99 %3 ms over %4 intervals")
             .arg(ms(m_results.idleMaxMs), ms(m_results.idleCpuInLongestMs), ms(m_results.idleP99Ms))
             .arg(probe.intervalsMs().size()));

    // Opening the page: its first paint, empty charts, before any tick.
    DashboardPage dashboard;
    dashboard.resize(1400, 900);
    probe.start();
    dashboard.show();
    waitUntil([] { return false; }, 300);
    probe.stop();
    m_results.showMaxMs = probe.maxMs();
    m_results.showCpuInLongestMs = probe.cpuInLongestMs();
    note(QStringLiteral("page shown: longest UI stall %1 ms (UI-thread CPU in it %2 ms)")
             .arg(ms(m_results.showMaxMs), ms(m_results.showCpuInLongestMs)));

    MonitorClient monitor;
    MetricsSnapshot last;
    QElapsedTimer clock;
    QList<double> tickAt; // ms since the probe started
    QObject::connect(monitor.worker(), &MonitorWorker::snapshotReady, &dashboard, [&](const MetricsSnapshot &snapshot) {
        // What MainWindow does with a tick, timed on its own; repaints
        // follow later in the loop and are caught by the probe.
        QElapsedTimer t;
        t.start();
        dashboard.addSnapshot(snapshot);
        m_results.handlerMs.append(double(t.nsecsElapsed()) / 1e6);
        tickAt.append(double(clock.nsecsElapsed()) / 1e6);
        last = snapshot;
    });
    MonitorConfig config;
    for (const SyntheticGateways::Gateway &g : fleet.gateways())
        config.gateways.append({g.region, g.baseUrl});

    clock.start();
    probe.start();
    monitor.configure(config);
    const int ticks = m_options.ticks;
    const bool done = waitUntil([&] { return dashboard.snapshotCount() >= ticks; }, ticks * 1000 + 20000);
    // Let the last tick's repaint happen inside the measured window.
    waitUntil([] { return false; }, 300);
    probe.stop();
    m_results.dashboardSeconds = double(clock.elapsed()) / 1000.0;
    if (!done)
        return fail(QStringLiteral("only %1 of %2 dashboard ticks in time").arg(dashboard.snapshotCount()).arg(ticks));

    m_results.ticks = dashboard.snapshotCount();
    m_results.stallMaxMs = probe.maxMs();
    m_results.stallCpuInLongestMs = probe.cpuInLongestMs();
    m_results.stallMaxCpuMs = probe.maxCpuMs();
    m_results.stallP99Ms = probe.percentileMs(0.99);
    m_results.stallsOver16 = probe.countAbove(16.0);
    m_results.probeSamples = int(probe.intervalsMs().size());
    m_results.regions = int(last.regions.size());
    m_results.gatewaysUp = 0;
    m_results.gatewaysTotal = 0;
    for (const RegionMetrics &r : std::as_const(last.regions)) {
        m_results.gatewaysUp += r.gatewaysUp;
        m_results.gatewaysTotal += r.gatewaysTotal;
    }
    m_results.scrapes = fleet.scrapes();
    for (qsizetype i = 0; i < probe.intervalsMs().size(); ++i) {
        const double gap = probe.intervalsMs()[i];
        if (gap <= 16.0)
            continue;
        const double end = probe.endsMs()[i];
        const QString cpu = QStringLiteral(" (UI-thread CPU in it %1 ms)").arg(ms(probe.cpuMs()[i]));
        qsizetype tick = 0;
        while (tick < tickAt.size() && tickAt[tick] <= end)
            ++tick;
        m_results.longStalls.append(
            tick == 0 ? QStringLiteral("%1 ms ending at %2 ms, before the first tick").arg(ms(gap), ms(end)) + cpu
                      : QStringLiteral("%1 ms ending at %2 ms, %3 ms after tick %4")
                            .arg(ms(gap), ms(end), ms(end - tickAt[tick - 1]))
                            .arg(tick)
                    + cpu);
    }
    for (const QString &l : std::as_const(m_results.longStalls))
        note(QStringLiteral("long UI stall: ") + l);
    note(QStringLiteral("dashboard: %1 ticks in %2 s, %3/%4 gateways up in %5 regions, %6 scrapes; UI stall max %7 ms, "
                        "p99 %8 ms, %9 intervals > 16 ms of %10; addSnapshot median %11 ms, max %12 ms")
             .arg(m_results.ticks)
             .arg(m_results.dashboardSeconds, 0, 'f', 1)
             .arg(m_results.gatewaysUp)
             .arg(m_results.gatewaysTotal)
             .arg(m_results.regions)
             .arg(m_results.scrapes)
             .arg(ms(m_results.stallMaxMs), ms(m_results.stallP99Ms))
             .arg(m_results.stallsOver16)
             .arg(m_results.probeSamples)
             .arg(ms(median(m_results.handlerMs)), ms(percentile(m_results.handlerMs, 1.0))));
    if (m_results.gatewaysUp != m_options.gateways || m_results.gatewaysTotal != m_options.gateways)
        return fail(QStringLiteral("the last snapshot saw %1 of %2 gateways up (%3 known)")
                        .arg(m_results.gatewaysUp)
                        .arg(m_options.gateways)
                        .arg(m_results.gatewaysTotal));
    return true;
}

QString ConsoleBench::markdown() const
{
    const Results &r = m_results;
    auto verdict = [this](bool met) {
        return m_options.smoke ? QStringLiteral("n/a (smoke)") : met ? QStringLiteral("yes") : QStringLiteral("**no**");
    };
    QString loadAvg;
    QFile f(QStringLiteral("/proc/loadavg"));
    if (f.open(QIODevice::ReadOnly))
        loadAvg = QString::fromLatin1(f.readAll()).section(QLatin1Char(' '), 0, 2);
    auto joined = [](const QList<double> &values) {
        QStringList out;
        for (double v : values)
            out.append(ms(v));
        return out.join(QStringLiteral(", "));
    };

    QString out;
    QTextStream s(&out);
    s << "## Console (l0l3_bench_console" << (m_options.smoke ? " --smoke" : "") << ")\n\n";
    s << "| measurement | target | measured | met? |\n|---|---|---:|---|\n";
    const std::pair<const Results::LoadSeries *, const char *> series[] = {
        {&r.fresh, "every entry new to the console's group"},
        {&r.pending, "every entry already pending for the console (a restart)"},
    };
    for (const auto &[loads, what] : series) {
        if (loads->rowsMs.isEmpty())
            continue;
        const double rowsMedian = median(loads->rowsMs);
        s << "| " << r.rowsLoaded << " proposals, " << what
          << ": reload → all rows in the ProposalsPage model and proxy, sorted by savings (median of "
          << loads->rowsMs.size() << ") | < 1000 ms | " << ms(rowsMedian) << " ms | " << verdict(rowsMedian < 1000)
          << " |\n";
    }
    if (!r.plainMs.isEmpty() && r.plainMs.size() == r.fresh.rowsMs.size()) {
        QList<double> ratios;
        for (qsizetype i = 0; i < r.fresh.rowsMs.size(); ++i)
            ratios.append(r.fresh.rowsMs[i] / r.plainMs[i]);
        s << "| the first, × the reference: a plain hiredis client doing the same Redis work and nothing else, run right "
             "after each load (median of the runs' ratios) | — | "
          << QString::number(median(ratios), 'f', 2) << "× (reference " << ms(median(r.plainMs)) << " ms) | |\n";
    }
    s << "| UI-thread stall over " << r.ticks << " dashboard ticks, " << m_options.gateways
      << " gateways: longest | ≤ 16 ms | " << ms(r.stallMaxMs) << " ms | " << verdict(r.stallMaxMs <= 16) << " |\n";
    s << "| same: the UI thread's CPU time within that longest interval (the rest is waiting for a core) | — | "
      << ms(r.stallCpuInLongestMs) << " ms | |\n";
    s << "| same: the most UI-thread CPU time within any one probe interval | — | " << ms(r.stallMaxCpuMs)
      << " ms | |\n";
    s << "| same: p99 of the 1 ms probe intervals | — | " << ms(r.stallP99Ms) << " ms | |\n";
    s << "\n";
    for (const auto &[loads, what] : series) {
        if (loads->rowsMs.isEmpty())
            continue;
        s << "- " << what << ", load runs (reload → all rows sorted, ms): " << joined(loads->rowsMs)
          << "; loadFinished at " << ms(median(loads->finishedMs)) << " ms (median); longest UI stall while loading "
          << ms(median(loads->stallMaxMs)) << " ms (median of runs, max " << ms(percentile(loads->stallMaxMs, 1.0))
          << " ms); Redis' whole CPU per load "
          << "(INFO cpu, user + sys, which includes writing the replies) " << ms(median(loads->redisCpuMs))
          << " ms, the console's (all its threads) " << ms(median(loads->consoleCpuMs))
          << " ms, of which the UI thread " << ms(median(loads->uiCpuMs)) << " ms (medians)\n";
    }
    if (!r.redisPerLoad.isEmpty())
        s << "- Redis' own time per load of the first kind (INFO commandstats, mean of the runs): " << r.redisPerLoad
          << "\n";
    if (!r.plainMs.isEmpty()) {
        s << "- reference runs (stock hiredis, one blocking connection: XREADGROUP pages of "
          << ControlWorker::kProposalPageSize
          << " into a fresh group, each followed by one pipeline of EXISTS, ZMSCORE and "
             "HGETALL seen per key; ms): "
          << joined(r.plainMs) << "; Redis CPU " << ms(median(r.plainRedisCpuMs)) << " ms (median)\n";
    }
    s << "- seeding " << r.rowsLoaded << " proposals (XADD + HINCRBY seen, pipelined): " << ms(r.seedMs) << " ms\n";
    s << "- dashboard: " << r.gatewaysUp << "/" << r.gatewaysTotal << " gateways up in " << r.regions << " regions, "
      << r.scrapes << " scrapes in " << QString::number(r.dashboardSeconds, 'f', 1) << " s; " << r.stallsOver16
      << " of " << r.probeSamples << " probe intervals > 16 ms; DashboardPage::addSnapshot median "
      << ms(median(r.handlerMs)) << " ms, max " << ms(percentile(r.handlerMs, 1.0)) << " ms\n";
    if (!r.longStalls.isEmpty())
        s << "- probe intervals > 16 ms: " << r.longStalls.join(QStringLiteral("; ")) << "\n";
    s << "- reference, same run: the probe alone on an idle UI thread (before the page exists): longest "
      << ms(r.idleMaxMs) << " ms (UI-thread CPU in it " << ms(r.idleCpuInLongestMs) << " ms), p99 " << ms(r.idleP99Ms)
      << " ms\n";
    s << "- opening the page (its first paint, no data yet, before the first tick; not counted above): longest "
      << ms(r.showMaxMs) << " ms (UI-thread CPU in it " << ms(r.showCpuInLongestMs) << " ms)\n";
    s << "- machine: " << QThread::idealThreadCount() << " cores, load average " << loadAvg
      << " at the end; QT_QPA_PLATFORM=" << qEnvironmentVariable("QT_QPA_PLATFORM") << "\n";
    return out;
}

} // namespace l0l3
