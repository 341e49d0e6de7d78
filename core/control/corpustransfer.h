#pragma once

#include <QElapsedTimer>
#include <QFile>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QSaveFile>
#include <QString>
#include <QStringList>

#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/corpusfile.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

class EntryStore;

// What an export or an import got through, for progress and the summary.
struct CorpusCounts
{
    qint64 entries = 0;   // export: written; import: entry lines handled
    qint64 rejected = 0;  // export: written; import: rejected lines handled
    qint64 audit = 0;     // export: written; import: audit lines in the file (never written back)
    qint64 malformed = 0; // export: stored entries that do not decode (not exported)
    qint64 bytes = 0;     // export: bytes written
    // Import outcomes over entries and rejected keys (ApprovalResult::importOutcome).
    qint64 imported = 0;       // written where nothing was ("imported") or replacing ("replaced")
    qint64 replaced = 0;       // of imported: conflicts the file won (--prefer)
    qint64 unchanged = 0;      // identical already
    qint64 conflicts = 0;      // differ and nothing decided: not written
    qint64 skipped = 0;        // the server kept its own (--prefer) or the TTL/rejection ran out
    qint64 unverifiedKeys = 0; // entries whose key the file cannot prove (key_fields "partial")
    qint64 withoutVector = 0;  // of imported: written without their L1 vector (the embeddings endpoint failed)
    int replicasAcked = -1;    // WAIT after the last write; -1 unknown or nothing written
    QStringList conflictKeys;  // at most kMaxListedConflicts, with the reason
    static constexpr int kMaxListedConflicts = 1000;
};

// Streams the approved corpus of the primary into an export file
// (docs/SCHEMA.md, "Export file"): SCAN pages of entries (GET + TTL
// pipelined), the rejected set by ZRANGE pages, optionally the audit stream by
// XRANGE pages; each page is written before the next is read, so memory does
// not grow with the corpus. The file is written to a temporary name and put
// in place (mode 0600) only when complete.
//
// Thread affinity: the thread of its RedisConnection (the ControlWorker's in
// the console). finished() exactly once.
class CorpusExporter : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString path;
        bool withAudit = false;
        QString source; // redacted URL of the primary, for the header
        QString tool;   // "l0l3-ctl", "l0l3-console"
        int pageSize = 500;
    };

    CorpusExporter(RedisConnection *connection, QObject *parent = nullptr);
    ~CorpusExporter() override;

    void start(const Options &options);
    const CorpusCounts &counts() const { return m_counts; }

signals:
    void progress(const l0l3::CorpusCounts &counts);
    // ok false: error says why and no file was put in place.
    void finished(bool ok, const QString &error, const l0l3::CorpusCounts &counts);

private:
    void readRejected(qint64 start);
    void readAudit(const QByteArray &after);
    void complete();
    void abort(const QString &error);
    void reportProgress(bool force = false);

    QPointer<RedisConnection> m_connection;
    Options m_options;
    std::unique_ptr<QSaveFile> m_file;
    std::unique_ptr<CorpusWriter> m_writer;
    EntryStore *m_store = nullptr;
    CorpusCounts m_counts;
    QElapsedTimer m_sinceProgress;
    bool m_done = false;
};

// Restores an export file through ApprovalService (importEntry,
// importRejected). First reads the whole file and checks it (CorpusReader:
// shape, sizes, keys, trailer counts, checksum): a file that fails is refused
// with its line number before anything is written. Then reads it again and
// hands each entry and rejected key to the service, a bounded number at a
// time; audit lines are checked but not written back (the audit stream is
// append-only; the file is their archive). After the last write, one WAIT 1.
//
// Thread affinity: the thread of the service. finished() exactly once.
class CorpusImporter : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString path;
        ImportRequest::Prefer prefer = ImportRequest::Prefer::None;
        bool dryRun = false;
        QString actor;
        int waitMs = 1000; // WAIT 1 <ms> after the last write; 0 skips it
    };

    CorpusImporter(ApprovalService *service, QObject *parent = nullptr);
    ~CorpusImporter() override;

    void start(const Options &options);
    const CorpusCounts &counts() const { return m_counts; }

signals:
    // The file checked out; writing (or the dry run) starts.
    void validated(const l0l3::CorpusCounts &inFile);
    // One entry or rejected key decided (outcome: importOutcome or "conflict").
    void decided(const QString &kind, const QString &key, const QString &outcome, const QString &message);
    void progress(const l0l3::CorpusCounts &counts);
    // ok false: an invalid file (nothing written) or a write that failed
    // (error says which; counts say what was done before it).
    void finished(bool ok, const QString &error, const l0l3::CorpusCounts &counts);

private:
    void pump();
    void onResult(const QString &kind, const ApprovalResult &result);
    void complete();
    void abort(const QString &error);

    QPointer<ApprovalService> m_service;
    Options m_options;
    QFile m_file;
    std::unique_ptr<CorpusReader> m_reader;
    qint64 m_createdAtMs = 0;
    CorpusCounts m_counts;
    int m_inFlight = 0;
    bool m_readDone = false;
    bool m_done = false;
    bool m_wrote = false;
    QString m_fatal; // a write that failed for a reason the next ones share
    QElapsedTimer m_sinceProgress;
    static constexpr int kWindow = 32;
    // Lines parsed in one turn of the event loop: a long run of audit lines
    // (which send nothing) must not hold the loop while writes are in flight,
    // or their replies would wait in the socket past the command deadline.
    static constexpr int kLinesPerTurn = 128;
    bool m_pumpQueued = false;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::CorpusCounts)
