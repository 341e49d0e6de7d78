#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>

#include "core/common/auditrecord.h"
#include "core/control/redisconnection.h"

Q_DECLARE_METATYPE(l0l3::AuditRecord)

namespace l0l3 {

// Newest-first pages of the audit stream (XREVRANGE l0l3:v1:audit), and a
// check that the stream never lost a record.
//
// Nothing of ours trims or deletes the audit stream but `l0l3-ctl
// audit-archive` (as the audit-archiver user, which the console is not), and
// the console's ACL refuses XTRIM, XDEL, DEL, RENAME and EXPIRE on it; only
// XADD's MAXLEN/MINID option (which no ACL rule can refuse) could still trim
// it. Redis 7.0 remembers: XDEL moves XINFO STREAM's max-deleted-entry-id past
// 0-0, and any removal leaves entries-added above length. checkIntegrity()
// reads both, and RedisSchema::kAuditArchived: the stream is whole when
// nothing was ever XDELed and exactly the archived number of records is
// missing (none without an archive).
//
// Thread affinity: lives on the thread of its RedisConnection (not owned).
class AuditLog : public QObject
{
    Q_OBJECT
public:
    explicit AuditLog(RedisConnection *connection, QObject *parent = nullptr);

    void setPageSize(int n) { m_pageSize = n; }
    // Checks the stream's integrity, restarts from the newest record and loads one page.
    void reload();
    // XINFO STREAM: tamperDetected() if an entry was ever deleted or trimmed.
    void checkIntegrity();
    // What XINFO STREAM (info) and HGETALL of the archive marker (archived:
    // an array, or anything else for none) say about lost records; empty
    // when the stream is whole.
    static QString findTamper(const RedisReply &info, const RedisReply &archived);
    // The last check's finding (empty: none, or not checked yet).
    QString tamperDetail() const { return m_tamperDetail; }
    // The next (older) page.
    void fetchMore();
    bool canFetchMore() const { return m_more; }
    bool isLoading() const { return m_loading; }

    // Live tail: follows the stream on tail, a connection of its own (a
    // blocking read holds its connection; not owned, on this thread). First
    // the newest record (XREVRANGE + - COUNT 1: appended() with it, so the
    // last decision is known at once), then XREAD COUNT kTailBatch BLOCK
    // kTailBlockMs from the last id seen, again and again; after an error
    // (link lost, failover) it goes on from that id after kTailRetryMs, so no
    // record is missed or repeated. Records come oldest first.
    void follow(RedisConnection *tail);
    void stopFollowing();
    bool isFollowing() const { return m_tail != nullptr; }
    QString tailPosition() const { return m_tailId; }
    static constexpr int kTailBatch = 1000;
    static constexpr int kTailBlockMs = 2000;
    static constexpr int kTailRetryMs = 500;

signals:
    // records newest first; more: older records exist.
    void pageLoaded(const QList<l0l3::AuditRecord> &records, bool more);
    void failed(const QString &message);
    // The audit stream lost records: detail says what XINFO STREAM showed.
    // Also logged as a warning. Emitted before the page reload() asked for.
    void tamperDetected(const QString &detail);
    // Records appended to the stream since the tail's position, oldest first.
    void appended(const QList<l0l3::AuditRecord> &records);

private:
    void readPage(quint64 generation);
    void readTail(quint64 generation);
    void retryTail(quint64 generation);

    QPointer<RedisConnection> m_connection;
    int m_pageSize = 200;
    QString m_before; // exclusive upper bound for the next page; empty: "+"
    bool m_more = false;
    bool m_loading = false;
    quint64 m_generation = 0;
    QString m_tamperDetail;
    QPointer<RedisConnection> m_tail;
    QString m_tailId; // empty: the newest record is not read yet
    quint64 m_tailGeneration = 0;
    QString m_tailError; // the last refusal logged
};

} // namespace l0l3
