#include "core/control/corpustransfer.h"

#include <QDateTime>

#include "core/common/auditrecord.h"
#include "core/common/redisschema.h"
#include "core/control/entrystore.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

constexpr qint64 kProgressIntervalMs = 200;

} // namespace

CorpusExporter::CorpusExporter(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
}

CorpusExporter::~CorpusExporter() = default;

void CorpusExporter::start(const Options &options)
{
    m_options = options;
    m_options.pageSize = qBound(1, m_options.pageSize, 10000);
    m_counts = {};
    m_done = false;
    m_sinceProgress.start();
    if (!m_connection)
        return abort(QStringLiteral("no Redis connection"));
    m_file = std::make_unique<QSaveFile>(m_options.path);
    if (!m_file->open(QIODevice::WriteOnly))
        return abort(QStringLiteral("cannot write %1: %2").arg(m_options.path, m_file->errorString()));
    // The corpus holds user prompts: readable by its owner only.
    m_file->setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    m_writer = std::make_unique<CorpusWriter>(m_file.get());
    Corpus::Header header;
    header.source = m_options.source;
    header.createdAtMs = QDateTime::currentMSecsSinceEpoch();
    header.contains = {QStringLiteral("entries"), QStringLiteral("rejected")};
    if (m_options.withAudit)
        header.contains.append(QStringLiteral("audit"));
    header.tool = m_options.tool;
    if (!m_writer->writeHeader(header))
        return abort(m_writer->errorString());

    m_store = new EntryStore(m_connection, this);
    m_store->setPageSize(m_options.pageSize);
    m_store->setWithL1State(true);
    connect(m_store, &EntryStore::pageLoaded, this, [this](const QList<EntryItem> &items, int malformed) {
        if (m_done)
            return;
        m_counts.malformed += malformed;
        for (const EntryItem &item : items) {
            if (!m_writer->writeEntry(item.entry, item.ttlRemainingSeconds,
                                      {item.l1Threshold, item.l1Negatives, item.l1Denied, item.l1Evidence}))
                return abort(m_writer->errorString());
        }
        m_counts.entries = m_writer->entries();
        reportProgress();
    });
    connect(m_store, &EntryStore::failed, this, [this](const QString &message) { abort(message); });
    connect(m_store, &EntryStore::finished, this, [this](int) {
        if (!m_done)
            readRejected(0);
    });
    m_store->scan();
}

void CorpusExporter::readRejected(qint64 start)
{
    if (!m_connection)
        return abort(QStringLiteral("no Redis connection"));
    const qint64 stop = start + m_options.pageSize - 1;
    m_connection->command({QByteArrayLiteral("ZRANGE"), bytes(RedisSchema::kRejected), QByteArray::number(start),
                           QByteArray::number(stop), QByteArrayLiteral("WITHSCORES")},
                          this, [this, start](const RedisReply &r) {
                              if (m_done)
                                  return;
                              if (r.isError() || !r.isArray() || r.elements.size() % 2 != 0)
                                  return abort(QStringLiteral("cannot read the rejected set: %1")
                                                   .arg(r.isError() ? r.errorMessage() : QStringLiteral("bad reply")));
                              for (qsizetype i = 0; i + 1 < r.elements.size(); i += 2) {
                                  const qint64 until = qint64(r.elements[i + 1].str.toDouble());
                                  if (!m_writer->writeRejected(r.elements[i].toString(), until))
                                      return abort(m_writer->errorString());
                              }
                              m_counts.rejected = m_writer->rejected();
                              reportProgress();
                              if (r.elements.size() / 2 == m_options.pageSize)
                                  readRejected(start + m_options.pageSize);
                              else if (m_options.withAudit)
                                  readAudit(QByteArray());
                              else
                                  complete();
                          });
}

void CorpusExporter::readAudit(const QByteArray &after)
{
    if (!m_connection)
        return abort(QStringLiteral("no Redis connection"));
    const QByteArray from = after.isEmpty() ? QByteArrayLiteral("-") : QByteArray('(' + after);
    m_connection->command({QByteArrayLiteral("XRANGE"), bytes(RedisSchema::kAudit), from, QByteArrayLiteral("+"),
                           QByteArrayLiteral("COUNT"), QByteArray::number(m_options.pageSize)},
                          this, [this](const RedisReply &r) {
                              if (m_done)
                                  return;
                              if (r.isError() || !r.isArray())
                                  return abort(QStringLiteral("cannot read the audit stream: %1")
                                                   .arg(r.isError() ? r.errorMessage() : QStringLiteral("bad reply")));
                              QByteArray last;
                              for (const RedisReply &element : r.elements) {
                                  std::string id;
                                  StreamFields fields;
                                  if (!element.toStreamEntry(&id, &fields)) {
                                      ++m_counts.malformed;
                                      continue;
                                  }
                                  last = bytes(id);
                                  const std::optional<AuditRecord> record = AuditCodec::decode(id, fields);
                                  if (!record) {
                                      ++m_counts.malformed;
                                      continue;
                                  }
                                  if (!m_writer->writeAudit(*record))
                                      return abort(m_writer->errorString());
                              }
                              m_counts.audit = m_writer->audit();
                              reportProgress();
                              if (r.elements.size() == m_options.pageSize && !last.isEmpty())
                                  readAudit(last);
                              else
                                  complete();
                          });
}

void CorpusExporter::complete()
{
    if (m_done)
        return;
    if (!m_writer->finish())
        return abort(m_writer->errorString());
    if (!m_file->commit())
        return abort(QStringLiteral("cannot write %1: %2").arg(m_options.path, m_file->errorString()));
    m_done = true;
    m_counts.entries = m_writer->entries();
    m_counts.rejected = m_writer->rejected();
    m_counts.audit = m_writer->audit();
    m_counts.bytes = m_writer->bytesWritten();
    reportProgress(true);
    emit finished(true, QString(), m_counts);
}

void CorpusExporter::abort(const QString &error)
{
    if (m_done)
        return;
    m_done = true;
    if (m_store)
        m_store->startPaged(); // stops its scan
    if (m_file)
        m_file->cancelWriting(); // nothing is put in place
    emit finished(false, error, m_counts);
}

void CorpusExporter::reportProgress(bool force)
{
    if (m_writer)
        m_counts.bytes = m_writer->bytesWritten();
    if (force || m_sinceProgress.elapsed() >= kProgressIntervalMs) {
        m_sinceProgress.restart();
        emit progress(m_counts);
    }
}

CorpusImporter::CorpusImporter(ApprovalService *service, QObject *parent)
    : QObject(parent)
    , m_service(service)
{
}

CorpusImporter::~CorpusImporter() = default;

void CorpusImporter::start(const Options &options)
{
    m_options = options;
    m_counts = {};
    m_sinceProgress.start();
    if (!m_service)
        return abort(QStringLiteral("no Redis connection"));
    m_file.setFileName(m_options.path);
    if (!m_file.open(QIODevice::ReadOnly))
        return abort(QStringLiteral("cannot read %1: %2").arg(m_options.path, m_file.errorString()));
    {
        CorpusReader check(&m_file);
        if (!check.validateAll()) {
            return abort(
                QStringLiteral("refused %1: %2; nothing was written").arg(m_options.path, check.errorString()));
        }
        m_createdAtMs = check.header().createdAtMs;
        CorpusCounts inFile;
        inFile.entries = check.entries();
        inFile.rejected = check.rejected();
        inFile.audit = check.audit();
        inFile.unverifiedKeys = check.unverifiedKeys();
        m_counts.unverifiedKeys = inFile.unverifiedKeys;
        emit validated(inFile);
    }
    // The second pass reads the same bytes again and checks them again; a file
    // changed in between stops the import at the first line that differs in shape.
    if (!m_file.seek(0))
        return abort(QStringLiteral("cannot read %1: %2").arg(m_options.path, m_file.errorString()));
    m_reader = std::make_unique<CorpusReader>(&m_file);
    pump();
}

void CorpusImporter::pump()
{
    int parsed = 0;
    while (!m_done && !m_readDone && m_inFlight < kWindow) {
        if (parsed++ == kLinesPerTurn) {
            if (!m_pumpQueued) {
                m_pumpQueued = true;
                QMetaObject::invokeMethod(
                    this,
                    [this] {
                        m_pumpQueued = false;
                        pump();
                    },
                    Qt::QueuedConnection);
            }
            return;
        }
        if (!m_service) {
            abort(QStringLiteral("no Redis connection"));
            break;
        }
        const std::optional<Corpus::Line> line = m_reader->next();
        if (!line) {
            m_readDone = true;
            if (m_reader->hasError() && m_fatal.isEmpty())
                m_fatal =
                    QStringLiteral("%1 changed while it was imported: %2").arg(m_options.path, m_reader->errorString());
            break;
        }
        QPointer<CorpusImporter> self(this);
        switch (line->type) {
        case Corpus::Line::Type::Entry: {
            ImportRequest req;
            req.entry = line->entry.entry;
            req.l1Threshold = line->entry.l1.threshold;
            req.l1Negatives = line->entry.l1.negatives;
            req.l1Denied = line->entry.l1.denied;
            req.l1Evidence = line->entry.l1.evidence;
            if (line->entry.ttlRemainingSeconds >= 0)
                req.expireAtMs = m_createdAtMs + line->entry.ttlRemainingSeconds * 1000;
            req.prefer = m_options.prefer;
            req.dryRun = m_options.dryRun;
            req.actor = m_options.actor;
            ++m_inFlight;
            m_service->importEntry(req, [self](const ApprovalResult &r) {
                if (self)
                    self->onResult(QStringLiteral("entry"), r);
            });
            break;
        }
        case Corpus::Line::Type::Rejected:
            ++m_inFlight;
            m_service->importRejected(line->rejected.key, line->rejected.untilMs, m_options.actor, m_options.dryRun,
                                      [self](const ApprovalResult &r) {
                                          if (self)
                                              self->onResult(QStringLiteral("rejected"), r);
                                      });
            break;
        case Corpus::Line::Type::Audit: ++m_counts.audit; break;
        case Corpus::Line::Type::Header:
        case Corpus::Line::Type::Trailer: break;
        }
    }
    if (m_readDone && m_inFlight == 0)
        complete();
}

void CorpusImporter::onResult(const QString &kind, const ApprovalResult &r)
{
    --m_inFlight;
    if (kind == QLatin1String("entry"))
        ++m_counts.entries;
    else
        ++m_counts.rejected;
    if (r.ok) {
        const QString &o = r.importOutcome;
        if (o == QLatin1String("imported") || o == QLatin1String("replaced")) {
            ++m_counts.imported;
            if (o == QLatin1String("replaced"))
                ++m_counts.replaced;
            if (!r.warning.isEmpty())
                ++m_counts.withoutVector;
            m_wrote = m_wrote || !m_options.dryRun;
        } else if (o == QLatin1String("unchanged")) {
            ++m_counts.unchanged;
        } else {
            ++m_counts.skipped;
        }
        emit decided(kind, r.key, o, r.message);
    } else if (r.error == ApprovalResult::ErrorKind::VersionConflict) {
        ++m_counts.conflicts;
        if (m_counts.conflictKeys.size() < CorpusCounts::kMaxListedConflicts)
            m_counts.conflictKeys.append(r.key + QStringLiteral(": ") + r.message);
        emit decided(kind, r.key, QStringLiteral("conflict"), r.message);
    } else {
        // Frozen, a replica, a lost link, NOPERM: the rest would fail the same way. What is in
        // flight still reports, so the counts say what was written.
        m_readDone = true;
        if (m_fatal.isEmpty())
            m_fatal = QStringLiteral("import stopped at %1 (%2): %3")
                          .arg(r.key, ApprovalResult::errorName(r.error), r.message);
    }
    if (m_sinceProgress.elapsed() >= kProgressIntervalMs) {
        m_sinceProgress.restart();
        emit progress(m_counts);
    }
    pump();
}

void CorpusImporter::complete()
{
    if (m_done)
        return;
    emit progress(m_counts);
    if (!m_fatal.isEmpty())
        return abort(m_fatal);
    m_done = true;
    RedisConnection *conn = m_service ? m_service->connection() : nullptr;
    if (!m_wrote || m_options.waitMs <= 0 || !conn) {
        emit finished(true, QString(), m_counts);
        return;
    }
    conn->command(
        {QByteArrayLiteral("WAIT"), QByteArrayLiteral("1"), QByteArray::number(m_options.waitMs)}, this,
        [this](const RedisReply &r) {
            m_counts.replicasAcked = r.isInteger() ? int(r.integer) : -1;
            emit finished(true, QString(), m_counts);
        },
        m_options.waitMs + conn->options().commandTimeoutMs);
}

void CorpusImporter::abort(const QString &error)
{
    if (m_done)
        return;
    m_done = true;
    emit finished(false, error, m_counts);
}

} // namespace l0l3
