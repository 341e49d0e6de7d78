#pragma once

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QSet>
#include <QStringList>

#include <cstddef>
#include <vector>

#include "core/control/proposalitem.h"

namespace l0l3 {

// The proposals queue as a table. Rows arrive in pages (one beginInsertRows
// per page); Qt::UserRole carries the raw value each column sorts on, so a
// QSortFilterProxyModel never sorts display strings. Rows with a decision in
// flight are marked pending (greyed, italic) until the worker answers.
class ProposalTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Savings, Seen, Regions, Proposed, Prompt, Answer, ColumnCount };
    enum Role {
        SortRole = Qt::UserRole,
        KeyRole = Qt::UserRole + 1,
        PendingRole = Qt::UserRole + 2,
        SearchTextRole = Qt::UserRole + 3, // prompt, answer, key and regions, for the filter
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
    QList<double> m_scores; // savingsScore of each row
    QHash<QString, int> m_rows;
    std::vector<int> m_removed;
    QSet<QString> m_pending;
    QList<ProposalItem> m_retired; // rows of a clear(true), freed by releaseRetired()
    QHash<QString, int> m_retiredRows;
    bool m_releaseScheduled = false;
    qint64 m_nowMs = 0;
};

} // namespace l0l3
