#include "ui/audit/audittablemodel.h"

#include <algorithm>

#include "ui/common/formatting.h"

namespace l0l3 {

AuditTableModel::AuditTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

int AuditTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_records.size());
}

int AuditTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant AuditTableModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const AuditRecord &r = m_records.at(index.row());
    auto raw = [&r](int column) -> QString {
        switch (column) {
        case Action: return QString::fromStdString(r.action);
        case Key: return QString::fromStdString(r.key);
        case Actor: {
            // The authenticated ACL user beside a name a service account asserted.
            const QString actor = QString::fromStdString(r.actor);
            const QString user = QString::fromStdString(r.user);
            if (user.isEmpty() || user == u"op-" + actor)
                return actor;
            return QStringLiteral("%1 (via %2)").arg(actor, user);
        }
        case Detail: return QString::fromStdString(r.detail);
        }
        return {};
    };
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Time: return Formatting::timestamp(r.tsMs);
        case Action:
        case Key:
        case Actor:
        case Detail: return Formatting::oneLine(raw(index.column()), 200);
        case Version: return r.version ? QString::number(r.version) : QString();
        case PrevVersion: return r.prevVersion ? QString::number(r.prevVersion) : QString();
        }
    } else if (role == Qt::ToolTipRole) {
        const QString text = raw(index.column());
        return text.isEmpty() ? QVariant() : QVariant(Formatting::toolTip(text));
    } else if (role == SortRole) {
        switch (index.column()) {
        case Time: return qint64(r.tsMs);
        case Version: return qint64(r.version);
        case PrevVersion: return qint64(r.prevVersion);
        default: return raw(index.column());
        }
    }
    return {};
}

QVariant AuditTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0 || section >= ColumnCount)
        return {};
    switch (section) {
    case Time: return tr("Time");
    case Action: return tr("Action");
    case Key: return tr("Key / target");
    case Actor: return tr("Actor");
    case Version: return tr("Version");
    case PrevVersion: return tr("Previous");
    case Detail: return tr("Detail");
    }
    return {};
}

bool AuditTableModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_more && !m_fetching;
}

void AuditTableModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    m_fetching = true;
    emit fetchMoreRequested();
}

void AuditTableModel::clear()
{
    beginResetModel();
    m_records.clear();
    m_ids.clear();
    m_more = false;
    m_fetching = false;
    endResetModel();
}

void AuditTableModel::appendPage(const QList<AuditRecord> &records, bool more)
{
    m_fetching = false;
    m_more = more;
    const QList<AuditRecord> added = fresh(records);
    if (added.isEmpty())
        return;
    const int first = int(m_records.size());
    beginInsertRows({}, first, first + int(added.size()) - 1);
    m_records.append(added);
    endInsertRows();
}

QList<AuditRecord> AuditTableModel::fresh(const QList<AuditRecord> &records)
{
    QList<AuditRecord> out;
    out.reserve(records.size());
    for (const AuditRecord &r : records) {
        const QString id = QString::fromStdString(r.id);
        if (!id.isEmpty() && m_ids.contains(id))
            continue;
        m_ids.insert(id);
        out.append(r);
    }
    return out;
}

void AuditTableModel::prependLive(const QList<AuditRecord> &records)
{
    QList<AuditRecord> added = fresh(records);
    if (added.isEmpty())
        return;
    std::reverse(added.begin(), added.end());
    beginInsertRows({}, 0, int(added.size()) - 1);
    m_records = added + m_records;
    endInsertRows();
}

} // namespace l0l3
