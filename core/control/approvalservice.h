#pragma once

#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/common/entry.h"
#include "core/control/approvalresult.h"
#include "core/control/embeddingclient.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// What to approve. Only proposalId is required: the proposal is read back
// from the stream and the entry is built from it.
struct ApprovalRequest
{
    QString proposalId;              // stream id in l0l3:v1:proposals
    QStringList duplicateIds;        // other stream ids of the same key; acked too
    QString key;                     // optional; must match the proposal's key
    std::optional<QString> response; // edited response; nullopt keeps the proposed one
    QString intent;                  // optional intent name
    // Approve as a variant of this approved entry's key instead of as an entry of its own.
    QString variantOf;
    QString actor;         // operator; empty: the service's default actor
    qint64 ttlSeconds = 0; // 0: no expiry
    qint64 reviewDays = 0; // the entry's own review period; 0: its namespace's (ReviewPolicy)
};

// An entry (or a rejected key) restored from an export file (CorpusReader).
struct ImportRequest
{
    enum class Prefer {
        None,   // an entry that exists with other content is a conflict (VersionConflict)
        Newer,  // the higher version wins, then the later approved_at; a tie keeps the server's
        File,   // the file's entry replaces the server's
        Server, // the server's entry is kept
    };
    Entry entry;           // written as it is: version, approved_by and approved_at are the file's
    qint64 expireAtMs = 0; // absolute expiry (SET PXAT); 0: none
    Prefer prefer = Prefer::None;
    bool dryRun = false; // decide and report, write nothing
    QString actor;       // who imports (the audit record's actor)
    // The entry's L1 state from the file: its threshold (0: the initial one),
    // the rest of the threshold's state (as in VectorRecord) and negative
    // pairs. A variant (entry.variantOf) joins its main entry's set.
    float l1Threshold = 0.0f;
    std::optional<float> l1Denied;
    std::vector<float> l1Evidence;
    QStringList l1Negatives;
};

// The ONLY code path that writes approved entries (and the audit stream,
// rejected set, freeze flag, drained hash, control channel).
//
// Every write: refuses on a replica (ROLE) or while frozen; WATCHes the entry
// key (and the freeze flag); checks the expected version; MULTI/EXEC with the
// write, the audit XADD and the invalidation PUBLISH; then WAIT 1 <timeout>
// and reports how many replicas acknowledged. Writes are serialised (WATCH is
// per-connection state): one transaction in flight, the others queued in call
// order. A lost WATCH or a version mismatch is a VersionConflict, never a
// silent overwrite.
//
// Thread affinity: lives on the thread of its RedisConnection (not owned;
// must outlive the service or be destroyed after it — pending writes then fail
// with NotConnected). Results arrive on that thread through the callback (if
// given) and the finished() signal, always exactly once per call, never
// synchronously inside the call.
class ApprovalService : public QObject
{
    Q_OBJECT
public:
    using ResultCallback = std::function<void(const ApprovalResult &)>;

    explicit ApprovalService(RedisConnection *connection, QObject *parent = nullptr);
    ~ApprovalService() override;

    RedisConnection *connection() const { return m_connection; }
    void setConnection(RedisConnection *connection); // e.g. after a Sentinel switch

    // The actor of a write (audit record, entry's approved_by): an operator's own
    // name when the connection is authenticated as ACL user op-NAME (ACL WHOAMI,
    // read once per connection generation; the actor passed in is then
    // ignored); otherwise, for a service account such as "console", the actor
    // passed in, else this default. The audit record's "user" is always the
    // authenticated ACL user.
    void setDefaultActor(const QString &actor) { m_defaultActor = actor; }
    QString defaultActor() const { return m_defaultActor; }
    // WAIT 1 <ms> after each write. 0 skips WAIT (replicasAcked stays -1).
    // WAIT blocks its connection until a replica acknowledges or the timeout
    // passes (the full timeout with no replica): give the service its own
    // RedisConnection so browsing/loading on another one is not held up.
    void setWaitTimeoutMs(int ms) { m_waitTimeoutMs = ms; }
    int waitTimeoutMs() const { return m_waitTimeoutMs; }

    // Approve a proposal into an entry (version 1; VersionConflict if an entry
    // already exists). Acks the proposal(s) and deletes the seen counter.
    void approve(const ApprovalRequest &request, ResultCallback cb = {});
    void approve(const QString &proposalId, const QString &key, const std::optional<QString> &response,
                 const QString &intent, const QString &actor, ResultCallback cb = {});
    // Reject: key into the rejected set until now + days, proposal(s) acked,
    // seen counter deleted. key may be empty (taken from the proposal).
    void reject(const QString &proposalId, const QString &key, const QString &actor, int days = 30,
                ResultCallback cb = {}, const QStringList &duplicateIds = {});
    // Undo of a reject: ZREM the key from the rejected set (audited as
    // "unreject"). NotFound if the key is not in the set. The proposal stays
    // acked: the caller re-shows it (approve still works, it reads the stream
    // entry by id) and gateways propose the key again on its next miss.
    void unreject(const QString &key, const QString &actor, ResultCallback cb = {});
    // Delete an approved entry. expectedVersion 0: whatever version is current.
    void revoke(const QString &key, const QString &actor, ResultCallback cb = {}, qint64 expectedVersion = 0);
    // New response for an approved entry; expectedVersion must be the current one. Renews the
    // review date like keep(); reviewDays > 0 becomes the entry's own period.
    void edit(const QString &key, const QString &newResponse, qint64 expectedVersion, const QString &actor,
              ResultCallback cb = {}, qint64 reviewDays = 0);
    // Re-verified as it is: the review date moves to now + the entry's period (reviewDays > 0
    // becomes its own; else the one it has, else its namespace's in RedisSchema::kReviewPolicy).
    // Same version and answer, expiry kept; audited as "reverify-keep". expectedVersion 0: any.
    void keep(const QString &key, qint64 expectedVersion, const QString &actor, ResultCallback cb = {},
              qint64 reviewDays = 0);

    // Restore one entry from an export file. Identical entry: "unchanged",
    // nothing written. No entry: SET (the file's version, approver and time),
    // XADD audit (action "import", actor = who imports), PUBLISH invalidate.
    // Another entry: a VersionConflict naming both versions unless prefer
    // decides. importOutcome in the result says which.
    void importEntry(const ImportRequest &request, ResultCallback cb = {});
    // Restore one rejected key: ZADD until untilMs unless the set already holds
    // it until then or later ("unchanged"/"kept"); audited as "import".
    void importRejected(const QString &key, qint64 untilMs, const QString &actor, bool dryRun, ResultCallback cb = {});

    // With request.variantOf set, approve() attaches the proposal as a variant of that entry
    // (audited as "variant"): the proposal's key gets a full copy of the main entry (its own
    // prompt and system prompt, "variant_of" the main key, the main entry's answer and remaining
    // expiry), its own L1 vector, and joins RedisSchema::variantsKey(main); invalidated, acked.
    // Refused unless the main entry exists, is not itself a variant, and shares the proposal's
    // namespace, normalised system prompt and model family. Editing the main entry rewrites
    // every variant's answer; revoking it deletes its variants and their vectors. When the
    // proposal's L1 candidate (l1_key) is the main entry, the attachment is a confirmation at
    // the higher of l1_similarity and a recomputed similarity (SemanticThreshold::confirm):
    // the main entry's threshold state is written in the same transaction when it moved.
    //
    // "Not the same question": records negativeKey (a proposal's key) in
    // RedisSchema::l1NegativeKey(key) and tightens the entry's L1 threshold past the
    // similarity of negativePrompt to the entry's prompt (audited as "l1-negative").
    void markNegative(const QString &key, const QString &negativeKey, const QString &negativePrompt,
                      const QString &actor, ResultCallback cb = {});
    // An operator's verdict on a sampled L1 answer (stream id reviewId in RedisSchema::kL1Review,
    // read back, WATCHed with the matched entry's vector and decided once: another console's
    // verdict first makes this one AlreadyDecided). Both verdicts XDEL the item, so it leaves
    // every console's queue, and are audited against the matched entry with the request key,
    // similarity and region ("l1-confirm", "l1-deny"). A denial tightens the entry's L1
    // threshold past the similarity (the higher of the gateway's and a recomputed one) and
    // records the request key as a negative pair, as markNegative does. A confirmation at that
    // similarity is SemanticThreshold::confirm: evidence only when below the threshold (it
    // was tightened since the answer was served), written then. An entry revoked since is
    // only recorded.
    void reviewL1(const QString &reviewId, bool confirmed, const QString &actor, ResultCallback cb = {});

    void freezeApprovals(const QString &actor, ResultCallback cb = {});
    void unfreezeApprovals(const QString &actor, ResultCallback cb = {});
    // A ControlMessage in its text form (build it with encode(); runs of
    // spaces are simplified first). "drain REGION", "undrain REGION" and
    // "flush [REGION]" are published on l0l3:v1:control (audited as action
    // "control"); drain/undrain also HSET/HDEL l0l3:v1:drained. "failover
    // [HOST:PORT]" is only audited (a failover the console drove through
    // Sentinel); "promote HOST:PORT" (a REPLICAOF promotion) is audited and
    // published, on the new primary, for gateways to verify and follow.
    // Freeze and unfreeze go through their own functions.
    void publishControl(const QString &message, const QString &actor, ResultCallback cb = {});

    // The provider of the L1 vectors written with approvals, variants, imports and negative
    // pairs (EmbeddingSettings: the gateways' --embeddings settings; none: the lexical one).
    // A remote vector is computed before the write's preconditions (queued imports share a
    // request). When it fails the write still happens without the vector: the result is ok
    // and its warning says so (l0l3-ctl vectors rebuild writes the missing vectors later).
    void setEmbeddings(const EmbeddingSettings &settings);

    int queuedCount() const { return int(m_queue.size()) + (m_busy ? 1 : 0); }

signals:
    void finished(const l0l3::ApprovalResult &result);

private:
    struct Op;
    void enqueue(std::shared_ptr<Op> op);
    void startNext();
    void finish(std::shared_ptr<Op> op, ApprovalResult result);
    void fail(const std::shared_ptr<Op> &op, ApprovalResult::ErrorKind kind, const QString &message);
    // fail() after the precondition reads: drops the WATCH first.
    void refuse(const std::shared_ptr<Op> &op, ApprovalResult::ErrorKind kind, const QString &message);
    // One write, step by step: arguments, proposal, preconditions, transaction, replication.
    void runOp(std::shared_ptr<Op> op);
    void readProposal(std::shared_ptr<Op> op);
    void readReview(std::shared_ptr<Op> op);
    void onProposalRead(std::shared_ptr<Op> op, const RedisReply &reply);
    void checkPreconditions(std::shared_ptr<Op> op);
    void embedFirst(std::shared_ptr<Op> op);
    void onPreconditions(std::shared_ptr<Op> op, const QList<RedisReply> &replies);
    // The L1 side of a write (variants, vectors, negatives): read and WATCHed after the
    // preconditions, then runTransaction().
    void readL1State(std::shared_ptr<Op> op);
    void onL1State(std::shared_ptr<Op> op, const QList<RedisReply> &replies);
    void readVariantEntries(std::shared_ptr<Op> op);
    void runTransaction(std::shared_ptr<Op> op);
    void onExec(std::shared_ptr<Op> op, const ApprovalResult &result, const RedisReply &exec);
    void confirmReplication(std::shared_ptr<Op> op, ApprovalResult result);
    void onReplicaWait(std::shared_ptr<Op> op, ApprovalResult result, const RedisReply &reply);

    // Reads the authenticated user (ACL WHOAMI) once per connection generation, then proceed(op).
    void identify(std::shared_ptr<Op> op);
    void proceed(std::shared_ptr<Op> op);

    QPointer<RedisConnection> m_connection;
    QString m_defaultActor;
    // The ACL user of m_connection's current generation (empty: the server would not say).
    QString m_user;
    const RedisConnection *m_userConnection = nullptr;
    quint64 m_userGeneration = 0;
    int m_waitTimeoutMs = 1000;
    EmbeddingClient *m_embeddings = nullptr; // owned; null: the lexical provider
    std::deque<std::shared_ptr<Op>> m_queue;
    bool m_busy = false;
};

} // namespace l0l3
