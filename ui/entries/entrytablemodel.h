#pragma once

#include <QAbstractTableModel>
#include <QList>

#include "core/control/entrystore.h"

namespace l0l3 {

// Approved entries, one SCAN page at a time: canFetchMore() is true while
// the worker says more pages exist; fetchMore() asks for the next one
// (fetchMoreRequested) and waits for appendPage().
class EntryTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Key, Prompt, Response, Intent, Version, ApprovedBy, ApprovedAt, Ttl, ColumnCount };
    enum Role { SortRole = Qt::UserRole };

    explicit EntryTableModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

    void clear();
    void appendPage(const QList<EntryItem> &items, bool more);
    // After a revoke: drop the row; after an edit: the caller rescans.
    void removeKey(const QString &key);
    // Live changes: rows of upserted keys replaced in place (new keys on top),
    // rows of removed keys dropped.
    void applyLive(const QList<EntryItem> &upserted, const QStringList &removedKeys);
    const EntryItem &itemAt(int row) const { return m_items.at(row); }
    int rowOfKey(const QString &key) const;

signals:
    void fetchMoreRequested();

private:
    QList<EntryItem> m_items;
    bool m_more = false;
    bool m_fetching = false;
};

} // namespace l0l3
