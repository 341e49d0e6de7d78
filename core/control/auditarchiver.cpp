#include "core/control/auditarchiver.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QFile>
#include <QFileInfo>

#include <limits>

#include <unistd.h>

#include "core/common/auditrecord.h"
#include "core/common/redisschema.h"
#include "core/common/visibletext.h"
#include "core/control/auditlog.h"
#include "core/control/corpusfile.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

namespace {

QByteArray qb(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

// The smallest stream id after id ("ms-seq"); empty when id is not one.
QByteArray nextId(const QByteArray &id)
{
    const qsizetype dash = id.indexOf('-');
    bool msOk = false;
    bool seqOk = false;
    const quint64 ms = id.left(dash).toULongLong(&msOk);
    const quint64 seq = id.mid(dash + 1).toULongLong(&seqOk);
    if (dash <= 0 || !msOk || !seqOk)
        return {};
    if (seq == std::numeric_limits<quint64>::max())
        return QByteArray::number(ms + 1) + "-0";
    return QByteArray::number(ms) + '-' + QByteArray::number(seq + 1);
}

QString escaped(const QByteArray &text)
{
    return QString::fromStdString(VisibleText::escape(text.left(300).toStdString()));
}

} // namespace

AuditArchiver::AuditArchiver(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_options(options)
{
}

AuditArchiver::~AuditArchiver() = default;

void AuditArchiver::start()
{
    if (m_options.beforeMs <= 0 || m_options.path.isEmpty())
        return fail(QStringLiteral("audit-archive needs a date and a file"));
    if (QFileInfo::exists(m_options.path))
        return fail(QStringLiteral("%1 exists: an archive is never overwritten").arg(m_options.path));
    // WATCH first, on the link the transaction will use: a second archiver in
    // between makes EXEC fail instead of trimming twice.
    m_connection->command({"WATCH", qb(RedisSchema::kAuditArchived)}, this, [this](const RedisReply &watch) {
        if (watch.isError())
            return fail(QStringLiteral("WATCH %1: %2")
                            .arg(QString::fromUtf8(qb(RedisSchema::kAuditArchived)), escaped(watch.str)));
        m_connection->pipeline(
            {{"XINFO", "STREAM", qb(RedisSchema::kAudit)}, {"HGETALL", qb(RedisSchema::kAuditArchived)}}, this,
            [this](const QList<RedisReply> &replies) {
                const RedisReply info = replies.value(0);
                if (info.isError()) {
                    if (info.str.contains("no such key"))
                        return succeed(QStringLiteral("the audit stream is empty: nothing to archive"));
                    return fail(QStringLiteral("XINFO STREAM: %1").arg(escaped(info.str)));
                }
                const RedisReply marker = replies.value(1);
                if (marker.isError())
                    return fail(QStringLiteral("cannot read %1: %2")
                                    .arg(QString::fromUtf8(qb(RedisSchema::kAuditArchived)), escaped(marker.str)));
                const QString tamper = AuditLog::findTamper(info, marker);
                if (!tamper.isEmpty())
                    return fail(QStringLiteral("refusing to archive: %1").arg(tamper));
                for (qsizetype i = 0; i + 1 < marker.elements.size(); i += 2)
                    if (marker.elements[i].str == "archived")
                        m_previousTotal = marker.elements[i + 1].str.toLongLong();

                const QString partial = m_options.path + QStringLiteral(".partial");
                QFile::remove(partial);
                m_file = std::make_unique<QFile>(partial);
                if (!m_file->open(QIODevice::WriteOnly | QIODevice::NewOnly)
                    || !m_file->setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner))
                    return fail(QStringLiteral("cannot write %1: %2").arg(partial, m_file->errorString()));
                m_writer = std::make_unique<CorpusWriter>(m_file.get());
                Corpus::Header header;
                header.source =
                    QStringLiteral("redis://%1:%2").arg(m_connection->options().host).arg(m_connection->options().port);
                header.createdAtMs = QDateTime::currentMSecsSinceEpoch();
                header.contains = {QStringLiteral("audit")};
                header.tool = QStringLiteral("l0l3-ctl audit-archive");
                if (!m_writer->writeHeader(header))
                    return fail(m_writer->errorString());
                readPage("-");
            });
    });
}

void AuditArchiver::readPage(const QByteArray &after)
{
    const QByteArray end = "(" + QByteArray::number(m_options.beforeMs) + "-0";
    m_connection->command(
        {"XRANGE", qb(RedisSchema::kAudit), after, end, "COUNT", QByteArray::number(kPageSize)}, this,
        [this](const RedisReply &r) {
            if (r.isError())
                return fail(
                    QStringLiteral("XRANGE %1: %2").arg(QString::fromUtf8(qb(RedisSchema::kAudit)), escaped(r.str)));
            for (const RedisReply &e : r.elements) {
                std::string id;
                StreamFields fields;
                std::string why;
                if (!e.toStreamEntry(&id, &fields))
                    return fail(QStringLiteral("an audit entry that is not a stream entry: nothing was trimmed"));
                const auto record = AuditCodec::decode(id, fields, &why);
                if (!record)
                    return fail(
                        QStringLiteral("audit record %1 does not decode (%2): nothing was trimmed")
                            .arg(escaped(QByteArray::fromStdString(id)), escaped(QByteArray::fromStdString(why))));
                if (!m_writer->writeAudit(*record))
                    return fail(m_writer->errorString());
                m_result.through = QString::fromStdString(id);
                ++m_result.archived;
            }
            if (r.elements.size() == kPageSize)
                return readPage("(" + m_result.through.toLatin1());
            commit();
        });
}

void AuditArchiver::commit()
{
    if (m_result.archived == 0) {
        m_file->close();
        m_file->remove();
        return succeed(QStringLiteral("no audit record before %1: nothing archived")
                           .arg(QDateTime::fromMSecsSinceEpoch(m_options.beforeMs, Qt::UTC).toString(Qt::ISODate)));
    }
    if (!m_writer->finish() || !m_file->flush() || ::fsync(m_file->handle()) != 0)
        return fail(QStringLiteral("cannot write %1: %2").arg(m_file->fileName(), m_writer->errorString()));
    m_file->close();
    if (!QFile::rename(m_file->fileName(), m_options.path))
        return fail(QStringLiteral("cannot rename %1 to %2").arg(m_file->fileName(), m_options.path));
    QFile written(m_options.path);
    QCryptographicHash hash(QCryptographicHash::Sha256);
    if (!written.open(QIODevice::ReadOnly) || !hash.addData(&written))
        return fail(QStringLiteral("cannot read back %1").arg(m_options.path));
    m_result.sha256 = hash.result().toHex();
    m_result.totalArchived = m_previousTotal + m_result.archived;

    const QByteArray through = m_result.through.toLatin1();
    const QByteArray minId = nextId(through);
    if (minId.isEmpty())
        return fail(QStringLiteral("unexpected stream id %1").arg(escaped(through)));
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    AuditRecord record;
    record.action = "audit-archive";
    record.key = through.toStdString();
    record.actor = m_options.actor.toStdString();
    // The user the connection authenticated as (AUTH with a password only is "default"); the
    // archiver's ACL user may not run ACL WHOAMI, and needs no more than what it logged in as.
    record.user = m_connection->options().user.isEmpty() ? std::string("default")
                                                         : m_connection->options().user.left(128).toStdString();
    record.tsMs = now;
    record.detail = QStringLiteral("%1 records through %2 to %3, sha256 %4")
                        .arg(m_result.archived)
                        .arg(m_result.through, QFileInfo(m_options.path).fileName(),
                             QString::fromLatin1(m_result.sha256))
                        .toStdString();
    QList<QByteArray> xadd{"XADD", qb(RedisSchema::kAudit), "*"};
    for (const auto &[name, value] : AuditCodec::encode(record)) {
        xadd.append(QByteArray::fromStdString(name));
        xadd.append(QByteArray::fromStdString(value));
    }
    m_connection->transaction(
        {{"XTRIM", qb(RedisSchema::kAudit), "MINID", "=", minId},
         {"HSET", qb(RedisSchema::kAuditArchived), "through", through, "archived",
          QByteArray::number(m_result.totalArchived), "sha256", m_result.sha256, "file",
          QFileInfo(m_options.path).fileName().toUtf8(), "by", m_options.actor.toUtf8(), "at_ms",
          QByteArray::number(now)},
         xadd},
        this, [this](const RedisReply &exec) {
            if (exec.isNil())
                return fail(QStringLiteral("another audit-archive ran at the same time; nothing was trimmed (the "
                                           "file %1 is complete, run again)")
                                .arg(m_options.path));
            if (exec.isError())
                return fail(QStringLiteral("the trim failed, nothing was trimmed: %1").arg(escaped(exec.str)));
            for (const RedisReply &r : exec.elements)
                if (r.isError())
                    return fail(QStringLiteral("the trim failed: %1").arg(escaped(r.str)));
            const qint64 trimmed = exec.elements.value(0).integer;
            if (trimmed != m_result.archived)
                return fail(QStringLiteral("trimmed %1 records, archived %2: check the stream")
                                .arg(trimmed)
                                .arg(m_result.archived));
            // The stream as AuditLog will see it.
            m_connection->pipeline(
                {{"XINFO", "STREAM", qb(RedisSchema::kAudit)}, {"HGETALL", qb(RedisSchema::kAuditArchived)}}, this,
                [this](const QList<RedisReply> &replies) {
                    const QString tamper = AuditLog::findTamper(replies.value(0), replies.value(1));
                    if (!tamper.isEmpty())
                        return fail(
                            QStringLiteral("archived and trimmed, but the stream does not check: %1").arg(tamper));
                    succeed(QStringLiteral("archived %1 audit records through %2 to %3 (sha256 %4) and trimmed "
                                           "them; %5 archived in total")
                                .arg(m_result.archived)
                                .arg(m_result.through, m_options.path, QString::fromLatin1(m_result.sha256))
                                .arg(m_result.totalArchived));
                });
        });
}

void AuditArchiver::fail(const QString &message)
{
    if (m_done)
        return;
    m_done = true;
    if (m_file && m_file->fileName().endsWith(QStringLiteral(".partial"))) {
        m_file->close();
        m_file->remove();
    }
    m_result.ok = false;
    m_result.message = message;
    // Leave no WATCH behind on a shared connection.
    m_connection->command({"UNWATCH"}, this, [](const RedisReply &) {});
    emit finished(m_result);
}

void AuditArchiver::succeed(const QString &message)
{
    if (m_done)
        return;
    m_done = true;
    m_connection->command({"UNWATCH"}, this, [](const RedisReply &) {});
    m_result.ok = true;
    m_result.message = message;
    emit finished(m_result);
}

} // namespace l0l3
