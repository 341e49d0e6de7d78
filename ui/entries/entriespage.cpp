#include "ui/entries/entriespage.h"

#include <QAction>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTimer>

#include "ui/common/blastradiusprompt.h"
#include "ui/common/formatting.h"
#include "ui/common/localshortcutfilter.h"
#include "ui/common/recordview.h"
#include "ui/common/responseeditordialog.h"
#include "ui/entries/entrytablemodel.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

EntriesPage::EntriesPage(ControlClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_model(new EntryTableModel(this))
    , m_proxy(new QSortFilterProxyModel(this))
    , m_view(new QTableView(this))
    , m_search(new QLineEdit(this))
    , m_status(new QLabel(this))
    , m_detail(new QPlainTextEdit(this))
    , m_searchTimer(new QTimer(this))
{
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(EntryTableModel::SortRole);
    m_view->setObjectName(QStringLiteral("entriesView"));
    m_view->setModel(m_proxy);
    m_view->setSortingEnabled(true);
    setUpRecordView(m_view);
    m_view->setColumnWidth(EntryTableModel::Key, 140);
    m_view->setColumnWidth(EntryTableModel::Prompt, 260);
    m_view->setColumnWidth(EntryTableModel::Response, 260);
    m_detail->setReadOnly(true);
    m_status->setTextFormat(Qt::PlainText);

    m_search->setPlaceholderText(tr("Search key, prompt, response, intent, approver"));
    m_search->setClearButtonEnabled(true);
    m_searchTimer->setSingleShot(true);
    m_searchTimer->setInterval(300);
    connect(m_search, &QLineEdit::textChanged, m_searchTimer, qOverload<>(&QTimer::start));
    connect(m_searchTimer, &QTimer::timeout, this, &EntriesPage::reload);

    auto *revoke = new QPushButton(tr("&Revoke"), this);
    revoke->setToolTip(tr("Delete the approved entry everywhere (Delete)"));
    auto *edit = new QPushButton(tr("&Edit → new version"), this);
    edit->setToolTip(tr("Write a new version of the answer (E)"));
    auto *refresh = new QPushButton(tr("Re&load"), this);
    connect(revoke, &QPushButton::clicked, this, &EntriesPage::revokeCurrent);
    connect(edit, &QPushButton::clicked, this, &EntriesPage::editCurrent);
    connect(refresh, &QPushButton::clicked, this, &EntriesPage::reload);
    auto *revokeAction = new QAction(tr("Revoke"), m_view);
    revokeAction->setShortcut(QKeySequence(Qt::Key_Delete));
    revokeAction->setShortcutContext(Qt::WidgetShortcut);
    connect(revokeAction, &QAction::triggered, this, &EntriesPage::revokeCurrent);
    m_view->addAction(revokeAction);
    auto *editAction = new QAction(tr("Edit"), m_view);
    editAction->setShortcut(QKeySequence(Qt::Key_E));
    editAction->setShortcutContext(Qt::WidgetShortcut);
    connect(editAction, &QAction::triggered, this, &EntriesPage::editCurrent);
    m_view->addAction(editAction);
    LocalShortcutFilter::install(m_view);
    m_writeControls = {edit, revoke, editAction, revokeAction};

    auto *top = new QHBoxLayout;
    top->addWidget(m_search, 1);
    top->addWidget(refresh);
    top->addWidget(edit);
    top->addWidget(revoke);
    top->addWidget(m_status);
    layOutRecordPage(this, top, m_view, m_detail);

    connect(m_model, &EntryTableModel::fetchMoreRequested, m_client, &ControlClient::fetchMoreEntries);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &EntriesPage::updateDetail);
    ControlWorker *w = m_client->worker();
    connect(w, &ControlWorker::entriesReset, m_model, &EntryTableModel::clear);
    connect(w, &ControlWorker::entriesPage, this, [this](const QList<EntryItem> &items, bool more) {
        m_model->appendPage(items, more);
        m_status->setText(
            tr("%n entr(y/ies)%1", nullptr, m_model->rowCount()).arg(more ? tr(" (more on scroll)") : QString()));
    });
    // Live: entries any console or l0l3-ctl approved, edited or revoked, batched by the worker.
    connect(w, &ControlWorker::entriesChanged, this,
            [this](const QList<EntryItem> &upserted, const QStringList &removed) {
                m_model->applyLive(upserted, removed);
                m_status->setText(tr("%n entr(y/ies), live%1", nullptr, m_model->rowCount())
                                      .arg(m_model->canFetchMore({}) ? tr(" (more on scroll)") : QString()));
            });
    connect(w, &ControlWorker::entriesFailed, this, [this](const QString &message) {
        m_status->setText(tr("failed"));
        emit statusMessage(tr("Entries: %1").arg(message), 0);
    });
    connect(w, &ControlWorker::decisionFinished, this, [this](quint64 id, const ApprovalResult &result) {
        const auto it = m_inFlight.find(id);
        if (it == m_inFlight.end())
            return;
        m_inFlight.erase(it);
        emit writeFinished(result);
        if (!result.ok) {
            emit statusMessage(tr("%1 failed: %2").arg(result.action, result.message), 0);
            return;
        }
        emit statusMessage(tr("%1 %2 done (version %3, %4 replica(s) acknowledged)")
                               .arg(result.action, result.key.left(16), QString::number(result.version),
                                    QString::number(result.replicasAcked)),
                           5000);
        if (result.action == QLatin1String("revoke"))
            m_model->removeKey(result.key);
        else
            reload();
    });
}

void EntriesPage::reload()
{
    m_status->setText(tr("loading…"));
    m_client->scanEntries(m_search->text().trimmed());
}

int EntriesPage::currentRow() const
{
    const QModelIndex idx = m_proxy->mapToSource(m_view->currentIndex());
    return idx.isValid() ? idx.row() : -1;
}

void EntriesPage::updateDetail()
{
    const int row = currentRow();
    if (row < 0) {
        m_detail->clear();
        return;
    }
    const EntryItem &item = m_model->itemAt(row);
    const Entry &e = item.entry;
    // Untrusted fields, bounded: the editor (E) holds the whole answer.
    auto field = [](const std::string &s) { return Formatting::multiLine(QString::fromStdString(s), kDetailChars); };
    const QString intent = QString::fromStdString(e.intent);
    // One arg() pass: a "%4" inside the prompt stays text.
    m_detail->setPlainText(
        tr("Key: %1\nPrompt: %2\nIntent: %3\nVersion %4, approved by %5 at %6, TTL %7\n\n%8")
            .arg(Formatting::oneLine(QString::fromStdString(e.key), 200), field(e.prompt),
                 intent.isEmpty() ? tr("—") : Formatting::oneLine(intent, 200), QString::number(e.version),
                 Formatting::oneLine(QString::fromStdString(e.approvedBy), 200), Formatting::timestamp(e.approvedAtMs),
                 Formatting::ttl(item.ttlRemainingSeconds), field(e.response)));
}

void EntriesPage::revokeCurrent()
{
    const int row = currentRow();
    if (row < 0)
        return;
    const Entry e = m_model->itemAt(row).entry;
    // The blast radius (requests it served, per region) is shown before the operator confirms.
    BlastRadiusPrompt::Request r;
    r.key = QString::fromStdString(e.key);
    r.title = tr("Revoke entry");
    r.question = tr("Revoke version %1 of this entry? Every region stops serving it; the next request goes "
                    "upstream.\n\n%2")
                     .arg(e.version)
                     .arg(Formatting::oneLine(QString::fromStdString(e.prompt), 200));
    r.confirmText = tr("&Revoke");
    BlastRadiusPrompt::ask(m_client, this, r, [this, e] {
        m_inFlight.insert(m_client->revoke(QString::fromStdString(e.key), e.version), QStringLiteral("revoke"));
    });
}

void EntriesPage::editCurrent()
{
    const int row = currentRow();
    if (row < 0)
        return;
    const Entry e = m_model->itemAt(row).entry;
    auto *dialog = new ResponseEditorDialog(QString::fromStdString(e.response),
                                            tr("&Save as version %1").arg(e.version + 1), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setIntentVisible(false);
    dialog->setReviewDays(m_client->reviewPolicy().daysFor(e.ns, e.reviewDays));
    dialog->setWindowTitle(tr("Edit entry — %1").arg(Formatting::oneLine(QString::fromStdString(e.prompt), 60)));
    connect(dialog, &QDialog::accepted, this, [this, dialog, e] {
        if (!dialog->isChanged())
            return;
        const QString response = dialog->response();
        const qint64 reviewDays = dialog->reviewDays();
        BlastRadiusPrompt::Request r;
        r.key = QString::fromStdString(e.key);
        r.title = tr("Edit entry");
        r.question =
            tr("Save version %1 of this entry? Every region serves the new answer from now on.").arg(e.version + 1);
        r.confirmText = tr("&Save");
        r.confirmIsDefault = true;
        BlastRadiusPrompt::ask(m_client, this, r, [this, e, response, reviewDays] {
            m_inFlight.insert(m_client->editEntry(QString::fromStdString(e.key), response, e.version, reviewDays),
                              QStringLiteral("edit"));
        });
    });
    dialog->open();
}

} // namespace l0l3
