#include "ui/entries/entrytablemodel.h"

#include <QHash>

#include "ui/common/formatting.h"

namespace l0l3 {

EntryTableModel::EntryTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

int EntryTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_items.size());
}

int EntryTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant EntryTableModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const EntryItem &item = m_items.at(index.row());
    const Entry &e = item.entry;
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Key: return Formatting::oneLine(QString::fromStdString(e.key), 120);
        case Prompt: return Formatting::oneLine(QString::fromStdString(e.prompt), 120);
        case Response: return Formatting::oneLine(QString::fromStdString(e.response), 120);
        case Intent: return Formatting::oneLine(QString::fromStdString(e.intent), 120);
        case Version: return QString::number(e.version);
        case ApprovedBy: return Formatting::oneLine(QString::fromStdString(e.approvedBy), 120);
        case ApprovedAt: return Formatting::timestamp(e.approvedAtMs);
        case Ttl: return Formatting::ttl(item.ttlRemainingSeconds);
        }
    } else if (role == Qt::ToolTipRole) {
        switch (index.column()) {
        case Key: return Formatting::toolTip(QString::fromStdString(e.key));
        case Prompt: return Formatting::toolTip(QString::fromStdString(e.prompt));
        case Response: return Formatting::toolTip(QString::fromStdString(e.response));
        case Intent: return Formatting::toolTip(QString::fromStdString(e.intent));
        case ApprovedBy: return Formatting::toolTip(QString::fromStdString(e.approvedBy));
        default: return {};
        }
    } else if (role == SortRole) {
        switch (index.column()) {
        case Key: return QString::fromStdString(e.key);
        case Prompt: return QString::fromStdString(e.prompt).toCaseFolded();
        case Response: return QString::fromStdString(e.response).toCaseFolded();
        case Intent: return QString::fromStdString(e.intent);
        case Version: return qint64(e.version);
        case ApprovedBy: return QString::fromStdString(e.approvedBy);
        case ApprovedAt: return qint64(e.approvedAtMs);
        // No expiry sorts after every finite TTL.
        case Ttl: return item.ttlRemainingSeconds < 0 ? std::numeric_limits<qint64>::max() : item.ttlRemainingSeconds;
        }
    }
    return {};
}

QVariant EntryTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0 || section >= ColumnCount)
        return {};
    switch (section) {
    case Key: return tr("Key");
    case Prompt: return tr("Prompt");
    case Response: return tr("Response");
    case Intent: return tr("Intent");
    case Version: return tr("Version");
    case ApprovedBy: return tr("Approved by");
    case ApprovedAt: return tr("Approved at");
    case Ttl: return tr("TTL");
    }
    return {};
}

bool EntryTableModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_more && !m_fetching;
}

void EntryTableModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    m_fetching = true;
    emit fetchMoreRequested();
}

void EntryTableModel::clear()
{
    beginResetModel();
    m_items.clear();
    m_more = false;
    m_fetching = false;
    endResetModel();
}

void EntryTableModel::appendPage(const QList<EntryItem> &items, bool more)
{
    m_fetching = false;
    m_more = more;
    if (items.isEmpty())
        return;
    const int first = int(m_items.size());
    beginInsertRows({}, first, first + int(items.size()) - 1);
    m_items.append(items);
    endInsertRows();
}

void EntryTableModel::removeKey(const QString &key)
{
    const int row = rowOfKey(key);
    if (row < 0)
        return;
    beginRemoveRows({}, row, row);
    m_items.removeAt(row);
    endRemoveRows();
}

void EntryTableModel::applyLive(const QList<EntryItem> &upserted, const QStringList &removedKeys)
{
    for (const QString &key : removedKeys)
        removeKey(key);
    if (upserted.isEmpty())
        return;
    QHash<QString, int> rows; // one pass over the rows for the whole batch
    rows.reserve(m_items.size());
    for (int i = 0; i < m_items.size(); ++i)
        rows.insert(QString::fromStdString(m_items.at(i).entry.key), i);
    QList<EntryItem> added;
    for (const EntryItem &item : upserted) {
        const auto it = rows.constFind(QString::fromStdString(item.entry.key));
        if (it == rows.constEnd()) {
            added.append(item);
            continue;
        }
        m_items[*it] = item;
        emit dataChanged(index(*it, 0), index(*it, ColumnCount - 1));
    }
    if (added.isEmpty())
        return;
    beginInsertRows({}, 0, int(added.size()) - 1);
    m_items = added + m_items;
    endInsertRows();
}

int EntryTableModel::rowOfKey(const QString &key) const
{
    const std::string k = key.toStdString();
    for (int i = 0; i < m_items.size(); ++i) {
        if (m_items.at(i).entry.key == k)
            return i;
    }
    return -1;
}

} // namespace l0l3
