#include "ui/workers/controlworker.h"

#include <QRegularExpression>

#include <algorithm>
#include <memory>

#include "core/common/cachekey.h"
#include "core/common/embedding.h"
#include "core/common/entry.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "core/common/vectorrecord.h"
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
    m_reservationExpiry = new QTimer(this);
    m_reservationExpiry->setSingleShot(true);
    connect(m_reservationExpiry, &QTimer::timeout, this, &ControlWorker::reloadReservations);
    m_operatorWatch = new QTimer(this);
    m_operatorWatch->setInterval(kOperatorWatchMs);
    connect(m_operatorWatch, &QTimer::timeout, this, &ControlWorker::watchReplicas);
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
    m_reservationExpiry->stop();
    m_operatorWatch->stop();
    m_operatorReplicas.clear();
    delete m_reservations;
    m_reservations = nullptr;
    delete m_reservationConnection;
    m_reservationConnection = nullptr;
    if (m_connection)
        m_connection->disconnect(this); // no signals from a connection being torn down
    delete m_connection;
    m_connection = nullptr;
}

void ControlWorker::shutdown()
{
    teardown();
    delete m_embedder; // its network objects go on this thread
    m_embedder = nullptr;
}

void ControlWorker::setEmbeddings(const EmbeddingSettings &settings)
{
    m_embeddings = settings;
    if (m_approvals)
        m_approvals->setEmbeddings(settings);
    delete m_embedder; // a lookup waiting on it is dropped with it
    m_embedder = settings.isRemote() ? new EmbeddingClient(settings, this) : nullptr;
}

void ControlWorker::connectTo(const RedisConnection::Options &options, const QString &actor)
{
    teardown();
    m_loadedOnce = false;
    m_connection = new RedisConnection(options, this);
    m_approvals = new ApprovalService(m_connection, this);
    m_approvals->setEmbeddings(m_embeddings);
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
    m_reservationConnection = new RedisConnection(options, this);
    m_reservations = new ReservationStore(m_reservationConnection, this);
    connect(m_reservationConnection, &RedisConnection::connected, this, &ControlWorker::reloadReservations);

    const QString server = options.redacted();
    connect(m_connection, &RedisConnection::connected, this, [this] {
        emit connectionChanged(QStringLiteral("ready"), m_connection->options().redacted(), {});
        // Until checkPermissions has synced this server and its replicas.
        m_operatorWatch->stop();
        delete m_operatorSync;
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
    m_reservationConnection->open();
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
    delete m_operatorSync; // its nodes were the old primary's
    m_operatorWatch->stop();
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
    if (m_reservationConnection) {
        RedisConnection::Options reservationOptions = m_reservationConnection->options();
        reservationOptions.host = host;
        reservationOptions.port = port;
        m_reservationConnection->close();
        m_reservationConnection->setOptions(reservationOptions);
        m_reservationConnection->open();
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
        m_operatorReplicas.clear();
        syncOperators({});
    });
}

void ControlWorker::syncOperators(const QString &why)
{
    if (!m_connection || m_operatorSync)
        return;
    // The connection's child, deleted on a repoint or a reconnection: its nodes are one primary's.
    auto *store = new OperatorStore(m_connection, m_connection);
    m_operatorSync = store;
    store->sync([this, store, why](const OperatorStore::Result &r) {
        store->deleteLater();
        // Every node tried counts as seen: one that failed is tried again when it rejoins, or on
        // the next connection, not every kOperatorWatchMs.
        for (const QString &node : r.appliedNodes)
            m_operatorReplicas.insert(node);
        for (const QString &failure : r.failedNodes)
            m_operatorReplicas.insert(failure.section(QStringLiteral(": "), 0, 0));
        QString message = r.message;
        if (!r.appliedNodes.isEmpty())
            message += QStringLiteral(": ") + r.appliedNodes.join(QStringLiteral(", "));
        if (!r.ok)
            message += QStringLiteral("; failed: ") + r.failedNodes.join(QStringLiteral("; "));
        if (!why.isEmpty())
            message = why + QStringLiteral(": ") + message;
        qInfo("l0l3: operators: %s", qUtf8Printable(message.left(2000)));
        emit operatorsSynced(r.ok, !why.isEmpty(), message);
        if (m_connection && m_connection->isReady())
            m_operatorWatch->start();
    });
}

void ControlWorker::watchReplicas()
{
    if (!m_connection || m_operatorSync)
        return;
    m_connection->command({QByteArrayLiteral("INFO"), QByteArrayLiteral("replication")}, m_connection,
                          [this](const RedisReply &r) {
                              if (!r.isString() || m_operatorSync)
                                  return;
                              QSet<QString> now;
                              QStringList joined;
                              for (const OperatorStore::Node &n : OperatorStore::replicasOfInfo(r.str.left(1 << 20))) {
                                  const QString name = QStringLiteral("%1:%2").arg(n.host).arg(n.port);
                                  now.insert(name);
                                  if (!m_operatorReplicas.contains(name))
                                      joined.append(name);
                              }
                              // One that left may come back from an older ACL file: it is synced again then.
                              m_operatorReplicas = now;
                              if (!joined.isEmpty())
                                  syncOperators(tr("replica %1 joined").arg(joined.join(QStringLiteral(", "))));
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
    // Before the queue's first read: the editor of the first proposal shown gets the current policy.
    readReviewPolicy();
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
    // A first approval in a four-eyes namespace decides nothing: the proposal stays queued.
    if (result.ok && !result.awaitingSecondApproval && m_queue
        && (result.action == QLatin1String("approve") || result.action == QLatin1String("reject")))
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
    readReviewPolicy();
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

void ControlWorker::loadL1Review(const QString &afterId)
{
    L1Review::load(m_connection, afterId, L1Review::kMaxItems, this,
                   [this, afterId](const QList<L1ReviewItem> &items, int, const QString &error) {
                       if (!error.isEmpty())
                           emit l1ReviewFailed(error);
                       else
                           emit l1ReviewLoaded(afterId, items);
                   });
}

void ControlWorker::reviewL1(quint64 requestId, const QString &reviewId, bool confirmed)
{
    if (!m_approvals) {
        emit decisionFinished(requestId,
                              notConnected(confirmed ? QStringLiteral("l1-confirm") : QStringLiteral("l1-deny"), {}));
        return;
    }
    m_approvals->reviewL1(reviewId, confirmed, {},
                          [this, requestId](const ApprovalResult &r) { onResult(requestId, r); });
}

void ControlWorker::readServed(quint64 requestId, const QString &key)
{
    ServedCounts::read(m_connection, key, this,
                       [this, requestId](const ServedCounts &counts) { emit servedRead(requestId, counts); });
}

void ControlWorker::readReviewPolicy()
{
    if (!m_connection)
        return;
    const QByteArray policyKey(RedisSchema::kReviewPolicy.data(), qsizetype(RedisSchema::kReviewPolicy.size()));
    m_connection->command({QByteArrayLiteral("HGETALL"), policyKey}, this, [this](const RedisReply &r) {
        // Unreadable: the defaults, as the approval service falls back to them too.
        ReviewPolicy policy;
        for (qsizetype i = 0; !r.isError() && i + 1 < r.elements.size(); i += 2)
            policy.set(r.elements[i].str.toStdString(), r.elements[i + 1].str.toStdString());
        emit reviewPolicyRead(policy);
    });
}

void ControlWorker::editEntry(quint64 requestId, const QString &key, const QString &response, qint64 expectedVersion,
                              qint64 reviewDays)
{
    if (!m_approvals) {
        emit decisionFinished(requestId, notConnected(QStringLiteral("edit"), key));
        return;
    }
    m_approvals->edit(
        key, response, expectedVersion, {}, [this, requestId](const ApprovalResult &r) { onResult(requestId, r); },
        reviewDays);
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

void ControlWorker::readEntryPrompts(const QStringList &keys)
{
    QStringList read;
    QList<QByteArray> mget{QByteArrayLiteral("MGET")};
    for (const QString &key : keys) {
        if (read.size() >= kEntryPromptBatch)
            break;
        if (!CacheKey::isValid(key.toStdString()))
            continue;
        read.append(key);
        mget.append(QByteArray::fromStdString(RedisSchema::entryKey(key.toStdString())));
    }
    if (read.isEmpty()) {
        emit entryPromptsRead(keys, {}, {});
        return;
    }
    if (!m_connection) {
        emit entryPromptsRead(keys, {}, tr("not connected"));
        return;
    }
    m_connection->command(mget, this, [this, keys, read](const RedisReply &r) {
        if (!r.isArray()) {
            emit entryPromptsRead(keys, {}, r.isError() ? r.errorMessage() : tr("unexpected reply to MGET"));
            return;
        }
        QList<EntryPrompt> found;
        for (qsizetype i = 0; i < read.size() && i < r.elements.size(); ++i) {
            if (!r.elements[i].isString())
                continue;
            const auto e = EntryCodec::decode(r.elements[i].str.toStdString());
            if (!e || QString::fromStdString(e->key) != read[i])
                continue;
            found.append({read[i], QString::fromStdString(e->prompt).left(EntryPrompt::kChars),
                          CacheKey::isValid(e->variantOf) ? QString::fromStdString(e->variantOf) : QString()});
        }
        emit entryPromptsRead(keys, found, {});
    });
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
    if (!m_embedder) {
        scanSimilar(item, EntryVectors::provider().embed(item.prompt.toStdString()), {}, generation);
        return;
    }
    // The profile's remote model: the proposal's prompt once, compared with the stored vectors.
    m_embedder->embed({item.prompt}, [this, item, generation](const EmbeddingClient::Result &r) {
        if (generation != m_similarGeneration)
            return;
        if (!r.ok || r.vectors.size() != 1) {
            emit similarEntries(item.key, {}, tr("The proposal's prompt could not be embedded: %1").arg(r.error));
            return;
        }
        scanSimilar(item, r.vectors.front(), m_embedder->settings().modelId(), generation);
    });
}

void ControlWorker::scanSimilar(const ProposalItem &item, std::vector<float> vector, const std::string &storedModel,
                                quint64 generation)
{
    if (!m_connection || generation != m_similarGeneration)
        return;
    struct Scan
    {
        QString proposalKey;
        std::string ns;
        std::string model;
        std::string systemSha256;
        std::vector<float> vector;
        std::string storedModel; // empty: embed each entry's prompt lexically
        QList<SimilarEntry> best;
        qint64 withoutVector = 0; // entries of the scope without a stored vector of storedModel
        int pages = 0;
    };
    auto scan = std::make_shared<Scan>();
    scan->proposalKey = item.key;
    scan->ns = item.ns.toStdString();
    scan->model = item.model.toStdString();
    scan->systemSha256 = EntryVectors::systemSha256(item.system.toStdString());
    scan->vector = std::move(vector);
    scan->storedModel = storedModel;
    auto finish = [this, scan] {
        QString note;
        if (scan->withoutVector > 0)
            note = tr("%1 %2 no vector of model %3: run l0l3-ctl vectors rebuild")
                       .arg(scan->withoutVector)
                       .arg(scan->withoutVector == 1 ? tr("entry has") : tr("entries have"))
                       .arg(QString::fromStdString(scan->storedModel));
        emit similarEntries(scan->proposalKey, scan->best, note);
    };
    auto step = std::make_shared<std::function<void(const QByteArray &)>>();
    // The pending callbacks own the step; it refers to itself weakly (no cycle).
    std::weak_ptr<std::function<void(const QByteArray &)>> weakStep = step;
    *step = [this, scan, weakStep, generation, finish](const QByteArray &cursor) {
        auto step = weakStep.lock();
        if (!step)
            return;
        if (!m_connection || generation != m_similarGeneration)
            return; // a newer selection superseded this one
        const QByteArray match = QByteArray::fromStdString(RedisSchema::entryKey("")) + '*';
        m_connection->command(
            {QByteArrayLiteral("SCAN"), cursor, QByteArrayLiteral("MATCH"), match, QByteArrayLiteral("COUNT"),
             QByteArrayLiteral("1000")},
            this, [this, scan, step, generation, finish](const RedisReply &r) {
                if (generation != m_similarGeneration || !r.isArray() || r.elements.size() < 2) {
                    if (generation == m_similarGeneration)
                        finish();
                    return;
                }
                const QByteArray next = r.elements[0].str;
                QList<QByteArray> mget{QByteArrayLiteral("MGET")};
                for (const RedisReply &k : r.elements[1].elements)
                    mget.append(k.str);
                auto proceed = [this, scan, step, next, finish] {
                    std::stable_sort(scan->best.begin(), scan->best.end(),
                                     [](const SimilarEntry &a, const SimilarEntry &b) {
                                         return a.similarity > b.similarity;
                                     });
                    if (scan->best.size() > 3)
                        scan->best.resize(3);
                    ++scan->pages;
                    if (next == "0" || scan->pages >= kSimilarScanPages)
                        finish();
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
                    QList<SimilarEntry> candidates;
                    for (const RedisReply &v : values.elements) {
                        if (!v.isString())
                            continue;
                        const auto e = EntryCodec::decode(v.str.toStdString());
                        // Only what the proposal could become a variant of: a main entry of its scope.
                        if (!e || QString::fromStdString(e->key) == scan->proposalKey || !e->variantOf.empty()
                            || e->ns != scan->ns || e->model != scan->model
                            || EntryVectors::systemSha256(e->system) != scan->systemSha256)
                            continue;
                        if (scan->storedModel.empty()) {
                            const double s = dot(scan->vector, EntryVectors::provider().embed(e->prompt));
                            if (s > 0)
                                scan->best.append(
                                    {QString::fromStdString(e->key), QString::fromStdString(e->prompt), e->version, s});
                        } else {
                            candidates.append(
                                {QString::fromStdString(e->key), QString::fromStdString(e->prompt), e->version, 0});
                        }
                    }
                    if (candidates.isEmpty()) {
                        proceed();
                        return;
                    }
                    // Their stored vectors (VectorRecordCodec bounds and checks each); another model's
                    // or none: not comparable, counted.
                    QList<QByteArray> vectors{QByteArrayLiteral("MGET")};
                    for (const SimilarEntry &c : std::as_const(candidates))
                        vectors.append(QByteArray::fromStdString(RedisSchema::vectorKey(c.key.toStdString())));
                    m_connection->command(vectors, this,
                                          [this, scan, proceed, generation, candidates](const RedisReply &records) {
                                              if (generation != m_similarGeneration)
                                                  return;
                                              for (qsizetype i = 0; i < candidates.size(); ++i) {
                                                  std::optional<VectorRecord> record;
                                                  if (records.isArray() && i < records.elements.size()
                                                      && records.elements[i].isString()) {
                                                      const QByteArray &json = records.elements[i].str;
                                                      record = VectorRecordCodec::decode(
                                                          std::string_view(json.constData(), std::size_t(json.size())));
                                                  }
                                                  if (!record || record->model != scan->storedModel
                                                      || record->vector.size() != scan->vector.size()) {
                                                      ++scan->withoutVector;
                                                      continue;
                                                  }
                                                  const double s = dot(scan->vector, record->vector);
                                                  if (s > 0) {
                                                      SimilarEntry found = candidates[i];
                                                      found.similarity = s;
                                                      scan->best.append(found);
                                                  }
                                              }
                                              proceed();
                                          });
                });
            });
    };
    (*step)(QByteArrayLiteral("0"));
}

void ControlWorker::reloadReservations()
{
    if (!m_reservations)
        return;
    m_reservations->list([this](const QList<Reservation> &live, qint64 nowMs, const QString &error) {
        if (!error.isEmpty())
            return; // the next reservation record or reconnection reads them again
        emit reservationsChanged(live, nowMs);
        // Read again when the earliest one has expired: it disappears (and is audited) then.
        qint64 earliest = 0;
        for (const Reservation &r : live)
            earliest = earliest == 0 ? r.untilMs : std::min(earliest, r.untilMs);
        if (earliest > 0)
            m_reservationExpiry->start(int(std::clamp<qint64>(earliest - nowMs + 100, 100, 3600000)));
        else
            m_reservationExpiry->stop();
    });
}

void ControlWorker::claimReservation(quint64 requestId, const QString &kind, const QString &value, int minutes)
{
    if (!m_reservations) {
        emit reservationFinished(requestId, false, QStringLiteral("not connected"));
        return;
    }
    m_reservations->claim(kind, value, qint64(minutes) * 60000, [this, requestId](const ReservationStore::Result &r) {
        emit reservationFinished(requestId, r.ok, r.message);
        reloadReservations();
    });
}

void ControlWorker::releaseReservation(quint64 requestId, const QString &kind, const QString &value)
{
    if (!m_reservations) {
        emit reservationFinished(requestId, false, QStringLiteral("not connected"));
        return;
    }
    m_reservations->release(kind, value, [this, requestId](const ReservationStore::Result &r) {
        emit reservationFinished(requestId, r.ok, r.message);
        reloadReservations();
    });
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
    if (std::any_of(records.begin(), records.end(),
                    [](const AuditRecord &r) { return r.action.rfind("reservation-", 0) == 0; }))
        reloadReservations();
    QStringList decided;
    QStringList entryKeys;
    QSet<QString> seenEntryKeys;
    for (const AuditRecord &r : records) {
        const QString key = QString::fromStdString(r.key);
        if (r.action == "approve" || r.action == "reject")
            decided.append(key);
        else if (r.action == "first-approval" && m_queue)
            m_queue->markSignedOff(key, QString::fromStdString(r.user), r.tsMs);
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
