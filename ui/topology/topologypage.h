#pragma once

#include <QHash>
#include <QList>
#include <QWidget>

#include "core/common/controlmessage.h"
#include "core/control/approvalresult.h"
#include "core/control/fleetview.h"
#include "core/control/metricssnapshot.h"
#include "core/control/replicationstatus.h"
#include "core/control/sentineltopology.h"
#include "ui/workers/monitorconfig.h"

class QComboBox;
class QLabel;
class QPushButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace l0l3 {

class ControlClient;
class MonitorClient;

// Primary, replicas, Sentinels and gateways with their roles and health, and
// the controls that change them: Sentinel failover, manual promotion,
// drain/undrain a region, flush L0.5, freeze/unfreeze approvals. Every
// control goes through ApprovalService (audited) or the SentinelClient, and
// asks for confirmation first, saying what will happen.
class TopologyPage : public QWidget
{
    Q_OBJECT
public:
    TopologyPage(ControlClient *control, MonitorClient *monitor, QWidget *parent = nullptr);

    void setConfig(const MonitorConfig &config);
    void setFrozen(bool frozen);
    QTreeWidget *tree() const { return m_tree; }
    // The regions offered for drain / undrain: configured and discovered.
    QStringList drainRegions() const;
    // What the last manual promotion did to each node, one line per node.
    QString promotionReport() const;

    void requestFailover();
    void requestPromotion();
    void requestDrain(bool drain);
    void requestFlush();
    void requestFreeze(bool freeze);
    // Failover, promotion, drain, undrain, flush, freeze, unfreeze: what an admin may do (RoleGate).
    QList<QObject *> adminControls() const { return m_adminControls; }

signals:
    void statusMessage(const QString &message, int timeoutMs);
    void writeFinished(const l0l3::ApprovalResult &result);

private:
    void onTopology(const SentinelTopology &topology);
    void onReplication(const QList<RegionReplicationStatus> &regions);
    void onPrimary(const PrimaryReplicationStatus &primary);
    void onSnapshot(const MetricsSnapshot &snapshot);
    void onFleet(const FleetView &fleet);
    void addRegion(const QString &region);
    void confirm(const QString &title, const QString &text, std::function<void()> action);
    void sendControl(const ControlMessage &message);
    QTreeWidgetItem *section(const QString &name);
    QTreeWidgetItem *row(QTreeWidgetItem *section, const QString &id);

    ControlClient *m_control;
    MonitorClient *m_monitor;
    MonitorConfig m_config;
    QTreeWidget *m_tree;
    QComboBox *m_region;
    QLabel *m_quorum;
    QLabel *m_promotion;
    QPushButton *m_freeze;
    QPushButton *m_unfreeze;
    QHash<QString, QTreeWidgetItem *> m_sections;
    QHash<quint64, QString> m_inFlight;
    QStringList m_gatewayIds; // gateway rows from the registry: instance ids
    QList<QObject *> m_adminControls;
    bool m_frozen = false;
};

} // namespace l0l3
