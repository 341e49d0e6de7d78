#pragma once

#include <QList>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QStringList>
#include <QTimer>

#include <string>
#include <vector>

#include "core/common/auditrecord.h"
#include "core/control/approvalresult.h"
#include "core/control/approvalservice.h"
#include "core/control/auditlog.h"
#include "core/control/corpustransfer.h"
#include "core/control/embeddingclient.h"
#include "core/control/entrystore.h"
#include "core/control/l1review.h"
#include "core/control/proposalitem.h"
#include "core/control/redisconnection.h"
#include "core/control/reservationstore.h"
#include "core/control/reverifyqueue.h"
#include "core/control/servedcounts.h"

namespace l0l3 {

class ProposalQueue;

// An approved main entry (not a variant) in a proposal's namespace, system prompt
// and model family whose prompt resembles the proposal's: the cosine similarity
// of their L1 vectors (EntryVectors, the embedder the gateways use).
struct SimilarEntry
{
    QString key;
    QString prompt;
    qint64 version = 0;
    double similarity = 0;
};

// An approved entry's prompt, as the proposals table shows a shadow candidate
// (ControlWorker::readEntryPrompts): cut to kChars, and the main entry when it is a variant.
struct EntryPrompt
{
    QString key;
    QString prompt;
    QString variantOf;
    static constexpr int kChars = 500;
};

// Word set of a prompt after PromptNormaliser, and the Jaccard index of two.
QSet<QString> promptWords(const QString &prompt);
double jaccard(const QSet<QString> &a, const QSet<QString> &b);

// Owns every Redis object of the console (connection, ApprovalService,
// ProposalQueue, EntryStore, AuditLog) and lives on the ControlClient's
// worker thread. Its methods run on that thread (ControlClient posts them);
// results leave it only as signals carrying value types, so the UI thread
// never touches Redis.
class ControlWorker : public QObject
{
    Q_OBJECT
public:
    explicit ControlWorker(QObject *parent = nullptr);
    ~ControlWorker() override;

    void connectTo(const l0l3::RedisConnection::Options &options, const QString &actor);
    void setEmbeddings(const l0l3::EmbeddingSettings &settings);
    void disconnectFromServer();
    // After a failover: same credentials, new address (pending writes fail
    // with NotConnected and can be retried).
    void repoint(const QString &host, int port);

    void reloadProposals();
    void setPollInterval(int ms);

    void approve(quint64 requestId, const l0l3::ApprovalRequest &request);
    void reject(quint64 requestId, const l0l3::ProposalItem &item, int days);
    void revoke(quint64 requestId, const QString &key, qint64 expectedVersion);
    void unreject(quint64 requestId, const QString &key);
    // reviewDays > 0: the entry's own review period from now on (ApprovalService::edit).
    void editEntry(quint64 requestId, const QString &key, const QString &response, qint64 expectedVersion,
                   qint64 reviewDays = 0);
    void setFrozen(quint64 requestId, bool frozen);
    void publishControl(quint64 requestId, const QString &message);
    // Re-verification: reverifyLoaded (ReverifyQueue), keep through decisionFinished, and the
    // blast radius of an edit or revocation (ServedCounts) through servedRead.
    void loadReverify();
    void keepEntry(quint64 requestId, const QString &key, qint64 expectedVersion);
    void readServed(quint64 requestId, const QString &key);
    // Reservations (ReservationStore, on a connection of their own: WATCH/MULTI): read on every
    // connection, after every reservation record of the audit stream (any console or l0l3-ctl)
    // and when the earliest one expires; reservationsChanged each time. Claims and releases
    // answer with reservationFinished.
    void reloadReservations();
    void claimReservation(quint64 requestId, const QString &kind, const QString &value, int minutes);
    void releaseReservation(quint64 requestId, const QString &kind, const QString &value);
    // The L1 review queue: l1ReviewLoaded with the items after afterId (empty: from the
    // start), verdicts (ApprovalService::reviewL1) through decisionFinished.
    void loadL1Review(const QString &afterId);
    void reviewL1(quint64 requestId, const QString &reviewId, bool confirmed);
    // The review periods by namespace (RedisSchema::kReviewPolicy): reviewPolicyRead. Read on
    // every connection and with every reload of the proposals (F5) or of the re-verify queue.
    void readReviewPolicy();

    // Bounded SCAN of approved entries (at most kSimilarScanPages pages of
    // 1000 keys); emits similarEntries with the best 3 (similarity > 0).
    // Lexical (each entry's prompt embedded here) without a remote provider;
    // with one (setEmbeddings), the proposal's prompt is embedded by it once
    // and compared with the entries' stored vectors of its model: entries
    // without one are skipped and counted in the note.
    void findSimilar(const l0l3::ProposalItem &item);
    void markNegative(quint64 requestId, const QString &key, const QString &proposalKey, const QString &prompt);
    static constexpr int kSimilarScanPages = 20;
    // The prompts of the approved entries keys names (one MGET of the first kEntryPromptBatch
    // cache keys; the rest are not read): entryPromptsRead.
    void readEntryPrompts(const QStringList &keys);
    static constexpr int kEntryPromptBatch = 64;
    // Stream entries per XREADGROUP of a proposal load.
    static constexpr int kProposalPageSize = 1000;
    // New proposals (and those other consoles read) are polled this often.
    static constexpr int kDefaultPollIntervalMs = 300;
    // Live changes (the audit tail) reach the UI at most this often, as one batch.
    static constexpr int kLiveBatchMs = 100;
    // An admin operator's console reads the primary's replicas this often (watchReplicas).
    static constexpr int kOperatorWatchMs = 5000;

    void scanEntries(const QString &search);
    void fetchMoreEntries();
    void reloadAudit();
    void fetchMoreAudit();
    // A namespace's review guidelines: guidelinesRead(); writing them (admins,
    // as the ACL decides): guidelinesWritten().
    void readGuidelines(const QString &ns);
    void writeGuidelines(quint64 requestId, const QString &ns, const QString &markdown);

    // Export / import of the corpus (CorpusExporter, CorpusImporter) on this
    // thread's connection and ApprovalService; requestId names the job in
    // corpusProgress and corpusFinished (exactly once).
    void exportCorpus(quint64 requestId, const l0l3::CorpusExporter::Options &options);
    void importCorpus(quint64 requestId, const l0l3::CorpusImporter::Options &options);

    // Drops everything; called on the worker thread before it quits.
    void shutdown();

    // The primary's connection, null while there is none; on this worker's
    // thread only (jobs of other objects moved here, e.g. TeamStatsReader).
    RedisConnection *connection() const { return m_connection; }

signals:
    // state: "closed", "connecting", "ready"; server: redacted URL.
    void connectionChanged(const QString &state, const QString &server, const QString &error);
    // ROLE of the server: "master" means writes are possible.
    void roleChecked(const QString &role, bool writable, bool frozen);
    // What the logged-in ACL user may do, as Redis answers ACL DRYRUN (OperatorStore::Permissions);
    // known false: not asked or not answered, nothing to grey out. role: viewer/approver/admin.
    void permissionsChecked(const QString &user, const QString &role, bool known, bool canDecide, bool canAdmin);
    // An admin operator's console re-applied the operators to the nodes on (re)connecting, or
    // (joined) to them all when a replica joined the primary since; message names the nodes.
    void operatorsSynced(bool ok, bool joined, const QString &message);

    void proposalsReset();
    void proposalsPage(const QList<l0l3::ProposalItem> &items, qint64 loaded, qint64 total);
    void proposalsUpdated(const QList<l0l3::ProposalItem> &items);
    void proposalsRemoved(const QStringList &keys);
    void proposalRegionsFound(const QStringList &names);
    void proposalsLoaded(int count, qint64 malformed);
    void proposalsFailed(const QString &message);

    void decisionFinished(quint64 requestId, const l0l3::ApprovalResult &result);
    void reverifyLoaded(const QList<l0l3::ReverifyItem> &due, int scanned);
    void reverifyFailed(const QString &message);
    void servedRead(quint64 requestId, const l0l3::ServedCounts &counts);
    // live: unexpired, sorted by slice; serverNowMs: the primary's clock when read.
    void reservationsChanged(const QList<l0l3::Reservation> &live, qint64 serverNowMs);
    void reservationFinished(quint64 requestId, bool ok, const QString &message);
    void l1ReviewLoaded(const QString &afterId, const QList<l0l3::L1ReviewItem> &items);
    void l1ReviewFailed(const QString &message);
    void reviewPolicyRead(const l0l3::ReviewPolicy &policy);

    void corpusProgress(quint64 requestId, const l0l3::CorpusCounts &counts);
    void corpusFinished(quint64 requestId, bool ok, const QString &error, const l0l3::CorpusCounts &counts);

    // note: what the lookup could not do or compare (plain text, may be empty).
    void similarEntries(const QString &proposalKey, const QList<l0l3::SimilarEntry> &entries, const QString &note);
    // asked: every key readEntryPrompts was given; found: those that are approved entries (a
    // key asked and not found is none). error set when nothing could be read.
    void entryPromptsRead(const QStringList &asked, const QList<l0l3::EntryPrompt> &found, const QString &error);
    // Untrusted Markdown (Guidelines); error set when it could not be read.
    void guidelinesRead(const QString &ns, const QString &markdown, const QString &error);
    void guidelinesWritten(quint64 requestId, const QString &ns, const QString &error);

    void entriesReset();
    void entriesPage(const QList<l0l3::EntryItem> &items, bool more);
    void entriesFailed(const QString &message);

    void auditReset();
    void auditPage(const QList<l0l3::AuditRecord> &records, bool more);
    void auditFailed(const QString &message);

    // Live, from the audit stream every write appends to (any console,
    // l0l3-ctl, the demo's autopilot), batched: at most one of each per
    // kLiveBatchMs. records: oldest first.
    void auditAppended(const QList<l0l3::AuditRecord> &records);
    // Entries those records approved or edited (read back, matching the
    // current search) and keys that are no longer entries.
    void entriesChanged(const QList<l0l3::EntryItem> &upserted, const QStringList &removedKeys);

private:
    void teardown();
    void checkRole();
    // Probes the user's permissions; an admin operator then re-applies every operator to the
    // primary and its replicas (OperatorStore::sync), so a node promoted after a failover, or one
    // that was down during a change, has them.
    void checkPermissions();
    // One OperatorStore::sync at a time; why (empty on connecting) goes into the message.
    void syncOperators(const QString &why);
    // INFO replication every kOperatorWatchMs: a replica that was not there at the last look (a
    // node back from a crash, an old primary rejoining after a failover, a new one) gets the
    // operators at once, without waiting for the console to reconnect.
    void watchReplicas();
    void onResult(quint64 requestId, const ApprovalResult &result);
    void onAuditAppended(const QList<AuditRecord> &records);
    void flushLive();
    // findSimilar's scan with the proposal's vector; storedModel empty: lexical, else that
    // model's stored vectors.
    void scanSimilar(const ProposalItem &item, std::vector<float> vector, const std::string &storedModel,
                     quint64 generation);

    RedisConnection *m_connection = nullptr;
    ApprovalService *m_approvals = nullptr;
    EmbeddingSettings m_embeddings;        // applied to every ApprovalService of a connection
    EmbeddingClient *m_embedder = nullptr; // a child; the remote provider of findSimilar, null: lexical
    ProposalQueue *m_queue = nullptr;
    EntryStore *m_entries = nullptr;
    AuditLog *m_audit = nullptr;
    // The audit tail's blocking read holds a connection of its own.
    RedisConnection *m_tailConnection = nullptr;
    RedisConnection *m_reservationConnection = nullptr;
    ReservationStore *m_reservations = nullptr;
    QTimer *m_reservationExpiry = nullptr; // a child, like m_liveTimer
    QTimer *m_operatorWatch = nullptr;     // a child; runs for an admin operator only
    QPointer<QObject> m_operatorSync;      // the OperatorStore of the sync in flight (the connection's child)
    QSet<QString> m_operatorReplicas;      // HOST:PORT of the replicas at the last look
    QList<AuditRecord> m_liveRecords;
    QTimer *m_liveTimer = nullptr; // a child: it moves to the worker thread with it
    QString m_entrySearch;
    int m_pollIntervalMs = kDefaultPollIntervalMs;
    bool m_loadedOnce = false;
    quint64 m_similarGeneration = 0;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::SimilarEntry)
Q_DECLARE_METATYPE(l0l3::EntryPrompt)
Q_DECLARE_METATYPE(l0l3::ReviewPolicy)
