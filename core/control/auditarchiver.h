#pragma once

#include <QByteArray>
#include <QMetaType>
#include <QObject>
#include <QString>

#include <memory>

class QFile;

namespace l0l3 {

class CorpusWriter;
class RedisConnection;
struct RedisReply;

// Archives the audit stream's old records and trims them, so that AuditLog
// still accepts the stream (docs/RUNBOOK.md, "Retention"):
//  1. WATCH RedisSchema::kAuditArchived; refuses a stream that already lost a
//     record (AuditLog::findTamper);
//  2. writes every record older than beforeMs (XRANGE pages) to a file in the
//     export format (CorpusWriter: header, audit lines, trailer with counts and
//     SHA-256), fsyncs it and renames it into place (mode 0600, never over an
//     existing file); a record that does not decode stops it before any trim;
//  3. in one MULTI: XTRIM MINID just past the last archived id, HSET the marker
//     (through, archived in total, sha256, file, by, at_ms), XADD an
//     "audit-archive" record; then checks the stream again.
// Needs a user allowed to XTRIM the audit and write the marker (packaging's
// audit-archiver, off unless enabled); the console user is refused (NOPERM)
// and nothing is trimmed. Runs on its connection's thread.
class AuditArchiver : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        qint64 beforeMs = 0; // records with an id below this time are archived
        QString path;        // the archive file; must not exist
        QString actor;
    };
    struct Result
    {
        bool ok = false;
        QString message;
        qint64 archived = 0;      // records in this file
        qint64 totalArchived = 0; // the marker's total after this run
        QString through;          // the last archived id
        QByteArray sha256;        // hex, of the file
    };

    AuditArchiver(RedisConnection *connection, const Options &options, QObject *parent = nullptr);
    ~AuditArchiver() override;

    void start();
    static constexpr int kPageSize = 500;

signals:
    void finished(const l0l3::AuditArchiver::Result &result);

private:
    void readPage(const QByteArray &after);
    void commit();
    void fail(const QString &message);
    void succeed(const QString &message);

    RedisConnection *m_connection;
    Options m_options;
    std::unique_ptr<QFile> m_file;
    std::unique_ptr<CorpusWriter> m_writer;
    qint64 m_previousTotal = 0;
    Result m_result;
    bool m_done = false;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::AuditArchiver::Result)
