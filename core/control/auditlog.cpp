#include "core/control/auditlog.h"

#include "core/common/redisschema.h"

namespace l0l3 {

AuditLog::AuditLog(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
}

void AuditLog::reload()
{
    m_before.clear();
    m_more = false;
    m_loading = true;
    readPage(++m_generation);
}

void AuditLog::fetchMore()
{
    if (!m_more || m_loading)
        return;
    m_loading = true;
    readPage(m_generation);
}

void AuditLog::readPage(quint64 generation)
{
    if (!m_connection) {
        m_loading = false;
        emit failed(QStringLiteral("no Redis connection"));
        return;
    }
    const QByteArray end = m_before.isEmpty() ? QByteArrayLiteral("+") : "(" + m_before.toUtf8();
    m_connection->command(
        {QByteArrayLiteral("XREVRANGE"), QByteArray(RedisSchema::kAudit.data(), qsizetype(RedisSchema::kAudit.size())),
         end, QByteArrayLiteral("-"), QByteArrayLiteral("COUNT"), QByteArray::number(m_pageSize)},
        this, [this, generation](const RedisReply &r) {
            if (generation != m_generation)
                return;
            m_loading = false;
            if (r.isError()) {
                emit failed(QStringLiteral("cannot read the audit log: %1").arg(r.errorMessage()));
                return;
            }
            QList<AuditRecord> records;
            for (const RedisReply &e : r.elements) {
                std::string id;
                StreamFields fields;
                if (!e.toStreamEntry(&id, &fields))
                    continue;
                m_before = QString::fromStdString(id);
                if (auto rec = AuditCodec::decode(id, fields))
                    records.append(std::move(*rec));
            }
            m_more = r.elements.size() == m_pageSize;
            emit pageLoaded(records, m_more);
        });
}

} // namespace l0l3
