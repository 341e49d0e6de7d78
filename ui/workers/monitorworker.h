#pragma once

#include <QList>
#include <QObject>
#include <QString>

#include "core/control/metricssnapshot.h"
#include "core/control/replicationstatus.h"
#include "core/control/sentineltopology.h"
#include "ui/workers/monitorconfig.h"

namespace l0l3 {

class MetricsSource;
class ReplicationMonitor;
class SentinelClient;

// The dashboards' I/O on their own thread: a MetricsSource (gateway scrape
// or Prometheus) ticking every second, the ReplicationMonitor heartbeat and
// the SentinelClient. Everything leaves as value-type signals.
class MonitorWorker : public QObject
{
    Q_OBJECT
public:
    explicit MonitorWorker(QObject *parent = nullptr);
    ~MonitorWorker() override;

    void configure(const l0l3::MonitorConfig &config);
    void refreshTopology();
    void failover();
    void promoteManually(const QString &host, int port);
    void shutdown();

signals:
    void snapshotReady(const l0l3::MetricsSnapshot &snapshot);
    void replicationUpdated(const QList<l0l3::RegionReplicationStatus> &regions);
    void primaryStatusUpdated(const l0l3::PrimaryReplicationStatus &primary);
    void topologyUpdated(const l0l3::SentinelTopology &topology);
    void failoverFinished(const l0l3::FailoverResult &result);
    void primaryChanged(const QString &host, int port);
    void message(const QString &text);

private:
    void teardown();

    MonitorConfig m_config;
    MetricsSource *m_metrics = nullptr;
    ReplicationMonitor *m_replication = nullptr;
    SentinelClient *m_sentinels = nullptr;
};

} // namespace l0l3
