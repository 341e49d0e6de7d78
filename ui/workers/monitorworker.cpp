#include "ui/workers/monitorworker.h"

#include "core/control/prometheusmetricssource.h"
#include "core/control/replicationmonitor.h"
#include "core/control/scrapemetricssource.h"
#include "core/control/sentinelclient.h"

namespace l0l3 {

MonitorWorker::MonitorWorker(QObject *parent)
    : QObject(parent)
{
}

MonitorWorker::~MonitorWorker()
{
    teardown();
}

void MonitorWorker::teardown()
{
    delete m_metrics;
    m_metrics = nullptr;
    delete m_replication;
    m_replication = nullptr;
    delete m_sentinels;
    m_sentinels = nullptr;
}

void MonitorWorker::shutdown()
{
    teardown();
}

void MonitorWorker::configure(const MonitorConfig &config)
{
    teardown();
    m_config = config;

    if (config.prometheusUrl.isValid()) {
        m_metrics = new PrometheusMetricsSource(config.prometheusUrl, this);
    } else if (!config.gateways.isEmpty()) {
        QList<ScrapeMetricsSource::Target> targets;
        for (const MonitorConfig::Gateway &g : config.gateways) {
            QUrl url = g.baseUrl;
            url.setPath(QStringLiteral("/metrics"));
            targets.append({g.region, url});
        }
        m_metrics = new ScrapeMetricsSource(targets, this);
    }
    if (m_metrics) {
        connect(m_metrics, &MetricsSource::snapshotReady, this, &MonitorWorker::snapshotReady);
        m_metrics->setIntervalMs(1000);
        m_metrics->start();
    }

    if (config.hasPrimary && !config.replicas.isEmpty()) {
        QList<ReplicationMonitor::Replica> replicas;
        for (const MonitorConfig::Replica &r : config.replicas)
            replicas.append({r.region, r.options});
        m_replication = new ReplicationMonitor(config.primary, replicas, this);
        connect(m_replication, &ReplicationMonitor::statusUpdated, this, &MonitorWorker::replicationUpdated);
        connect(m_replication, &ReplicationMonitor::primaryUpdated, this, &MonitorWorker::primaryStatusUpdated);
        m_replication->setIntervalMs(1000);
        m_replication->start();
    }

    if (!config.sentinels.isEmpty()) {
        SentinelClient::Options options;
        options.masterName = config.sentinelMaster;
        for (const MonitorConfig::Sentinel &s : config.sentinels)
            options.sentinels.append({s.host, s.port});
        const bool topologyUser = !config.topologyUser.isEmpty();
        options.serverUser = topologyUser ? config.topologyUser : config.primary.user;
        options.serverPassword = topologyUser ? config.topologyPassword : config.primary.password;
        m_sentinels = new SentinelClient(options, this);
        connect(m_sentinels, &SentinelClient::topologyUpdated, this, &MonitorWorker::topologyUpdated);
        connect(m_sentinels, &SentinelClient::failoverFinished, this, &MonitorWorker::failoverFinished);
        connect(m_sentinels, &SentinelClient::discoveryFailed, this,
                [this](const QString &reason) { emit message(tr("Sentinel discovery failed: %1").arg(reason)); });
        connect(m_sentinels, &SentinelClient::primaryChanged, this, [this](const QString &host, int port) {
            // The heartbeat and the topology follow the new primary here; the
            // write connection is re-pointed by the ControlWorker.
            if (m_replication)
                m_replication->setPrimaryAddress(host, port);
            emit primaryChanged(host, port);
            refreshTopology();
        });
        m_sentinels->start();
        refreshTopology();
    }
}

void MonitorWorker::refreshTopology()
{
    if (m_sentinels)
        m_sentinels->refreshTopology();
}

void MonitorWorker::failover()
{
    if (!m_sentinels) {
        emit failoverFinished({false, QStringLiteral("sentinel-failover"), tr("no Sentinels configured"), {}, 0});
        return;
    }
    m_sentinels->failover();
}

void MonitorWorker::promoteManually(const QString &host, int port)
{
    if (!m_sentinels) {
        emit failoverFinished({false, QStringLiteral("manual-promotion"), tr("no Sentinels configured"), {}, 0});
        return;
    }
    QList<SentinelClient::Address> others;
    if (m_config.hasPrimary && !(m_config.primary.host == host && m_config.primary.port == port))
        others.append({m_config.primary.host, m_config.primary.port});
    for (const MonitorConfig::Replica &r : m_config.replicas) {
        if (!(r.options.host == host && r.options.port == port))
            others.append({r.options.host, r.options.port});
    }
    m_sentinels->promoteManually({host, port}, others);
}

} // namespace l0l3
