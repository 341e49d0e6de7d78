#include "ui/mainwindow.h"

#include <QAction>
#include <QApplication>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>

#include "ui/audit/auditpage.h"
#include "ui/backup/corpusdialog.h"
#include "ui/common/formatting.h"
#include "ui/common/rolegate.h"
#include "ui/dashboard/dashboardpage.h"
#include "ui/entries/entriespage.h"
#include "ui/entries/entrytablemodel.h"
#include "ui/l1review/l1reviewpage.h"
#include "ui/proposals/guidelinespane.h"
#include "ui/proposals/proposalclustertracker.h"
#include "ui/proposals/proposalspage.h"
#include "ui/reverify/reverifypage.h"
#include "ui/settings/passwordvault.h"
#include "ui/settings/profilemonitoring.h"
#include "ui/settings/profilesecrets.h"
#include "ui/settings/profilestore.h"
#include "ui/settings/settingsdialog.h"
#include "ui/team/teampage.h"
#include "ui/topology/topologypage.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"
#include "ui/workers/monitorclient.h"
#include "ui/workers/monitorworker.h"

namespace l0l3 {

namespace {

constexpr const char *kLastDecisionProperty = "l0l3LastDecision";
constexpr const char *kOwnAcksProperty = "l0l3OwnAcks";

// "last write: <newest audit record> · mine: <replicas that acknowledged this console's last write>"
void showLastWrite(QLabel *label)
{
    const QString decision = label->property(kLastDecisionProperty).toString();
    const QString acks = label->property(kOwnAcksProperty).toString();
    QString text = QCoreApplication::translate("l0l3::MainWindow", "last write: %1")
                       .arg(decision.isEmpty() ? QStringLiteral("—") : decision);
    if (!acks.isEmpty())
        text += QStringLiteral(" · ") + acks;
    label->setText(text);
}

} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
    , m_client(new ControlClient(this))
    , m_monitor(new MonitorClient(this))
    , m_vault(new PasswordVault(QStringLiteral("l0l3-console"), this))
    , m_tabs(new QTabWidget(this))
    , m_proposals(new ProposalsPage(m_client, this))
    , m_entries(new EntriesPage(m_client, this))
    , m_audit(new AuditPage(m_client, this))
    , m_dashboard(new DashboardPage(this))
    , m_topology(new TopologyPage(m_client, m_monitor, this))
    , m_connLabel(new QLabel(this))
    , m_roleLabel(new QLabel(this))
    , m_acksLabel(new QLabel(this))
    , m_queueLabel(new QLabel(this))
{
    setWindowTitle(tr("L0L3 console"));
    m_actor = qEnvironmentVariable("USER", QStringLiteral("operator"));
    m_tabs->addTab(m_proposals, tr("&Proposals"));
    m_tabs->addTab(m_entries, tr("E&ntries"));
    m_tabs->addTab(m_audit, tr("&Audit log"));
    m_tabs->addTab(m_dashboard, tr("&Dashboards"));
    m_tabs->addTab(m_topology, tr("&Topology"));
    m_tabs->addTab(new TeamPage(m_client, this), tr("T&eam"));
    m_reverify = new ReverifyPage(m_client, this);
    m_tabs->addTab(m_reverify, tr("To re-&verify"));
    connect(m_reverify, &ReverifyPage::statusMessage, this, &MainWindow::deliverStatus);
    connect(m_reverify, &ReverifyPage::writeFinished, this, &MainWindow::onWriteFinished);
    auto *l1Review = new L1ReviewPage(m_client, this);
    m_tabs->addTab(l1Review, tr("&L1 review"));
    m_l1Review = l1Review;
    connect(l1Review, &L1ReviewPage::statusMessage, this, &MainWindow::deliverStatus);
    connect(l1Review, &L1ReviewPage::writeFinished, this, &MainWindow::onWriteFinished);
    setCentralWidget(m_tabs);
    buildMenus();
    buildStatusBar();

    for (auto *page : {static_cast<QObject *>(m_proposals), static_cast<QObject *>(m_entries),
                       static_cast<QObject *>(m_audit), static_cast<QObject *>(m_topology)}) {
        connect(page, SIGNAL(statusMessage(QString, int)), this, SLOT(deliverStatus(QString, int)));
    }
    connect(m_proposals, &ProposalsPage::writeFinished, this, &MainWindow::onWriteFinished);
    connect(m_entries, &EntriesPage::writeFinished, this, &MainWindow::onWriteFinished);
    connect(m_topology, &TopologyPage::writeFinished, this, &MainWindow::onWriteFinished);
    connect(m_proposals, &ProposalsPage::queueSizeChanged, this,
            [this](int n) { m_queueLabel->setText(tr("queue: %1").arg(n)); });

    // Entries and audit change with every decision: refresh when shown.
    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int index) {
        if (!m_connected)
            return;
        if (m_tabs->widget(index) == m_entries)
            m_entries->reload();
        else if (m_tabs->widget(index) == m_audit)
            m_audit->reload();
        else if (m_tabs->widget(index) == m_reverify)
            m_reverify->reload();
    });

    ControlWorker *w = m_client->worker();
    // "last write": the newest decision in the audit stream, whoever made it (any console, l0l3-ctl), live.
    connect(w, &ControlWorker::auditAppended, this, [this](const QList<AuditRecord> &records) {
        if (records.isEmpty())
            return;
        const AuditRecord &r = records.constLast();
        m_acksLabel->setProperty(kLastDecisionProperty,
                                 tr("%1 %2 by %3, %4")
                                     .arg(Formatting::oneLine(QString::fromStdString(r.action), 16),
                                          Formatting::oneLine(QString::fromStdString(r.key), 12),
                                          Formatting::oneLine(QString::fromStdString(r.actor), 32),
                                          Formatting::timestamp(r.tsMs)));
        showLastWrite(m_acksLabel);
    });
    connect(w, &ControlWorker::connectionChanged, this,
            [this](const QString &state, const QString &server, const QString &error) {
                m_connected = state == QLatin1String("ready");
                QString text = tr("%1: %2").arg(server, state);
                if (!error.isEmpty() && !m_connected)
                    text += QStringLiteral(" (%1)").arg(error);
                m_connLabel->setText(Formatting::oneLine(text, 200));
                m_connLabel->setToolTip(error.isEmpty() ? QString() : Formatting::toolTip(error));
                if (m_connected) {
                    // Entries and audit are loaded once connected; later on demand.
                    if (m_entries->model()->rowCount() == 0)
                        m_entries->reload();
                    m_audit->reload();
                } else {
                    m_roleLabel->setText(tr("role: ?"));
                }
            });
    connect(w, &ControlWorker::roleChecked, this, [this](const QString &role, bool writable, bool frozen) {
        QString text = writable ? tr("role: primary ✓")
                                : tr("role: %1 — writes refused").arg(Formatting::oneLine(role, 40));
        if (frozen)
            text += tr(" · approvals FROZEN");
        m_roleLabel->setText(text);
        m_roleLabel->setStyleSheet(writable && !frozen ? QString() : QStringLiteral("color: #c33; font-weight: bold;"));
        m_topology->setFrozen(frozen);
    });

    connect(w, &ControlWorker::permissionsChecked, this, &MainWindow::applyPermissions);
    connect(w, &ControlWorker::operatorsSynced, this, [this](bool ok, bool joined, const QString &message) {
        if (!ok)
            showStatus(tr("Operators not re-applied everywhere: %1").arg(message), 0);
        else if (joined) // on connecting, the connection's own messages matter more
            showStatus(tr("Operators re-applied: %1").arg(message), 15000);
    });

    MonitorWorker *mw = m_monitor->worker();
    connect(mw, &MonitorWorker::snapshotReady, m_dashboard, &DashboardPage::addSnapshot);
    connect(mw, &MonitorWorker::replicationUpdated, m_dashboard, &DashboardPage::addReplication);
    connect(mw, &MonitorWorker::primaryChanged, this, [this](const QString &host, int port) {
        // The first discovery usually confirms the address we already use.
        if (host == m_primaryHost && port == m_primaryPort)
            return;
        m_primaryHost = host;
        m_primaryPort = port;
        m_client->repoint(host, port);
        showStatus(tr("Primary moved to %1:%2 (Sentinel); the console follows it.").arg(host).arg(port), 0);
    });
    connect(mw, &MonitorWorker::message, this, [this](const QString &text) { showStatus(text, 8000); });
    connect(m_vault, &PasswordVault::backendUnavailable, this,
            [this](const QString &message) { showStatus(message, 0); });

    resize(1280, 800);
}

MainWindow::~MainWindow() = default;

void MainWindow::deliverStatus(const QString &message, int timeoutMs)
{
    showStatus(message, timeoutMs);
}

// Status messages quote keys, Redis errors and node names: one escaped, bounded line.
void MainWindow::showStatus(const QString &message, int timeoutMs)
{
    statusBar()->showMessage(Formatting::oneLine(message, 500), timeoutMs);
}

void MainWindow::applyPermissions(const QString &user, const QString &role, bool known, bool canDecide, bool canAdmin)
{
    // Redis refuses what the role may not do (ACL DRYRUN of an entry write and of the frozen flag);
    // the console greys those controls out and says why before anyone tries.
    const QString who = tr("%1 (%2)").arg(Formatting::oneLine(user, 64), role);
    const auto gate = [&](const QList<QObject *> &controls, bool may, const QString &needs) {
        for (QObject *c : controls) {
            RoleGate::refuse(c,
                             !known || may ? QString()
                                           : tr("%1 may not use \"%2\": Redis ACL refuses it to this role (%3)")
                                                 .arg(who, RoleGate::label(c), needs));
        }
    };
    QList<QObject *> decide;
    for (QAction *a :
         m_proposals->decisionActions() + m_proposals->variantActions() + m_proposals->reservationActions())
        decide.append(a);
    decide += m_entries->writeControls() + m_reverify->writeControls() + m_l1Review->writeControls();
    decide.append(m_importAction);
    gate(decide, canDecide, tr("approvers and admins only"));
    QList<QObject *> admin = m_topology->adminControls();
    for (QAction *a : std::as_const(m_adminActions))
        admin.append(a);
    admin.append(m_proposals->guidelinesPane()->editButton());
    gate(admin, canAdmin, tr("admins only"));

    m_userLabel->setText(known ? tr("user: %1 (%2)").arg(Formatting::oneLine(user, 64), role) : QString());
    QString why;
    if (known && !canDecide)
        why = tr("%1: Redis ACL refuses every write to this role; approve, edit, reject, revoke, import and the "
                 "admin controls are greyed out")
                  .arg(who);
    else if (known && !canAdmin)
        why = tr("%1: Redis ACL refuses the admin controls to this role (failover, promotion, drain, flush, "
                 "freeze, guidelines); they are greyed out")
                  .arg(who);
    m_userLabel->setToolTip(why);
    if (known && !canDecide)
        showStatus(why, 0);
}

void MainWindow::buildMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *settings = file->addAction(tr("&Connection profiles…"), this, &MainWindow::openSettings);
    settings->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    file->addAction(m_proposals->reloadAction());
    file->addSeparator();
    QAction *exportCorpus = file->addAction(tr("&Export…"), this, [this] {
        CorpusDialog::openFor(CorpusDialog::Mode::Export, m_client, this);
    });
    exportCorpus->setObjectName(QStringLiteral("exportCorpusAction"));
    exportCorpus->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
    QAction *importCorpus = file->addAction(tr("&Import…"), this, [this] {
        CorpusDialog::openFor(CorpusDialog::Mode::Import, m_client, this);
    });
    importCorpus->setObjectName(QStringLiteral("importCorpusAction"));
    importCorpus->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_I));
    m_importAction = importCorpus;
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), qApp, &QApplication::quit);
    quit->setShortcut(QKeySequence::Quit);

    QMenu *decide = menuBar()->addMenu(tr("&Decision"));
    for (QAction *a : m_proposals->decisionActions())
        decide->addAction(a);
    decide->addSeparator();
    decide->addAction(m_proposals->undoAction());
    decide->addSeparator();
    for (QAction *a : m_proposals->reservationActions())
        decide->addAction(a);

    QMenu *go = menuBar()->addMenu(tr("&Go"));
    for (QAction *a : m_proposals->navigationActions())
        go->addAction(a);
    go->addSeparator();
    for (int i = 0; i < m_tabs->count(); ++i) {
        QAction *tab = go->addAction(m_tabs->tabText(i).remove(QLatin1Char('&')), this,
                                     [this, i] { m_tabs->setCurrentIndex(i); });
        tab->setShortcut(QKeySequence(Qt::ALT | Qt::Key(Qt::Key_1 + i)));
    }

    QMenu *control = menuBar()->addMenu(tr("&Control"));
    m_adminActions = {
        control->addAction(tr("Sentinel &failover…"), m_topology, &TopologyPage::requestFailover),
        control->addAction(tr("&Manual promotion of the selected replica…"), m_topology,
                           &TopologyPage::requestPromotion),
    };
    control->addSeparator();
    m_adminActions += {
        control->addAction(tr("&Drain region…"), m_topology, [this] { m_topology->requestDrain(true); }),
        control->addAction(tr("&Undrain region…"), m_topology, [this] { m_topology->requestDrain(false); }),
        control->addAction(tr("Flush L0.5 &everywhere…"), m_topology, &TopologyPage::requestFlush),
    };
    control->addSeparator();
    m_adminActions += {
        control->addAction(tr("F&reeze approvals…"), m_topology, [this] { m_topology->requestFreeze(true); }),
        control->addAction(tr("U&nfreeze approvals…"), m_topology, [this] { m_topology->requestFreeze(false); }),
    };
}

void MainWindow::buildStatusBar()
{
    for (QLabel *label : {m_connLabel, m_roleLabel, m_acksLabel, m_queueLabel})
        label->setTextFormat(Qt::PlainText);
    m_connLabel->setText(tr("not connected — File › Connection profiles"));
    m_roleLabel->setText(tr("role: ?"));
    m_acksLabel->setText(tr("last write: —"));
    m_acksLabel->setToolTip(tr("The last decision in the audit stream, from any console"));
    m_queueLabel->setText(tr("queue: 0"));
    statusBar()->addPermanentWidget(m_connLabel);
    statusBar()->addPermanentWidget(m_roleLabel);
    m_userLabel = new QLabel(this);
    m_userLabel->setTextFormat(Qt::PlainText);
    statusBar()->addPermanentWidget(m_userLabel);
    statusBar()->addPermanentWidget(m_acksLabel);
    statusBar()->addPermanentWidget(m_queueLabel);
}

void MainWindow::onWriteFinished(const ApprovalResult &result)
{
    if (!result.ok) {
        m_acksLabel->setText(tr("last write: %1 failed").arg(Formatting::oneLine(result.action, 40)));
        return;
    }
    // The decision shown follows the audit stream (every console); this console's own last write
    // adds how many replicas acknowledged it.
    m_acksLabel->setProperty(kOwnAcksProperty,
                             result.replicasAcked < 0 ? tr("mine: replicas unknown")
                                                      : tr("mine: %n replica(s) acked", nullptr, result.replicasAcked));
    showLastWrite(m_acksLabel);
    m_acksLabel->setStyleSheet(result.replicasAcked == 0 ? QStringLiteral("color: #c33;") : QString());
}

void MainWindow::connectWith(const RedisConnection::Options &options, const QString &label)
{
    m_primaryHost = options.host;
    m_primaryPort = options.port;
    m_connLabel->setText(
        Formatting::oneLine(tr("%1: connecting").arg(label.isEmpty() ? options.redacted() : label), 200));
    m_client->connectTo(options, m_actor);
}

void MainWindow::connectProfile(const ConnectionProfile &profile, const QString &password)
{
    QString invalid;
    if (!profile.isValid(&invalid)) {
        showStatus(tr("Profile %1: %2").arg(profile.name, invalid), 0);
        return;
    }
    QList<ProfileSecrets::Role> roles;
    if (password.isEmpty())
        roles.append(ProfileSecrets::Role::Console);
    if (!profile.topologyUser.isEmpty())
        roles.append(ProfileSecrets::Role::Topology);
    if (!profile.sentinelUser.isEmpty())
        roles.append(ProfileSecrets::Role::Sentinel);
    auto *secrets = new ProfileSecrets(m_vault, this);
    connect(secrets, &ProfileSecrets::resolved, this,
            [this, secrets, profile, password](const QString &, const QHash<int, QString> &passwords,
                                               const QStringList &notes) {
                secrets->deleteLater();
                if (!notes.isEmpty())
                    showStatus(notes.join(QStringLiteral(" · ")), 8000);
                QString error;
                const QString pw = password.isEmpty() ? passwords.value(int(ProfileSecrets::Role::Console)) : password;
                const auto options = profile.toOptions(pw, &error);
                if (!options) {
                    showStatus(tr("Profile %1: %2").arg(profile.name, error), 0);
                    return;
                }
                ProfileStore::setLastUsed(profile.name);
                setEmbeddings(profile.embeddings());
                connectWith(*options, profile.name);
                setMonitoring(monitorConfigForProfile(profile, *options,
                                                      passwords.value(int(ProfileSecrets::Role::Topology)),
                                                      passwords.value(int(ProfileSecrets::Role::Sentinel))));
            });
    secrets->resolve(profile.name, roles);
}

void MainWindow::setEmbeddings(const EmbeddingSettings &settings)
{
    m_client->setEmbeddings(settings);
    m_proposals->clusterTracker()->setEmbeddings(settings);
}

void MainWindow::setMonitoring(const MonitorConfig &config)
{
    m_topology->setConfig(config);
    m_monitor->configure(config);
}

void MainWindow::openSettings()
{
    auto *dialog = new SettingsDialog(m_vault, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &SettingsDialog::connectRequested, this,
            [this](const ConnectionProfile &profile, const QString &password) { connectProfile(profile, password); });
    dialog->open();
}

} // namespace l0l3
