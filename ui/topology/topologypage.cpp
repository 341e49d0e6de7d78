#include "ui/topology/topologypage.h"

#include <QComboBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "ui/common/formatting.h"
#include "ui/common/regionstatuscard.h"
#include "ui/common/rolegate.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"
#include "ui/workers/monitorclient.h"
#include "ui/workers/monitorworker.h"

namespace l0l3 {

TopologyPage::TopologyPage(ControlClient *control, MonitorClient *monitor, QWidget *parent)
    : QWidget(parent)
    , m_control(control)
    , m_monitor(monitor)
    , m_tree(new QTreeWidget(this))
    , m_region(new QComboBox(this))
    , m_quorum(new QLabel(this))
    , m_promotion(new QLabel(this))
    , m_freeze(new QPushButton(tr("&Freeze approvals"), this))
    , m_unfreeze(new QPushButton(tr("&Unfreeze approvals"), this))
{
    m_tree->setObjectName(QStringLiteral("topologyTree"));
    m_tree->setColumnCount(5);
    m_tree->setHeaderLabels({tr("Node"), tr("Address"), tr("Role / state"), tr("Health"), tr("Detail")});
    m_tree->setRootIsDecorated(true);
    m_tree->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    for (const QString &s : {tr("Primary"), tr("Replicas"), tr("Sentinels"), tr("Gateways")})
        section(s);

    auto *failover = new QPushButton(tr("Sentinel &failover…"), this);
    failover->setObjectName(QStringLiteral("sentinelFailover"));
    failover->setToolTip(tr("Ask the Sentinels to promote a replica now"));
    auto *promote = new QPushButton(tr("Manual &promotion…"), this);
    promote->setObjectName(QStringLiteral("manualPromotion"));
    promote->setToolTip(tr("Without Sentinel quorum: promote the selected replica with REPLICAOF NO ONE"));
    auto *drain = new QPushButton(tr("&Drain"), this);
    drain->setToolTip(tr("Gateways of the region answer 503 on /readyz so the load balancer moves traffic away"));
    auto *undrain = new QPushButton(tr("U&ndrain"), this);
    auto *flush = new QPushButton(tr("Flush L0.5 &everywhere…"), this);
    auto *refresh = new QPushButton(tr("&Refresh"), this);
    m_freeze->setToolTip(tr("Refuse every approval, edit and revoke until unfrozen (audited)"));
    m_adminControls = {failover, promote, drain, undrain, flush, m_freeze, m_unfreeze};

    auto *controls = new QGroupBox(tr("Controls (audited)"), this);
    auto *c = new QHBoxLayout(controls);
    c->addWidget(failover);
    c->addWidget(promote);
    c->addSpacing(12);
    c->addWidget(new QLabel(tr("Region:"), controls));
    c->addWidget(m_region);
    c->addWidget(drain);
    c->addWidget(undrain);
    c->addSpacing(12);
    c->addWidget(flush);
    c->addWidget(m_freeze);
    c->addWidget(m_unfreeze);
    c->addStretch();
    c->addWidget(refresh);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_quorum);
    layout->addWidget(m_tree, 1);
    layout->addWidget(m_promotion);
    layout->addWidget(controls);

    connect(failover, &QPushButton::clicked, this, &TopologyPage::requestFailover);
    connect(promote, &QPushButton::clicked, this, &TopologyPage::requestPromotion);
    connect(drain, &QPushButton::clicked, this, [this] { requestDrain(true); });
    connect(undrain, &QPushButton::clicked, this, [this] { requestDrain(false); });
    connect(flush, &QPushButton::clicked, this, &TopologyPage::requestFlush);
    connect(m_freeze, &QPushButton::clicked, this, [this] { requestFreeze(true); });
    connect(m_unfreeze, &QPushButton::clicked, this, [this] { requestFreeze(false); });
    connect(refresh, &QPushButton::clicked, m_monitor, &MonitorClient::refreshTopology);

    MonitorWorker *mw = m_monitor->worker();
    connect(mw, &MonitorWorker::topologyUpdated, this, &TopologyPage::onTopology);
    connect(mw, &MonitorWorker::replicationUpdated, this, &TopologyPage::onReplication);
    connect(mw, &MonitorWorker::primaryStatusUpdated, this, &TopologyPage::onPrimary);
    connect(mw, &MonitorWorker::snapshotReady, this, &TopologyPage::onSnapshot);
    connect(mw, &MonitorWorker::fleetUpdated, this, &TopologyPage::onFleet);
    connect(mw, &MonitorWorker::failoverFinished, this, [this](const FailoverResult &r) {
        if (!r.steps.isEmpty()) {
            // Per node, plain text: node addresses and server errors are untrusted.
            QStringList lines{tr("Manual promotion of %1:%2:").arg(r.newPrimaryHost).arg(r.newPrimaryPort)};
            for (const PromotionStep &step : r.steps) {
                const QString node = QStringLiteral("%1:%2").arg(step.host).arg(step.port);
                const bool promotedStep = step.command.endsWith(QLatin1String("NO ONE"));
                lines.append(step.ok ? (promotedStep ? tr("  %1 — promoted to primary").arg(node)
                                                     : tr("  %1 — re-pointed to the new primary").arg(node))
                                     : tr("  %1 — failed: %2 (%3)").arg(node, step.detail, step.command));
            }
            // Each node's line bounded on its own, so one long error cannot hide the others.
            for (QString &line : lines)
                line = Formatting::oneLine(line, 400);
            m_promotion->setText(lines.join(u'\n'));
            m_promotion->setVisible(true);
        }
        emit statusMessage(r.ok ? tr("%1: %2").arg(r.action, r.message) : tr("%1 failed: %2").arg(r.action, r.message),
                           0);
        if (r.ok) {
            // Topology actions are audited like every other control action; the
            // write goes to the new primary once the control connection follows it.
            // A Sentinel failover has only started: its new primary is not known yet.
            ControlMessage message{r.action == QLatin1String("manual-promotion") ? ControlMessage::Verb::Promote
                                                                                 : ControlMessage::Verb::Failover,
                                   {}};
            if (!r.newPrimaryHost.isEmpty())
                message.target = QStringLiteral("%1:%2").arg(r.newPrimaryHost).arg(r.newPrimaryPort).toStdString();
            const std::string_view verb = controlVerbName(message.verb);
            m_inFlight.insert(m_control->publishControl(QString::fromStdString(encode(message))),
                              QString::fromLatin1(verb.data(), qsizetype(verb.size())));
        }
        m_monitor->refreshTopology();
    });
    connect(m_control->worker(), &ControlWorker::decisionFinished, this, [this](quint64 id, const ApprovalResult &r) {
        const auto it = m_inFlight.find(id);
        if (it == m_inFlight.end())
            return;
        const QString what = *it;
        m_inFlight.erase(it);
        emit writeFinished(r);
        emit statusMessage(r.ok ? tr("%1: done (audited)").arg(what) : tr("%1 failed: %2").arg(what, r.message),
                           r.ok ? 6000 : 0);
    });
    setFrozen(false);
    m_quorum->setObjectName(QStringLiteral("sentinelStatus"));
    m_quorum->setTextFormat(Qt::PlainText);
    m_quorum->setText(tr("Sentinels: not configured"));
    m_promotion->setObjectName(QStringLiteral("promotionReport"));
    m_promotion->setTextFormat(Qt::PlainText);
    m_promotion->setWordWrap(true);
    m_promotion->setVisible(false);
}

QStringList TopologyPage::drainRegions() const
{
    QStringList out;
    for (int i = 0; i < m_region->count(); ++i)
        out.append(m_region->itemData(i).toString());
    return out;
}

QString TopologyPage::promotionReport() const
{
    return m_promotion->text();
}

// Regions stay sorted; the selection is kept.
void TopologyPage::addRegion(const QString &region)
{
    if (region.isEmpty() || m_region->findData(region) >= 0)
        return;
    int pos = 0;
    while (pos < m_region->count() && m_region->itemData(pos).toString() < region)
        ++pos;
    m_region->insertItem(pos, Formatting::oneLine(region, 60), region);
}

QTreeWidgetItem *TopologyPage::section(const QString &name)
{
    if (QTreeWidgetItem *s = m_sections.value(name))
        return s;
    auto *s = new QTreeWidgetItem(m_tree, {name});
    QFont f = s->font(0);
    f.setBold(true);
    s->setFont(0, f);
    s->setExpanded(true);
    m_sections.insert(name, s);
    return s;
}

QTreeWidgetItem *TopologyPage::row(QTreeWidgetItem *sec, const QString &id)
{
    for (int i = 0; i < sec->childCount(); ++i) {
        if (sec->child(i)->data(0, Qt::UserRole).toString() == id)
            return sec->child(i);
    }
    auto *item = new QTreeWidgetItem(sec);
    item->setData(0, Qt::UserRole, id);
    sec->setExpanded(true);
    return item;
}

// Node names, addresses, flags and errors come from Sentinels, replicas and
// gateways: every cell is one escaped, bounded line.
static void setCell(QTreeWidgetItem *item, int column, const QString &text)
{
    item->setText(column, Formatting::oneLine(text, 300));
}

// The address cell, with the raw host and port kept for a promotion.
static void setAddress(QTreeWidgetItem *item, const QString &host, int port)
{
    setCell(item, 1, QStringLiteral("%1:%2").arg(host).arg(port));
    item->setData(1, Qt::UserRole, host);
    item->setData(1, Qt::UserRole + 1, port);
}

static void setHealth(QTreeWidgetItem *item, bool ok, const QString &text)
{
    setCell(item, 3, text);
    item->setForeground(3, ok ? QColor(0x2e, 0x9e, 0x4f) : QColor(0xc8, 0x30, 0x30));
}

void TopologyPage::setConfig(const MonitorConfig &config)
{
    m_config = config;
    m_region->clear();
    for (const MonitorConfig::Gateway &g : config.gateways)
        addRegion(g.region);
    // A replica named only host:port is no region to drain.
    for (const MonitorConfig::Replica &r : config.replicas)
        if (r.region != QStringLiteral("%1:%2").arg(r.options.host).arg(r.options.port))
            addRegion(r.region);
    if (config.hasPrimary) {
        QTreeWidgetItem *p = row(section(tr("Primary")), QStringLiteral("primary"));
        setCell(p, 0, tr("primary"));
        setCell(p, 1, QStringLiteral("%1:%2").arg(config.primary.host).arg(config.primary.port));
    }
    for (const MonitorConfig::Replica &r : config.replicas) {
        QTreeWidgetItem *item = row(section(tr("Replicas")), r.region);
        setCell(item, 0, r.region);
        setAddress(item, r.options.host, r.options.port);
        setCell(item, 2, tr("replica"));
    }
    for (const MonitorConfig::Sentinel &s : config.sentinels) {
        const QString addr = QStringLiteral("%1:%2").arg(s.host).arg(s.port);
        QTreeWidgetItem *item = row(section(tr("Sentinels")), addr);
        setCell(item, 0, tr("sentinel"));
        setCell(item, 1, addr);
    }
    for (const MonitorConfig::Gateway &g : config.gateways) {
        QTreeWidgetItem *item = row(section(tr("Gateways")), g.baseUrl.toString());
        setCell(item, 0, g.region);
        setCell(item, 1, g.baseUrl.toString());
    }
    if (!config.sentinels.isEmpty())
        m_quorum->setText(tr("Sentinels: %1 configured, master name \"%2\"")
                              .arg(config.sentinels.size())
                              .arg(Formatting::oneLine(config.sentinelMaster, 100)));
}

void TopologyPage::setFrozen(bool frozen)
{
    m_frozen = frozen;
    RoleGate::setWanted(m_freeze, !frozen);
    RoleGate::setWanted(m_unfreeze, frozen);
}

void TopologyPage::onTopology(const SentinelTopology &t)
{
    if (!t.error.isEmpty()) {
        m_quorum->setText(tr("Sentinels: %1").arg(Formatting::oneLine(t.error, 300)));
        return;
    }
    m_quorum->setText(
        tr("Master \"%1\" at %2:%3 · quorum %4 · %5")
            .arg(Formatting::oneLine(t.masterName, 100), Formatting::oneLine(t.masterHost, 100),
                 QString::number(t.masterPort), QString::number(t.quorum),
                 t.quorumOk ? tr("CKQUORUM OK") : tr("NO QUORUM: %1").arg(Formatting::oneLine(t.quorumMessage, 300))));
    QTreeWidgetItem *p = row(section(tr("Primary")), QStringLiteral("primary"));
    setCell(p, 0, tr("primary"));
    setCell(p, 1, QStringLiteral("%1:%2").arg(t.masterHost).arg(t.masterPort));
    setCell(p, 2, t.masterFlags);
    setHealth(p, !t.masterFlags.contains(QLatin1String("down")),
              t.masterFlags.contains(QLatin1String("down")) ? tr("down") : tr("up"));
    // Sentinels: the one that answered plus the peers it knows.
    QTreeWidgetItem *self = row(section(tr("Sentinels")),
                                QStringLiteral("%1:%2").arg(t.sentinelHost).arg(t.sentinelPort));
    setCell(self, 0, tr("sentinel"));
    setCell(self, 1, QStringLiteral("%1:%2").arg(t.sentinelHost).arg(t.sentinelPort));
    setCell(self, 2, tr("answered"));
    setHealth(self, true, tr("up"));
    for (const SentinelTopology::Node &n : t.sentinels) {
        const QString addr = QStringLiteral("%1:%2").arg(n.host).arg(n.port);
        QTreeWidgetItem *item = row(section(tr("Sentinels")), addr);
        setCell(item, 0, tr("sentinel"));
        setCell(item, 1, addr);
        setCell(item, 2, n.flags);
        setHealth(item, !n.flags.contains(QLatin1String("down")) && !n.flags.contains(QLatin1String("disconnected")),
                  n.flags.contains(QLatin1String("down")) ? tr("down") : tr("up"));
    }
    for (const SentinelTopology::Node &n : t.replicas) {
        const QString addr = QStringLiteral("%1:%2").arg(n.host).arg(n.port);
        QString region = addr;
        for (const MonitorConfig::Replica &r : std::as_const(m_config.replicas))
            if (r.options.host == n.host && r.options.port == n.port)
                region = r.region;
        QTreeWidgetItem *item = row(section(tr("Replicas")), region);
        setCell(item, 0, region);
        setAddress(item, n.host, n.port);
        setCell(item, 2, n.flags);
    }
}

void TopologyPage::onReplication(const QList<RegionReplicationStatus> &regions)
{
    for (const RegionReplicationStatus &r : regions) {
        QTreeWidgetItem *item = row(section(tr("Replicas")), r.region);
        setCell(item, 0, r.region);
        setAddress(item, r.host, r.port);
        if (item->text(2).isEmpty())
            setCell(item, 2, tr("replica"));
        const bool ok = r.reachable && r.linkUp;
        setHealth(item, ok, ok ? tr("link up") : (r.error.isEmpty() ? tr("link down") : r.error));
        QString detail = r.lagMs >= 0 ? tr("lag %1 ms").arg(r.lagMs) : tr("lag —");
        if (r.offsetBehind() >= 0)
            detail += tr(" · %1 bytes behind").arg(r.offsetBehind());
        if (r.serveStaleData >= 0)
            detail += r.serveStaleData ? tr(" · serves stale data") : tr(" · refuses stale reads");
        setCell(item, 4, detail);
    }
}

void TopologyPage::onPrimary(const PrimaryReplicationStatus &primary)
{
    QTreeWidgetItem *p = row(section(tr("Primary")), QStringLiteral("primary"));
    setCell(p, 0, tr("primary"));
    setCell(p, 1, QStringLiteral("%1:%2").arg(primary.host).arg(primary.port));
    setCell(p, 2, primary.role.isEmpty() ? tr("?") : primary.role);
    setHealth(p, primary.reachable && primary.role == QLatin1String("master"),
              primary.reachable ? (primary.role == QLatin1String("master") ? tr("up") : tr("not a master!"))
                                : primary.error);
    setCell(p, 4, tr("%1 replica(s) connected · offset %2").arg(primary.connectedReplicas).arg(primary.offset));
}

void TopologyPage::onSnapshot(const MetricsSnapshot &snapshot)
{
    for (const RegionMetrics &r : snapshot.regions) {
        // One row per region of gateways (a region may run many).
        QTreeWidgetItem *item = nullptr;
        QTreeWidgetItem *sec = section(tr("Gateways"));
        for (int i = 0; i < sec->childCount(); ++i)
            if (sec->child(i)->text(0) == Formatting::oneLine(r.region, 300))
                item = sec->child(i);
        if (!item) {
            item = row(sec, r.region);
            setCell(item, 0, r.region);
        }
        setCell(item, 2, r.degradationState);
        item->setForeground(2, RegionStatusCard::colorFor(r.degradationState));
        setHealth(item, r.up,
                  r.gatewaysTotal > 0 ? tr("%1/%2 up").arg(r.gatewaysUp).arg(r.gatewaysTotal)
                                      : (r.up ? tr("up") : tr("down")));
        setCell(item, 4, tr("%1 req/s · hit %2%").arg(r.rps, 0, 'f', 1).arg(r.hitRate * 100, 0, 'f', 0));
    }
}

void TopologyPage::onFleet(const FleetView &fleet)
{
    QStringList seen;
    QTreeWidgetItem *sec = section(tr("Gateways"));
    for (const FleetGateway &g : fleet.gateways) {
        const QString id = QStringLiteral("gw:") + g.record.instance;
        seen.append(id);
        addRegion(g.record.region);
        QTreeWidgetItem *item = row(sec, id);
        setCell(item, 0, QStringLiteral("%1 · %2").arg(g.record.region, g.record.instance));
        setCell(item, 1, g.record.url);
        setCell(item, 2, g.record.state);
        item->setForeground(2, RegionStatusCard::colorFor(g.record.state));
        const QString age = g.ageMs >= 0 ? tr("last seen %1 s ago").arg(g.ageMs / 1000.0, 0, 'f', 1) : tr("age ?");
        setHealth(item, !g.stale, g.stale ? tr("stale — %1").arg(age) : tr("announcing"));
        setCell(item, 4,
                tr("version %1 · replica %2 · %3")
                    .arg(g.record.version, g.record.replica.isEmpty() ? tr("?") : g.record.replica, age));
    }
    // A gateway whose record expired: kept as a row that says so.
    for (const QString &id : std::as_const(m_gatewayIds)) {
        if (seen.contains(id))
            continue;
        QTreeWidgetItem *item = row(sec, id);
        setCell(item, 2, tr("gone"));
        item->setForeground(2, QColor(0x88, 0x88, 0x88));
        setHealth(item, false, tr("gone from the registry (its announcement expired)"));
        seen.append(id);
    }
    m_gatewayIds = seen;
    for (const FleetRegion &r : fleet.regions)
        addRegion(r.name);
    for (const FleetReplica &f : fleet.replicas) {
        const QString addr = QStringLiteral("%1:%2").arg(f.host).arg(f.port);
        const QString name = f.region.isEmpty() ? addr : f.region;
        QTreeWidgetItem *item = row(section(tr("Replicas")), name);
        setCell(item, 0, name);
        setAddress(item, f.host, f.port);
        if (item->text(2).isEmpty() || item->text(2) == tr("replica"))
            setCell(item, 2, f.state.isEmpty() ? tr("replica") : tr("replica (%1)").arg(f.state));
    }
}

void TopologyPage::confirm(const QString &title, const QString &text, std::function<void()> action)
{
    auto *box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok | QMessageBox::Cancel, this);
    box->setObjectName(QStringLiteral("controlConfirm"));
    box->setTextFormat(Qt::PlainText); // names a region or a node: untrusted
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setDefaultButton(QMessageBox::Cancel);
    connect(box, &QMessageBox::accepted, this, [action] { action(); });
    box->open();
}

void TopologyPage::sendControl(const ControlMessage &message)
{
    const QString text = QString::fromStdString(encode(message));
    m_inFlight.insert(m_control->publishControl(text), text);
}

void TopologyPage::requestFailover()
{
    confirm(tr("Sentinel failover"),
            tr("The Sentinels will promote one replica to primary now. The current primary (%1) becomes a replica "
               "when it returns. Writes in flight fail and can be retried; the console follows the new primary by "
               "itself. Gateways keep serving from their replicas.")
                .arg(m_config.hasPrimary ? QStringLiteral("%1:%2").arg(m_config.primary.host).arg(m_config.primary.port)
                                         : tr("unknown")),
            [this] {
                emit statusMessage(tr("Failover requested…"), 0);
                m_monitor->failover();
            });
}

void TopologyPage::requestPromotion()
{
    QTreeWidgetItem *item = m_tree->currentItem();
    if (!item || item->parent() != section(tr("Replicas"))) {
        emit statusMessage(tr("Select a replica in the tree to promote it."), 5000);
        return;
    }
    const QString host = item->data(1, Qt::UserRole).toString();
    const int port = item->data(1, Qt::UserRole + 1).toInt();
    if (host.isEmpty() || port <= 0)
        return;
    confirm(tr("Manual promotion"),
            tr("Only when the Sentinels have no quorum. %1 (%2) gets REPLICAOF NO ONE and becomes the primary; every "
               "other server is made its replica. If the old primary is still alive and taking writes, they are lost.")
                .arg(item->text(0), item->text(1)),
            [this, host, port] { m_monitor->promoteManually(host, port); });
}

void TopologyPage::requestDrain(bool drain)
{
    const QString region = m_region->currentData().toString();
    if (region.isEmpty())
        return;
    const QString shown = m_region->currentText();
    confirm(
        drain ? tr("Drain %1").arg(shown) : tr("Undrain %1").arg(shown),
        drain ? tr("Gateways in %1 will answer 503 on /readyz so load balancers stop sending them traffic. "
                   "Requests already routed there are still served.")
                    .arg(shown)
              : tr("Gateways in %1 will report ready again and take traffic.").arg(shown),
        [this, drain, region] {
            sendControl({drain ? ControlMessage::Verb::Drain : ControlMessage::Verb::Undrain, region.toStdString()});
        });
}

void TopologyPage::requestFlush()
{
    confirm(tr("Flush L0.5"),
            tr("Every gateway drops its in-process hot cache. Approved entries stay in Redis; the next requests are "
               "served from L0 (one Redis round trip) until L0.5 warms up again."),
            [this] {
                sendControl({ControlMessage::Verb::Flush, {}});
            });
}

void TopologyPage::requestFreeze(bool freeze)
{
    confirm(freeze ? tr("Freeze approvals") : tr("Unfreeze approvals"),
            freeze ? tr("Every console will be refused approve, edit and revoke until approvals are unfrozen. "
                        "Gateways keep serving what is approved.")
                   : tr("Approvals, edits and revokes are accepted again."),
            [this, freeze] {
                const quint64 id = m_control->setFrozen(freeze);
                m_inFlight.insert(id, freeze ? tr("freeze approvals") : tr("unfreeze approvals"));
            });
}

} // namespace l0l3
