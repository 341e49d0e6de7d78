#pragma once

#include <QList>
#include <QString>
#include <QStringList>

#include <functional>

namespace l0l3 {

// The console benchmark, driven from the UI thread of a QApplication:
//  1. queue load: a real redis-server seeded with N proposals as gateways
//     write them; time from ControlClient::reloadProposals() until the
//     ProposalsPage's model and sorting proxy (view attached and shown) hold
//     all N rows sorted by savings, highest first (the order is checked after
//     each run); median of several runs, each with a fresh consumer group;
//  2. dashboard: a DashboardPage fed by the MonitorClient/MonitorWorker
//     scraping G synthetic gateways every second; a 1 ms StallProbe on the
//     UI thread records the longest event-loop stall over T ticks.
class ConsoleBench
{
public:
    struct Options
    {
        bool smoke = false;
        int proposals = 100000;
        int runs = 3;
        int ticks = 20;
        int gateways = 60;
        int regions = 6;
        double idleSeconds = 2.0; // probe baseline with nothing to do
    };

    struct Results
    {
        // Load
        double seedMs = 0;
        // One series of timed loads, a value per run.
        struct LoadSeries
        {
            QList<double> rowsMs;       // reload -> all rows in model and proxy, sorted
            QList<double> finishedMs;   // reload -> loadFinished arrived on the UI thread
            QList<double> stallMaxMs;   // longest UI stall while loading
            QList<double> redisCpuMs;   // the server's user + sys CPU (INFO cpu)
            QList<double> consoleCpuMs; // this process' CPU (all threads)
            QList<double> uiCpuMs;      // the UI thread's CPU
        };
        // Every entry new to the console's group (the group dropped before each
        // load: XREADGROUP >), then every entry already pending for it (the load
        // before left them so: XREADGROUP from 0), as when a console restarts.
        LoadSeries fresh;
        LoadSeries pending;
        int rowsLoaded = 0;
        int proxyRows = 0;
        QList<double> plainMs; // per run: the reference (ProposalSeeder::plainLoad)
        QList<double> plainRedisCpuMs;
        QString redisPerLoad; // Redis' server time per load by command (INFO commandstats over the runs)
        // Dashboard
        int ticks = 0;
        int gatewaysUp = 0;
        int gatewaysTotal = 0;
        int regions = 0;
        int scrapes = 0;
        double idleMaxMs = 0;
        double idleCpuInLongestMs = 0;
        double idleP99Ms = 0;
        double showMaxMs = 0; // the page's first paint (shown, no data yet), before the ticks
        double showCpuInLongestMs = 0;
        double stallMaxMs = 0;
        double stallCpuInLongestMs = 0; // the UI thread's CPU time within the longest interval
        double stallMaxCpuMs = 0;       // the most UI-thread CPU time within any one interval
        double stallP99Ms = 0;
        int stallsOver16 = 0;
        int probeSamples = 0;
        QList<double> handlerMs; // DashboardPage::addSnapshot per tick
        QStringList longStalls;  // probe intervals > 16 ms, with the tick they followed
        double dashboardSeconds = 0;
    };

    explicit ConsoleBench(const Options &options);

    // false + error() on a failure (not on a missed target).
    bool runLoad();
    bool runDashboard();

    const Results &results() const { return m_results; }
    QString error() const { return m_error; }
    // The markdown section scripts/bench.sh appends to its report.
    QString markdown() const;

    static double median(QList<double> values);
    static double percentile(QList<double> values, double q);

private:
    bool fail(const QString &message);
    // Runs the event loop until done() or timeoutMs; false on timeout.
    static bool waitUntil(const std::function<bool()> &done, int timeoutMs);

    Options m_options;
    Results m_results;
    QString m_error;
};

} // namespace l0l3
