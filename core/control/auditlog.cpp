#include "core/control/auditlog.h"

#include <QTimer>

#include "core/common/redisschema.h"
#include "core/common/visibletext.h"

namespace l0l3 {

AuditLog::AuditLog(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
}

namespace {

QByteArray auditKey()
{
    return QByteArray(RedisSchema::kAudit.data(), qsizetype(RedisSchema::kAudit.size()));
}

QByteArray archivedKey()
{
    return QByteArray(RedisSchema::kAuditArchived.data(), qsizetype(RedisSchema::kAuditArchived.size()));
}

} // namespace

QString AuditLog::findTamper(const RedisReply &info, const RedisReply &archived)
{
    QByteArray maxDeleted;
    qint64 length = -1;
    qint64 added = -1;
    for (qsizetype i = 0; i + 1 < info.elements.size(); i += 2) {
        const QByteArray &field = info.elements[i].str;
        const RedisReply &value = info.elements[i + 1];
        if (field == "max-deleted-entry-id")
            maxDeleted = value.str;
        else if (field == "length" && value.isInteger())
            length = value.integer;
        else if (field == "entries-added" && value.isInteger())
            added = value.integer;
    }
    if (maxDeleted.isEmpty() || length < 0 || added < 0)
        return QStringLiteral("XINFO STREAM %1 does not say whether entries were deleted (Redis older than 7.0?)")
            .arg(QString::fromUtf8(auditKey()));

    // The archive marker: records trimmed by audit-archive, in total. Absent
    // (or unreadable to this user: an older ACL): nothing may be missing.
    qint64 archivedCount = 0;
    QByteArray archivedThrough;
    if (archived.isArray()) {
        for (qsizetype i = 0; i + 1 < archived.elements.size(); i += 2) {
            const QByteArray &field = archived.elements[i].str;
            if (field == "archived") {
                bool ok = false;
                archivedCount = archived.elements[i + 1].str.toLongLong(&ok);
                if (!ok || archivedCount < 0)
                    return QStringLiteral("the audit archive marker %1 is damaged: archived is \"%2\"")
                        .arg(QString::fromUtf8(archivedKey()),
                             QString::fromStdString(
                                 VisibleText::escape(archived.elements[i + 1].str.left(64).toStdString())));
            } else if (field == "through") {
                archivedThrough = archived.elements[i + 1].str.left(64);
            }
        }
    }
    // XTRIM (and XADD MAXLEN/MINID) leave max-deleted-entry-id alone and only
    // show in entries-added - length; XDEL sets max-deleted-entry-id. An archive
    // only trims, so any XDEL, and any trim beyond what it recorded, is a loss.
    const qint64 missing = added - length;
    if (maxDeleted == "0-0" && missing == archivedCount)
        return {};
    QString detail = QStringLiteral("the audit stream %1 lost records: %2 were added, %3 are left, the newest deleted "
                                    "was %4 (trimmed through XADD MAXLEN/MINID or deleted)")
                         .arg(QString::fromUtf8(auditKey()))
                         .arg(added)
                         .arg(length)
                         .arg(QString::fromStdString(VisibleText::escape(maxDeleted.left(64).toStdString())));
    if (archivedCount > 0)
        detail += QStringLiteral("; %1 of them were archived through %2 (%3), %4 are missing beyond that")
                      .arg(archivedCount)
                      .arg(QString::fromStdString(VisibleText::escape(archivedThrough.toStdString())),
                           QString::fromUtf8(archivedKey()))
                      .arg(missing - archivedCount);
    return detail;
}

void AuditLog::checkIntegrity()
{
    if (!m_connection)
        return;
    m_connection->pipeline({{QByteArrayLiteral("XINFO"), QByteArrayLiteral("STREAM"), auditKey()},
                            {QByteArrayLiteral("HGETALL"), archivedKey()}},
                           this, [this](const QList<RedisReply> &replies) {
                               const RedisReply r = replies.value(0);
                               if (r.isError()) {
                                   // No audit record yet: nothing to lose. Any other error: unknown, said once here.
                                   if (!r.str.contains("no such key"))
                                       qWarning("l0l3: cannot check the audit stream: %s",
                                                VisibleText::escape(r.str.left(300).toStdString()).c_str());
                                   return;
                               }
                               m_tamperDetail = findTamper(r, replies.value(1));
                               if (m_tamperDetail.isEmpty())
                                   return;
                               qWarning("l0l3: %s", qPrintable(m_tamperDetail));
                               emit tamperDetected(m_tamperDetail);
                           });
}

void AuditLog::reload()
{
    checkIntegrity();
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
    m_connection->command({QByteArrayLiteral("XREVRANGE"), auditKey(), end, QByteArrayLiteral("-"),
                           QByteArrayLiteral("COUNT"), QByteArray::number(m_pageSize)},
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

void AuditLog::follow(RedisConnection *tail)
{
    m_tail = tail;
    m_tailId.clear();
    readTail(++m_tailGeneration);
}

void AuditLog::stopFollowing()
{
    m_tail = nullptr;
    ++m_tailGeneration;
}

void AuditLog::retryTail(quint64 generation)
{
    QTimer::singleShot(kTailRetryMs, this, [this, generation] {
        if (generation == m_tailGeneration)
            readTail(generation);
    });
}

void AuditLog::readTail(quint64 generation)
{
    if (!m_tail || generation != m_tailGeneration)
        return;
    if (m_tailId.isEmpty()) {
        m_tail->command({QByteArrayLiteral("XREVRANGE"), auditKey(), QByteArrayLiteral("+"), QByteArrayLiteral("-"),
                         QByteArrayLiteral("COUNT"), QByteArrayLiteral("1")},
                        this, [this, generation](const RedisReply &r) {
                            if (generation != m_tailGeneration)
                                return;
                            if (r.isError() || !r.isArray()) {
                                retryTail(generation);
                                return;
                            }
                            QList<AuditRecord> records;
                            m_tailId = QStringLiteral("0-0");
                            std::string id;
                            StreamFields fields;
                            if (!r.elements.isEmpty() && r.elements[0].toStreamEntry(&id, &fields)) {
                                m_tailId = QString::fromStdString(id);
                                if (auto rec = AuditCodec::decode(id, fields))
                                    records.append(std::move(*rec));
                            }
                            if (!records.isEmpty())
                                emit appended(records);
                            readTail(generation);
                        });
        return;
    }
    const int timeoutMs = kTailBlockMs + m_tail->options().commandTimeoutMs;
    m_tail->command(
        {QByteArrayLiteral("XREAD"), QByteArrayLiteral("COUNT"), QByteArray::number(kTailBatch),
         QByteArrayLiteral("BLOCK"), QByteArray::number(kTailBlockMs), QByteArrayLiteral("STREAMS"), auditKey(),
         m_tailId.toUtf8()},
        this,
        [this, generation](const RedisReply &r) {
            if (generation != m_tailGeneration)
                return;
            if (r.isError()) {
                // A server's refusal (an ACL without XREAD on the audit) is said once per cause; link
                // errors are the reconnect's business.
                if (!r.local && r.errorMessage() != m_tailError) {
                    m_tailError = r.errorMessage();
                    qWarning("l0l3: cannot follow the audit stream live: %s",
                             VisibleText::escape(m_tailError.left(300).toStdString()).c_str());
                }
                retryTail(generation);
                return;
            }
            m_tailError.clear();
            // [[stream, [[id, fields], ...]]], or nil when BLOCK timed out.
            QList<AuditRecord> records;
            if (r.isArray() && !r.elements.isEmpty() && r.elements[0].elements.size() == 2) {
                for (const RedisReply &e : r.elements[0].elements[1].elements) {
                    std::string id;
                    StreamFields fields;
                    if (!e.toStreamEntry(&id, &fields))
                        continue;
                    m_tailId = QString::fromStdString(id);
                    if (auto rec = AuditCodec::decode(id, fields))
                        records.append(std::move(*rec));
                }
            }
            if (!records.isEmpty())
                emit appended(records);
            readTail(generation);
        },
        timeoutMs);
}

} // namespace l0l3
