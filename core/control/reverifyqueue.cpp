#include "core/control/reverifyqueue.h"

#include <QDateTime>

#include <algorithm>

#include "core/common/redisschema.h"

namespace l0l3 {

ReverifyQueue::ReverifyQueue(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_store(new EntryStore(connection, this))
{
    connect(m_store, &EntryStore::pageLoaded, this, &ReverifyQueue::onPage);
    connect(m_store, &EntryStore::failed, this, &ReverifyQueue::failed);
    connect(m_store, &EntryStore::finished, this, [this](int) {
        trim();
        emit loaded(m_due, m_scanned, m_malformed);
    });
}

void ReverifyQueue::load(qint64 dueBeforeMs, int limit)
{
    m_dueBeforeMs = dueBeforeMs > 0 ? dueBeforeMs : QDateTime::currentMSecsSinceEpoch();
    m_limit = qMax(1, limit);
    m_due.clear();
    m_scanned = 0;
    m_malformed = 0;
    m_policy = ReviewPolicy{};
    const quint64 generation = ++m_generation;
    if (!m_connection) {
        emit failed(QStringLiteral("no Redis connection"));
        return;
    }
    const QByteArray policyKey(RedisSchema::kReviewPolicy.data(), qsizetype(RedisSchema::kReviewPolicy.size()));
    m_connection->command({QByteArrayLiteral("HGETALL"), policyKey}, this, [this, generation](const RedisReply &r) {
        if (generation != m_generation)
            return;
        if (r.isError()) {
            emit failed(QStringLiteral("cannot read the review policy: %1").arg(r.errorMessage()));
            return;
        }
        for (qsizetype i = 0; i + 1 < r.elements.size(); i += 2)
            m_policy.set(r.elements[i].str.toStdString(), r.elements[i + 1].str.toStdString());
        m_store->scan();
    });
}

void ReverifyQueue::onPage(const QList<EntryItem> &items, int malformed)
{
    m_scanned += int(items.size());
    m_malformed += malformed;
    for (const EntryItem &item : items) {
        const Entry &e = item.entry;
        const qint64 due = e.reviewDueMs(m_policy.daysFor(e.ns));
        if (due > m_dueBeforeMs)
            continue;
        m_due.append(ReverifyItem{item, due, m_policy.daysFor(e.ns, e.reviewDays), e.reviewByMs <= 0});
    }
    // Bounded while scanning: at most twice the limit is ever held.
    if (m_due.size() > 2 * qsizetype(m_limit))
        trim();
}

void ReverifyQueue::trim()
{
    std::sort(m_due.begin(), m_due.end(), [](const ReverifyItem &a, const ReverifyItem &b) {
        return a.dueMs != b.dueMs ? a.dueMs < b.dueMs : a.item.entry.key < b.item.entry.key;
    });
    if (m_due.size() > m_limit)
        m_due.resize(m_limit);
}

} // namespace l0l3
