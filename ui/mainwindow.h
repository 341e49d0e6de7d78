#pragma once

#include <QList>
#include <QMainWindow>
#include <QString>

#include "core/control/approvalresult.h"
#include "core/control/redisconnection.h"
#include "ui/settings/connectionprofile.h"
#include "ui/workers/monitorconfig.h"

class QAction;
class QLabel;
class QTabWidget;

namespace l0l3 {

class AuditPage;
class ControlClient;
class DashboardPage;
class EntriesPage;
class L1ReviewPage;
class MonitorClient;
class PasswordVault;
class ProposalsPage;
class ReverifyPage;
class TopologyPage;

// The console: proposals queue (the daily work), entries, audit log,
// dashboards and topology with the failover controls. All Redis and HTTP
// I/O runs on worker threads (ControlClient, MonitorClient).
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    // Connects with a password held in memory (the demo's, or typed in).
    void connectWith(const RedisConnection::Options &options, const QString &label);
    // Password from the environment or the vault (ProfileSecrets) when empty;
    // the topology and Sentinel users' passwords always from there.
    void connectProfile(const ConnectionProfile &profile, const QString &password = {});
    // The embeddings provider of approvals' L1 vectors, the nearest entries and the proposal
    // clusters (the profile's; connectProfile applies it).
    void setEmbeddings(const EmbeddingSettings &settings);
    // Dashboards and topology: gateways to scrape, replicas, Sentinels.
    void setMonitoring(const MonitorConfig &config);

    ControlClient *client() const { return m_client; }
    PasswordVault *vault() const { return m_vault; }
    ProposalsPage *proposalsPage() const { return m_proposals; }
    EntriesPage *entriesPage() const { return m_entries; }
    AuditPage *auditPage() const { return m_audit; }
    DashboardPage *dashboardPage() const { return m_dashboard; }
    TopologyPage *topologyPage() const { return m_topology; }
    ReverifyPage *reverifyPage() const { return m_reverify; }
    QTabWidget *tabs() const { return m_tabs; }

    void openSettings();

private slots:
    void deliverStatus(const QString &message, int timeoutMs);

private:
    void buildMenus();
    void buildStatusBar();
    void onWriteFinished(const ApprovalResult &result);
    // What Redis ACL lets the logged-in user do (ControlWorker::permissionsChecked), on every page.
    void applyPermissions(const QString &user, const QString &role, bool known, bool canDecide, bool canAdmin);
    void showStatus(const QString &message, int timeoutMs);

    ControlClient *m_client;
    MonitorClient *m_monitor;
    PasswordVault *m_vault;
    QTabWidget *m_tabs;
    ProposalsPage *m_proposals;
    EntriesPage *m_entries;
    AuditPage *m_audit;
    DashboardPage *m_dashboard;
    TopologyPage *m_topology;
    ReverifyPage *m_reverify = nullptr;
    L1ReviewPage *m_l1Review = nullptr;
    QLabel *m_connLabel;
    QLabel *m_roleLabel;
    QLabel *m_userLabel = nullptr; // the ACL user and its role (ACL DRYRUN)
    QLabel *m_acksLabel;
    QLabel *m_queueLabel;
    QAction *m_importAction = nullptr;
    QList<QAction *> m_adminActions; // the Control menu: admins only
    QString m_actor;
    QString m_primaryHost;
    int m_primaryPort = 0;
    bool m_connected = false;
};

} // namespace l0l3
