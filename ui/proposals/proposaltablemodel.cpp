#include "ui/proposals/proposaltablemodel.h"

#include <QDateTime>
#include <QFont>
#include <QGuiApplication>
#include <QPalette>
#include <QStringDecoder>
#include <QTimer>

#include <algorithm>
#include <iterator>

#include "ui/common/formatting.h"

namespace l0l3 {

ProposalTableModel::ProposalTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

QModelIndex ProposalTableModel::index(int row, int column, const QModelIndex &parent) const
{
    if (parent.isValid() || row < 0 || column < 0 || row >= m_items.size() || column >= ColumnCount)
        return {};
    return createIndex(row, column);
}

int ProposalTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_items.size());
}

int ProposalTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

qint64 ProposalTableModel::nowMs() const
{
    return m_nowMs > 0 ? m_nowMs : QDateTime::currentMSecsSinceEpoch();
}

static QString regionsText(const ProposalItem &item)
{
    QStringList parts;
    for (auto it = item.regions.cbegin(); it != item.regions.cend(); ++it)
        parts.append(QString(it.key() + u' ' + QString::number(it.value())));
    if (parts.isEmpty() && !item.proposedRegion.isEmpty())
        parts.append(item.proposedRegion);
    return parts.join(QStringLiteral(", "));
}

QVariant ProposalTableModel::sortValue(const ProposalItem &item, int column)
{
    switch (column) {
    case Savings: return item.savingsScore;
    case Seen: return item.seenTotal;
    case Cluster: return item.savingsScore; // data() gives the cluster's summed savings
    case L1Candidate: return item.l1Key.isEmpty() ? -1.0 : double(item.l1Similarity);
    // Region: the first region's name sorts alphabetically, then by demand there.
    case Regions: return item.regions.isEmpty() ? item.proposedRegion : regionsText(item);
    case Proposed: return item.tsMs;
    case Prompt: return item.prompt.toCaseFolded();
    case Answer: return item.responseText().toCaseFolded();
    }
    return {};
}

namespace {

// The longest prefix of s of at most n bytes that ends at a UTF-8 character boundary.
QByteArrayView utf8Prefix(QByteArrayView s, qsizetype n)
{
    if (s.size() <= n)
        return s;
    while (n > 0 && (uchar(s[n]) & 0xC0) == 0x80) // s[n] continues a character: cut before it
        --n;
    return s.first(n);
}

// The beginning of the answer, enough for any single-line view of it: a huge
// answer is not converted on every repaint.
QString answerHead(const ProposalItem &item)
{
    constexpr qsizetype kHeadBytes = 64 * 1024;
    return QString::fromUtf8(utf8Prefix(item.responseUtf8, kHeadBytes));
}

} // namespace

int ProposalTableModel::compareUtf8CaseInsensitive(QByteArrayView a, QByteArrayView b)
{
    constexpr qsizetype kPrefix = 64;
    const QByteArrayView pa = utf8Prefix(a, kPrefix);
    const QByteArrayView pb = utf8Prefix(b, kPrefix);
    // UTF-16 never needs more code units than UTF-8 has bytes. A leading byte order mark stays a
    // character, as QString::fromUtf8 keeps it.
    QChar ua[kPrefix];
    QChar ub[kPrefix];
    QStringDecoder decoder(QStringDecoder::Utf8,
                           QStringDecoder::Flag::Stateless | QStringDecoder::Flag::ConvertInitialBom);
    const QStringView va(ua, decoder.appendToBuffer(ua, pa));
    const QStringView vb(ub, decoder.appendToBuffer(ub, pb));
    // The prefixes' first difference is the texts' own; only when one prefix is all of the other's
    // beginning (or they are equal) does the rest decide.
    const qsizetype common = std::min(va.size(), vb.size());
    const int head = va.first(common).compare(vb.first(common), Qt::CaseInsensitive);
    if (head != 0)
        return head;
    if (pa.size() == a.size() && pb.size() == b.size())
        return va.compare(vb, Qt::CaseInsensitive);
    return QString::compare(QString::fromUtf8(a), QString::fromUtf8(b), Qt::CaseInsensitive);
}

bool ProposalTableModel::lessThan(const ProposalItem &left, const ProposalItem &right, int column)
{
    switch (column) {
    case Savings: return left.savingsScore < right.savingsScore;
    case Seen: return left.seenTotal < right.seenTotal;
    case L1Candidate: return sortValue(left, column).toDouble() < sortValue(right, column).toDouble();
    case Proposed: return left.tsMs < right.tsMs;
    case Prompt: return QString::compare(left.prompt, right.prompt, Qt::CaseInsensitive) < 0;
    case Answer: return compareUtf8CaseInsensitive(left.responseUtf8, right.responseUtf8) < 0;
    }
    return QVariant::compare(sortValue(left, column), sortValue(right, column)) == QPartialOrdering::Less;
}

QVariant ProposalTableModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const ProposalItem &item = m_items.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Savings: return QString::number(item.savingsScore, 'f', 1);
        case Seen: return QString::number(item.seenTotal);
        case Cluster: {
            const ClusterSummary *c = clusterAt(index.row());
            if (!c)
                return QString();
            if (c->representativeKey == item.key)
                return tr("%1, savings %2").arg(c->summary).arg(c->savings, 0, 'f', 1);
            return tr("↳ with “%1”").arg(Formatting::oneLine(c->representativePrompt, 60));
        }
        case L1Candidate: {
            if (item.l1Key.isEmpty())
                return QString();
            const QString similarity = QString::number(double(item.l1Similarity), 'f', 2);
            const auto entry = candidateEntry(item.l1Key);
            if (!entry)
                return tr("≈ %1 entry %2…").arg(similarity, item.l1Key.left(12));
            if (!*entry)
                return tr("≈ %1 entry %2… (no longer approved)").arg(similarity, item.l1Key.left(12));
            return tr("≈ %1 %2").arg(similarity, Formatting::oneLine((*entry)->prompt, 80));
        }
        case Regions: return Formatting::oneLine(regionsText(item), 200);
        case Proposed: return Formatting::age(nowMs() - item.tsMs);
        case Prompt:
            if (!item.firstApprover.isEmpty())
                return tr("⧗ waiting for second approval · %1").arg(Formatting::oneLine(item.prompt, 160));
            return Formatting::oneLine(item.prompt, 160);
        case Answer: return Formatting::oneLine(answerHead(item), 160);
        }
        break;
    case SortRole:
        if (index.column() == Cluster) {
            const ClusterSummary *c = clusterAt(index.row());
            return c ? c->savings : item.savingsScore;
        }
        return sortValue(item, index.column());
    case KeyRole: return item.key;
    case PendingRole: return m_pending.contains(item.key);
    case SearchTextRole:
        return QString(item.prompt % u'\n' % item.responseText() % u'\n' % item.key % u'\n' % regionsText(item));
    case Qt::ToolTipRole:
        if (index.column() == Savings)
            return QStringLiteral("seen %1 × %2 region(s) × %3 ms upstream%4")
                .arg(item.seenTotal)
                .arg(std::max<qsizetype>(1, item.regions.size()))
                .arg(item.upstreamMs)
                .arg(item.promptTokens + item.completionTokens > 0
                         ? QStringLiteral(" × (1 + %1 tokens / 1000)").arg(item.promptTokens + item.completionTokens)
                         : QString());
        if (index.column() == Prompt && !item.firstApprover.isEmpty())
            return Formatting::toolTip(tr("Waiting for second approval: %1 approved it first (four-eyes namespace); "
                                          "a different user must approve the same answer.\n\n%2")
                                           .arg(Formatting::oneLine(item.firstApprover, 64), item.prompt));
        if (index.column() == Prompt)
            return Formatting::toolTip(item.prompt);
        if (index.column() == Answer)
            return Formatting::toolTip(answerHead(item));
        if (index.column() == Regions)
            return Formatting::toolTip(regionsText(item));
        if (index.column() == L1Candidate && !item.l1Key.isEmpty()) {
            const auto entry = candidateEntry(item.l1Key);
            QString text = tr("The approved entry L1 would have matched (shadow mode): V attaches this proposal as its "
                              "variant.\n\nEntry %1 at similarity %2")
                               .arg(item.l1Key)
                               .arg(double(item.l1Similarity), 0, 'f', 4);
            if (entry && *entry)
                text += u'\n' + (*entry)->prompt;
            else if (entry)
                text += u'\n' + tr("(no longer an approved entry)");
            return Formatting::toolTip(text);
        }
        if (index.column() == Cluster) {
            const ClusterSummary *c = clusterAt(index.row());
            if (c)
                return Formatting::toolTip(
                    tr("%1, summed savings %2. C approves the cluster: “%3” as the answer, the others as its "
                       "variants; S splits this one off.")
                        .arg(c->summary)
                        .arg(c->savings, 0, 'f', 1)
                        .arg(c->representativePrompt.left(200)));
        }
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == Savings || index.column() == Seen)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case Qt::FontRole:
        if (m_pending.contains(item.key)) {
            QFont f;
            f.setItalic(true);
            return f;
        }
        break;
    case Qt::ForegroundRole:
        if (m_pending.contains(item.key))
            return QGuiApplication::palette().brush(QPalette::Disabled, QPalette::Text);
        break;
    }
    return {};
}

QVariant ProposalTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case Savings: return tr("Savings");
        case Seen: return tr("Seen");
        case Cluster: return tr("Cluster");
        case L1Candidate: return tr("L1 candidate");
        case Regions: return tr("Regions");
        case Proposed: return tr("Proposed");
        case Prompt: return tr("Prompt");
        case Answer: return tr("Proposed answer");
        }
    }
    if (role == Qt::ToolTipRole && section == Savings)
        return tr("Estimated savings: seen × regions × upstream seconds (× token cost when known)");
    if (role == Qt::ToolTipRole && section == Cluster)
        return tr("Likely-same questions (same namespace, system prompt and model): phrasings, demand and summed "
                  "savings; sorts clusters by summed savings");
    if (role == Qt::ToolTipRole && section == L1Candidate)
        return tr("The approved entry L1 would have matched (shadow mode): V attaches this proposal as its variant");
    return {};
}

void ProposalTableModel::clear(bool deferRelease)
{
    if (m_items.isEmpty())
        return;
    beginResetModel();
    if (deferRelease) {
        // One retired generation at most: a reload during the release frees the older one now.
        m_retired = std::exchange(m_items, {});
        m_retiredRows = std::exchange(m_rows, {});
    } else {
        m_items.clear();
        m_rows.clear();
    }
    m_removed.clear();
    m_scores.clear();
    m_rowCluster.clear();
    m_clusters.clear();
    m_clusterOf.clear();
    m_candidates.clear(); // a reload reads them again: an entry may have been revoked since
    m_pending.clear();
    endResetModel();
}

void ProposalTableModel::releaseRetired()
{
    if (!hasRetired() || m_releaseScheduled)
        return;
    m_releaseScheduled = true;
    QTimer::singleShot(0, this, [this] {
        m_releaseScheduled = false;
        constexpr qsizetype kSlice = 4096; // rows freed per event-loop turn
        if (!m_retiredRows.isEmpty()) {
            m_retiredRows = {}; // the keys' strings live on in the rows: only the table goes
        } else {
            const qsizetype n = std::min(kSlice, m_retired.size());
            m_retired.remove(m_retired.size() - n, n); // from the end: nothing moves
            if (m_retired.isEmpty())
                m_retired = {}; // and the array itself
        }
        releaseRetired();
    });
}

void ProposalTableModel::addItems(const QList<ProposalItem> &items)
{
    addPages({items});
}

void ProposalTableModel::addPages(QList<QList<ProposalItem>> pages)
{
    // One hash lookup per item: a key seen for the first time gets the next
    // row (this also dedupes within the pages); a known one is an update.
    QList<ProposalItem> existing;
    const int first = int(m_items.size());
    int next = first;
    // Stored rows count the rows removed since the last reindex: new rows go after all of them.
    const int shift = int(m_removed.size());
    QList<std::pair<qsizetype, qsizetype>> fresh; // page, index
    bool allFresh = true;
    for (qsizetype p = 0; p < pages.size(); ++p) {
        const QList<ProposalItem> &items = pages[p];
        for (qsizetype i = 0; i < items.size(); ++i) {
            const qsizetype before = m_rows.size();
            int &row = m_rows[items[i].key];
            if (m_rows.size() != before) {
                row = shift + next++;
                fresh.append({p, i});
                continue;
            }
            allFresh = false;
            if (row < shift + first)
                existing.append(items[i]);
        }
    }
    if (next > first) {
        beginInsertRows({}, first, next - 1);
        if (m_items.capacity() < next) { // grow geometrically: reserve(next) would move every row each time
            m_items.reserve(std::max<qsizetype>(next, 2 * m_items.capacity()));
            m_scores.reserve(m_items.capacity());
            m_rowCluster.reserve(m_items.capacity());
        }
        m_rowCluster.insert(m_rowCluster.size(), next - first, -1);
        if (allFresh) {
            // A page this model alone holds (the queued signal's copy is gone) is moved in:
            // no reference count of the item's strings is touched; a shared one is copied.
            for (QList<ProposalItem> &items : pages) {
                for (const ProposalItem &item : std::as_const(items))
                    m_scores.append(item.savingsScore);
                m_items.append(std::move(items));
            }
        } else {
            for (const auto &[p, i] : std::as_const(fresh)) {
                m_items.append(pages[p][i]);
                m_scores.append(pages[p][i].savingsScore);
            }
        }
        endInsertRows();
    }
    if (!existing.isEmpty())
        updateItems(existing);
}

void ProposalTableModel::reserve(qsizetype rows)
{
    if (m_items.capacity() < rows) {
        m_items.reserve(rows);
        m_scores.reserve(rows);
        m_rowCluster.reserve(rows);
    }
    if (m_rows.capacity() < rows)
        m_rows.reserve(rows);
}

void ProposalTableModel::updateItems(const QList<ProposalItem> &items)
{
    int lo = -1;
    int hi = -1;
    for (const ProposalItem &item : items) {
        const int row = rowOfKey(item.key);
        if (row < 0)
            continue;
        m_items[row] = item;
        m_scores[row] = item.savingsScore;
        lo = lo < 0 ? row : std::min(lo, row);
        hi = std::max(hi, row);
    }
    // One dataChanged over the touched range rather than one per row.
    if (lo >= 0)
        emit dataChanged(index(lo, 0), index(hi, ColumnCount - 1));
}

void ProposalTableModel::removeKeys(const QStringList &keys)
{
    QList<int> rows;
    std::vector<int> stored;
    for (const QString &key : keys) {
        const auto it = m_rows.constFind(key);
        if (it != m_rows.cend()) {
            rows.append(currentRow(*it));
            stored.push_back(*it);
        }
        m_pending.remove(key);
    }
    if (rows.isEmpty())
        return;
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    // Remove contiguous runs from the back so earlier row numbers stay valid.
    int end = int(rows.size()) - 1;
    while (end >= 0) {
        int start = end;
        while (start > 0 && rows[start - 1] == rows[start] - 1)
            --start;
        beginRemoveRows({}, rows[start], rows[end]);
        for (int i = rows[end]; i >= rows[start]; --i)
            m_rows.remove(m_items.at(i).key);
        m_items.remove(rows[start], rows[end] - rows[start] + 1);
        m_scores.remove(rows[start], rows[end] - rows[start] + 1);
        m_rowCluster.remove(rows[start], rows[end] - rows[start] + 1);
        endRemoveRows();
        end = start - 1;
    }
    noteRemoved(std::move(stored));
}

int ProposalTableModel::rowOfKey(const QString &key) const
{
    const auto it = m_rows.constFind(key);
    return it == m_rows.cend() ? -1 : currentRow(*it);
}

int ProposalTableModel::currentRow(int stored) const
{
    return stored - int(std::lower_bound(m_removed.cbegin(), m_removed.cend(), stored) - m_removed.cbegin());
}

// Renumbering every row after a removed one is a hash write per row (tens of
// ms at 100k rows, on every decision): the removed rows are remembered
// instead, and the table is renumbered once per kMaxRemovedBeforeReindex.
void ProposalTableModel::noteRemoved(std::vector<int> stored)
{
    std::sort(stored.begin(), stored.end());
    stored.erase(std::unique(stored.begin(), stored.end()), stored.end());
    std::vector<int> merged;
    merged.reserve(m_removed.size() + stored.size());
    std::merge(m_removed.cbegin(), m_removed.cend(), stored.cbegin(), stored.cend(), std::back_inserter(merged));
    m_removed = std::move(merged);
    if (m_removed.size() > kMaxRemovedBeforeReindex)
        reindex();
}

void ProposalTableModel::setClusters(const QHash<QString, int> &clusterOf, const QList<ClusterSummary> &clusters)
{
    // Only the rows in a cluster before or after are visited (not the whole queue): a row whose
    // cell text stays the same is not reported.
    const QList<ClusterSummary> before = std::exchange(m_clusters, clusters);
    const QHash<QString, int> beforeOf = std::exchange(m_clusterOf, clusterOf);
    auto textOf = [](const QList<ClusterSummary> &list, int c, const QString &key) {
        if (c < 0 || c >= list.size())
            return QString();
        const ClusterSummary &s = list[c];
        return s.representativeKey == key ? s.summary + u' ' + QString::number(s.savings, 'f', 1) : s.representativeKey;
    };
    int lo = -1;
    int hi = -1;
    auto visit = [&](const QString &key) {
        const int row = rowOfKey(key);
        if (row < 0)
            return;
        const int now = m_clusterOf.value(key, -1);
        m_rowCluster[row] = now >= 0 && now < m_clusters.size() ? now : -1;
        if (textOf(before, beforeOf.value(key, -1), key) == textOf(m_clusters, m_rowCluster[row], key))
            return;
        lo = lo < 0 ? row : std::min(lo, row);
        hi = std::max(hi, row);
    };
    for (auto it = beforeOf.cbegin(); it != beforeOf.cend(); ++it)
        visit(it.key());
    for (auto it = m_clusterOf.cbegin(); it != m_clusterOf.cend(); ++it) {
        if (!beforeOf.contains(it.key()))
            visit(it.key());
    }
    if (lo >= 0)
        emit dataChanged(index(lo, Cluster), index(hi, Cluster));
}

const ProposalTableModel::ClusterSummary *ProposalTableModel::clusterAt(int row) const
{
    if (row < 0 || row >= m_rowCluster.size())
        return nullptr;
    const int c = m_rowCluster.at(row);
    return c < 0 ? nullptr : &m_clusters.at(c);
}

bool ProposalTableModel::clusterLessThan(int left, int right) const
{
    const ClusterSummary *l = clusterAt(left);
    const ClusterSummary *r = clusterAt(right);
    const double ls = l ? l->savings : m_scores.at(left);
    const double rs = r ? r->savings : m_scores.at(right);
    if (ls != rs)
        return ls < rs;
    const QString &lk = l ? l->representativeKey : m_items.at(left).key;
    const QString &rk = r ? r->representativeKey : m_items.at(right).key;
    if (lk != rk)
        return lk > rk;
    const bool lRep = m_items.at(left).key == lk;
    const bool rRep = m_items.at(right).key == rk;
    if (lRep != rRep)
        return rRep;
    if (m_scores.at(left) != m_scores.at(right))
        return m_scores.at(left) < m_scores.at(right);
    return m_items.at(left).key > m_items.at(right).key;
}

void ProposalTableModel::setCandidatePrompts(const QStringList &asked, const QList<EntryPrompt> &found)
{
    QSet<QString> changed;
    for (const QString &key : asked) {
        if (m_candidates.size() >= kMaxCandidatePrompts && !m_candidates.contains(key))
            continue;
        m_candidates.insert(key, std::nullopt);
        changed.insert(key);
    }
    for (const EntryPrompt &e : found) {
        if (changed.contains(e.key))
            m_candidates.insert(e.key, e);
    }
    if (changed.isEmpty())
        return;
    int lo = -1;
    int hi = -1;
    for (int row = 0; row < m_items.size(); ++row) {
        const QString &key = m_items.at(row).l1Key;
        if (key.isEmpty() || !changed.contains(key))
            continue;
        lo = lo < 0 ? row : lo;
        hi = row;
    }
    if (lo >= 0)
        emit dataChanged(index(lo, L1Candidate), index(hi, L1Candidate), {Qt::DisplayRole, Qt::ToolTipRole});
}

std::optional<std::optional<EntryPrompt>> ProposalTableModel::candidateEntry(const QString &key) const
{
    const auto it = m_candidates.constFind(key);
    if (it == m_candidates.cend())
        return std::nullopt;
    return *it;
}

QStringList ProposalTableModel::unreadCandidates(int first, int last) const
{
    QStringList keys;
    QSet<QString> seen;
    first = std::max(first, 0);
    last = std::min(last, int(m_items.size()) - 1);
    for (int row = first; row <= last && m_candidates.size() + keys.size() < kMaxCandidatePrompts; ++row) {
        const QString &key = m_items.at(row).l1Key;
        if (!key.isEmpty() && !m_candidates.contains(key) && !seen.contains(key)) {
            seen.insert(key);
            keys.append(key);
        }
    }
    return keys;
}

void ProposalTableModel::setPending(const QString &key, bool pending)
{
    const int row = rowOfKey(key);
    if (pending)
        m_pending.insert(key);
    else
        m_pending.remove(key);
    if (row >= 0)
        emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void ProposalTableModel::reindex()
{
    m_removed.clear();
    for (int i = 0; i < m_items.size(); ++i)
        m_rows.insert(m_items.at(i).key, i);
}

} // namespace l0l3
