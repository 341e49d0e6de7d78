#include "ui/proposals/proposalspage.h"

#include <QAction>
#include <QComboBox>
#include <QDateTime>
#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressDialog>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>

#include "core/control/proposalclusters.h"
#include "ui/common/formatting.h"
#include "ui/common/localshortcutfilter.h"
#include "ui/common/recordview.h"
#include "ui/common/responseeditordialog.h"
#include "ui/proposals/guidelinespane.h"
#include "ui/proposals/heldrowdelegate.h"
#include "ui/proposals/proposalclustertracker.h"
#include "ui/proposals/proposaldetailpane.h"
#include "ui/proposals/proposalfiltermodel.h"
#include "ui/proposals/proposaltablemodel.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

ProposalsPage::ProposalsPage(ControlClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_model(new ProposalTableModel(this))
    , m_proxy(new ProposalFilterModel(this))
    , m_view(new QTableView(this))
    , m_search(new QLineEdit(this))
    , m_region(new QComboBox(this))
    , m_count(new QLabel(this))
    , m_progress(new QLabel(this))
    , m_detail(new ProposalDetailPane(this))
    , m_guidelines(new GuidelinesPane(client, this))
    , m_clusters(new ProposalClusterTracker(m_model, this))
{
    setUpQueueView();
    setUpFilterRow();
    layOutPage();
    buildActions();
    connectFilterRow();
    connectQueueView();
    connectWorker();
    connect(m_clusters, &ProposalClusterTracker::statusMessage, this, &ProposalsPage::statusMessage);
    updateCounts();
}

ProposalsPage::~ProposalsPage() = default;

void ProposalsPage::setUpQueueView()
{
    m_proxy->setSourceModel(m_model);
    m_proxy->sort(ProposalTableModel::Savings, Qt::DescendingOrder);

    m_view->setObjectName(QStringLiteral("proposalsView"));
    m_view->setModel(m_proxy);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(ProposalTableModel::Savings, Qt::DescendingOrder);
    setUpRecordView(m_view, QAbstractItemView::ExtendedSelection);
    m_view->setWordWrap(false);
    m_view->horizontalHeader()->setSectionResizeMode(ProposalTableModel::Prompt, QHeaderView::Interactive);
    m_view->setColumnWidth(ProposalTableModel::Savings, 70);
    m_view->setColumnWidth(ProposalTableModel::Seen, 50);
    m_view->setColumnWidth(ProposalTableModel::Cluster, 220);
    m_view->setColumnWidth(ProposalTableModel::L1Candidate, 220);
    m_view->setColumnWidth(ProposalTableModel::Regions, 150);
    m_view->setColumnWidth(ProposalTableModel::Proposed, 70);
    m_view->setColumnWidth(ProposalTableModel::Prompt, 300);
    LocalShortcutFilter::install(m_view);
}

void ProposalsPage::setUpFilterRow()
{
    m_search->setObjectName(QStringLiteral("proposalSearch"));
    m_search->setPlaceholderText(tr("Search prompt, answer, key, region (Ctrl+F)"));
    m_search->setClearButtonEnabled(true);
    m_search->installEventFilter(this);
    // Added before the region filter is connected: selecting it is not a change.
    m_region->addItem(tr("All regions"), QString());
    m_region->setToolTip(tr("Only proposals missed in this region"));
    m_count->setTextFormat(Qt::PlainText);
    m_progress->setObjectName(QStringLiteral("loadProgress"));
    m_progress->setTextFormat(Qt::PlainText);
}

// The filter row and the queue on the left, the detail pane on the right,
// the keyboard hints below.
void ProposalsPage::layOutPage()
{
    auto *filterRow = new QHBoxLayout;
    filterRow->addWidget(m_search, 1);
    filterRow->addWidget(m_region);
    filterRow->addWidget(m_count);
    filterRow->addWidget(m_progress);

    auto *left = new QWidget(this);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addLayout(filterRow);
    m_reservationsLabel = new QLabel(this);
    m_reservationsLabel->setObjectName(QStringLiteral("reservationsLabel"));
    m_reservationsLabel->setTextFormat(Qt::PlainText);
    m_reservationsLabel->setWordWrap(true);
    m_reservationsLabel->hide();
    leftLayout->addWidget(m_reservationsLabel);
    m_view->setItemDelegate(new HeldRowDelegate(
        [this](const QModelIndex &index) {
            const QModelIndex src = m_proxy->mapToSource(index);
            const auto held = src.isValid() && !m_heldSlices.isEmpty() ? heldByOther(m_model->itemAt(src.row()))
                                                                       : std::nullopt;
            if (!held)
                return QString();
            return tr("Held by %1 until %2 (%3 %4)")
                .arg(Formatting::oneLine(held->holder, 64),
                     QDateTime::fromMSecsSinceEpoch(held->untilMs).toString(QStringLiteral("HH:mm")), held->kind,
                     Formatting::oneLine(held->value, 60));
        },
        m_view));
    leftLayout->addWidget(m_view, 1);

    auto *splitter = new QSplitter(Qt::Horizontal, this);
    splitter->addWidget(left);
    // The proposal, and its namespace's guidelines below it.
    auto *right = new QSplitter(Qt::Vertical, this);
    right->addWidget(m_detail);
    right->addWidget(m_guidelines);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 1);
    splitter->addWidget(right);
    connect(m_guidelines, &GuidelinesPane::statusMessage, this, &ProposalsPage::statusMessage);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);

    auto *hints = new QLabel(
        tr("<b>Enter</b> approve · <b>Backspace</b> reject · <b>E</b> edit &amp; approve · <b>V</b> variant of the L1 candidate (or the nearest entry) · <b>N</b> not the same question · <b>C</b> approve the cluster · <b>S</b> split from it · <b>R</b>/<b>G</b>/<b>U</b> reserve its namespace/region/cluster · <b>J</b>/<b>K</b> or ↓/↑ move · "
           "<b>Ctrl+F</b> search · <b>Ctrl+Z</b> undo last decision · <b>Ctrl+Shift+Enter</b>/<b>Ctrl+Shift+Backspace</b> "
           "bulk approve/reject selection · <b>F5</b> reload"),
        this);
    hints->setObjectName(QStringLiteral("shortcutHints"));
    hints->setWordWrap(true);
    hints->setStyleSheet(QStringLiteral("QLabel { color: palette(dark); padding: 2px; }"));

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(splitter, 1);
    layout->addWidget(hints);
}

void ProposalsPage::connectFilterRow()
{
    connect(m_search, &QLineEdit::textChanged, m_proxy, &ProposalFilterModel::setSearchText);
    connect(m_search, &QLineEdit::textChanged, this, &ProposalsPage::updateCounts);
    connect(m_region, &QComboBox::currentIndexChanged, this, [this] {
        m_proxy->setRegion(m_region->currentData().toString());
        updateCounts();
    });
}

void ProposalsPage::connectQueueView()
{
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &ProposalsPage::updateDetail);
    connect(m_proxy, &QAbstractItemModel::rowsInserted, this, [this] {
        if (!m_view->currentIndex().isValid() && m_proxy->rowCount() > 0)
            m_view->setCurrentIndex(m_proxy->index(0, 0));
    });
    connect(m_proxy, &QAbstractItemModel::rowsInserted, this, &ProposalsPage::updateCounts);
    connect(m_proxy, &QAbstractItemModel::rowsRemoved, this, &ProposalsPage::updateCounts);
    connect(m_proxy, &QAbstractItemModel::modelReset, this, &ProposalsPage::updateCounts);
    connect(m_proxy, &QAbstractItemModel::dataChanged, this, [this](const QModelIndex &tl, const QModelIndex &br) {
        if (ProposalTableModel::annotationsOnly(tl, br))
            return; // the detail pane shows neither the cluster nor the candidate's prompt
        const int row = m_view->currentIndex().row();
        if (row >= tl.row() && row <= br.row())
            updateDetail();
    });
}

void ProposalsPage::wantCandidates(int first, int last)
{
    const QStringList keys = m_model->unreadCandidates(first, last);
    if (keys.isEmpty())
        return;
    m_candidatesWanted.append(keys);
    if (!m_candidateTimer.isActive())
        m_candidateTimer.start();
}

void ProposalsPage::readCandidates()
{
    QSet<QString> batched;
    while (!m_candidatesWanted.isEmpty()
           && m_candidatesInFlight.size() < kCandidateBatchesInFlight * ControlWorker::kEntryPromptBatch) {
        QStringList batch;
        while (!m_candidatesWanted.isEmpty() && batch.size() < ControlWorker::kEntryPromptBatch) {
            const QString key = m_candidatesWanted.takeFirst();
            if (m_candidatesInFlight.contains(key) || batched.contains(key) || m_model->candidateEntry(key))
                continue;
            batched.insert(key);
            batch.append(key);
        }
        if (batch.isEmpty())
            break;
        for (const QString &key : std::as_const(batch))
            m_candidatesInFlight.insert(key);
        m_client->readEntryPrompts(batch);
    }
}

// The queue as the worker streams it (reset, pages, updates, removals, the
// end of a load) and the outcome of every decision.
void ProposalsPage::connectWorker()
{
    ControlWorker *w = m_client->worker();
    m_flushTimer.setSingleShot(true);
    m_flushTimer.setInterval(kFlushMs);
    connect(&m_flushTimer, &QTimer::timeout, this, &ProposalsPage::flushPages);
    connect(w, &ControlWorker::proposalsReset, this, [this] {
        m_gathered.clear();
        m_flushTimer.stop();
        m_model->clear(true); // the old rows are freed once the reload has finished
        m_loading = true;
        m_proxy->holdSorting();
        m_clusters->setHeld(true);
        m_progress->setText(tr("loading…"));
    });
    connect(w, &ControlWorker::proposalsPage, this,
            [this](const QList<ProposalItem> &items, qint64 loaded, qint64 total) {
                if (m_loading && total > 0) {
                    m_loaded = loaded;
                    m_loadTotal = total;
                    m_model->reserve(total);
                }
                gatherPage(items);
            });
    connect(w, &ControlWorker::proposalsUpdated, this, [this](const QList<ProposalItem> &items) {
        flushPages();
        m_model->updateItems(items);
    });
    connect(w, &ControlWorker::proposalsRemoved, this, [this](const QStringList &keys) {
        flushPages();
        m_model->removeKeys(keys);
    });
    connect(w, &ControlWorker::proposalsLoaded, this, [this](int, qint64 malformed) {
        flushPages();
        m_loading = false;
        m_proxy->resumeSorting();
        m_clusters->setHeld(false);
        m_model->releaseRetired();
        m_progress->setText(malformed > 0 ? tr("%1 malformed skipped").arg(malformed) : QString());
        updateDetail(); // and the similar entries held back while loading
    });
    connect(w, &ControlWorker::proposalsFailed, this, [this](const QString &message) {
        flushPages();
        m_loading = false;
        m_proxy->resumeSorting();
        m_clusters->setHeld(false);
        m_model->releaseRetired();
        updateDetail();
        m_progress->setText(tr("load failed"));
        emit statusMessage(tr("Loading proposals failed: %1").arg(message), 0);
    });
    connect(w, &ControlWorker::proposalRegionsFound, this, [this](const QStringList &names) {
        for (const QString &name : names) {
            if (m_region->findData(name) < 0)
                m_region->addItem(Formatting::oneLine(name, 60), name);
        }
    });
    connect(w, &ControlWorker::decisionFinished, this, &ProposalsPage::onDecisionFinished);
    connect(w, &ControlWorker::permissionsChecked, this, [this](const QString &user) {
        m_user = user;
        showReservations();
    });
    connect(w, &ControlWorker::reservationsChanged, this, [this](const QList<Reservation> &live) {
        m_heldSlices = live;
        showReservations();
    });
    connect(w, &ControlWorker::reservationFinished, this, [this](quint64, bool ok, const QString &message) {
        emit statusMessage(ok ? message : tr("Reservation refused: %1").arg(message), 5000);
    });
    m_candidateTimer.setSingleShot(true);
    m_candidateTimer.setInterval(kFlushMs);
    connect(&m_candidateTimer, &QTimer::timeout, this, &ProposalsPage::readCandidates);
    connect(m_model, &QAbstractItemModel::rowsInserted, this,
            [this](const QModelIndex &, int first, int last) { wantCandidates(first, last); });
    connect(m_model, &QAbstractItemModel::dataChanged, this, [this](const QModelIndex &tl, const QModelIndex &br) {
        if (!ProposalTableModel::annotationsOnly(tl, br))
            wantCandidates(tl.row(), br.row());
    });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] { m_candidatesWanted.clear(); });
    connect(w, &ControlWorker::entryPromptsRead, this,
            [this](const QStringList &asked, const QList<EntryPrompt> &found, const QString &error) {
                for (const QString &key : asked)
                    m_candidatesInFlight.remove(key);
                // Unread after an error: the rows' next change (or a reload) asks again.
                if (error.isEmpty())
                    m_model->setCandidatePrompts(asked, found);
                if (!m_candidatesWanted.isEmpty() && !m_candidateTimer.isActive())
                    m_candidateTimer.start();
            });
    // One slot: what V and N act on is what the pane shows, never a step behind it.
    connect(w, &ControlWorker::similarEntries, this,
            [this](const QString &proposalKey, const QList<SimilarEntry> &entries, const QString &note) {
                m_similarFor = proposalKey;
                m_similarEntries = entries;
                m_similarNote = note;
                m_detail->showSimilar(proposalKey, entries, note);
            });
}

void ProposalsPage::buildActions()
{
    auto make = [this](const QString &text, const QList<QKeySequence> &keys, const QString &tip, auto slot) {
        auto *a = new QAction(text, this);
        a->setShortcuts(keys);
        // Shortcuts live on the table only: Enter or Backspace typed in the
        // search box must never approve or reject anything.
        a->setShortcutContext(Qt::WidgetShortcut);
        a->setToolTip(QStringLiteral("%1 (%2)").arg(tip, keys.first().toString(QKeySequence::NativeText)));
        a->setStatusTip(a->toolTip());
        connect(a, &QAction::triggered, this, slot);
        m_view->addAction(a);
        return a;
    };
    m_approve = make(tr("&Approve"), {QKeySequence(Qt::Key_Return), QKeySequence(Qt::Key_Enter)},
                     tr("Approve the proposed answer as is"), &ProposalsPage::approveCurrent);
    m_reject = make(tr("&Reject"), {QKeySequence(Qt::Key_Backspace), QKeySequence(Qt::Key_Delete)},
                    tr("Reject: the key is not proposed again for 30 days"), &ProposalsPage::rejectCurrent);
    m_edit = make(tr("&Edit and approve…"), {QKeySequence(Qt::Key_E)}, tr("Edit the answer, then approve it"),
                  &ProposalsPage::editCurrent);
    m_next = make(tr("&Next proposal"), {QKeySequence(Qt::Key_J)}, tr("Next proposal (or ↓)"), [this] { moveBy(1); });
    m_attachVariant = make(tr("Attach as &variant"), {QKeySequence(Qt::Key_V)},
                           tr("Attach as a variant of the L1 candidate (the approved entry L1 would have matched), "
                              "else of the nearest approved entry: this phrasing then serves its answer"),
                           &ProposalsPage::attachCurrentAsVariant);
    m_notSame = make(tr("&Not the same question"), {QKeySequence(Qt::Key_N)},
                     tr("Not the same question as the nearest approved entry (tightens its L1 threshold)"),
                     &ProposalsPage::markCurrentNotSame);
    m_approveCluster = make(tr("Approve &cluster"), {QKeySequence(Qt::Key_C)},
                            tr("Approve the likely-same questions at once: the representative as an entry, "
                               "the other phrasings as its variants"),
                            &ProposalsPage::approveCurrentCluster);
    m_splitCluster = make(tr("&Split from cluster"), {QKeySequence(Qt::Key_S)},
                          tr("Not the same question as the rest of its cluster: approving the cluster leaves it out"),
                          &ProposalsPage::splitCurrentFromCluster);
    m_prev = make(tr("&Previous proposal"), {QKeySequence(Qt::Key_K)}, tr("Previous proposal (or ↑)"),
                  [this] { moveBy(-1); });
    m_bulkApprove = make(tr("Approve &selection…"), {QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Return)},
                         tr("Approve every selected proposal"), [this] { bulkDecide(true); });
    m_bulkReject = make(tr("Reject s&election…"), {QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Backspace)},
                        tr("Reject every selected proposal"), [this] { bulkDecide(false); });
    m_reserveNamespace = make(tr("Reserve this &namespace for %1 min").arg(kReservationMinutes),
                              {QKeySequence(Qt::Key_R)},
                              tr("Claim the proposal's namespace: other operators see it is yours and their "
                                 "keyboard flow skips it"),
                              [this] { reserveCurrent(QStringLiteral("namespace")); });
    m_reserveRegion = make(tr("Reserve this re&gion for %1 min").arg(kReservationMinutes), {QKeySequence(Qt::Key_G)},
                           tr("Claim the region the proposal was missed in"),
                           [this] { reserveCurrent(QStringLiteral("region")); });
    m_reserveCluster = make(tr("Reserve this cl&uster for %1 min").arg(kReservationMinutes), {QKeySequence(Qt::Key_U)},
                            tr("Claim the proposal's cluster of likely-same questions (named by its "
                               "representative); a proposal in no cluster alone"),
                            [this] { reserveCurrent(QStringLiteral("cluster")); });
    m_releaseMine = make(tr("Re&lease my reservations"), {QKeySequence(Qt::SHIFT | Qt::Key_R)},
                         tr("Give back every slice you hold"), &ProposalsPage::releaseMine);

    m_find = new QAction(tr("&Find…"), this);
    m_find->setShortcut(QKeySequence::Find);
    m_find->setToolTip(tr("Search the queue (%1)").arg(m_find->shortcut().toString(QKeySequence::NativeText)));
    connect(m_find, &QAction::triggered, this, [this] {
        m_search->setFocus(Qt::ShortcutFocusReason);
        m_search->selectAll();
    });
    addAction(m_find);
    m_undo = new QAction(tr("&Undo last decision"), this);
    m_undo->setShortcut(QKeySequence::Undo);
    m_undo->setToolTip(
        tr("Undo the last decision: revoke the entry an approval wrote, or take a rejected key out of the rejected set (%1)")
            .arg(m_undo->shortcut().toString(QKeySequence::NativeText)));
    m_undo->setEnabled(false);
    connect(m_undo, &QAction::triggered, this, &ProposalsPage::undoLast);
    m_view->addAction(m_undo);
    m_reload = new QAction(tr("&Reload queue"), this);
    m_reload->setShortcut(QKeySequence::Refresh);
    connect(m_reload, &QAction::triggered, this, [this] { m_client->reloadProposals(); });
}

QList<QAction *> ProposalsPage::decisionActions() const
{
    return {m_approve, m_reject, m_edit, m_bulkApprove, m_bulkReject};
}

QList<QAction *> ProposalsPage::navigationActions() const
{
    return {m_next, m_prev, m_find, m_reload};
}

bool ProposalsPage::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_search && event->type() == QEvent::KeyPress) {
        auto *key = static_cast<QKeyEvent *>(event);
        // Down/Escape/Enter in the search box hand the keyboard back to the queue.
        if (key->key() == Qt::Key_Down || key->key() == Qt::Key_Escape || key->key() == Qt::Key_Return
            || key->key() == Qt::Key_Enter) {
            m_view->setFocus(Qt::ShortcutFocusReason);
            if (!m_view->currentIndex().isValid() && m_proxy->rowCount() > 0)
                m_view->setCurrentIndex(m_proxy->index(0, 0));
            return true;
        }
        return false;
    }
    return QWidget::eventFilter(watched, event);
}

std::optional<ProposalItem> ProposalsPage::currentItem() const
{
    const QModelIndex idx = m_proxy->mapToSource(m_view->currentIndex());
    if (!idx.isValid())
        return std::nullopt;
    return m_model->itemAt(idx.row());
}

void ProposalsPage::selectKey(const QString &key)
{
    const int row = m_model->rowOfKey(key);
    if (row < 0)
        return;
    const QModelIndex idx = m_proxy->mapFromSource(m_model->index(row, 0));
    if (!idx.isValid())
        return;
    m_view->selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_view->scrollTo(idx);
}

void ProposalsPage::moveBy(int delta)
{
    const int rows = m_proxy->rowCount();
    if (rows == 0)
        return;
    const QModelIndex cur = m_view->currentIndex();
    int row = cur.isValid() ? std::clamp(cur.row() + delta, 0, rows - 1) : 0;
    // Past proposals another operator holds, when there is one that is free that way.
    for (int r = row; r >= 0 && r < rows; r += delta < 0 ? -1 : 1) {
        if (!heldByOtherAt(r)) {
            row = r;
            break;
        }
    }
    const QModelIndex idx = m_proxy->index(row, 0);
    m_view->selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_view->scrollTo(idx);
}

void ProposalsPage::advanceFrom(const QString &key)
{
    // Next row below that has no decision in flight; else the nearest above.
    const int row = m_model->rowOfKey(key);
    if (row < 0)
        return;
    const int proxyRow = m_proxy->mapFromSource(m_model->index(row, 0)).row();
    const int rows = m_proxy->rowCount();
    auto pendingAt = [this](int r) {
        return m_proxy->index(r, 0).data(ProposalTableModel::PendingRole).toBool() || heldByOtherAt(r);
    };
    for (int r = proxyRow + 1; r < rows; ++r) {
        if (!pendingAt(r)) {
            m_view->selectionModel()->setCurrentIndex(m_proxy->index(r, 0),
                                                      QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
            return;
        }
    }
    for (int r = proxyRow - 1; r >= 0; --r) {
        if (!pendingAt(r)) {
            m_view->selectionModel()->setCurrentIndex(m_proxy->index(r, 0),
                                                      QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
            return;
        }
    }
}

std::optional<Reservation> ProposalsPage::heldByOther(const ProposalItem &item) const
{
    for (const Reservation &r : m_heldSlices) {
        if (r.holder == m_user)
            continue;
        if ((r.kind == QLatin1String("namespace") && r.value == item.ns)
            || (r.kind == QLatin1String("region") && r.value == item.proposedRegion)
            || (r.kind == QLatin1String("cluster") && r.value == clusterIdOf(item)))
            return r;
    }
    return std::nullopt;
}

// A cluster is named by its representative's key (the member with the highest savings, the
// same in every console that sees the same queue); a proposal in no cluster by its own key.
QString ProposalsPage::clusterIdOf(const ProposalItem &item) const
{
    const ProposalTableModel::ClusterSummary *cluster = m_model->clusterAt(m_model->rowOfKey(item.key));
    return cluster ? cluster->representativeKey : item.key;
}

bool ProposalsPage::heldByOtherAt(int proxyRow) const
{
    if (m_heldSlices.isEmpty())
        return false;
    const QModelIndex src = m_proxy->mapToSource(m_proxy->index(proxyRow, 0));
    return src.isValid() && heldByOther(m_model->itemAt(src.row())).has_value();
}

void ProposalsPage::reserveCurrent(const QString &kind)
{
    const auto item = currentItem();
    if (!item)
        return;
    const QString value = kind == QLatin1String("namespace") ? item->ns
        : kind == QLatin1String("region")                    ? item->proposedRegion
                                                             : clusterIdOf(*item);
    m_client->claimReservation(kind, value, kReservationMinutes);
    emit statusMessage(tr("Reserving %1 %2…").arg(kind, Formatting::oneLine(value, 60)), 2000);
}

void ProposalsPage::releaseMine()
{
    int released = 0;
    for (const Reservation &r : std::as_const(m_heldSlices)) {
        if (r.holder == m_user) {
            m_client->releaseReservation(r.kind, r.value);
            ++released;
        }
    }
    if (released == 0)
        emit statusMessage(tr("You hold no reservation."), 3000);
}

// "Reserved: namespace acme — op-anna until 14:05 · …", and the current proposal's holder.
void ProposalsPage::showReservations()
{
    QStringList parts;
    for (const Reservation &r : std::as_const(m_heldSlices)) {
        const QString until = QDateTime::fromMSecsSinceEpoch(r.untilMs).toString(QStringLiteral("HH:mm"));
        parts << tr("%1 %2 — %3 until %4")
                     .arg(r.kind, Formatting::oneLine(r.value, 60),
                          r.holder == m_user ? tr("you") : Formatting::oneLine(r.holder, 64), until);
    }
    QString text = parts.isEmpty() ? QString() : tr("Reserved: %1").arg(parts.join(QStringLiteral(" · ")));
    if (const auto item = currentItem()) {
        if (const auto held = heldByOther(*item))
            text += u'\n'
                + tr("This proposal is in %1's reservation (%2 %3): J/K and the next after a decision skip it.")
                      .arg(Formatting::oneLine(held->holder, 64), held->kind, Formatting::oneLine(held->value, 60));
    }
    m_reservationsLabel->setText(text);
    m_reservationsLabel->setVisible(!text.isEmpty());
    m_view->viewport()->update(); // the held rows' marking
}

QList<ProposalItem> ProposalsPage::selectedItems() const
{
    QList<ProposalItem> items;
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    for (const QModelIndex &idx : rows) {
        const QModelIndex src = m_proxy->mapToSource(idx);
        if (src.isValid() && !m_model->isPending(m_model->itemAt(src.row()).key))
            items.append(m_model->itemAt(src.row()));
    }
    return items;
}

void ProposalsPage::approveCurrent()
{
    if (m_view->selectionModel()->selectedRows().size() > 1) {
        bulkDecide(true);
        return;
    }
    const auto item = currentItem();
    if (!item || m_model->isPending(item->key))
        return;
    sendApprove(*item, std::nullopt, {}, false);
    advanceFrom(item->key);
}

void ProposalsPage::attachCurrentAsVariant()
{
    const auto item = currentItem();
    if (!item || m_model->isPending(item->key))
        return;
    // The shadow candidate first: attaching to it also tells L1 its match was right. Not once
    // it is read and no approved entry any more; a variant stands for its main entry.
    QString target;
    QString named;
    const auto candidate = item->l1Key.isEmpty() ? std::nullopt : m_model->candidateEntry(item->l1Key);
    if (!item->l1Key.isEmpty() && (!candidate || *candidate)) {
        target = candidate && !(*candidate)->variantOf.isEmpty() ? (*candidate)->variantOf : item->l1Key;
        named = candidate
            ? tr("the L1 candidate “%1” (%2)").arg(Formatting::oneLine((*candidate)->prompt, 60), target.left(16))
            : tr("the L1 candidate %1").arg(target.left(16));
    } else if (m_similarFor == item->key && !m_similarEntries.isEmpty()) {
        const SimilarEntry &nearest = m_similarEntries.first();
        target = nearest.key;
        named = tr("the nearest entry “%1” (%2)").arg(Formatting::oneLine(nearest.prompt, 60), target.left(16));
    } else {
        emit statusMessage(tr("No approved entry in this proposal's namespace, system prompt and model to attach "
                              "it to."),
                           5000);
        return;
    }
    ApprovalRequest request;
    request.proposalId = item->id;
    request.duplicateIds = item->duplicateIds;
    request.key = item->key;
    request.variantOf = target;
    m_model->setPending(item->key, true);
    const quint64 id = m_client->approve(request);
    m_inFlight.insert(id, {QStringLiteral("approve"), *item, false, named});
    emit statusMessage(tr("Attaching %1 as a variant of %2…").arg(item->key.left(16), named), 2000);
    advanceFrom(item->key);
}

void ProposalsPage::approveCurrentCluster()
{
    const auto item = currentItem();
    if (!item || m_model->isPending(item->key))
        return;
    // The queue's undecided proposals of the same scope (the cluster's own check normalises the
    // system prompt; an exact match here only narrows what it compares).
    QList<ProposalItem> scope;
    for (int row = 0; row < m_model->rowCount(); ++row) {
        const ProposalItem &p = m_model->itemAt(row);
        if (p.ns == item->ns && p.model == item->model && p.system == item->system && !m_model->isPending(p.key))
            scope.append(p);
    }
    const QList<ProposalCluster> clusters = ProposalClusters::build(scope, m_splitKeys);
    const auto it = std::find_if(clusters.begin(), clusters.end(), [&](const ProposalCluster &c) {
        return std::any_of(c.members.begin(), c.members.end(),
                           [&](const ProposalItem &p) { return p.key == item->key; });
    });
    if (it == clusters.end() || it->phrasings() < 2) {
        approveCurrent();
        return;
    }
    const ProposalItem representative = it->representative();
    sendApprove(representative, std::nullopt, {}, false);
    // Writes run in call order: every variant is attached after its entry is approved.
    for (qsizetype i = 1; i < it->members.size(); ++i) {
        const ProposalItem &member = it->members[i];
        ApprovalRequest request;
        request.proposalId = member.id;
        request.duplicateIds = member.duplicateIds;
        request.key = member.key;
        request.variantOf = representative.key;
        m_model->setPending(member.key, true);
        m_inFlight.insert(m_client->approve(request), {QStringLiteral("approve"), member, true});
    }
    emit statusMessage(tr("Approving %1 as one answer for %2 (savings %3)…")
                           .arg(representative.key.left(16), it->summary())
                           .arg(it->savings, 0, 'f', 1),
                       5000);
    advanceFrom(item->key);
}

void ProposalsPage::splitCurrentFromCluster()
{
    const auto item = currentItem();
    if (!item)
        return;
    m_splitKeys.insert(item->key);
    m_clusters->setSplitKeys(m_splitKeys);
    emit statusMessage(tr("%1 split off its cluster.").arg(item->key.left(16)), 3000);
}

void ProposalsPage::markCurrentNotSame()
{
    const auto item = currentItem();
    if (!item || m_similarFor != item->key || m_similarEntries.isEmpty())
        return;
    const SimilarEntry target = m_similarEntries.first();
    m_client->markNegative(target.key, item->key, item->prompt);
    // That entry is no candidate for this proposal any more.
    m_similarEntries.removeFirst();
    m_detail->showSimilar(item->key, m_similarEntries, m_similarNote);
    emit statusMessage(tr("Recorded: not the same question as %1.").arg(target.key.left(16)), 3000);
}

void ProposalsPage::rejectCurrent()
{
    if (m_view->selectionModel()->selectedRows().size() > 1) {
        bulkDecide(false);
        return;
    }
    const auto item = currentItem();
    if (!item || m_model->isPending(item->key))
        return;
    sendReject(*item, false);
    advanceFrom(item->key);
}

void ProposalsPage::editCurrent()
{
    const auto item = currentItem();
    if (!item || m_model->isPending(item->key) || m_editor)
        return;
    auto *dialog = new ResponseEditorDialog(item->responseText(), tr("&Approve edited answer"), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Edit before approving — %1").arg(Formatting::oneLine(item->prompt, 60)));
    dialog->setReviewDays(m_client->reviewPolicy().daysFor(item->ns.toStdString()));
    m_editor = dialog;
    const ProposalItem captured = *item;
    connect(dialog, &QDialog::accepted, this, [this, dialog, captured] {
        const QString text = dialog->response();
        const std::optional<QString> response = text == captured.responseText() ? std::nullopt
                                                                                : std::optional<QString>(text);
        sendApprove(captured, response, dialog->intent(), false, dialog->reviewDays());
        advanceFrom(captured.key);
    });
    connect(dialog, &QDialog::finished, this, [this] { m_view->setFocus(Qt::OtherFocusReason); });
    // open(), not exec(): no nested event loop, the queue keeps updating.
    dialog->open();
}

void ProposalsPage::sendApprove(const ProposalItem &item, const std::optional<QString> &response, const QString &intent,
                                bool bulk, qint64 reviewDays)
{
    ApprovalRequest request;
    request.proposalId = item.id;
    request.duplicateIds = item.duplicateIds;
    request.key = item.key;
    request.response = response;
    request.intent = intent;
    request.reviewDays = reviewDays;
    m_model->setPending(item.key, true);
    const quint64 id = m_client->approve(request);
    m_inFlight.insert(id, {QStringLiteral("approve"), item, bulk});
    emit statusMessage(tr("Approving %1…").arg(item.key.left(16)), 2000);
}

void ProposalsPage::sendReject(const ProposalItem &item, bool bulk)
{
    m_model->setPending(item.key, true);
    const quint64 id = m_client->reject(item);
    m_inFlight.insert(id, {QStringLiteral("reject"), item, bulk});
    emit statusMessage(tr("Rejecting %1…").arg(item.key.left(16)), 2000);
}

void ProposalsPage::undoLast()
{
    if (!m_last || m_undoInFlight)
        return;
    m_undoInFlight = true;
    m_undo->setEnabled(false);
    if (m_last->action == QLatin1String("reject")) {
        // The proposal was acked by the reject; its stream entry is still
        // there, so the kept item goes back into the queue once the key left
        // the rejected set (approve reads the entry back by id).
        const quint64 id = m_client->unreject(m_last->item.key);
        m_inFlight.insert(id, {QStringLiteral("unreject"), m_last->item, false});
        emit statusMessage(tr("Undoing rejection of %1…").arg(m_last->item.key.left(16)), 2000);
        return;
    }
    // Revoke exactly the version this console wrote: if someone edited it
    // since, the revoke fails with a version conflict instead of deleting their work.
    const quint64 id = m_client->revoke(m_last->item.key, m_last->version);
    m_inFlight.insert(id, {QStringLiteral("revoke"), m_last->item, false});
    emit statusMessage(tr("Undoing approval of %1…").arg(m_last->item.key.left(16)), 2000);
}

void ProposalsPage::onDecisionFinished(quint64 requestId, const ApprovalResult &result)
{
    const auto it = m_inFlight.find(requestId);
    if (it == m_inFlight.end())
        return;
    const Decision d = *it;
    m_inFlight.erase(it);
    emit writeFinished(result);

    if (d.action == QLatin1String("revoke") || d.action == QLatin1String("unreject")) {
        m_undoInFlight = false;
        if (result.ok) {
            // The proposal is still in the stream: put it back so it can be
            // decided again (approve reads it back by id).
            m_model->addItems({d.item});
            selectKey(d.item.key);
            m_last.reset();
            emit statusMessage(d.action == QLatin1String("revoke")
                                   ? tr("Approval undone: entry revoked, proposal back in the queue.")
                                   : tr("Rejection undone: key no longer rejected, proposal back in the queue."),
                               5000);
        } else if (result.error == ApprovalResult::ErrorKind::VersionConflict
                   || result.error == ApprovalResult::ErrorKind::NotFound) {
            // The entry (or rejection) changed since this decision, in this console or
            // another: undoing now would delete that newer work, so the undo is refused for good.
            m_last.reset();
            emit statusMessage(
                d.action == QLatin1String("revoke")
                    ? (result.error == ApprovalResult::ErrorKind::NotFound
                           ? tr("Undo refused: %1 was revoked since your approval; nothing to undo.")
                           : tr("Undo refused: %1 was changed since your approval; the newer version is kept, "
                                "nothing was revoked."))
                          .arg(d.item.key.left(16))
                    : tr("Undo refused: %1 is no longer rejected, it was changed since your rejection; "
                         "nothing was changed.")
                          .arg(d.item.key.left(16)),
                0);
        } else {
            m_undo->setEnabled(true);
            emit statusMessage(tr("Undo failed: %1").arg(result.message), 0);
        }
        return;
    }

    if (result.ok && result.awaitingSecondApproval) {
        // Four-eyes: only signed off; the proposal stays until a different user approves it.
        ProposalItem waiting = d.item;
        waiting.firstApprover = tr("you");
        waiting.firstApprovedAtMs = QDateTime::currentMSecsSinceEpoch();
        m_model->setPending(d.item.key, false);
        m_model->updateItems({waiting});
        if (!d.bulk)
            emit statusMessage(tr("First approval of %1 recorded: waiting for second approval by a different user.")
                                   .arg(d.item.key.left(16)),
                               8000);
    } else if (result.ok) {
        m_model->removeKeys({d.item.key});
        if (!d.bulk) {
            m_last = LastDecision{d.action, d.item, result.version};
            m_undo->setEnabled(true);
        }
        if (!d.bulk) {
            const QString acks = result.replicasAcked < 0
                ? tr("replicas unknown")
                : tr("%n replica(s) acknowledged", nullptr, result.replicasAcked);
            QString text = !d.variantOf.isEmpty()
                ? tr("Attached %1 as a variant of %2 (version %3, %4). Ctrl+Z revokes it.")
                      .arg(d.item.key.left(16), d.variantOf, QString::number(result.version), acks)
                : d.action == QLatin1String("approve")
                ? tr("Approved %1 (version %2, %3). Ctrl+Z revokes it.")
                      .arg(d.item.key.left(16), QString::number(result.version), acks)
                : tr("Rejected %1 (%2). Ctrl+Z undoes it.").arg(d.item.key.left(16), acks);
            // E.g. written without its L1 vector: stays until the next message.
            if (!result.warning.isEmpty())
                text += u' ' + tr("Warning: %1").arg(result.warning);
            emit statusMessage(text, result.warning.isEmpty() ? 5000 : 0);
        }
    } else if (result.error == ApprovalResult::ErrorKind::AlreadyDecided) {
        // Another operator was first: not an error to dismiss, the proposal is simply gone.
        m_model->removeKeys({d.item.key});
        if (!d.bulk)
            emit statusMessage((d.action == QLatin1String("approve") ? tr("Not approved: %1") : tr("Not rejected: %1"))
                                   .arg(result.message),
                               10000);
    } else {
        m_model->setPending(d.item.key, false);
        if (!d.bulk) {
            emit statusMessage(tr("%1 failed: %2").arg(d.action, result.message), 0);
            if (result.error == ApprovalResult::ErrorKind::NotFound)
                m_model->removeKeys({d.item.key});
        }
    }
    if (d.bulk) {
        if (result.ok)
            ++m_bulkOk;
        else
            m_bulkErrors.append(QStringLiteral("%1: %2").arg(d.item.key.left(16), result.message));
        if (m_bulkProgress)
            m_bulkProgress->setValue(m_bulkTotal - int(m_bulkQueue.size()));
        sendNextBulk();
    }
}

void ProposalsPage::bulkDecide(bool approve)
{
    if (m_bulkTotal > 0)
        return; // one bulk run at a time
    const QList<ProposalItem> items = selectedItems();
    if (items.isEmpty())
        return;
    auto *box = new QMessageBox(QMessageBox::Question, approve ? tr("Approve selection") : tr("Reject selection"),
                                approve
                                    ? tr("Approve %n proposal(s) as proposed? Their answers will be served on every "
                                         "matching request in every region.",
                                         nullptr, int(items.size()))
                                    : tr("Reject %n proposal(s)? Their keys will not be proposed again for 30 days.",
                                         nullptr, int(items.size())),
                                QMessageBox::Ok | QMessageBox::Cancel, this);
    box->setObjectName(QStringLiteral("bulkConfirm"));
    box->setTextFormat(Qt::PlainText);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setDefaultButton(QMessageBox::Cancel);
    connect(box, &QMessageBox::accepted, this, [this, items, approve] {
        m_bulkQueue = items;
        m_bulkIsApprove = approve;
        m_bulkTotal = int(items.size());
        m_bulkOk = 0;
        m_bulkErrors.clear();
        auto *progress = new QProgressDialog(approve ? tr("Approving…") : tr("Rejecting…"), tr("Cancel"), 0,
                                             m_bulkTotal, this);
        progress->setObjectName(QStringLiteral("bulkProgress"));
        progress->setAttribute(Qt::WA_DeleteOnClose);
        progress->setWindowModality(Qt::WindowModal);
        progress->setMinimumDuration(0);
        progress->setValue(0);
        m_bulkProgress = progress;
        sendNextBulk();
    });
    box->open();
}

void ProposalsPage::sendNextBulk()
{
    if (m_bulkTotal == 0)
        return;
    const bool cancelled = m_bulkProgress && m_bulkProgress->wasCanceled();
    if (m_bulkQueue.isEmpty() || cancelled) {
        // Wait for the one in flight before reporting.
        for (const Decision &d : std::as_const(m_inFlight)) {
            if (d.bulk)
                return;
        }
        finishBulk();
        return;
    }
    const ProposalItem item = m_bulkQueue.takeFirst();
    if (m_bulkIsApprove)
        sendApprove(item, std::nullopt, {}, true);
    else
        sendReject(item, true);
}

void ProposalsPage::finishBulk()
{
    const int notSent = int(m_bulkQueue.size());
    if (m_bulkProgress)
        m_bulkProgress->close();
    QString text =
        tr("%1 of %2 %3.").arg(m_bulkOk).arg(m_bulkTotal).arg(m_bulkIsApprove ? tr("approved") : tr("rejected"));
    if (notSent > 0)
        text += tr(" %1 not sent (cancelled).").arg(notSent);
    if (!m_bulkErrors.isEmpty())
        text += tr(" Failed: %1").arg(m_bulkErrors.mid(0, 5).join(QStringLiteral("; ")));
    m_bulkQueue.clear();
    m_bulkTotal = 0;
    emit statusMessage(text, 0);
}

void ProposalsPage::updateDetail()
{
    if (!m_heldSlices.isEmpty())
        showReservations(); // whether the current proposal is held
    const auto item = currentItem();
    m_detail->showItem(item);
    m_guidelines->showNamespace(item ? item->ns : QString());
    // While a load streams in, the lookup (up to kSimilarScanPages SCANs on the primary) waits
    // for its end: the first rows arrive long before it, and the load wants Redis to itself.
    if (item && !m_loading)
        m_client->findSimilar(*item);
}

void ProposalsPage::updateCounts()
{
    const int total = m_model->rowCount();
    const int shown = m_proxy->rowCount();
    m_count->setText(shown == total ? tr("%n proposal(s)", nullptr, total)
                                    : tr("%1 of %2 shown").arg(shown).arg(total));
    emit queueSizeChanged(total);
}

// While a load streams in, pages are gathered and inserted at most every
// kFlushMs, the first one at once: one insertion and one repaint per batch
// rather than per page. Outside a load (polling) a page goes in directly.
void ProposalsPage::gatherPage(const QList<ProposalItem> &items)
{
    if (!m_loading || (m_model->rowCount() == 0 && m_gathered.isEmpty())) {
        m_model->addItems(items);
        showProgress();
        return;
    }
    m_gathered.append(items);
    if (!m_flushTimer.isActive())
        m_flushTimer.start();
}

void ProposalsPage::flushPages()
{
    m_flushTimer.stop();
    if (m_gathered.isEmpty())
        return;
    m_model->addPages(std::exchange(m_gathered, {}));
    showProgress();
}

void ProposalsPage::showProgress()
{
    if (!m_loading || m_loadTotal <= 0)
        return;
    m_progress->setText(tr("loaded %1 / %2").arg(m_loaded).arg(m_loadTotal));
    emit loadProgress(m_loaded, m_loadTotal);
}

} // namespace l0l3
