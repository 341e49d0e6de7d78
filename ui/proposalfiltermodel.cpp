#include "ui/proposalfiltermodel.h"

#include "ui/proposaltablemodel.h"

namespace l0l3 {

ProposalFilterModel::ProposalFilterModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
    setSortRole(ProposalTableModel::SortRole);
    setDynamicSortFilter(true);
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
    auto *model = qobject_cast<const ProposalTableModel *>(sourceModel());
    if (!model)
        return true;
    if (!m_region.isEmpty()) {
        const ProposalItem &item = model->itemAt(sourceRow);
        if (!item.regions.contains(m_region) && item.proposedRegion != m_region)
            return false;
    }
    if (m_search.isEmpty())
        return true;
    const QModelIndex idx = model->index(sourceRow, 0, sourceParent);
    return idx.data(ProposalTableModel::SearchTextRole).toString().contains(m_search, Qt::CaseInsensitive);
}

} // namespace l0l3
