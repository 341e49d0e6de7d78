#include "bench/console/decisionbench.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QEvent>
#include <QEventLoop>
#include <QFile>
#include <QTableView>
#include <QTest>
#include <QTextStream>
#include <QThread>
#include <QTimer>

#include <cstdio>
#include <ctime>
#include <functional>

#include "bench/console/consolebench.h"
#include "bench/console/proposalseeder.h"
#include "core/common/redisschema.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "ui/proposals/proposalclustertracker.h"
#include "ui/proposals/proposalfiltermodel.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

namespace {

void note(const QString &line)
{
    std::fprintf(stderr, "decisionbench: %s\n", qPrintable(line));
    std::fflush(stderr);
}

QString ms(double v)
{
    return QString::number(v, 'f', v < 10 ? 2 : 1);
}

double threadCpuMs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// Runs the event loop until done() or timeoutMs; checks every millisecond
// (what is timed is recorded by event handlers, not by this check).
bool waitUntil(const std::function<bool()> &done, int timeoutMs)
{
    if (done())
        return true;
    QEventLoop loop;
    QElapsedTimer clock;
    clock.start();
    QTimer check;
    QObject::connect(&check, &QTimer::timeout, &loop, [&] {
        if (done() || clock.elapsed() > timeoutMs)
            loop.quit();
    });
    check.start(1);
    loop.exec();
    return done();
}

// When each frame of a top-level widget ended: the widget's UpdateRequest
// (the repaint manager painting every dirty widget and flushing the backing
// store) is handled inside this filter, so the time taken after it is the
// moment the frame is out.
class FrameClock : public QObject
{
public:
    FrameClock(QWidget *window, const QElapsedTimer &clock)
        : m_clock(clock)
    {
        window->installEventFilter(this);
    }
    // The end of the first frame that ended after t (ns of the clock), or -1.
    qint64 firstEndAfter(qint64 t) const
    {
        for (qint64 end : m_ends) {
            if (end > t)
                return end;
        }
        return -1;
    }
    void clear() { m_ends.clear(); }

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() != QEvent::UpdateRequest || m_inside)
            return false;
        m_inside = true;
        QCoreApplication::sendEvent(watched, event);
        m_inside = false;
        m_ends.append(m_clock.nsecsElapsed());
        return true;
    }

private:
    const QElapsedTimer &m_clock;
    QList<qint64> m_ends;
    bool m_inside = false;
};

} // namespace

DecisionBench::DecisionBench(const Options &options)
    : m_options(options)
{
}

bool DecisionBench::fail(const QString &message)
{
    m_error = message;
    return false;
}

bool DecisionBench::run()
{
    test::RedisServer primary;
    test::RedisServer::Options primaryOptions;
    primaryOptions.acl = false;
    QString why;
    if (!primary.start(primaryOptions, &why))
        return fail(QStringLiteral("redis-server did not start: %1").arg(why));
    // A replica, so every decision's WAIT 1 is answered as in production.
    test::RedisServer replica;
    test::RedisServer::Options replicaOptions;
    replicaOptions.acl = false;
    replicaOptions.replicaOfHost = primary.host();
    replicaOptions.replicaOfPort = primary.port();
    if (!replica.start(replicaOptions, &why))
        return fail(QStringLiteral("the replica did not start: %1").arg(why));
    note(QStringLiteral("primary on port %1, replica on %2").arg(primary.port()).arg(replica.port()));

    const int queue = m_options.queue;
    ProposalSeeder seeder(primary.host(), primary.port());
    QElapsedTimer seedClock;
    seedClock.start();
    if (!seeder.seed(0, queue, &why))
        return fail(QStringLiteral("seeding failed: %1").arg(why));
    m_results.seedMs = double(seedClock.nsecsElapsed()) / 1e6;
    note(QStringLiteral("seeded %1 proposals in %2 ms").arg(queue).arg(ms(m_results.seedMs)));

    ControlClient client;
    ProposalsPage page(&client);
    page.resize(1280, 800);
    page.show();
    QElapsedTimer clock;
    clock.start();
    FrameClock frames(&page, clock);
    ControlWorker *worker = client.worker();
    int loaded = -1;
    QString failure;
    QObject::connect(worker, &ControlWorker::proposalsLoaded, &page, [&](int count, qint64) { loaded = count; });
    QObject::connect(worker, &ControlWorker::proposalsFailed, &page, [&](const QString &m) { failure = m; });
    // Every outcome, by key: when it arrived and whether it was written.
    QHash<QString, std::pair<qint64, bool>> outcomes;
    QStringList errors;
    QObject::connect(&page, &ProposalsPage::writeFinished, &page, [&](const ApprovalResult &r) {
        outcomes.insert(r.key, {clock.nsecsElapsed(), r.ok});
        if (!r.ok)
            errors.append(r.message);
    });

    const auto options = RedisConnection::Options::fromUrl(primary.url({}), &why);
    if (!options)
        return fail(why);
    const qint64 loadStart = clock.nsecsElapsed();
    client.connectTo(*options, QStringLiteral("decisionbench"));
    if (!waitUntil([&] { return (loaded >= 0 && page.proxy()->rowCount() >= queue) || !failure.isEmpty(); },
                   120000 + queue / 10)
        || !failure.isEmpty())
        return fail(QStringLiteral("the queue did not load: %1 (%2 rows)")
                        .arg(failure.isEmpty() ? QStringLiteral("timeout") : failure)
                        .arg(page.proxy()->rowCount()));
    m_results.loadMs = double(clock.nsecsElapsed() - loadStart) / 1e6;
    m_results.queue = page.model()->rowCount();
    note(QStringLiteral("%1 proposals in the queue view after %2 ms").arg(m_results.queue).arg(ms(m_results.loadMs)));
    // The previous rows freed and the similar-entries lookup of the first row answered: idle, as
    // when the operator starts.
    waitUntil([&] { return !page.model()->hasRetired(); }, 10000);

    QTableView *view = page.view();
    page.activateWindow();
    view->setFocus();
    if (!waitUntil([&] { return page.isActiveWindow() && view->hasFocus(); }, 5000))
        return fail(QStringLiteral("the queue view did not get the keyboard"));
    if (!view->currentIndex().isValid())
        view->setCurrentIndex(page.proxy()->index(0, 0));
    waitUntil([] { return false; }, 200);

    QStringList approved;
    QStringList rejected;
    const int clusterRunsBefore = page.clusterTracker()->runs();
    QElapsedTimer total;
    total.start();
    for (int i = 0; i < m_options.decisions; ++i) {
        const auto item = page.currentItem();
        if (!item || page.model()->isPending(item->key))
            return fail(QStringLiteral("decision %1: no undecided proposal shown").arg(i));
        const QString key = item->key;
        const bool reject = i % 5 == 4;
        frames.clear();
        const double cpu0 = threadCpuMs();
        const qint64 t0 = clock.nsecsElapsed();
        QTest::keyClick(view, reject ? Qt::Key_Backspace : Qt::Key_Return);
        const qint64 handled = clock.nsecsElapsed();
        if (!page.model()->isPending(key))
            return fail(QStringLiteral("decision %1: the key press decided nothing").arg(i));
        const auto moved = [&] {
            const auto next = page.currentItem();
            return next && next->key != key && !page.model()->isPending(next->key);
        };
        if (!waitUntil([&] { return moved() && frames.firstEndAfter(handled) >= 0; }, 10000))
            return fail(QStringLiteral("decision %1: the next proposal was not shown").arg(i));
        const qint64 shown = frames.firstEndAfter(handled);
        if (!waitUntil([&] { return outcomes.contains(key) && page.model()->rowOfKey(key) < 0; }, 30000))
            return fail(QStringLiteral("decision %1: no outcome for %2").arg(i).arg(key));
        const double cpu = threadCpuMs() - cpu0;
        if (!outcomes.value(key).second)
            return fail(QStringLiteral("decision %1 failed: %2").arg(i).arg(errors.join(QStringLiteral("; "))));
        (reject ? rejected : approved).append(key);
        m_results.keyHandlingMs.append(double(handled - t0) / 1e6);
        m_results.nextShownMs.append(double(shown - t0) / 1e6);
        m_results.outcomeMs.append(double(outcomes.value(key).first - t0) / 1e6);
        m_results.uiCpuMs.append(cpu);
    }
    m_results.totalSeconds = double(total.nsecsElapsed()) / 1e9;
    m_results.clusterRuns = page.clusterTracker()->runs() - clusterRunsBefore;
    m_results.clusterRunMs = page.clusterTracker()->lastRunMs();
    m_results.approvals = int(approved.size());
    m_results.rejections = int(rejected.size());

    // Every outcome as typed, in Redis.
    test::RedisClient redis = primary.client(QString());
    for (const QString &key : std::as_const(approved)) {
        if (redis.get(QByteArray::fromStdString(RedisSchema::entryKey(key.toStdString()))).isNull())
            return fail(QStringLiteral("approved %1 but no entry in Redis").arg(key));
    }
    for (const QString &key : std::as_const(rejected)) {
        if (redis
                .command({QByteArrayLiteral("ZSCORE"), QByteArray::fromStdString(std::string(RedisSchema::kRejected)),
                          key.toUtf8()})
                .isNil())
            return fail(QStringLiteral("rejected %1 but not in the rejected set").arg(key));
    }
    note(QStringLiteral("%1 decisions in %2 s: keystroke -> next proposal shown median %3 ms, p99 %4 ms; UI-thread "
                        "CPU per decision median %5 ms, p99 %6 ms; outcome median %7 ms")
             .arg(m_options.decisions)
             .arg(m_results.totalSeconds, 0, 'f', 1)
             .arg(ms(ConsoleBench::median(m_results.nextShownMs)),
                  ms(ConsoleBench::percentile(m_results.nextShownMs, 0.99)),
                  ms(ConsoleBench::median(m_results.uiCpuMs)), ms(ConsoleBench::percentile(m_results.uiCpuMs, 0.99)),
                  ms(ConsoleBench::median(m_results.outcomeMs))));
    return true;
}

QString DecisionBench::markdown() const
{
    const Results &r = m_results;
    const double shownP99 = ConsoleBench::percentile(r.nextShownMs, 0.99);
    const QString met = m_options.smoke ? QStringLiteral("n/a (smoke)")
        : shownP99 < 50                 ? QStringLiteral("yes")
                                        : QStringLiteral("**no**");
    auto pair = [](const QList<double> &v) {
        return QStringLiteral("%1 / %2 ms").arg(ms(ConsoleBench::median(v)), ms(ConsoleBench::percentile(v, 0.99)));
    };
    QString out;
    QTextStream s(&out);
    s << "## Console decisions (l0l3_bench_console" << (m_options.smoke ? " --smoke" : "") << ")\n\n";
    s << "| measurement (" << r.approvals + r.rejections << " keyboard decisions at a " << r.queue
      << "-proposal queue; median / p99) | target | measured | met? |\n|---|---|---:|---|\n";
    s << "| keystroke → next proposal shown (first frame after the key press, the next proposal current) "
         "| p99 < 50 ms | "
      << pair(r.nextShownMs) << " | " << met << " |\n";
    s << "| the key press' own handling (shortcut, row marked pending, next row selected, detail pane filled) | — | "
      << pair(r.keyHandlingMs) << " | |\n";
    s << "| the UI thread's CPU per decision (key, frames, the result, the row's removal) | — | " << pair(r.uiCpuMs)
      << " | |\n";
    s << "| keystroke → outcome (MULTI/EXEC + WAIT 1 on a real primary and replica, the row removed) | — | "
      << pair(r.outcomeMs) << " | |\n";
    s << "\n- " << r.approvals << " approvals (Enter) and " << r.rejections
      << " rejections (Backspace), typed one after the other as soon as the previous outcome was in: "
      << QString::number(r.totalSeconds, 'f', 1) << " s; every outcome checked in Redis afterwards\n";
    s << "- queue: " << r.queue << " proposals seeded in " << ms(r.seedMs) << " ms, loaded into the shown page in "
      << ms(r.loadMs) << " ms\n";
    s << "- the queue's clusters (Cluster column) built " << r.clusterRuns
      << " times during the decisions, off the UI thread, the last in " << r.clusterRunMs << " ms\n";
    QString loadAvg;
    QFile f(QStringLiteral("/proc/loadavg"));
    if (f.open(QIODevice::ReadOnly))
        loadAvg = QString::fromLatin1(f.readAll()).section(QLatin1Char(' '), 0, 2);
    s << "- machine: " << QThread::idealThreadCount() << " cores, load average " << loadAvg << " at the end\n";
    return out;
}

} // namespace l0l3
