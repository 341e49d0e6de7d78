#include "ui/team/teampage.h"

#include <QAction>
#include <QComboBox>
#include <QDateTime>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QThread>
#include <QTimeZone>
#include <QTimer>
#include <QVBoxLayout>

#include "ui/common/formatting.h"
#include "ui/common/localshortcutfilter.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

namespace {

// A read that never answered (its connection was dropped meanwhile) blocks
// refreshes no longer than this.
constexpr qint64 kStuckReadMs = 120000;

QString seconds(qint64 ms)
{
    if (ms < 0)
        return QStringLiteral("—");
    return ms < 60000 ? QString::number(double(ms) / 1000.0, 'f', 1) + QStringLiteral(" s") : Formatting::age(ms);
}

QString percent(double r)
{
    return QString::number(r * 100.0, 'f', 0) + u'%';
}

QTableWidgetItem *cell(const QString &text, bool number = true)
{
    auto *item = new QTableWidgetItem(text);
    item->setFlags(Qt::ItemIsSelectable | Qt::ItemIsEnabled);
    if (number)
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

QTableWidget *table(const QStringList &headers, QWidget *parent)
{
    auto *t = new QTableWidget(0, int(headers.size()), parent);
    t->setHorizontalHeaderLabels(headers);
    t->verticalHeader()->hide();
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setWordWrap(false);
    t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    return t;
}

} // namespace

TeamPage::TeamPage(ControlClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_window(new QComboBox(this))
    , m_status(new QLabel(this))
    , m_operators(table({tr("Operator"), tr("Today"), tr("Decisions"), tr("Median"), tr("P90"), tr("Approve"),
                         tr("Edit"), tr("Reject"), tr("Revoke"), tr("Wait (median)")},
                        this))
    , m_flow(table(
          {tr("Day (UTC)"), tr("Inflow"), tr("Outflow"), tr("Decisions"), tr("Wait (median)"), tr("Wait (p90)")}, this))
    , m_refresh(new QAction(tr("&Refresh team figures"), this))
    , m_timer(new QTimer(this))
{
    m_status->setTextFormat(Qt::PlainText);
    m_status->setWordWrap(true);
    for (int d : {1, 7, 14, 30})
        m_window->addItem(tr("Last %n day(s)", nullptr, d), d);
    m_window->setCurrentIndex(1);
    connect(m_window, &QComboBox::currentIndexChanged, this, [this] { setDays(m_window->currentData().toInt()); });

    auto *button = new QPushButton(tr("Refresh (F5)"), this);
    connect(button, &QPushButton::clicked, this, &TeamPage::refresh);
    // F5 is also File → Reload queue, a window-wide shortcut: the page's
    // widgets claim it while they have the focus (LocalShortcutFilter).
    m_refresh->setShortcut(QKeySequence::Refresh);
    m_refresh->setShortcutContext(Qt::WidgetShortcut);
    connect(m_refresh, &QAction::triggered, this, &TeamPage::refresh);
    for (QWidget *w : std::initializer_list<QWidget *>{m_operators, m_flow, m_window, button}) {
        w->addAction(m_refresh);
        LocalShortcutFilter::install(w);
    }

    auto *top = new QHBoxLayout;
    top->addWidget(m_window);
    top->addWidget(button);
    top->addWidget(m_status, 1);

    auto *note = new QLabel(
        tr("Time per decision: the gap to the same operator's previous decision; a gap over %1 min is a break and not "
           "counted. Wait: from the proposal entering the queue to its decision. Inflow: proposals queued that day "
           "(\"≥\": the queue was trimmed since). Outflow: approvals and rejections.")
            .arg(TeamStatsCalculator::kDefaultBreakMs / 60000),
        this);
    note->setTextFormat(Qt::PlainText);
    note->setWordWrap(true);

    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(m_operators);
    split->addWidget(m_flow);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(note);
    layout->addWidget(split, 1);

    m_timer->setInterval(kRefreshMs);
    connect(m_timer, &QTimer::timeout, this, [this] {
        if (isVisible())
            refresh();
    });
    m_timer->start();
    m_status->setText(tr("Not read yet."));
}

void TeamPage::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (m_refreshes == 0 || m_started.hasExpired(kRefreshMs))
        refresh();
}

void TeamPage::setDays(int days)
{
    m_days = qBound(1, days, 366);
    const int index = m_window->findData(m_days);
    if (index >= 0 && index != m_window->currentIndex())
        m_window->setCurrentIndex(index);
    m_inFlight = false; // the answer of a read over the old window is dropped below
    refresh();
}

void TeamPage::refresh()
{
    if (m_inFlight && !m_started.hasExpired(kStuckReadMs))
        return;
    ControlWorker *worker = m_client->worker();
    if (!worker)
        return;
    m_inFlight = true;
    m_started.start();
    m_status->setText(tr("Reading the audit stream…"));
    // The reader is made here so that its answer is connected to this page
    // before it moves; it then runs, and is deleted, on the worker's thread.
    auto *reader = new TeamStatsReader(nullptr);
    const int days = m_days;
    connect(reader, &TeamStatsReader::finished, this, [this, days](const TeamStats &stats, const QString &error) {
        if (days != m_days)
            return;
        m_inFlight = false;
        show(stats, error);
    });
    connect(reader, &TeamStatsReader::finished, reader, &QObject::deleteLater);
    reader->moveToThread(worker->thread());
    QMetaObject::invokeMethod(
        worker,
        [worker, reader, days] {
            reader->setParent(worker); // gone with the worker if it never answers
            reader->setConnection(worker->connection());
            reader->start(days, QDateTime::currentMSecsSinceEpoch());
        },
        Qt::QueuedConnection);
}

void TeamPage::show(const TeamStats &stats, const QString &error)
{
    ++m_refreshes;
    if (!error.isEmpty()) {
        m_status->setText(Formatting::oneLine(error, 300));
        emit refreshed();
        return;
    }
    m_stats = stats;
    const qint64 today = TeamStatsCalculator::dayStart(stats.toMs - 1);
    QHash<QString, qint64> todayDecisions;
    for (const TeamOperatorStats &d : stats.operatorDays)
        if (d.dayMs == today)
            todayDecisions.insert(d.actor, d.decisions);

    m_operators->setSortingEnabled(false);
    m_operators->setRowCount(int(stats.operators.size()));
    for (int row = 0; row < stats.operators.size(); ++row) {
        const TeamOperatorStats &o = stats.operators.at(row);
        auto *name = cell(Formatting::oneLine(o.actor, 64), false);
        name->setToolTip(Formatting::toolTip(o.actor, 300));
        m_operators->setItem(row, 0, name);
        m_operators->setItem(row, 1, cell(QString::number(todayDecisions.value(o.actor))));
        m_operators->setItem(row, 2, cell(QString::number(o.decisions)));
        m_operators->setItem(row, 3, cell(seconds(o.perDecision.medianMs)));
        m_operators->setItem(row, 4, cell(seconds(o.perDecision.p90Ms)));
        m_operators->setItem(row, 5, cell(percent(o.ratio(o.approves))));
        m_operators->setItem(row, 6, cell(percent(o.ratio(o.edits))));
        m_operators->setItem(row, 7, cell(percent(o.ratio(o.rejects))));
        m_operators->setItem(row, 8, cell(percent(o.ratio(o.revokes))));
        m_operators->setItem(row, 9, cell(seconds(o.wait.medianMs)));
    }

    m_flow->setRowCount(int(stats.days.size()));
    for (int i = 0; i < stats.days.size(); ++i) {
        // newest day first
        const TeamDayFlow &d = stats.days.at(stats.days.size() - 1 - i);
        QString in = stats.inflowKnown ? QString::number(d.inflow) : QStringLiteral("?");
        if (stats.inflowKnown && d.inflowPartial)
            in.prepend(QStringLiteral("≥ "));
        m_flow->setItem(
            i, 0,
            cell(QDateTime::fromMSecsSinceEpoch(d.dayMs, QTimeZone::utc()).toString(QStringLiteral("yyyy-MM-dd")),
                 false));
        m_flow->setItem(i, 1, cell(in));
        m_flow->setItem(i, 2, cell(QString::number(d.outflow)));
        m_flow->setItem(i, 3, cell(QString::number(d.decisions)));
        m_flow->setItem(i, 4, cell(seconds(d.wait.medianMs)));
        m_flow->setItem(i, 5, cell(seconds(d.wait.p90Ms)));
    }

    QString status = tr("%n operator(s), %1 audit record(s) over the last %2 day(s); updated %3", nullptr,
                        int(stats.operators.size()))
                         .arg(stats.auditRecords)
                         .arg(m_days)
                         .arg(Formatting::timestamp(QDateTime::currentMSecsSinceEpoch()));
    if (stats.auditTruncated)
        status += tr(" — only the oldest %1 records were read").arg(TeamStatsReader::kMaxAuditRecords);
    m_status->setText(status);
    emit refreshed();
}

} // namespace l0l3
