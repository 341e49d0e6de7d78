#pragma once

#include <QSortFilterProxyModel>
#include <QString>

namespace l0l3 {

class ProposalTableModel;

// Sorts the proposals queue on the raw value of each column (what
// ProposalTableModel::SortRole carries, compared without QVariants) and
// filters it by a case-insensitive search over prompt, answer, key and
// regions, and optionally by one region.
//
// While a load streams pages in, sorting can be held: rows are then appended
// in arrival order (sorting each page into a large queue costs one proxy
// insertion per row) and resumeSorting() sorts and filters everything once.
class ProposalFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    explicit ProposalFilterModel(QObject *parent = nullptr);

    void setSourceModel(QAbstractItemModel *model) override;
    void holdSorting();
    void resumeSorting();

    void setSearchText(const QString &text);
    QString searchText() const { return m_search; }
    // Empty: every region.
    void setRegion(const QString &region);
    QString region() const { return m_region; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    const ProposalTableModel *m_table = nullptr;
    QString m_search;
    QString m_region;
};

} // namespace l0l3
