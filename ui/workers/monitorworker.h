#pragma once

#include <QList>
#include <QObject>
#include <QString>

#include "core/control/fleetview.h"
#include "core/control/metricssnapshot.h"
#include "core/control/replicationstatus.h"
#include "core/control/sentineltopology.h"
#include "ui/workers/monitorconfig.h"

class QTimer;

namespace l0l3 {

class FleetViewBuilder;
class MetricsSource;
class RedisConnection;
class ReplicationMonitor;
class ScrapeMetricsSource;
class SentinelClient;

// The dashboards' I/O on their own thread: a MetricsSource (gateway scrape
// or Prometheus) ticking every second, the ReplicationMonitor heartbeat and
// the SentinelClient. Outside the demo (MonitorConfig::discoverFleet) it
// also reads the fleet every few seconds (FleetViewBuilder on the primary):
// the gateways it scrapes, the replicas it watches and the replicas a manual
// promotion re-points follow what the fleet announces, without a restart.
// The Sentinels' view is asked again 200 ms after a burst of their events
// (+switch-master, sdown/odown, peers and replicas found, failover steps) and
// every topologyIntervalMs as a fallback.
// Everything leaves as value-type signals.
class MonitorWorker : public QObject
{
    Q_OBJECT
public:
    explicit MonitorWorker(QObject *parent = nullptr);
    ~MonitorWorker() override;

    void configure(const l0l3::MonitorConfig &config);
    void refreshTopology();
    void refreshFleet();
    void failover();
    void promoteManually(const QString &host, int port);
    void shutdown();

signals:
    void snapshotReady(const l0l3::MetricsSnapshot &snapshot);
    void replicationUpdated(const QList<l0l3::RegionReplicationStatus> &regions);
    void primaryStatusUpdated(const l0l3::PrimaryReplicationStatus &primary);
    void topologyUpdated(const l0l3::SentinelTopology &topology);
    void fleetUpdated(const l0l3::FleetView &fleet);
    void failoverFinished(const l0l3::FailoverResult &result);
    void primaryChanged(const QString &host, int port);
    void message(const QString &text);

private:
    void teardown();
    void onFleet(const FleetView &view);
    void onPrimaryMoved(const QString &host, int port);
    void applyTargets();
    void applyReplicas();
    bool mayAuthenticate(const QString &host, int port) const;

    MonitorConfig m_config;
    QList<MonitorConfig::Node> m_allowedHosts;
    MetricsSource *m_metrics = nullptr;
    ScrapeMetricsSource *m_scrape = nullptr; // m_metrics when it scrapes
    ReplicationMonitor *m_replication = nullptr;
    SentinelClient *m_sentinels = nullptr;
    RedisConnection *m_primaryLink = nullptr; // fleet discovery reads
    FleetViewBuilder *m_fleet = nullptr;
    QTimer *m_fleetTimer = nullptr;
    QTimer *m_topologyTimer = nullptr;
    QTimer *m_topologySoon = nullptr; // coalesces bursts of Sentinel events
    FleetView m_view;
    bool m_haveView = false;
    bool m_fleetBusy = false;
    SentinelTopology m_topology;
    QString m_primaryHost;
    int m_primaryPort = 0;
    QStringList m_watchedReplicas; // "region host:port" of the ReplicationMonitor's set
    QStringList m_scrapedTargets;  // "region url" of the scrape's set
};

} // namespace l0l3
