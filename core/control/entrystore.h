#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>
#include <vector>

#include "core/common/entry.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// An approved entry as read back, with its remaining TTL.
struct EntryItem
{
    Entry entry;
    qint64 ttlRemainingSeconds = -1; // -1: no expiry
    QString redisKey;                // l0l3:v1:entry:KEY
    // Only with setWithL1State(true): the threshold of its vector record (0:
    // none), the rest of that threshold's state (VectorRecord::denied and
    // evidence) and its negative pairs.
    float l1Threshold = 0.0f;
    std::optional<float> l1Denied;
    std::vector<float> l1Evidence;
    QStringList l1Negatives;
};

// Read side of the approved entries: paged SCAN (MATCH l0l3:v1:entry:*) with
// GET + TTL pipelined per page, and a client-side text search over key,
// prompt, response, intent and approved_by (keys are hashes, so Redis cannot
// search them).
//
// Thread affinity: lives on the thread of its RedisConnection (not owned).
class EntryStore : public QObject
{
    Q_OBJECT
public:
    explicit EntryStore(RedisConnection *connection, QObject *parent = nullptr);

    void setPageSize(int n) { m_pageSize = n; }
    // Scans also read each entry's vector record and negative pairs (for the
    // export; the Entries page does not need them).
    void setWithL1State(bool on) { m_withL1State = on; }

    // Starts a scan from the beginning; search empty = everything.
    // Emits pageLoaded for each page, then finished. A new call cancels the
    // previous scan.
    void scan(const QString &search = {});
    // Next page only (for canFetchMore/fetchMore style models); the first call
    // after startPaged() reads page one.
    void startPaged(const QString &search = {});
    void fetchMore();
    bool canFetchMore() const { return m_paged && !m_done; }
    bool isScanning() const { return m_running; }

    using EntryCallback = std::function<void(const std::optional<EntryItem> &item, const QString &error)>;
    // The search scan() and startPaged() apply: empty, or a case-insensitive
    // substring of key, prompt, response, intent, approved_by or namespace.
    static bool matches(const Entry &e, const QString &search);

    // One entry by cache key (nullopt, empty error: not found).
    void get(const QString &key, QObject *context, EntryCallback cb);

signals:
    void pageLoaded(const QList<l0l3::EntryItem> &items, int malformedInPage);
    void finished(int total);
    void failed(const QString &message);

private:
    void readPage(quint64 generation);

    QPointer<RedisConnection> m_connection;
    int m_pageSize = 500;
    bool m_withL1State = false;
    QString m_search;
    QByteArray m_cursor = "0";
    bool m_paged = false;
    bool m_running = false;
    bool m_done = true;
    int m_total = 0;
    quint64 m_generation = 0;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::EntryItem)
