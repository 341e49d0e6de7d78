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

// Newest-first pages of the audit stream (XREVRANGE l0l3:v1:audit).
//
// Thread affinity: lives on the thread of its RedisConnection (not owned).
class AuditLog : public QObject
{
    Q_OBJECT
public:
    explicit AuditLog(RedisConnection *connection, QObject *parent = nullptr);

    void setPageSize(int n) { m_pageSize = n; }
    // Restarts from the newest record and loads one page.
    void reload();
    // The next (older) page.
    void fetchMore();
    bool canFetchMore() const { return m_more; }
    bool isLoading() const { return m_loading; }

signals:
    // records newest first; more: older records exist.
    void pageLoaded(const QList<l0l3::AuditRecord> &records, bool more);
    void failed(const QString &message);

private:
    void readPage(quint64 generation);

    QPointer<RedisConnection> m_connection;
    int m_pageSize = 200;
    QString m_before;     // exclusive upper bound for the next page; empty: "+"
    bool m_more = false;
    bool m_loading = false;
    quint64 m_generation = 0;
};

} // namespace l0l3
