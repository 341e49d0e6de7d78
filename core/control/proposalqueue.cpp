#include "core/control/proposalqueue.h"

#include <QDateTime>

#include <algorithm>

#include "core/common/proposal.h"
#include "core/common/redisschema.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

ProposalItem itemFrom(const Proposal &p, const QString &key)
{
    ProposalItem item;
    item.id = QString::fromStdString(p.id);
    item.key = key;
    item.prompt = QString::fromStdString(p.prompt);
    item.system = QString::fromStdString(p.system);
    item.ns = QString::fromStdString(p.ns);
    item.response = QString::fromStdString(p.response);
    item.model = QString::fromStdString(p.model);
    item.proposedRegion = QString::fromStdString(p.region);
    item.upstreamMs = p.upstreamMs;
    item.promptTokens = p.promptTokens;
    item.completionTokens = p.completionTokens;
    item.tsMs = p.tsMs;
    return item;
}

// KEYS: entry key and seen key of each item, then the rejected set; ARGV:
// the cache keys. Returns, per item, {EXISTS entry, HGETALL seen, ZSCORE
// rejected} in one reply instead of two commands per item.
constexpr char kEnrichScript[] = R"lua(
local n = #ARGV
local rejected = KEYS[2 * n + 1]
local out = {}
for i = 1, n do
  out[i] = {redis.call('EXISTS', KEYS[2 * i - 1]), redis.call('HGETALL', KEYS[2 * i]),
            redis.call('ZSCORE', rejected, ARGV[i])}
end
return out
)lua";

} // namespace

ProposalQueue::ProposalQueue(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
    connect(&m_pollTimer, &QTimer::timeout, this, &ProposalQueue::poll);
}

ProposalQueue::~ProposalQueue() = default;

void ProposalQueue::setPollInterval(int intervalMs)
{
    if (intervalMs <= 0)
        m_pollTimer.stop();
    else
        m_pollTimer.start(intervalMs);
}

void ProposalQueue::fail(const QString &message)
{
    ++m_loadGeneration; // replies still in flight (the next page) are dropped
    m_loading = false;
    m_polling = false;
    emit loadFailed(message);
}

void ProposalQueue::load()
{
    ++m_loadGeneration;
    m_loading = true;
    m_polling = false;
    m_loaded = 0;
    m_total = 0;
    m_malformed = 0;
    m_skipped = 0;
    if (!m_items.isEmpty()) {
        QStringList keys;
        keys.reserve(m_items.size());
        for (const ProposalItem &i : std::as_const(m_items))
            keys.append(i.key);
        m_items.clear();
        m_index.clear();
        emit itemsRemoved(keys);
    }
    m_skippedKeys.clear();
    if (!m_connection) {
        fail(QStringLiteral("no Redis connection"));
        return;
    }
    const quint64 gen = m_loadGeneration;
    ensureGroup([this, gen] {
        if (gen != m_loadGeneration)
            return;
        fetchTotal();
        readPage(true, QStringLiteral("0"), false);
    });
}

void ProposalQueue::ensureGroup(std::function<void()> next)
{
    m_connection->command({QByteArrayLiteral("XGROUP"), QByteArrayLiteral("CREATE"), bytes(RedisSchema::kProposals),
                           bytes(RedisSchema::kProposalsGroup), QByteArrayLiteral("0"), QByteArrayLiteral("MKSTREAM")},
                          this, [this, next](const RedisReply &r) {
                              if (r.isError() && r.errorCode() != "BUSYGROUP") {
                                  fail(QStringLiteral("cannot create the consumer group: %1").arg(r.errorMessage()));
                                  return;
                              }
                              next();
                          });
}

// The group's pending + lag is what this load will read; XLEN when the lag is
// unknown (Redis reports nil after XDEL/trimming).
void ProposalQueue::fetchTotal()
{
    const quint64 gen = m_loadGeneration;
    m_connection->pipeline({{QByteArrayLiteral("XINFO"), QByteArrayLiteral("GROUPS"), bytes(RedisSchema::kProposals)},
                            {QByteArrayLiteral("XLEN"), bytes(RedisSchema::kProposals)}},
                           this, [this, gen](const QList<RedisReply> &replies) {
                               if (gen != m_loadGeneration)
                                   return;
                               qint64 total = replies[1].isInteger() ? replies[1].integer : 0;
                               const RedisReply &groups = replies[0];
                               for (const RedisReply &g : groups.elements) {
                                   qint64 pending = -1;
                                   qint64 lag = -1;
                                   bool ours = false;
                                   for (qsizetype i = 0; i + 1 < g.elements.size(); i += 2) {
                                       const QByteArray f = g.elements[i].str;
                                       const RedisReply &v = g.elements[i + 1];
                                       if (f == "name")
                                           ours = v.str == bytes(RedisSchema::kProposalsGroup);
                                       else if (f == "pending" && v.isInteger())
                                           pending = v.integer;
                                       else if (f == "lag" && v.isInteger())
                                           lag = v.integer;
                                   }
                                   if (ours && pending >= 0 && lag >= 0)
                                       total = pending + lag;
                               }
                               m_total = total;
                           });
}

void ProposalQueue::poll()
{
    if (m_loading || m_polling || !m_connection || !m_connection->isReady())
        return;
    m_polling = true;
    readPage(false, QStringLiteral(">"), true);
}

void ProposalQueue::readPage(bool pendingPhase, const QString &fromId, bool polling)
{
    if (!m_connection) {
        fail(QStringLiteral("no Redis connection"));
        return;
    }
    const quint64 gen = m_loadGeneration;
    m_connection->command({QByteArrayLiteral("XREADGROUP"), QByteArrayLiteral("GROUP"), bytes(RedisSchema::kProposalsGroup),
                           m_consumer.toUtf8(), QByteArrayLiteral("COUNT"), QByteArray::number(m_pageSize),
                           QByteArrayLiteral("STREAMS"), bytes(RedisSchema::kProposals), fromId.toUtf8()},
                          this, [this, gen, pendingPhase, polling](const RedisReply &r) {
                              if (gen != m_loadGeneration)
                                  return;
                              if (r.isError()) {
                                  if (r.errorCode() == "NOGROUP" && polling) {
                                      m_polling = false;
                                      return;
                                  }
                                  fail(QStringLiteral("cannot read proposals: %1").arg(r.errorMessage()));
                                  return;
                              }
                              processPage(pendingPhase, r, polling);
                          });
}

void ProposalQueue::processPage(bool pendingPhase, const RedisReply &reply, bool polling)
{
    const RedisReply *entries = nullptr;
    if (reply.isArray() && !reply.elements.isEmpty() && reply.elements[0].elements.size() == 2)
        entries = &reply.elements[0].elements[1];
    const qsizetype n = entries ? entries->elements.size() : 0;
    if (n == 0) {
        if (pendingPhase) {
            readPage(false, QStringLiteral(">"), polling);
            return;
        }
        m_polling = false;
        if (m_loading) {
            m_loading = false;
            m_total = m_loaded;
            emit loadFinished(int(m_items.size()), m_malformed);
        }
        return;
    }

    QStringList malformed;
    QList<ProposalItem> fresh;
    fresh.reserve(n);
    QHash<QString, int> freshIndex;
    freshIndex.reserve(n);
    if (m_loading && m_items.capacity() < m_total) {
        m_items.reserve(m_total);
        m_index.reserve(m_total);
    }
    QList<QString> updated;
    QString lastId;
    for (const RedisReply &e : entries->elements) {
        ++m_loaded;
        std::string id;
        StreamFields fields;
        if (!e.elements.isEmpty())
            lastId = e.elements[0].toString();
        if (!e.toStreamEntry(&id, &fields)) {
            ++m_malformed;
            malformed.append(lastId + QStringLiteral(": deleted or not a stream entry"));
            continue;
        }
        std::string why;
        const auto proposal = ProposalCodec::decode(id, std::move(fields), &why);
        if (!proposal) {
            ++m_malformed;
            malformed.append(lastId + QStringLiteral(": ") + QString::fromStdString(why));
            continue;
        }
        const QString key = QString::fromStdString(proposal->key);
        if (m_skippedKeys.contains(key)) {
            ++m_skipped;
            continue;
        }
        if (auto it = m_index.constFind(key); it != m_index.constEnd()) {
            m_items[*it].duplicateIds.append(lastId);
            if (!updated.contains(key))
                updated.append(key);
            continue;
        }
        if (auto it = freshIndex.constFind(key); it != freshIndex.constEnd()) {
            fresh[*it].duplicateIds.append(lastId);
            continue;
        }
        freshIndex.insert(key, int(fresh.size()));
        fresh.append(itemFrom(*proposal, key));
    }
    if (!malformed.isEmpty())
        emit malformedSkipped(malformed, m_malformed);

    enrich(std::move(fresh), std::move(updated));
    // The next page is read while this one's enrichment is answered: replies
    // come back in order on the one connection, so this page is merged into
    // m_index before the next one is processed.
    readPage(pendingPhase, pendingPhase ? lastId : QStringLiteral(">"), polling);
}

void ProposalQueue::enrich(QList<ProposalItem> fresh, QList<QString> updatedKeys)
{
    QList<QByteArray> eval{QByteArrayLiteral("EVAL"), QByteArray::fromRawData(kEnrichScript, sizeof kEnrichScript - 1),
                           QByteArray::number(fresh.size() * 2 + 1)};
    eval.reserve(3 + fresh.size() * 3 + 1);
    QList<QByteArray> cacheKeys;
    cacheKeys.reserve(fresh.size());
    for (const ProposalItem &item : std::as_const(fresh)) {
        const std::string key = item.key.toStdString();
        eval.append(bytes(RedisSchema::entryKey(key)));
        eval.append(bytes(RedisSchema::seenKey(key)));
        cacheKeys.append(bytes(key));
    }
    eval.append(bytes(RedisSchema::kRejected));
    eval.append(cacheKeys);
    const quint64 gen = m_loadGeneration;
    auto handle = [this, gen, fresh = std::move(fresh),
                   updatedKeys = std::move(updatedKeys)](const RedisReply &reply) mutable {
        if (gen != m_loadGeneration)
            return;
        if (reply.isError()) {
            fail(QStringLiteral("cannot read proposal demand: %1").arg(reply.errorMessage()));
            return;
        }
        const bool wellFormed = reply.elements.size() == fresh.size()
            && std::all_of(reply.elements.cbegin(), reply.elements.cend(),
                           [](const RedisReply &state) { return state.elements.size() == 3; });
        if (!wellFormed) {
            fail(QStringLiteral("cannot read proposal demand: unexpected reply"));
            return;
        }
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        QList<ProposalItem> added;
        added.reserve(fresh.size());
        for (qsizetype i = 0; i < fresh.size(); ++i) {
            ProposalItem &item = fresh[i];
            const RedisReply &state = reply.elements[i];
            const RedisReply &exists = state.elements[0];
            const RedisReply &seen = state.elements[1];
            const RedisReply &rejected = state.elements[2];
            bool scoreOk = false;
            const double rejectedUntil = rejected.isNil() ? 0 : rejected.str.toDouble(&scoreOk);
            if (exists.integer > 0 || (scoreOk && rejectedUntil > double(now))) {
                m_skippedKeys.insert(item.key);
                m_skipped += 1 + item.duplicateIds.size();
                continue;
            }
            qint64 sum = 0;
            qint64 total = -1;
            for (qsizetype f = 0; f + 1 < seen.elements.size(); f += 2) {
                const QByteArray &field = seen.elements[f].str;
                const qint64 count = seen.elements[f + 1].toInteger();
                if (field == QByteArrayView(RedisSchema::kSeenTotalField.data(), RedisSchema::kSeenTotalField.size())) {
                    total = count;
                } else {
                    item.regions.insert(QString::fromUtf8(field), count);
                    sum += count;
                }
            }
            if (item.regions.isEmpty() && !item.proposedRegion.isEmpty()) {
                item.regions.insert(item.proposedRegion, 1);
                sum = 1;
            }
            item.seenTotal = total >= 0 ? total : std::max<qint64>(sum, 1);
            item.updateScore();
            m_index.insert(item.key, int(m_items.size()));
            m_items.append(item);
            added.append(item);
        }
        if (!added.isEmpty() || m_loading)
            emit pageLoaded(added, m_loaded, std::max(m_total, m_loaded));
        if (!updatedKeys.isEmpty()) {
            QList<ProposalItem> changed;
            for (const QString &k : std::as_const(updatedKeys)) {
                if (auto it = m_index.constFind(k); it != m_index.constEnd())
                    changed.append(m_items[*it]);
            }
            if (!changed.isEmpty())
                emit itemsUpdated(changed);
        }
    };
    if (cacheKeys.isEmpty()) {
        handle({}); // a page of duplicates or malformed entries: progress only
        return;
    }
    m_connection->command(eval, this, std::move(handle));
}

QList<ProposalItem> ProposalQueue::rankedItems() const
{
    QList<ProposalItem> out = m_items;
    std::stable_sort(out.begin(), out.end(), [](const ProposalItem &a, const ProposalItem &b) {
        if (a.savingsScore != b.savingsScore)
            return a.savingsScore > b.savingsScore;
        return a.tsMs < b.tsMs;
    });
    return out;
}

std::optional<ProposalItem> ProposalQueue::item(const QString &key) const
{
    if (auto it = m_index.constFind(key); it != m_index.constEnd())
        return m_items[*it];
    return std::nullopt;
}

void ProposalQueue::removeKey(const QString &key)
{
    auto it = m_index.find(key);
    if (it == m_index.end())
        return;
    const int pos = *it;
    m_index.erase(it);
    m_items.removeAt(pos);
    for (int i = pos; i < m_items.size(); ++i)
        m_index[m_items[i].key] = i;
    m_skippedKeys.insert(key);
    emit itemsRemoved({key});
}

} // namespace l0l3
