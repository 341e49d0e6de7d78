#pragma once

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QSet>
#include <QStringList>

#include <cstddef>
#include <optional>
#include <vector>

#include "core/control/proposalitem.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

// The proposals queue as a table. Rows arrive in pages (one beginInsertRows
// per page); Qt::UserRole carries the raw value each column sorts on, so a
// QSortFilterProxyModel never sorts display strings. Rows with a decision in
// flight are marked pending (greyed, italic) until the worker answers.
// The Cluster column shows the clusters of likely-same questions
// (ProposalClusters) that setClusters() was last given: on the
// representative's row "12 phrasings, seen 57 times" and the summed savings,
// on the other members the representative's prompt. It sorts by the
// cluster's summed savings, each cluster's rows together, representative
// first (descending). A row that arrived since has no cluster until the next.
// The L1 column shows the shadow candidate a proposal carries (the approved
// entry L1 would have matched): "≈ 0.92 " and that entry's prompt, once
// setCandidatePrompts() has given it; it sorts by the similarity.
class ProposalTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Savings, Seen, Cluster, L1Candidate, Regions, Proposed, Prompt, Answer, ColumnCount };
    enum Role {
        SortRole = Qt::UserRole,
        KeyRole = Qt::UserRole + 1,
        PendingRole = Qt::UserRole + 2,
        SearchTextRole = Qt::UserRole + 3, // prompt, answer, key and regions, for the filter
    };

    // A cluster of two or more pending proposals, as the Cluster column shows it.
    struct ClusterSummary
    {
        QString representativeKey;
        QString representativePrompt;
        QString summary; // ProposalCluster::summary(): "12 phrasings, seen 57 times"
        int phrasings = 0;
        double savings = 0; // summed
    };

    explicit ProposalTableModel(QObject *parent = nullptr);

    // Without QAbstractTableModel's virtual rowCount()/columnCount() calls:
    // a proxy sorting the whole queue asks for two indexes per comparison.
    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Empties the table. deferRelease keeps the rows' memory until releaseRetired(): freeing a
    // large queue at once stalls the UI thread at the start of a reload, delaying the reload itself.
    void clear(bool deferRelease = false);
    // Frees what clear(true) retired, a slice per event-loop turn, so that no turn stalls.
    void releaseRetired();
    bool hasRetired() const { return !m_retired.isEmpty() || !m_retiredRows.isEmpty(); }
    // New keys are appended with one beginInsertRows; keys already present update in place.
    void addItems(const QList<ProposalItem> &items);
    // Several pages as one insertion (one rowsInserted for the views).
    void addPages(QList<QList<ProposalItem>> pages);
    // Room for this many rows (a load announces its total).
    void reserve(qsizetype rows);
    void updateItems(const QList<ProposalItem> &items);
    void removeKeys(const QStringList &keys);

    // The raw value a column sorts on (SortRole), and the same order compared
    // directly on the items, for a proxy sorting the whole queue.
    static QVariant sortValue(const ProposalItem &item, int column);
    static bool lessThan(const ProposalItem &left, const ProposalItem &right, int column);
    // QString::compare(fromUtf8(a), fromUtf8(b), Qt::CaseInsensitive), converting only the first
    // 64 bytes of each (cut at a character boundary) unless those leave the order undecided.
    static int compareUtf8CaseInsensitive(QByteArrayView a, QByteArrayView b);

    int rowOfKey(const QString &key) const;
    const ProposalItem &itemAt(int row) const { return m_items.at(row); }
    // The Savings sort key of a row, from a compact array: sorting by it
    // touches one double per row instead of every item.
    double savingsAt(int row) const { return m_scores.at(row); }
    QList<ProposalItem> items() const { return m_items; }
    // Replaces the clusters: clusterOf maps a member's key to its index in clusters (keys that are
    // no row any more are ignored). One dataChanged over the Cluster cells that changed.
    void setClusters(const QHash<QString, int> &clusterOf, const QList<ClusterSummary> &clusters);
    // The cluster of a row, or nullptr when it is in none (alone, or not clustered yet).
    const ClusterSummary *clusterAt(int row) const;
    // The Cluster column's order (for the proxy): by summed savings (a row in no cluster by its
    // own), then the cluster's rows together, its representative the greatest, then by savings.
    bool clusterLessThan(int left, int right) const;
    // The shadow candidates' entries as read (ControlWorker::entryPromptsRead): a key asked and
    // not found is no approved entry. One dataChanged over the L1 cells of the rows naming them.
    void setCandidatePrompts(const QStringList &asked, const QList<EntryPrompt> &found);
    // What was read of a candidate entry: nullopt while unread, an empty optional inside when
    // it is no approved entry.
    std::optional<std::optional<EntryPrompt>> candidateEntry(const QString &key) const;
    // The candidate keys of rows first..last not read yet (each once), none once
    // kMaxCandidatePrompts are held.
    QStringList unreadCandidates(int first, int last) const;
    static constexpr int kMaxCandidatePrompts = 20000;
    // True when a change of first..last touched only the columns the model fills in itself
    // (Cluster, L1): the items are the same.
    static bool annotationsOnly(const QModelIndex &topLeft, const QModelIndex &bottomRight)
    {
        return topLeft.column() >= Cluster && bottomRight.column() <= L1Candidate;
    }
    void setPending(const QString &key, bool pending);
    bool isPending(const QString &key) const { return m_pending.contains(key); }
    // For the relative "proposed" column; the tests pin it.
    void setNowMs(qint64 nowMs) { m_nowMs = nowMs; }

private:
    // m_rows holds each key's row as numbered at the last reindex(); m_removed the
    // rows (in that numbering, sorted) removed since. A stored row minus the removed
    // rows before it is the current row.
    int currentRow(int stored) const;
    void noteRemoved(std::vector<int> stored);
    void reindex();
    qint64 nowMs() const;
    static constexpr std::size_t kMaxRemovedBeforeReindex = 512;

    QList<ProposalItem> m_items;
    QList<double> m_scores;  // savingsScore of each row
    QList<int> m_rowCluster; // index into m_clusters of each row, -1: none
    QList<ClusterSummary> m_clusters;
    QHash<QString, int> m_clusterOf;                         // the keys setClusters() was last given
    QHash<QString, std::optional<EntryPrompt>> m_candidates; // candidate key -> its entry, nullopt: none
    QHash<QString, int> m_rows;
    std::vector<int> m_removed;
    QSet<QString> m_pending;
    QList<ProposalItem> m_retired; // rows of a clear(true), freed by releaseRetired()
    QHash<QString, int> m_retiredRows;
    bool m_releaseScheduled = false;
    qint64 m_nowMs = 0;
};

} // namespace l0l3
