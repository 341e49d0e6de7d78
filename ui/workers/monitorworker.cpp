#include "ui/workers/monitorworker.h"

#include <QTimer>

#include <algorithm>

#include "core/common/redishostlist.h"
#include "core/control/fleetview.h"
#include "core/control/prometheusmetricssource.h"
#include "core/control/redisconnection.h"
#include "core/control/replicationmonitor.h"
#include "core/control/scrapemetricssource.h"
#include "core/control/sentinelclient.h"

namespace l0l3 {

namespace {

// A gateway's advertised metrics URL is untrusted (any holder of the gateway
// credential may write it): only http(s) with a host is scraped, and a bare
// base URL gets /metrics.
QUrl metricsUrlOf(const QString &advertised)
{
    QUrl url(advertised.left(2048), QUrl::StrictMode);
    if (!url.isValid() || url.host().isEmpty() || (url.scheme() != u"http" && url.scheme() != u"https")
        || !url.userInfo().isEmpty())
        return {};
    if (url.path().isEmpty() || url.path() == u"/")
        url.setPath(QStringLiteral("/metrics"));
    return url;
}

QList<MonitorConfig::Node> hostsFromEnvironment()
{
    QList<MonitorConfig::Node> out;
    const RedisHostList hosts = RedisHostList::parse(qEnvironmentVariable("L0L3_REDIS_HOSTS").toStdString());
    for (const RedisHostList::Host &h : hosts.hosts())
        out.append({QString::fromStdString(h.host), h.port});
    return out;
}

} // namespace

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
    for (QTimer **t : {&m_fleetTimer, &m_topologyTimer, &m_topologySoon}) {
        delete *t;
        *t = nullptr;
    }
    delete m_metrics;
    m_metrics = nullptr;
    m_scrape = nullptr;
    delete m_replication;
    m_replication = nullptr;
    delete m_sentinels;
    m_sentinels = nullptr;
    delete m_fleet;
    m_fleet = nullptr;
    delete m_primaryLink;
    m_primaryLink = nullptr;
    m_haveView = false;
    m_fleetBusy = false;
    m_view = {};
    m_topology = {};
    m_watchedReplicas.clear();
    m_scrapedTargets.clear();
}

void MonitorWorker::shutdown()
{
    teardown();
}

bool MonitorWorker::mayAuthenticate(const QString &host, int port) const
{
    return std::any_of(m_allowedHosts.cbegin(), m_allowedHosts.cend(),
                       [&](const MonitorConfig::Node &n) { return n.host == host && n.port == port; });
}

void MonitorWorker::configure(const MonitorConfig &config)
{
    teardown();
    m_config = config;
    m_primaryHost = config.hasPrimary ? config.primary.host : QString();
    m_primaryPort = config.hasPrimary ? config.primary.port : 0;

    // Where data-node credentials may go: the operator's list (or the
    // environment's), the primary and the replicas the operator named.
    m_allowedHosts = config.redisHosts.isEmpty() ? hostsFromEnvironment() : config.redisHosts;
    if (config.hasPrimary)
        m_allowedHosts.append({config.primary.host, config.primary.port});
    for (const MonitorConfig::Replica &r : config.replicas)
        m_allowedHosts.append({r.options.host, r.options.port});

    if (config.prometheusUrl.isValid()) {
        m_metrics = new PrometheusMetricsSource(config.prometheusUrl, this);
    } else if (!config.gateways.isEmpty() || config.discoverFleet) {
        m_scrape = new ScrapeMetricsSource({}, this);
        m_metrics = m_scrape;
        applyTargets();
    }
    if (m_metrics) {
        connect(m_metrics, &MetricsSource::snapshotReady, this, &MonitorWorker::snapshotReady);
        m_metrics->setIntervalMs(1000);
        m_metrics->start();
    }

    if (config.hasPrimary && (!config.replicas.isEmpty() || config.discoverFleet)) {
        m_replication = new ReplicationMonitor(config.primary, {}, this);
        connect(m_replication, &ReplicationMonitor::statusUpdated, this, &MonitorWorker::replicationUpdated);
        connect(m_replication, &ReplicationMonitor::primaryUpdated, this, &MonitorWorker::primaryStatusUpdated);
        applyReplicas();
        m_replication->setIntervalMs(1000);
        m_replication->start();
    }

    if (!config.sentinels.isEmpty()) {
        SentinelClient::Options options;
        options.masterName = config.sentinelMaster;
        for (const MonitorConfig::Sentinel &s : config.sentinels)
            options.sentinels.append({s.host, s.port});
        options.sentinelUser = config.sentinelUser;
        options.sentinelPassword = config.sentinelPassword;
        for (const MonitorConfig::Node &n : std::as_const(m_allowedHosts))
            options.serverHosts.append({n.host, n.port});
        const bool topologyUser = !config.topologyUser.isEmpty();
        options.serverUser = topologyUser ? config.topologyUser : config.primary.user;
        options.serverPassword = topologyUser ? config.topologyPassword : config.primary.password;
        options.tls = config.primary.tls; // the Sentinels' tls-port and the data nodes, one CA
        m_sentinels = new SentinelClient(options, this);
        connect(m_sentinels, &SentinelClient::topologyUpdated, this, [this](const SentinelTopology &t) {
            if (t.error.isEmpty()) {
                m_topology = t;
                if (m_fleet)
                    m_fleet->setSentinelTopology(t);
            }
            emit topologyUpdated(t);
        });
        connect(m_sentinels, &SentinelClient::failoverFinished, this, &MonitorWorker::failoverFinished);
        connect(m_sentinels, &SentinelClient::discoveryFailed, this,
                [this](const QString &reason) { emit message(tr("Sentinel discovery failed: %1").arg(reason)); });
        connect(m_sentinels, &SentinelClient::primaryChanged, this, &MonitorWorker::onPrimaryMoved);
        m_topologySoon = new QTimer(this);
        m_topologySoon->setSingleShot(true);
        m_topologySoon->setInterval(200);
        connect(m_topologySoon, &QTimer::timeout, this, &MonitorWorker::refreshTopology);
        connect(m_sentinels, &SentinelClient::sentinelEvent, m_topologySoon, qOverload<>(&QTimer::start));
        m_topologyTimer = new QTimer(this);
        m_topologyTimer->setInterval(qMax(500, config.topologyIntervalMs));
        connect(m_topologyTimer, &QTimer::timeout, this, &MonitorWorker::refreshTopology);
        m_topologyTimer->start();
        m_sentinels->start();
        refreshTopology();
    }

    if (config.discoverFleet && config.hasPrimary) {
        RedisConnection::Options o = config.primary;
        o.commandTimeoutMs = qMin(o.commandTimeoutMs, 3000);
        m_primaryLink = new RedisConnection(o, this);
        m_primaryLink->open();
        m_fleet = new FleetViewBuilder(m_primaryLink, this);
        m_fleetTimer = new QTimer(this);
        m_fleetTimer->setInterval(qMax(250, config.discoveryIntervalMs));
        connect(m_fleetTimer, &QTimer::timeout, this, &MonitorWorker::refreshFleet);
        m_fleetTimer->start();
        refreshFleet();
    }
}

void MonitorWorker::refreshTopology()
{
    if (m_sentinels)
        m_sentinels->refreshTopology();
}

void MonitorWorker::refreshFleet()
{
    if (!m_fleet || m_fleetBusy)
        return;
    m_fleetBusy = true;
    m_fleet->build(this, [this](const FleetView &view) {
        m_fleetBusy = false;
        onFleet(view);
    });
}

void MonitorWorker::onFleet(const FleetView &view)
{
    m_view = view;
    m_haveView = true;
    applyTargets();
    applyReplicas();
    emit fleetUpdated(view);
}

void MonitorWorker::onPrimaryMoved(const QString &host, int port)
{
    m_primaryHost = host;
    m_primaryPort = port;
    // The heartbeat, the fleet reads and the topology follow the new primary
    // here; the write connection is re-pointed by the ControlWorker.
    if (m_replication)
        m_replication->setPrimaryAddress(host, port);
    if (m_primaryLink) {
        RedisConnection::Options o = m_primaryLink->options();
        o.host = host;
        o.port = port;
        m_primaryLink->close();
        m_primaryLink->setOptions(o);
        m_primaryLink->open();
    }
    applyReplicas();
    emit primaryChanged(host, port);
    refreshTopology();
    refreshFleet();
}

// The scrape follows the registry: every announced gateway (a stale one is
// still asked, and counts as down when it does not answer) plus the
// configured ones; a gateway whose record expired is no longer scraped.
void MonitorWorker::applyTargets()
{
    if (!m_scrape)
        return;
    QList<ScrapeMetricsSource::Target> targets;
    QStringList keys;
    auto add = [&](const QString &region, const QUrl &url) {
        const QString key = region + QLatin1Char(' ') + url.toString();
        if (!url.isValid() || keys.contains(key))
            return;
        keys.append(key);
        targets.append({region, url});
    };
    for (const MonitorConfig::Gateway &g : std::as_const(m_config.gateways)) {
        QUrl url = g.baseUrl;
        url.setPath(QStringLiteral("/metrics"));
        add(g.region, url);
    }
    if (m_haveView) {
        for (const FleetGateway &g : std::as_const(m_view.gateways))
            add(g.record.region, metricsUrlOf(g.record.url));
    }
    if (keys == m_scrapedTargets)
        return;
    m_scrapedTargets = keys;
    m_scrape->setTargets(targets);
}

// The replicas watched for lag: the configured ones and those the fleet view
// found (INFO replication on the primary, Sentinel), when credentials may go
// there. Named by region when one is known, else by host:port.
void MonitorWorker::applyReplicas()
{
    // Outside the demo the first fleet view names the replicas' regions:
    // waiting for it keeps host:port names out of the lag chart.
    if (!m_replication || (m_config.discoverFleet && !m_haveView))
        return;
    QList<ReplicationMonitor::Replica> replicas;
    QStringList keys;
    auto add = [&](const QString &region, const QString &host, int port) {
        if (host == m_primaryHost && port == m_primaryPort)
            return;
        for (const ReplicationMonitor::Replica &r : std::as_const(replicas))
            if (r.options.host == host && r.options.port == port)
                return;
        RedisConnection::Options o = m_config.primary;
        o.host = host;
        o.port = port;
        const QString name = region.isEmpty() ? QStringLiteral("%1:%2").arg(host).arg(port) : region;
        replicas.append({name, o});
        keys.append(QStringLiteral("%1 %2:%3").arg(name, host).arg(port));
    };
    for (const MonitorConfig::Replica &r : std::as_const(m_config.replicas)) {
        // A configured name that is only host:port gives way to a discovered region.
        QString region = r.region;
        if (m_haveView && region == QStringLiteral("%1:%2").arg(r.options.host).arg(r.options.port)) {
            for (const FleetReplica &f : std::as_const(m_view.replicas))
                if (f.host == r.options.host && f.port == r.options.port && !f.region.isEmpty())
                    region = f.region;
        }
        add(region, r.options.host, r.options.port);
    }
    if (m_haveView) {
        for (const FleetReplica &f : std::as_const(m_view.replicas))
            if (mayAuthenticate(f.host, f.port))
                add(f.region, f.host, f.port);
    }
    // After a failover the old primary may be a replica the operator named.
    if (m_config.hasPrimary && (m_config.primary.host != m_primaryHost || m_config.primary.port != m_primaryPort))
        add({}, m_config.primary.host, m_config.primary.port);
    if (keys == m_watchedReplicas)
        return;
    m_watchedReplicas = keys;
    m_replication->setReplicas(replicas);
}

void MonitorWorker::failover()
{
    if (!m_sentinels) {
        emit failoverFinished({false, QStringLiteral("sentinel-failover"), tr("no Sentinels configured"), {}, 0, {}});
        return;
    }
    m_sentinels->failover();
}

void MonitorWorker::promoteManually(const QString &host, int port)
{
    if (!m_sentinels) {
        emit failoverFinished({false, QStringLiteral("manual-promotion"), tr("no Sentinels configured"), {}, 0, {}});
        return;
    }
    // Every data node known to be part of the fleet: the current and the
    // configured primary, the configured replicas, and what discovery and
    // the Sentinels report. SentinelClient sends nothing to one that is not
    // an allowed host, and says so in its step.
    QList<SentinelClient::Address> others;
    auto add = [&](const QString &h, int p) {
        if (p <= 0 || (h == host && p == port))
            return;
        for (const SentinelClient::Address &a : std::as_const(others))
            if (a.host == h && a.port == p)
                return;
        others.append({h, p});
    };
    if (m_primaryPort > 0)
        add(m_primaryHost, m_primaryPort);
    if (m_config.hasPrimary)
        add(m_config.primary.host, m_config.primary.port);
    for (const MonitorConfig::Replica &r : std::as_const(m_config.replicas))
        add(r.options.host, r.options.port);
    if (m_haveView) {
        for (const FleetReplica &f : std::as_const(m_view.replicas))
            add(f.host, f.port);
    }
    for (const SentinelTopology::Node &n : std::as_const(m_topology.replicas))
        add(n.host, n.port);
    if (m_topology.masterPort > 0)
        add(m_topology.masterHost, m_topology.masterPort);
    m_sentinels->promoteManually({host, port}, others);
}

} // namespace l0l3
