#pragma once

#include <QDateTime>
#include <QHash>
#include <QList>
#include <QStringList>
#include <QWidget>

#include "core/control/metricssnapshot.h"
#include "core/control/replicationstatus.h"

class QBarCategoryAxis;
class QBarSet;
class QChartView;
class QComboBox;
class QHBoxLayout;
class QLabel;
class QStackedBarSeries;
class QTreeWidget;
class QValueAxis;

namespace l0l3 {

class RegionStatusCard;
class TimeSeriesChart;

// Live dashboards: p50/p99 latency, hit rate per region stacked by tier,
// replication lag, requests/s and upstream errors, plus a status card per
// region. Fed once per tick by MonitorWorker snapshots (computed off the UI
// thread); this widget only appends points.
class DashboardPage : public QWidget
{
    Q_OBJECT
public:
    explicit DashboardPage(QWidget *parent = nullptr);

    void addSnapshot(const l0l3::MetricsSnapshot &snapshot);
    void addReplication(const QList<l0l3::RegionReplicationStatus> &regions);
    void setWindowMinutes(int minutes);
    int windowMinutes() const { return m_windowMinutes; }

    RegionStatusCard *card(const QString &region) const { return m_cards.value(region); }
    // The regions with a card, sorted, and what each card shows: the latest
    // tick's metrics and the lag in ms (-1 unknown).
    QStringList regions() const;
    RegionMetrics lastMetrics(const QString &region) const { return m_lastMetrics.value(region); }
    qint64 shownLagMs(const QString &region) const { return m_shownLag.value(region, -1); }
    TimeSeriesChart *latencyChart() const { return m_latency; }
    TimeSeriesChart *lagChart() const { return m_lag; }
    TimeSeriesChart *rpsChart() const { return m_rps; }
    TimeSeriesChart *errorChart() const { return m_errors; }
    int snapshotCount() const { return m_snapshots; }
    // One row per scraped gateway: region, address, state ("down" when it
    // did not answer), its lag gauge.
    QTreeWidget *gatewayTable() const { return m_gateways; }
    QBarSet *tierSet(const QString &tier) const { return m_tierSets.value(tier); }

private:
    RegionStatusCard *cardFor(const QString &region);
    void updateTierBars();
    void updateGateways(const QList<ScrapedGateway> &gateways);

    QComboBox *m_window;
    QLabel *m_status;
    QHBoxLayout *m_cardsLayout;
    QTreeWidget *m_gateways;
    QHash<QString, RegionStatusCard *> m_cards;
    TimeSeriesChart *m_latency;
    TimeSeriesChart *m_lag;
    TimeSeriesChart *m_rps;
    TimeSeriesChart *m_errors;
    QChartView *m_tiersView;
    QStackedBarSeries *m_tiers;
    QBarCategoryAxis *m_tierRegions;
    QValueAxis *m_tierAxis;
    QHash<QString, QBarSet *> m_tierSets;
    QHash<QString, qint64> m_lastLag;
    QHash<QString, qint64> m_shownLag;
    QHash<QString, RegionMetrics> m_lastMetrics;
    MetricsSnapshot m_tierSnapshot; // the latest tick's, drawn by updateTierBars()
    bool m_tierUpdatePending = false;
    int m_windowMinutes = 5;
    int m_snapshots = 0;
};

} // namespace l0l3
