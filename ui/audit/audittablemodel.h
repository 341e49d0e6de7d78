#pragma once

#include <QAbstractTableModel>
#include <QList>
#include <QSet>
#include <QString>

#include "core/control/auditlog.h"

namespace l0l3 {

// The audit stream, newest first, one XREVRANGE page at a time.
class AuditTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Time, Action, Key, Actor, Version, PrevVersion, Detail, ColumnCount };
    enum Role { SortRole = Qt::UserRole };

    explicit AuditTableModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

    void clear();
    void appendPage(const QList<AuditRecord> &records, bool more);
    // Live records (oldest first) go on top, newest first. A record already
    // shown (by id) is skipped, here and in appendPage, so a page and the live
    // tail may overlap.
    void prependLive(const QList<AuditRecord> &records);
    const AuditRecord &recordAt(int row) const { return m_records.at(row); }

signals:
    void fetchMoreRequested();

private:
    QList<AuditRecord> m_records;
    QSet<QString> m_ids;
    QList<AuditRecord> fresh(const QList<AuditRecord> &records);
    bool m_more = false;
    bool m_fetching = false;
};

} // namespace l0l3
