#include "ui/workers/controlworker.h"

#include <QRegularExpression>

#include <algorithm>
#include <memory>

#include "core/common/embedding.h"
#include "core/common/entry.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "core/control/entryvectors.h"
#include "core/control/guidelines.h"
#include "core/control/operatorstore.h"
#include "core/control/proposalqueue.h"

namespace l0l3 {

ControlWorker::ControlWorker(QObject *parent)
    : QObject(parent)
{
    m_liveTimer = new QTimer(this);
    m_liveTimer->setSingleShot(true);
    connect(m_liveTimer, &QTimer::timeout, this, &ControlWorker::flushLive);
}

ControlWorker::~ControlWorker()
{
    teardown();
}

void ControlWorker::teardown()
{
    // Services first: they hold (non-owning) pointers to the connection.
    delete m_approvals;
    m_approvals = nullptr;
    delete m_queue;
    m_queue = nullptr;
    delete m_entries;
    m_entries = nullptr;
    delete m_audit;
    m_audit = nullptr;
    m_liveTimer->stop();
    m_liveRecords.clear();
    delete m_tailConnection;
    m_tailConnection = nullptr;
    if (m_connection)
        m_connection->disconnect(this); // no signals from a connection being torn down
    delete m_connection;
    m_connection = nullptr;
}

void ControlWorker::shutdown()
{
    teardown();
}

void ControlWorker::connectTo(const RedisConnection::Options &options, const QString &actor)
{
    teardown();
    m_loadedOnce = false;
    m_connection = new RedisConnection(options, this);
    m_approvals = new ApprovalService(m_connection, this);
    if (!actor.isEmpty())
        m_approvals->setDefaultActor(actor);
    m_queue = new ProposalQueue(m_connection, this);
    m_queue->setPageSize(kProposalPageSize);
    m_entries = new EntryStore(m_connection, this);
    m_entries->setPageSize(500);
    m_audit = new AuditLog(m_connection, this);
    RedisConnection::Options tailOptions = options;
    tailOptions.commandTimeoutMs = std::max(options.commandTimeoutMs, 1000);
    m_tailConnection = new RedisConnection(tailOptions, this);

    const QString server = options.redacted();
    connect(m_connection, &RedisConnection::connected, this, [this] {
        emit connectionChanged(QStringLiteral("ready"), m_connection->options().redacted(), {});
        checkRole();
        checkPermissions();
        // Every (re)connection may be a different server (failover): reload.
        reloadProposals();
    });
    connect(m_connection, &RedisConnection::disconnected, this, [this] {
        emit connectionChanged(QStringLiteral("connecting"), m_connection->options().redacted(),
                               m_connection->lastError());
    });
    connect(m_connection, &RedisConnection::error, this, [this](const QString &message) {
        emit connectionChanged(QStringLiteral("connecting"), m_connection->options().redacted(), message);
    });

    connect(m_queue, &ProposalQueue::pageLoaded, this, &ControlWorker::proposalsPage);
    connect(m_queue, &ProposalQueue::itemsUpdated, this, &ControlWorker::proposalsUpdated);
    connect(m_queue, &ProposalQueue::itemsRemoved, this, &ControlWorker::proposalsRemoved);
    connect(m_queue, &ProposalQueue::regionsFound, this, &ControlWorker::proposalRegionsFound);
    connect(m_queue, &ProposalQueue::loadFinished, this, [this](int count, qint64 malformed) {
        emit proposalsLoaded(count, malformed);
        m_queue->setPollInterval(m_pollIntervalMs);
    });
    connect(m_queue, &ProposalQueue::loadFailed, this, &ControlWorker::proposalsFailed);

    connect(m_entries, &EntryStore::pageLoaded, this, [this](const QList<EntryItem> &items, int) {
        // EntryStore itself goes on after an empty SCAN page.
        emit entriesPage(items, m_entries->canFetchMore());
    });
    connect(m_entries, &EntryStore::failed, this, &ControlWorker::entriesFailed);
    connect(m_audit, &AuditLog::pageLoaded, this, &ControlWorker::auditPage);
    connect(m_audit, &AuditLog::failed, this, &ControlWorker::auditFailed);
    connect(m_audit, &AuditLog::tamperDetected, this, &ControlWorker::auditFailed); // records still load
    connect(m_audit, &AuditLog::appended, this, &ControlWorker::onAuditAppended);

    emit connectionChanged(QStringLiteral("connecting"), server, {});
    m_connection->open();
    m_tailConnection->open();
    m_audit->follow(m_tailConnection);
}

void ControlWorker::disconnectFromServer()
{
    const QString server = m_connection ? m_connection->options().redacted() : QString();
    teardown();
    emit connectionChanged(QStringLiteral("closed"), server, {});
}

void ControlWorker::repoint(const QString &host, int port)
{
    if (!m_connection)
        return;
    RedisConnection::Options options = m_connection->options();
    if (options.host == host && options.port == port)
        return;
    options.host = host;
    options.port = port;
    m_connection->close();
    m_connection->setOptions(options);
    emit connectionChanged(QStringLiteral("connecting"), options.redacted(),
                           QStringLiteral("primary moved (failover)"));
    m_connection->open();
    if (m_tailConnection) {
        // The audit stream is replicated with its ids: the tail goes on from the last one it read.
        RedisConnection::Options tailOptions = m_tailConnection->options();
        tailOptions.host = host;
        tailOptions.port = port;
        m_tailConnection->close();
        m_tailConnection->setOptions(tailOptions);
        m_tailConnection->open();
    }
}

void ControlWorker::checkPermissions()
{
    if (!m_connection)
        return;
    OperatorStore::probePermissions(m_connection, this, [this](const OperatorStore::Permissions &p) {
        emit permissionsChecked(p.user, p.role(), p.known, p.canDecide, p.canAdmin);
        if (!p.known || !p.canAdmin || !p.user.startsWith(QLatin1String("op-")) || !m_connection)
            return;
        auto *store = new OperatorStore(m_connection, this);
        store->sync([this, store](const OperatorStore::Result &r) {
            emit operatorsSynced(r.ok, r.ok ? r.message : r.message + u' ' + r.failedNodes.join(QStringLiteral("; ")));
            store->deleteLater();
        });
    });
}

void ControlWorker::checkRole()
{
    if (!m_connection)
        return;
    m_connection->pipeline({{QByteArrayLiteral("ROLE")},
                            {QByteArrayLiteral("GET"),
                             QByteArray(RedisSchema::kFrozen.data(), qsizetype(RedisSchema::kFrozen.size()))}},
                           this, [this](const QList<RedisReply> &replies) {
                               QString role = QStringLiteral("unknown");
                               if (!replies.isEmpty()) {
                                   const RedisReply &r = replies.first();
                                   if (r.isArray() && !r.elements.isEmpty())
                                       role = r.elements.first().toString();
                                   else if (r.isError())
                                       role = QStringLiteral("unknown (%1)").arg(r.errorMessage());
                               }
                               const bool frozen = replies.size() > 1 && replies[1].isString();
                               emit roleChecked(role, role == QLatin1String("master"), frozen);
                           });
}

void ControlWorker::reloadProposals()
{
    if (!m_queue)
        return;
    m_queue->setPollInterval(0);
    emit proposalsReset();
    m_queue->load();
}

void ControlWorker::setPollInterval(int ms)
{
    m_pollIntervalMs = ms;
    if (m_queue && !m_queue->isLoading())
        m_queue->setPollInterval(ms);
}

void ControlWorker::onResult(quint64 requestId, const ApprovalResult &result)
{
    if (result.ok && m_queue && (result.action == QLatin1String("approve") || result.action == QLatin1String("reject")))
        m_queue->removeKey(result.key);
    emit decisionFinished(requestId, result);
    if (result.action == QLatin1String("freeze") || result.action == QLatin1String("unfreeze"))
        checkRole();
}

namespace {
ApprovalResult notConnected(const QString &action, const QString &key)
{
    ApprovalResult r;
    r.error = ApprovalResult::ErrorKind::NotConnected;
    r.action = action;
    r.key = key;
    r.message = QStringLiteral("not connected: open a connection profile first");
    return r;
}
} // namespace

void ControlWorker::approve(quint64 requestId, const ApprovalRequest &request)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("approve"), request.key));
        return;
    }
    m_approvals->approve(request, [this, requestId](const ApprovalResult &r) { onResult(requestId, r); });
}

void ControlWorker::reject(quint64 requestId, const ProposalItem &item, int days)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("reject"), item.key));
        return;
    }
    m_approvals->reject(
        item.id, item.key, {}, days, [this, requestId](const ApprovalResult &r) { onResult(requestId, r); },
        item.duplicateIds);
}

void ControlWorker::revoke(quint64 requestId, const QString &key, qint64 expectedVersion)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("revoke"), key));
        return;
    }
    m_approvals->revoke(
        key, {}, [this, requestId](const ApprovalResult &r) { onResult(requestId, r); }, expectedVersion);
}

void ControlWorker::unreject(quint64 requestId, const QString &key)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("unreject"), key));
        return;
    }
    m_approvals->unreject(key, {}, [this, requestId](const ApprovalResult &r) { onResult(requestId, r); });
}

void ControlWorker::loadReverify()
{
    if (!m_connection) {
        emit reverifyFailed(tr("not connected"));
        return;
    }
    // One queue per load, owned by the connection it reads: gone with it on a reconnect.
    auto *queue = new ReverifyQueue(m_connection, m_connection);
    connect(queue, &ReverifyQueue::loaded, this, [this, queue](const QList<ReverifyItem> &due, int scanned, int) {
        queue->deleteLater();
        emit reverifyLoaded(due, scanned);
    });
    connect(queue, &ReverifyQueue::failed, this, [this, queue](const QString &message) {
        queue->deleteLater();
        emit reverifyFailed(message);
    });
    queue->load();
}

void ControlWorker::keepEntry(quint64 requestId, const QString &key, qint64 expectedVersion)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("reverify-keep"), key));
        return;
    }
    m_approvals->keep(key, expectedVersion, {}, [this, requestId](const ApprovalResult &r) { onResult(requestId, r); });
}

void ControlWorker::readServed(quint64 requestId, const QString &key)
{
    ServedCounts::read(m_connection, key, this,
                       [this, requestId](const ServedCounts &counts) { emit servedRead(requestId, counts); });
}

void ControlWorker::editEntry(quint64 requestId, const QString &key, const QString &response, qint64 expectedVersion)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("edit"), key));
        return;
    }
    m_approvals->edit(key, response, expectedVersion, {},
                      [this, requestId](const ApprovalResult &r) { onResult(requestId, r); });
}

void ControlWorker::setFrozen(quint64 requestId, bool frozen)
{
    if (!m_approvals) {
        emit decisionFinished(requestId,
                              notConnected(frozen ? QStringLiteral("freeze") : QStringLiteral("unfreeze"), {}));
        return;
    }
    auto cb = [this, requestId](const ApprovalResult &r) { onResult(requestId, r); };
    if (frozen)
        m_approvals->freezeApprovals({}, cb);
    else
        m_approvals->unfreezeApprovals({}, cb);
}

void ControlWorker::publishControl(quint64 requestId, const QString &message)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("control"), message));
        return;
    }
    m_approvals->publishControl(message, {}, [this, requestId](const ApprovalResult &r) { onResult(requestId, r); });
}

void ControlWorker::exportCorpus(quint64 requestId, const CorpusExporter::Options &options)
{
    if (!m_connection) {
        emit corpusFinished(requestId, false, QStringLiteral("not connected"), {});
        return;
    }
    CorpusExporter::Options o = options;
    o.source = m_connection->options().redacted();
    // A child of the connection: gone with it (its pending reads then fail and it reports).
    auto *exporter = new CorpusExporter(m_connection, m_connection);
    connect(exporter, &CorpusExporter::progress, this,
            [this, requestId](const CorpusCounts &c) { emit corpusProgress(requestId, c); });
    connect(exporter, &CorpusExporter::finished, this,
            [this, requestId, exporter](bool ok, const QString &error, const CorpusCounts &c) {
                exporter->deleteLater();
                emit corpusFinished(requestId, ok, error, c);
            });
    exporter->start(o);
}

void ControlWorker::importCorpus(quint64 requestId, const CorpusImporter::Options &options)
{
    if (!m_approvals) {
        emit corpusFinished(requestId, false, QStringLiteral("not connected"), {});
        return;
    }
    CorpusImporter::Options o = options;
    o.actor = m_approvals->defaultActor();
    auto *importer = new CorpusImporter(m_approvals, m_approvals);
    connect(importer, &CorpusImporter::progress, this,
            [this, requestId](const CorpusCounts &c) { emit corpusProgress(requestId, c); });
    connect(importer, &CorpusImporter::finished, this,
            [this, requestId, importer](bool ok, const QString &error, const CorpusCounts &c) {
                importer->deleteLater();
                emit corpusFinished(requestId, ok, error, c);
            });
    importer->start(o);
}

QSet<QString> promptWords(const QString &prompt)
{
    const QString norm = QString::fromStdString(PromptNormaliser::normalise(prompt.toStdString()));
    static const QRegularExpression split(QStringLiteral("[^\\w]+"), QRegularExpression::UseUnicodePropertiesOption);
    const QStringList words = norm.split(split, Qt::SkipEmptyParts);
    return QSet<QString>(words.begin(), words.end());
}

double jaccard(const QSet<QString> &a, const QSet<QString> &b)
{
    if (a.isEmpty() && b.isEmpty())
        return 0;
    const qsizetype common = QSet<QString>(a).intersect(b).size();
    return double(common) / double(a.size() + b.size() - common);
}

void ControlWorker::markNegative(quint64 requestId, const QString &key, const QString &proposalKey,
                                 const QString &prompt)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("l1-negative"), key));
        return;
    }
    m_approvals->markNegative(key, proposalKey, prompt, QString(),
                              [this, requestId](const ApprovalResult &r) { onResult(requestId, r); });
}

void ControlWorker::readGuidelines(const QString &ns)
{
    if (!m_connection) {
        emit guidelinesRead(ns, {}, tr("not connected"));
        return;
    }
    Guidelines::read(m_connection, ns, this, [this, ns](const QString &markdown, const QString &error) {
        emit guidelinesRead(ns, markdown, error);
    });
}

void ControlWorker::writeGuidelines(quint64 requestId, const QString &ns, const QString &markdown)
{
    if (!m_connection) {
        emit guidelinesWritten(requestId, ns, tr("not connected"));
        return;
    }
    Guidelines::write(m_connection, ns, markdown.toUtf8(), this,
                      [this, requestId, ns](const QString &error) { emit guidelinesWritten(requestId, ns, error); });
}

void ControlWorker::findSimilar(const ProposalItem &item)
{
    const quint64 generation = ++m_similarGeneration;
    if (!m_connection)
        return;
    struct Scan
    {
        QString proposalKey;
        std::string ns;
        std::string model;
        std::string systemSha256;
        std::vector<float> vector;
        QList<SimilarEntry> best;
        int pages = 0;
    };
    auto scan = std::make_shared<Scan>();
    scan->proposalKey = item.key;
    scan->ns = item.ns.toStdString();
    scan->model = item.model.toStdString();
    scan->systemSha256 = EntryVectors::systemSha256(item.system.toStdString());
    scan->vector = EntryVectors::provider().embed(item.prompt.toStdString());
    auto step = std::make_shared<std::function<void(const QByteArray &)>>();
    // The pending callbacks own the step; it refers to itself weakly (no cycle).
    std::weak_ptr<std::function<void(const QByteArray &)>> weakStep = step;
    *step = [this, scan, weakStep, generation](const QByteArray &cursor) {
        auto step = weakStep.lock();
        if (!step)
            return;
        if (!m_connection || generation != m_similarGeneration)
            return; // a newer selection superseded this one
        const QByteArray match = QByteArray::fromStdString(RedisSchema::entryKey("")) + '*';
        m_connection->command(
            {QByteArrayLiteral("SCAN"), cursor, QByteArrayLiteral("MATCH"), match, QByteArrayLiteral("COUNT"),
             QByteArrayLiteral("1000")},
            this, [this, scan, step, generation](const RedisReply &r) {
                if (generation != m_similarGeneration || !r.isArray() || r.elements.size() < 2) {
                    if (generation == m_similarGeneration)
                        emit similarEntries(scan->proposalKey, scan->best);
                    return;
                }
                const QByteArray next = r.elements[0].str;
                QList<QByteArray> mget{QByteArrayLiteral("MGET")};
                for (const RedisReply &k : r.elements[1].elements)
                    mget.append(k.str);
                auto proceed = [this, scan, step, next] {
                    ++scan->pages;
                    if (next == "0" || scan->pages >= kSimilarScanPages)
                        emit similarEntries(scan->proposalKey, scan->best);
                    else
                        (*step)(next);
                };
                if (mget.size() == 1) {
                    proceed();
                    return;
                }
                m_connection->command(mget, this, [this, scan, proceed, generation](const RedisReply &values) {
                    if (generation != m_similarGeneration)
                        return;
                    for (const RedisReply &v : values.elements) {
                        if (!v.isString())
                            continue;
                        const auto e = EntryCodec::decode(v.str.toStdString());
                        // Only what the proposal could become a variant of: a main entry of its scope.
                        if (!e || QString::fromStdString(e->key) == scan->proposalKey || !e->variantOf.empty()
                            || e->ns != scan->ns || e->model != scan->model
                            || EntryVectors::systemSha256(e->system) != scan->systemSha256)
                            continue;
                        const QString prompt = QString::fromStdString(e->prompt);
                        const double s = dot(scan->vector, EntryVectors::provider().embed(e->prompt));
                        if (s <= 0)
                            continue;
                        scan->best.append({QString::fromStdString(e->key), prompt, e->version, s});
                    }
                    std::stable_sort(scan->best.begin(), scan->best.end(),
                                     [](const SimilarEntry &a, const SimilarEntry &b) {
                                         return a.similarity > b.similarity;
                                     });
                    if (scan->best.size() > 3)
                        scan->best.resize(3);
                    proceed();
                });
            });
    };
    (*step)(QByteArrayLiteral("0"));
}

void ControlWorker::onAuditAppended(const QList<AuditRecord> &records)
{
    m_liveRecords.append(records);
    if (!m_liveTimer->isActive())
        m_liveTimer->start(kLiveBatchMs);
}

// One batch of live changes: the records themselves, the proposals they
// decided (gone from this console's queue), and the entries they wrote or
// removed, read back in one pipeline.
void ControlWorker::flushLive()
{
    const QList<AuditRecord> records = std::exchange(m_liveRecords, {});
    if (records.isEmpty())
        return;
    emit auditAppended(records);
    QStringList decided;
    QStringList entryKeys;
    QSet<QString> seenEntryKeys;
    for (const AuditRecord &r : records) {
        const QString key = QString::fromStdString(r.key);
        if (r.action == "approve" || r.action == "reject")
            decided.append(key);
        const bool writesEntry = r.action == "approve" || r.action == "edit" || r.action == "revoke"
            || r.action == "import";
        if (writesEntry && !seenEntryKeys.contains(key)) {
            seenEntryKeys.insert(key);
            entryKeys.append(key);
        }
    }
    if (m_queue && !decided.isEmpty())
        m_queue->removeKeys(decided);
    if (entryKeys.isEmpty() || !m_connection)
        return;
    QList<QList<QByteArray>> reads;
    reads.reserve(2 * entryKeys.size());
    for (const QString &key : std::as_const(entryKeys)) {
        const QByteArray redisKey = QByteArray::fromStdString(RedisSchema::entryKey(key.toStdString()));
        reads.append({QByteArrayLiteral("GET"), redisKey});
        reads.append({QByteArrayLiteral("TTL"), redisKey});
    }
    m_connection->pipeline(reads, this, [this, entryKeys](const QList<RedisReply> &replies) {
        if (replies.size() != 2 * entryKeys.size())
            return;
        QList<EntryItem> upserted;
        QStringList removed;
        for (qsizetype i = 0; i < entryKeys.size(); ++i) {
            const RedisReply &value = replies[2 * i];
            if (value.isError())
                continue; // unknown: the next reload shows it
            std::optional<Entry> entry;
            if (value.isString())
                entry = EntryCodec::decode(value.str.toStdString());
            if (!entry) {
                removed.append(entryKeys[i]);
                continue;
            }
            if (!EntryStore::matches(*entry, m_entrySearch)) {
                removed.append(entryKeys[i]); // an edit may take it out of the search
                continue;
            }
            EntryItem item;
            item.entry = std::move(*entry);
            item.redisKey = QString::fromStdString(RedisSchema::entryKey(entryKeys[i].toStdString()));
            const RedisReply &ttl = replies[2 * i + 1];
            item.ttlRemainingSeconds = ttl.isInteger() && ttl.integer >= 0 ? ttl.integer : -1;
            upserted.append(std::move(item));
        }
        emit entriesChanged(upserted, removed);
    });
}

void ControlWorker::scanEntries(const QString &search)
{
    m_entrySearch = search;
    if (!m_entries) {
        emit entriesFailed(QStringLiteral("not connected"));
        return;
    }
    emit entriesReset();
    m_entries->startPaged(search);
    m_entries->fetchMore();
}

void ControlWorker::fetchMoreEntries()
{
    if (m_entries && m_entries->canFetchMore() && !m_entries->isScanning())
        m_entries->fetchMore();
}

void ControlWorker::reloadAudit()
{
    if (!m_audit) {
        emit auditFailed(QStringLiteral("not connected"));
        return;
    }
    emit auditReset();
    m_audit->reload();
}

void ControlWorker::fetchMoreAudit()
{
    if (m_audit && m_audit->canFetchMore() && !m_audit->isLoading())
        m_audit->fetchMore();
}

} // namespace l0l3
