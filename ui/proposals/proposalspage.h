#pragma once

#include <QHash>
#include <QList>
#include <QPointer>
#include <QSet>
#include <QTimer>
#include <QWidget>

#include <optional>

#include "core/control/approvalresult.h"
#include "core/control/proposalitem.h"
#include "core/control/reservationstore.h"
#include "ui/common/responseeditordialog.h"
#include "ui/workers/controlworker.h"

class QAction;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressDialog;
class QTableView;

namespace l0l3 {

class ControlClient;
class GuidelinesPane;
class ProposalClusterTracker;
class ProposalDetailPane;
class ProposalFilterModel;
class ProposalTableModel;

// The operator's main work surface: the ranked proposals queue, the detail
// pane, and keyboard-first decisions (Enter approve, Backspace reject,
// E edit, J/K move, Ctrl+F search, Ctrl+Z undo the last approval or rejection).
// Decisions go to the ControlClient; rows stay (greyed) until the worker
// confirms, so nothing is shown as done before Redis said so.
class ProposalsPage : public QWidget
{
    Q_OBJECT
public:
    explicit ProposalsPage(ControlClient *client, QWidget *parent = nullptr);
    ~ProposalsPage() override;

    QTableView *view() const { return m_view; }
    ProposalTableModel *model() const { return m_model; }
    ProposalFilterModel *proxy() const { return m_proxy; }
    ProposalDetailPane *detailPane() const { return m_detail; }
    GuidelinesPane *guidelinesPane() const { return m_guidelines; }
    QLineEdit *searchEdit() const { return m_search; }
    QLabel *progressLabel() const { return m_progress; }
    ProposalClusterTracker *clusterTracker() const { return m_clusters; }
    // The open editor (E), if any; for tests.
    ResponseEditorDialog *editor() const { return m_editor; }

    QList<QAction *> decisionActions() const;
    QList<QAction *> navigationActions() const;
    QAction *undoAction() const { return m_undo; }
    // Reserve this proposal's namespace (R) or region (G) for kReservationMinutes; release
    // this user's reservations (Shift+R).
    QList<QAction *> reservationActions() const
    {
        return {m_reserveNamespace, m_reserveRegion, m_reserveCluster, m_releaseMine};
    }
    static constexpr int kReservationMinutes = 30;
    // Who holds what (hidden while nobody does), and whether the current proposal is held.
    QLabel *reservationsLabel() const { return m_reservationsLabel; }
    // A reservation by another user covering item (its namespace, or the region it was
    // proposed in): J/K and the move after a decision skip such proposals.
    std::optional<Reservation> heldByOther(const ProposalItem &item) const;
    // Attach as variant, not the same question, approve cluster: entry writes beside the decisions.
    QList<QAction *> variantActions() const { return {m_attachVariant, m_notSame, m_approveCluster}; }
    QAction *reloadAction() const { return m_reload; }

    std::optional<ProposalItem> currentItem() const;
    void selectKey(const QString &key);

    void approveCurrent();
    void rejectCurrent();
    void editCurrent();
    void undoLast();
    void bulkDecide(bool approve);
    void moveBy(int delta);
    // Attach the current proposal as a variant of its shadow candidate (the entry L1 would have
    // matched; its main entry if that is a variant) when it has one that is still approved,
    // else of its nearest approved entry (the first the detail pane lists): its phrasing then
    // serves that entry's answer.
    void attachCurrentAsVariant();
    // "Not the same question" as the nearest approved entry: a negative pair that tightens
    // that entry's L1 threshold; the proposal stays in the queue.
    void markCurrentNotSame();
    // Approve the current proposal's cluster (ProposalClusters over the queue's proposals of its
    // scope) in one action: its representative as an entry, every other member as a variant of it.
    void approveCurrentCluster();
    // Split the current proposal off its cluster: C never takes it along again (this session).
    void splitCurrentFromCluster();

signals:
    void statusMessage(const QString &message, int timeoutMs);
    // Every write's outcome (for the status bar's "replicas acknowledged").
    void writeFinished(const l0l3::ApprovalResult &result);
    void queueSizeChanged(int size);
    // While the queue loads: stream entries read so far and the estimate of
    // all there are (also shown as "loaded N / M" next to the filter).
    void loadProgress(qint64 loaded, qint64 total);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    struct Decision
    {
        QString action; // approve | reject | revoke / unreject (undo)
        ProposalItem item;
        bool bulk = false;
        QString variantOf; // an attachment (V): the entry, as the status bar names it
    };
    struct LastDecision
    {
        QString action;
        ProposalItem item;
        qint64 version = 0;
    };

    // Construction, in this order: the queue view over the filter model,
    // the filter row, the layout, the keyboard actions, then the signals.
    void setUpQueueView();
    void setUpFilterRow();
    void layOutPage();
    void buildActions();
    void connectFilterRow();
    void connectQueueView();
    void connectWorker();

    void onDecisionFinished(quint64 requestId, const ApprovalResult &result);
    // reviewDays > 0: the entry's own review period; 0: its namespace's.
    void sendApprove(const ProposalItem &item, const std::optional<QString> &response, const QString &intent, bool bulk,
                     qint64 reviewDays = 0);
    void sendReject(const ProposalItem &item, bool bulk);
    void advanceFrom(const QString &key);
    bool heldByOtherAt(int proxyRow) const;
    QString clusterIdOf(const ProposalItem &item) const;
    void reserveCurrent(const QString &kind);
    void releaseMine();
    void showReservations();
    void updateDetail();
    // The shadow candidates' prompts for the L1 column: the unread keys of rows first..last are
    // wanted, read in batches of ControlWorker::kEntryPromptBatch, a few at a time.
    void wantCandidates(int first, int last);
    void readCandidates();
    void updateCounts();
    void gatherPage(const QList<ProposalItem> &items);
    void flushPages();
    void showProgress();
    void sendNextBulk();
    void finishBulk();
    QList<ProposalItem> selectedItems() const;

    ControlClient *m_client;
    ProposalTableModel *m_model;
    ProposalFilterModel *m_proxy;
    QTableView *m_view;
    QLineEdit *m_search;
    QComboBox *m_region;
    QLabel *m_count;
    QLabel *m_progress;
    QLabel *m_reservationsLabel = nullptr;
    QAction *m_reserveNamespace = nullptr;
    QAction *m_reserveRegion = nullptr;
    QAction *m_reserveCluster = nullptr;
    QAction *m_releaseMine = nullptr;
    QList<Reservation> m_heldSlices;
    QString m_user; // the logged-in ACL user (permissionsChecked)
    ProposalDetailPane *m_detail;
    GuidelinesPane *m_guidelines;
    ProposalClusterTracker *m_clusters;
    QPointer<ResponseEditorDialog> m_editor;

    QAction *m_approve = nullptr;
    QAction *m_reject = nullptr;
    QAction *m_edit = nullptr;
    QAction *m_next = nullptr;
    QAction *m_prev = nullptr;
    QAction *m_find = nullptr;
    QAction *m_undo = nullptr;
    QAction *m_bulkApprove = nullptr;
    QAction *m_bulkReject = nullptr;
    QAction *m_reload = nullptr;
    QAction *m_attachVariant = nullptr;
    QAction *m_notSame = nullptr;
    QAction *m_approveCluster = nullptr;
    QAction *m_splitCluster = nullptr;
    QSet<QString> m_splitKeys; // proposals split off their clusters (ProposalClusters::build's `alone`)
    // The nearest approved entries of the proposal m_similarFor (ControlWorker::similarEntries).
    QString m_similarFor;
    QList<SimilarEntry> m_similarEntries;
    QString m_similarNote; // what the lookup could not compare (entries without a vector of the model)
    QStringList m_candidatesWanted;
    QSet<QString> m_candidatesInFlight;
    QTimer m_candidateTimer;
    static constexpr int kCandidateBatchesInFlight = 4;

    QHash<quint64, Decision> m_inFlight;
    std::optional<LastDecision> m_last;
    bool m_undoInFlight = false;
    bool m_loading = false;
    static constexpr int kFlushMs = 100;
    QList<QList<ProposalItem>> m_gathered; // pages not yet in the model
    QTimer m_flushTimer;
    qint64 m_loaded = 0;
    qint64 m_loadTotal = 0;

    // Bulk run: items still to send, sent one at a time so Cancel works.
    QList<ProposalItem> m_bulkQueue;
    bool m_bulkIsApprove = true;
    int m_bulkTotal = 0;
    int m_bulkOk = 0;
    QStringList m_bulkErrors;
    QPointer<QProgressDialog> m_bulkProgress;
};

} // namespace l0l3
