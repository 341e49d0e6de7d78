#include "ui/dashboard/dashboardpage.h"

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QScrollArea>
#include <QStackedBarSeries>
#include <QTimer>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>
#include <QValueAxis>

#include <cmath>

#include "ui/common/formatting.h"
#include "ui/common/regionstatuscard.h"
#include "ui/common/timeserieschart.h"

namespace l0l3 {

static constexpr int kChartStaggerMs = 40;
static const QStringList kTiers{QStringLiteral("L0.5"), QStringLiteral("L0"), QStringLiteral("L1"),
                                QStringLiteral("miss")};

DashboardPage::DashboardPage(QWidget *parent)
    : QWidget(parent)
    , m_window(new QComboBox(this))
    , m_status(new QLabel(this))
    , m_cardsLayout(new QHBoxLayout)
    , m_gateways(new QTreeWidget(this))
    , m_latency(new TimeSeriesChart(tr("Latency p50 / p99 per region"), tr("ms"), this))
    , m_lag(new TimeSeriesChart(tr("Replication lag per region"), tr("ms"), this))
    , m_rps(new TimeSeriesChart(tr("Requests per second"), tr("req/s"), this))
    , m_errors(new TimeSeriesChart(tr("Upstream errors"), tr("errors/s"), this))
    , m_tiersView(new QChartView(this))
    , m_tiers(new QStackedBarSeries)
    , m_tierRegions(new QBarCategoryAxis)
    , m_tierAxis(new QValueAxis)
{
    // After a tick the cards repaint first, then the tier bars and the line
    // charts in turns, each in its own UI-thread pass.
    int delayMs = kChartStaggerMs / 2;
    for (TimeSeriesChart *c : {m_latency, m_rps, m_errors, m_lag}) {
        delayMs += kChartStaggerMs;
        c->setPublishDelayMs(delayMs);
    }

    m_window->addItem(tr("Last 5 minutes"), 5);
    m_window->addItem(tr("Last 15 minutes"), 15);
    m_window->addItem(tr("Last 60 minutes"), 60);
    connect(m_window, &QComboBox::currentIndexChanged, this,
            [this] { setWindowMinutes(m_window->currentData().toInt()); });

    auto *chart = new QChart;
    chart->setTitle(tr("Answers per region by tier (share of requests)"));
    chart->setMargins(QMargins(4, 4, 4, 4));
    chart->legend()->setAlignment(Qt::AlignBottom);
    const QList<QColor> colors{QColor(0x1b, 0x7f, 0x3b), QColor(0x3c, 0xb0, 0x5a), QColor(0x8c, 0xd4, 0x7e),
                               QColor(0xc0, 0xc0, 0xc0)};
    for (int i = 0; i < kTiers.size(); ++i) {
        auto *set = new QBarSet(kTiers[i]);
        set->setColor(colors[i]);
        m_tiers->append(set);
        m_tierSets.insert(kTiers[i], set);
    }
    chart->addSeries(m_tiers);
    chart->addAxis(m_tierRegions, Qt::AlignBottom);
    chart->addAxis(m_tierAxis, Qt::AlignLeft);
    m_tiers->attachAxis(m_tierRegions);
    m_tiers->attachAxis(m_tierAxis);
    m_tierAxis->setRange(0, 100);
    m_tierAxis->setTitleText(tr("%"));
    m_tierAxis->setLabelFormat(QStringLiteral("%.0f"));
    m_tierAxis->setTickCount(3); // 0, 50, 100: more labels do not fit the short plot and get elided
    // QChartView made a default chart and setChart() only releases it.
    QChart *placeholder = m_tiersView->chart();
    m_tiersView->setChart(chart);
    delete placeholder;
    m_tiersView->setRenderHint(QPainter::Antialiasing);
    m_tiersView->setMinimumHeight(170);

    auto *top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Window:"), this));
    top->addWidget(m_window);
    top->addStretch();
    top->addWidget(m_status);

    auto *cardsBox = new QWidget(this);
    cardsBox->setLayout(m_cardsLayout);
    m_cardsLayout->setContentsMargins(0, 0, 0, 0);
    m_cardsLayout->addStretch();
    auto *cardsScroll = new QScrollArea(this);
    cardsScroll->setWidget(cardsBox);
    cardsScroll->setWidgetResizable(true);
    cardsScroll->setFrameShape(QFrame::NoFrame);
    // Fixed: the first cards must not resize (re-layout and repaint) every chart.
    cardsScroll->setFixedHeight(150);
    m_gateways->setObjectName(QStringLiteral("dashboardGateways"));
    m_gateways->setColumnCount(4);
    m_gateways->setHeaderLabels({tr("Region"), tr("Gateway"), tr("State"), tr("Lag")});
    m_gateways->setRootIsDecorated(false);
    m_gateways->setSortingEnabled(false);
    m_gateways->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_gateways->setFixedHeight(150);
    m_gateways->setMinimumWidth(360);
    m_gateways->setToolTip(tr("Every gateway the metrics source scrapes, with its own degradation state and "
                              "replication lag gauge"));

    auto *grid = new QGridLayout;
    grid->addWidget(m_latency, 0, 0);
    grid->addWidget(m_tiersView, 0, 1);
    grid->addWidget(m_rps, 1, 0);
    grid->addWidget(m_lag, 1, 1);
    grid->addWidget(m_errors, 2, 0, 1, 2);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top);
    auto *cardsRow = new QHBoxLayout;
    cardsRow->addWidget(cardsScroll, 1);
    cardsRow->addWidget(m_gateways);
    layout->addLayout(cardsRow);
    layout->addLayout(grid, 1);
    m_status->setTextFormat(Qt::PlainText);
    m_status->setText(tr("waiting for the first metrics tick…"));
}

// Region, URL and state come from gateways (the registry or their /metrics):
// plain text, one bounded line each.
void DashboardPage::updateGateways(const QList<ScrapedGateway> &gateways)
{
    while (m_gateways->topLevelItemCount() > gateways.size())
        delete m_gateways->takeTopLevelItem(m_gateways->topLevelItemCount() - 1);
    for (qsizetype i = 0; i < gateways.size(); ++i) {
        const ScrapedGateway &g = gateways.at(i);
        QTreeWidgetItem *item = m_gateways->topLevelItem(int(i));
        if (!item)
            item = new QTreeWidgetItem(m_gateways);
        const QUrl url(g.url);
        const QString state = g.up ? (g.degradationState.isEmpty() ? tr("up") : g.degradationState) : tr("down");
        item->setText(0, Formatting::oneLine(g.region, 60));
        item->setText(1,
                      Formatting::oneLine(
                          url.port() > 0 ? QStringLiteral("%1:%2").arg(url.host()).arg(url.port()) : url.host(), 120));
        item->setText(2, Formatting::oneLine(state, 40));
        item->setForeground(2, RegionStatusCard::colorFor(g.up ? g.degradationState : QStringLiteral("offline")));
        item->setText(3,
                      std::isfinite(g.replicationLagMs) ? tr("%1 ms").arg(qRound64(g.replicationLagMs))
                                                        : QStringLiteral("—"));
        item->setToolTip(1, Formatting::toolTip(g.url));
    }
}

QStringList DashboardPage::regions() const
{
    QStringList out = m_cards.keys();
    out.sort();
    return out;
}

void DashboardPage::setWindowMinutes(int minutes)
{
    m_windowMinutes = minutes;
    for (TimeSeriesChart *c : {m_latency, m_lag, m_rps, m_errors})
        c->setWindowMinutes(minutes);
    // One card cell per 1 s tick over the window.
    for (RegionStatusCard *card : std::as_const(m_cards))
        card->setHistoryLength(minutes * 60);
    const int idx = m_window->findData(minutes);
    if (idx >= 0 && idx != m_window->currentIndex())
        m_window->setCurrentIndex(idx);
}

RegionStatusCard *DashboardPage::cardFor(const QString &region)
{
    if (RegionStatusCard *c = m_cards.value(region))
        return c;
    auto *c = new RegionStatusCard(region, this);
    c->setHistoryLength(m_windowMinutes * 60);
    // Keep cards sorted by region name, before the trailing stretch.
    int pos = 0;
    while (pos < m_cardsLayout->count() - 1) {
        auto *w = qobject_cast<RegionStatusCard *>(m_cardsLayout->itemAt(pos)->widget());
        if (!w || w->region() > region)
            break;
        ++pos;
    }
    m_cardsLayout->insertWidget(pos, c);
    m_cards.insert(region, c);
    return c;
}

void DashboardPage::addSnapshot(const MetricsSnapshot &snapshot)
{
    const QDateTime at = snapshot.timestamp.isValid() ? snapshot.timestamp : QDateTime::currentDateTime();
    ++m_snapshots;
    for (const RegionMetrics &r : snapshot.regions) {
        m_latency->addPoint(r.region + QStringLiteral(" p50"), at, r.p50Ms);
        m_latency->addPoint(r.region + QStringLiteral(" p99"), at, r.p99Ms);
        m_rps->addPoint(r.region, at, r.rps);
        m_errors->addPoint(r.region, at, r.rps * r.errorRate);
        RegionStatusCard *card = cardFor(r.region);
        card->setState(r.up ? r.degradationState : QStringLiteral("offline"));
        // The gateways' own lag gauge when they report one (every region's
        // heartbeat reader), else the console's measurement of the replica.
        const qint64 lag = std::isfinite(r.replicationLagMs) ? qint64(std::llround(r.replicationLagMs))
                                                             : m_lastLag.value(r.region, -1);
        card->setNumbers(r.rps, r.hitRate, r.p99Ms, lag, r.gatewaysUp, r.gatewaysTotal);
        m_lastMetrics.insert(r.region, r);
        m_shownLag.insert(r.region, lag);
    }
    for (TimeSeriesChart *c : {m_latency, m_rps, m_errors})
        c->commit(at);
    // A Prometheus snapshot has no per-gateway part: the table is then hidden.
    m_gateways->setVisible(!snapshot.gateways.isEmpty());
    if (!snapshot.gateways.isEmpty())
        updateGateways(snapshot.gateways);
    m_tierSnapshot = snapshot;
    if (!m_tierUpdatePending) {
        m_tierUpdatePending = true;
        QTimer::singleShot(kChartStaggerMs / 2, this, &DashboardPage::updateTierBars);
    }
    m_status->setText(snapshot.error.isEmpty()
                          ? tr("updated %1 · %n region(s)", nullptr, int(snapshot.regions.size()))
                                .arg(at.toString(QStringLiteral("HH:mm:ss")))
                          : tr("metrics source: %1").arg(Formatting::oneLine(snapshot.error, 300)));
}

void DashboardPage::updateTierBars()
{
    m_tierUpdatePending = false;
    const MetricsSnapshot &snapshot = m_tierSnapshot;
    // Category labels are rendered as HTML; the axis drops a repeated one,
    // so two names that shorten alike get a number.
    QStringList regions;
    for (const RegionMetrics &r : snapshot.regions) {
        const QString label = Formatting::chartLabel(r.region);
        QString unique = label;
        for (int n = 2; regions.contains(unique); ++n)
            unique = QStringLiteral("%1 (%2)").arg(label).arg(n);
        regions.append(unique);
    }
    if (m_tierRegions->categories() != regions) {
        m_tierRegions->clear();
        m_tierRegions->append(regions);
    }
    for (const QString &tier : kTiers) {
        QBarSet *set = m_tierSets.value(tier);
        QList<qreal> values;
        for (const RegionMetrics &r : snapshot.regions)
            values.append(100.0 * r.hitRateByTier.value(tier, 0.0));
        if (set->count() != values.size()) {
            set->remove(0, set->count());
            set->append(values);
        } else {
            for (int i = 0; i < values.size(); ++i)
                set->replace(i, values[i]);
        }
    }
}

void DashboardPage::addReplication(const QList<RegionReplicationStatus> &regions)
{
    const QDateTime now = QDateTime::currentDateTime();
    for (const RegionReplicationStatus &r : regions) {
        m_lag->addPoint(r.region, now, r.lagMs >= 0 ? double(r.lagMs) : qQNaN());
        m_lastLag.insert(r.region, r.lagMs);
        // A replica of unknown region is named host:port (a region name has no
        // ':'): a line in the lag chart, not a region card.
        if (r.region.contains(u':') && !m_cards.contains(r.region))
            continue;
        cardFor(r.region)->setLag(r.lagMs, r.linkUp && r.reachable);
        m_shownLag.insert(r.region, r.lagMs);
    }
    m_lag->commit(now);
}

} // namespace l0l3
