#include "ui/proposals/proposalfiltermodel.h"

#include "ui/proposals/proposaltablemodel.h"

namespace l0l3 {

ProposalFilterModel::ProposalFilterModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
    setSortRole(ProposalTableModel::SortRole);
    setDynamicSortFilter(true);
}

void ProposalFilterModel::setSourceModel(QAbstractItemModel *model)
{
    m_table = qobject_cast<const ProposalTableModel *>(model);
    QSortFilterProxyModel::setSourceModel(model);
}

void ProposalFilterModel::holdSorting()
{
    setDynamicSortFilter(false);
}

void ProposalFilterModel::resumeSorting()
{
    if (dynamicSortFilter())
        return;
    // Rows that changed while sorting was held were not re-filtered.
    if (!m_search.isEmpty() || !m_region.isEmpty())
        invalidateFilter();
    setDynamicSortFilter(true); // sorts once
}

void ProposalFilterModel::setSearchText(const QString &text)
{
    const QString trimmed = text.trimmed();
    if (trimmed == m_search)
        return;
    m_search = trimmed;
    invalidateFilter();
}

void ProposalFilterModel::setRegion(const QString &region)
{
    if (region == m_region)
        return;
    m_region = region;
    invalidateFilter();
}

bool ProposalFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    if (!m_table)
        return true;
    if (!m_region.isEmpty()) {
        const ProposalItem &item = m_table->itemAt(sourceRow);
        if (!item.regions.contains(m_region) && item.proposedRegion != m_region)
            return false;
    }
    if (m_search.isEmpty())
        return true;
    const QModelIndex idx = m_table->index(sourceRow, 0, sourceParent);
    return idx.data(ProposalTableModel::SearchTextRole).toString().contains(m_search, Qt::CaseInsensitive);
}

bool ProposalFilterModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    if (!m_table || sortRole() != ProposalTableModel::SortRole)
        return QSortFilterProxyModel::lessThan(left, right);
    if (left.column() == ProposalTableModel::Savings)
        return m_table->savingsAt(left.row()) < m_table->savingsAt(right.row());
    if (left.column() == ProposalTableModel::Cluster)
        return m_table->clusterLessThan(left.row(), right.row());
    return ProposalTableModel::lessThan(m_table->itemAt(left.row()), m_table->itemAt(right.row()), left.column());
}

} // namespace l0l3
