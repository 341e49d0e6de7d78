#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>

#include "core/common/reviewpolicy.h"
#include "core/control/entrystore.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// An approved entry whose review date has passed.
struct ReverifyItem
{
    EntryItem item;
    qint64 dueMs = 0;      // its review date (Entry::reviewDueMs)
    qint64 periodDays = 0; // what keeping it renews by: its own period, else its namespace's
    bool derived = false;  // the entry records no date: approved_at + its namespace's period
};

// The "to re-verify" queue: every approved entry whose review date is at or
// before a given time, most overdue first. Reads the review policy
// (RedisSchema::kReviewPolicy), then every entry (EntryStore's paged SCAN:
// the queue is computed on demand, nothing is indexed beside the entries).
// An entry without a date is due at approved_at + its namespace's period.
//
// Thread affinity: lives on the thread of its RedisConnection (not owned).
class ReverifyQueue : public QObject
{
    Q_OBJECT
public:
    explicit ReverifyQueue(RedisConnection *connection, QObject *parent = nullptr);

    // dueBeforeMs 0: now. At most `limit` items are kept (the most overdue). A new call cancels
    // the previous one.
    void load(qint64 dueBeforeMs = 0, int limit = 10000);
    const ReviewPolicy &policy() const { return m_policy; }

signals:
    // due: sorted by date, oldest first; scanned: entries read; malformed: entries that did not decode.
    void loaded(const QList<l0l3::ReverifyItem> &due, int scanned, int malformed);
    void failed(const QString &message);

private:
    void onPage(const QList<EntryItem> &items, int malformed);
    void trim();

    QPointer<RedisConnection> m_connection;
    EntryStore *m_store;
    ReviewPolicy m_policy;
    QList<ReverifyItem> m_due;
    qint64 m_dueBeforeMs = 0;
    int m_limit = 10000;
    int m_scanned = 0;
    int m_malformed = 0;
    quint64 m_generation = 0;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::ReverifyItem)
