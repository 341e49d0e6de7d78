#pragma once

#include <QSortFilterProxyModel>
#include <QString>

namespace l0l3 {

// Sorts the proposals queue on ProposalTableModel::SortRole (raw values) and
// filters it by a case-insensitive search over prompt, answer, key and
// regions, and optionally by one region.
class ProposalFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    explicit ProposalFilterModel(QObject *parent = nullptr);

    void setSearchText(const QString &text);
    QString searchText() const { return m_search; }
    // Empty: every region.
    void setRegion(const QString &region);
    QString region() const { return m_region; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QString m_search;
    QString m_region;
};

} // namespace l0l3
