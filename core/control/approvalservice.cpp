#include "core/control/approvalservice.h"

#include <QDateTime>
#include <QMetaObject>
#include <QTimeZone>

#include <algorithm>

#include "core/common/auditrecord.h"
#include "core/common/cachekey.h"
#include "core/common/controlmessage.h"
#include "core/common/entry.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/common/reviewpolicy.h"
#include "core/common/semanticthreshold.h"
#include "core/control/embeddingclient.h"
#include "core/control/entryvectors.h"
#include "core/control/l1review.h"
#include "core/control/signoff.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

QByteArray utf8(const QString &s)
{
    return s.toUtf8();
}

using ErrorKind = ApprovalResult::ErrorKind;

ErrorKind kindOf(const RedisReply &r)
{
    if (r.local)
        return ErrorKind::NotConnected;
    const QByteArray code = r.errorCode();
    if (code == "NOPERM")
        return ErrorKind::PermissionDenied;
    if (code == "READONLY")
        return ErrorKind::ReadOnlyReplica;
    return ErrorKind::RedisError;
}

QList<QByteArray> auditXadd(const AuditRecord &record)
{
    QList<QByteArray> argv{QByteArrayLiteral("XADD"), bytes(RedisSchema::kAudit), QByteArrayLiteral("*")};
    for (const auto &[field, value] : AuditCodec::encode(record)) {
        argv.append(bytes(field));
        argv.append(bytes(value));
    }
    return argv;
}

// Why a write is refused before anything is written.
struct Refusal
{
    ErrorKind kind;
    QString message;
};

// Writes go to the primary only; after a failover the console's connection
// may still point at a server that is now a replica.
std::optional<Refusal> notPrimary(const RedisReply &role, const RedisConnection &conn)
{
    const QByteArray roleName = role.isArray() && !role.elements.isEmpty() ? role.elements[0].str : QByteArray();
    if (roleName == "master")
        return std::nullopt;
    QString where;
    if (role.elements.size() >= 3)
        where = QStringLiteral(" of %1:%2").arg(role.elements[1].toString()).arg(role.elements[2].toInteger());
    return Refusal{ErrorKind::ReadOnlyReplica,
                   QStringLiteral("refused: %1 is a %2%3, not the primary; approvals are written on the primary only")
                       .arg(conn.options().redacted(),
                            roleName.isEmpty() ? QStringLiteral("non-primary") : QString::fromUtf8(roleName), where)};
}

} // namespace

struct ApprovalService::Op
{
    enum class Kind {
        Approve,
        Reject,
        Unreject,
        Revoke,
        Edit,
        Keep,
        Freeze,
        Unfreeze,
        Control,
        Import,
        ImportRejected,
        AttachVariant,
        Negative,
        L1Confirm,
        L1Deny
    };
    Kind kind = Kind::Approve;
    ApprovalRequest request;    // approve/reject: proposal ids, key, response, intent, ttl
    QString newResponse;        // edit
    qint64 expectedVersion = 0; // edit/revoke
    int days = 30;              // reject
    qint64 reviewDays = 0;      // edit/keep: the entry's own review period from now on; 0: unchanged
    QString control;            // control message, as given (spaces simplified)
    ImportRequest import;       // import: the file's entry; importRejected: key, expireAtMs = until
    QString actor;
    QString user; // the authenticated ACL user (ACL WHOAMI), recorded in the audit
    ResultCallback cb;
    int watchRetries = 0; // approve/reject: lost WATCHes re-checked so far
    // Four-eyes (approve, variant): read with the preconditions, then decided by decideFourEyes().
    enum class FourEyesStep { None, First, Second };
    bool fourEyes = false;          // the proposal's namespace is in RedisSchema::kFourEyes
    QStringList fourEyesNamespaces; // an edit: every namespace under the rule (its entry's is known later)
    std::optional<SignOff> signOff; // the pending first approval of this key (RedisSchema::kSignOffs)
    FourEyesStep fourEyesStep = FourEyesStep::None;

    // Filled while running.
    std::optional<Proposal> proposal;
    std::optional<Entry> current;
    std::optional<ControlMessage> controlMessage;
    ReviewPolicy reviewPolicy; // approve/edit/keep: read with the preconditions
    QString key;
    // Imports: what the stored state decided (ApprovalResult::importOutcome),
    // and whether that needs a write.
    QString importOutcome;
    bool importWrites = false;
    // L1 (readL1State): a variant's main entry and its expiry (PTTL); a main entry's variant
    // keys and, for an edit, their entries; a negative pair's key and prompt; the similarity
    // of a verdict (a negative pair, an L1 review, a near miss attached as a variant of its
    // candidate) and the SemanticThreshold it moves, as stored (a variant: its main entry's).
    std::optional<Entry> mainEntry;
    qint64 mainPttlMs = -1;
    QStringList variantKeys;
    QList<Entry> variantEntries;
    QString negativeKey;
    QString negativePrompt;
    float negativeSimilarity = 0.0f;
    SemanticThreshold threshold;
    bool confirmsMain = false; // a variant: the proposal's L1 candidate was its main entry
    qint64 entryPttlMs = -1;
    // A remote embeddings provider (setEmbeddings): the vector of embedText(), computed before
    // the preconditions (embedded), under vectorModel; nullopt and vectorError when it failed.
    // Without one vectorModel is empty and the lexical vector is computed in the transaction.
    bool embedded = false;
    std::string vectorModel;
    std::optional<std::vector<float>> remoteVector;
    QString vectorError;
    mutable bool vectorLeftOut = false; // the transaction writes the entry without its vector
    QByteArray storedVector;            // negative, review: the stored record (GET vector:{key}); variant: the main's

    // The text whose vector this write stores or compares; empty: none.
    QString embedText() const
    {
        switch (kind) {
        case Kind::Approve:
        case Kind::AttachVariant: return proposal ? QString::fromStdString(proposal->prompt) : QString();
        case Kind::Import: return import.dryRun ? QString() : QString::fromStdString(import.entry.prompt);
        case Kind::Negative: return negativePrompt;
        default: return {};
        }
    }
    // SET vector:{e.key} with the provider's vector; with a remote one that failed, nothing
    // (vectorLeftOut: the entry is written all the same, l0l3-ctl vectors rebuild repairs it).
    QList<QByteArray> vectorCommand(const Entry &e, const SemanticThreshold &t, const QList<QByteArray> &expiry) const
    {
        if (!vectorModel.empty() && !remoteVector) {
            vectorLeftOut = true;
            return {};
        }
        VectorRecord record = vectorModel.empty() ? EntryVectors::recordFor(e, t.value())
                                                  : EntryVectors::recordFor(e, t.value(), vectorModel, *remoteVector);
        EntryVectors::setThreshold(record, t);
        return EntryVectors::setCommand(e.key, record, expiry);
    }
    // A verdict: the stored record with the new threshold state, its vector and model kept;
    // without a stored record, a new one from the lexical provider (a remote vector here is
    // the other prompt's, never the entry's: nothing then). Should the evidence make the
    // record too large, it is written without it: the threshold must not be lost.
    QList<QByteArray> thresholdCommand(const Entry &e, const SemanticThreshold &t,
                                       const QList<QByteArray> &expiry) const
    {
        std::optional<VectorRecord> stored = VectorRecordCodec::decode(
            std::string_view(storedVector.constData(), std::size_t(storedVector.size())));
        if (!stored && !vectorModel.empty())
            return {};
        VectorRecord record = stored ? std::move(*stored) : EntryVectors::recordFor(e, t.value());
        EntryVectors::setThreshold(record, t);
        QList<QByteArray> set = EntryVectors::setCommand(e.key, record, expiry);
        if (set.isEmpty() && !record.evidence.empty()) {
            record.evidence.clear();
            set = EntryVectors::setCommand(e.key, record, expiry);
        }
        return set;
    }
    // The similarity of the negative prompt to the stored vector under the remote provider;
    // nullopt when either is missing or of another model (the lexical one is used then).
    std::optional<float> remoteSimilarity() const
    {
        if (vectorModel.empty() || !remoteVector)
            return std::nullopt;
        const std::optional<VectorRecord> stored = VectorRecordCodec::decode(
            std::string_view(storedVector.constData(), std::size_t(storedVector.size())));
        if (!stored || stored->model != vectorModel || stored->vector.size() != remoteVector->size())
            return std::nullopt;
        return dot(stored->vector, *remoteVector);
    }
    // L1 review verdicts: the stream id, the item read back, whether the entry has a vector.
    QString reviewId;
    L1ReviewItem review;
    bool vectorStored = false;
    bool negativesFull = false;

    QString actionName() const
    {
        switch (kind) {
        case Kind::Approve: return QStringLiteral("approve");
        case Kind::Reject: return QStringLiteral("reject");
        case Kind::Unreject: return QStringLiteral("unreject");
        case Kind::Revoke: return QStringLiteral("revoke");
        case Kind::Edit: return QStringLiteral("edit");
        case Kind::Keep: return QStringLiteral("reverify-keep");
        case Kind::Freeze: return QStringLiteral("freeze");
        case Kind::Unfreeze: return QStringLiteral("unfreeze");
        case Kind::Control: return QStringLiteral("control");
        case Kind::Import:
        case Kind::ImportRejected: return QStringLiteral("import");
        case Kind::AttachVariant: return QStringLiteral("variant");
        case Kind::Negative: return QStringLiteral("l1-negative");
        case Kind::L1Confirm: return QStringLiteral("l1-confirm");
        case Kind::L1Deny: return QStringLiteral("l1-deny");
        }
        return {};
    }
    bool needsProposal() const { return kind == Kind::Approve || kind == Kind::Reject || kind == Kind::AttachVariant; }
    bool isReview() const { return kind == Kind::L1Confirm || kind == Kind::L1Deny; }
    bool isImport() const { return kind == Kind::Import || kind == Kind::ImportRejected; }
    bool touchesEntry() const { return kind != Kind::Freeze && kind != Kind::Unfreeze && kind != Kind::Control; }
    // Approve and reject decide a proposal once: they read (and WATCH) the rejected set too.
    bool readsRejected() const { return needsProposal() || kind == Kind::Unreject; }
    // Writes that set the entry's review date read the namespaces' periods (the last precondition).
    bool readsReviewPolicy() const { return kind == Kind::Approve || kind == Kind::Edit || kind == Kind::Keep; }

    // Checks the caller's arguments; sets key unless it comes from the proposal.
    std::optional<Refusal> checkArguments();
    // Takes the proposal read back from the stream and its key; refuses a
    // malformed or forged one, and one for another key than the caller named.
    std::optional<Refusal> adoptProposal(const std::string &id, const StreamFields &fields);
    // WATCH, then the reads that decide whether the write may go ahead.
    QList<QList<QByteArray>> preconditionCommands() const;
    // Reads the stored entry (into current) and the rejected score from the
    // replies to preconditionCommands(); refuses a write they contradict.
    std::optional<Refusal> checkStoredState(const QList<RedisReply> &replies);
    // Four-eyes: the reads (their WATCH first) that go before preconditionCommands() for approve
    // and variant, then their replies; decideFourEyes() says whether this approval is the first
    // (a sign-off, no entry) or the second (the entry), or refuses it.
    QList<QList<QByteArray>> fourEyesCommands() const;
    std::optional<Refusal> takeFourEyes(const QList<RedisReply> &replies);
    std::optional<Refusal> decideFourEyes();
    // The answer this approval would write: the edited one, else the proposed one.
    QString approvedResponse() const;

    // The commands of the write's MULTI/EXEC, and its result once EXEC succeeds.
    struct Transaction
    {
        QList<QList<QByteArray>> commands;
        AuditRecord audit;
        ApprovalResult result;

        void add(QList<QByteArray> command) { commands.append(std::move(command)); }
        void addAudit() { commands.append(auditXadd(audit)); }
    };
    // The change, its audit record, then what tells gateways and the proposal
    // stream about it.
    Transaction buildTransaction(qint64 nowMs) const;
    Entry entryFromProposal(std::string *auditDetail) const;
    Entry editedEntry(std::string *auditDetail) const;
    void addEntryWrite(Transaction &tx, qint64 nowMs) const;
    // A first approval in a four-eyes namespace: the sign-off and its audit record, nothing else.
    void addSignOff(Transaction &tx, qint64 nowMs) const;
    void addRevoke(Transaction &tx) const;
    void addKeep(Transaction &tx, qint64 nowMs) const;
    // Sets e's review period (reviewDays if given) and its date from nowMs.
    void renewReview(Entry &e, qint64 nowMs) const;
    void addReject(Transaction &tx, qint64 nowMs) const;
    void addUnreject(Transaction &tx) const;
    void addFreezeFlag(Transaction &tx) const;
    void addControl(Transaction &tx) const;
    void addImport(Transaction &tx) const;
    void addImportRejected(Transaction &tx) const;
    // Imports: decides importOutcome from the stored state; a refusal for an unresolved conflict.
    std::optional<Refusal> decideImport(const QList<RedisReply> &replies, qint64 nowMs);
    // The decided proposal(s) leave the pending list; the key's miss counter goes.
    void addAckAndForget(Transaction &tx) const;
    void addInvalidation(Transaction &tx) const;
    void addVariant(Transaction &tx, qint64 nowMs) const;
    void addNegative(Transaction &tx) const;
    void addReview(Transaction &tx) const;
    // An edit of a main entry: every variant serves the new answer.
    void addVariantRewrites(Transaction &tx, const Entry &edited) const;
    // A revoke: the vector, the variants (entries and vectors), the variant set and negatives go.
    void addL1Revoke(Transaction &tx) const;
};

std::optional<Refusal> ApprovalService::Op::checkArguments()
{
    auto invalid = [](const QString &message) { return Refusal{ErrorKind::InvalidArgument, message}; };
    switch (kind) {
    case Kind::AttachVariant:
        if (!CacheKey::isValid(request.variantOf.toStdString()))
            return invalid(QStringLiteral("\"%1\" is not a cache key").arg(request.variantOf.left(64)));
        [[fallthrough]];
    case Kind::Approve:
    case Kind::Reject:
        if (request.reviewDays < 0 || request.reviewDays > ReviewPolicy::kMaxDays)
            return invalid(QStringLiteral("a review period is 1 to %1 days").arg(ReviewPolicy::kMaxDays));
        if (request.proposalId.isEmpty())
            return invalid(QStringLiteral("a proposal id is required"));
        if (kind == Kind::Reject && days <= 0)
            return invalid(QStringLiteral("reject needs a positive number of days"));
        break;
    case Kind::Negative:
        if (negativeKey.isEmpty() || negativePrompt.isEmpty())
            return invalid(QStringLiteral("a negative pair needs the proposal's key and prompt"));
        [[fallthrough]];
    case Kind::Unreject:
    case Kind::Revoke:
    case Kind::Edit:
    case Kind::Keep:
        if (reviewDays < 0 || reviewDays > ReviewPolicy::kMaxDays)
            return invalid(QStringLiteral("a review period is 1 to %1 days").arg(ReviewPolicy::kMaxDays));
        if (request.key.isEmpty())
            return invalid(QStringLiteral("a cache key is required"));
        key = request.key;
        break;
    case Kind::L1Confirm:
    case Kind::L1Deny:
        if (!L1Review::isValidId(reviewId))
            return invalid(QStringLiteral("\"%1\" is not an L1 review id").arg(reviewId.left(64)));
        break;
    case Kind::Control: {
        std::string why;
        controlMessage = parseControlMessage(control.toStdString(), &why);
        // Freezing is the frozen flag: a "freeze" published without it would announce a freeze that is not there.
        if (controlMessage
            && (controlMessage->verb == ControlMessage::Verb::Freeze
                || controlMessage->verb == ControlMessage::Verb::Unfreeze)) {
            controlMessage.reset();
            why = "freeze and unfreeze are actions of their own";
        }
        if (!controlMessage) {
            return invalid(
                QStringLiteral("invalid control message \"%1\": %2 (expected \"drain REGION\", \"undrain REGION\", "
                               "\"flush [REGION]\", \"failover [HOST:PORT]\" or \"promote HOST:PORT\")")
                    .arg(control, QString::fromStdString(why)));
        }
        key = controlMessage->target.empty() ? QStringLiteral("*") : QString::fromStdString(controlMessage->target);
        break;
    }
    case Kind::Freeze:
    case Kind::Unfreeze: key = QStringLiteral("approvals"); break;
    case Kind::Import:
    case Kind::ImportRejected:
        key = QString::fromStdString(import.entry.key);
        if (!CacheKey::isValid(import.entry.key))
            return invalid(QStringLiteral("import: \"%1\" is not a cache key").arg(key.left(64)));
        if (kind == Kind::Import && import.entry.version < 1)
            return invalid(QStringLiteral("import: %1 has version %2").arg(key).arg(import.entry.version));
        if (kind == Kind::ImportRejected && import.expireAtMs <= 0)
            return invalid(QStringLiteral("import: rejected key %1 without a date").arg(key));
        break;
    }
    return std::nullopt;
}

std::optional<Refusal> ApprovalService::Op::adoptProposal(const std::string &id, const StreamFields &fields)
{
    auto invalid = [](const QString &message) { return Refusal{ErrorKind::InvalidArgument, message}; };
    std::string why;
    proposal = ProposalCodec::decode(id, fields, &why);
    if (!proposal)
        return invalid(
            QStringLiteral("proposal %1 is malformed: %2").arg(request.proposalId, QString::fromStdString(why)));
    // A gateway's credential can append any key with any fields: the key decided on must be
    // the one its fields (what the operator saw) give, or the decision would land elsewhere.
    if (const std::string derived = proposal->derivedKey(); derived != proposal->key) {
        return invalid(QStringLiteral("proposal %1 is forged or damaged: its key %2 is not the key of its fields "
                                      "(%3); it cannot be approved or rejected")
                           .arg(request.proposalId, QString::fromStdString(proposal->key).left(64),
                                QString::fromStdString(derived)));
    }
    const QString proposedKey = QString::fromStdString(proposal->key);
    if (!request.key.isEmpty() && request.key != proposedKey) {
        return invalid(
            QStringLiteral("proposal %1 is for key %2, not %3").arg(request.proposalId, proposedKey, request.key));
    }
    key = proposedKey;
    return std::nullopt;
}

QList<QList<QByteArray>> ApprovalService::Op::preconditionCommands() const
{
    // Replies, in order: WATCH, ROLE, frozen flag, [entry], [rejected score].
    QList<QList<QByteArray>> checks;
    QList<QByteArray> watch{QByteArrayLiteral("WATCH"), bytes(RedisSchema::kFrozen)};
    if (touchesEntry())
        watch.append(bytes(RedisSchema::entryKey(key.toStdString())));
    if (readsRejected())
        watch.append(bytes(RedisSchema::kRejected));
    // A restored rejection reads the rejected set, after the entry: its score is reply 4 too.
    if (kind == Kind::ImportRejected)
        watch.append(bytes(RedisSchema::kRejected));
    checks.append(watch);
    checks.append({QByteArrayLiteral("ROLE")});
    checks.append({QByteArrayLiteral("GET"), bytes(RedisSchema::kFrozen)});
    if (touchesEntry())
        checks.append({QByteArrayLiteral("GET"), bytes(RedisSchema::entryKey(key.toStdString()))});
    if (readsRejected())
        checks.append({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), utf8(key)});
    if (kind == Kind::ImportRejected)
        checks.append({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), utf8(key)});
    if (readsReviewPolicy())
        checks.append({QByteArrayLiteral("HGETALL"), bytes(RedisSchema::kReviewPolicy)});
    return checks;
}

std::optional<Refusal> ApprovalService::Op::checkStoredState(const QList<RedisReply> &replies)
{
    const bool exists = touchesEntry() && !replies[3].isNil();
    if (exists) {
        std::string why;
        current = EntryCodec::decode(replies[3].str.toStdString(), &why);
        if (!current && kind != Kind::Revoke) {
            return Refusal{ErrorKind::RedisError,
                           QStringLiteral("the stored entry for %1 is corrupt (%2); revoke it first")
                               .arg(key, QString::fromStdString(why))};
        }
    }
    const qint64 currentVersion = current ? current->version : 0;
    // Another operator (console or l0l3-ctl) may have decided this key first: say who and when.
    if (needsProposal() && exists) {
        const QString when = current && current->approvedAtMs > 0
            ? QDateTime::fromMSecsSinceEpoch(current->approvedAtMs, QTimeZone::utc()).toString(Qt::ISODate)
            : QStringLiteral("an unknown time");
        return Refusal{ErrorKind::AlreadyDecided,
                       QStringLiteral("%1 is already approved by %2 at %3 (version %4); nothing was written")
                           .arg(key, current ? QString::fromStdString(current->approvedBy) : QStringLiteral("?"), when)
                           .arg(currentVersion)};
    }
    const RedisReply *rejectedScore = readsRejected() && replies.size() > 4 ? &replies[4] : nullptr;
    if (needsProposal() && rejectedScore && !rejectedScore->isNil()) {
        bool numeric = false;
        const qint64 until = rejectedScore->str.toLongLong(&numeric);
        if (numeric && until > QDateTime::currentMSecsSinceEpoch()) {
            return Refusal{ErrorKind::AlreadyDecided,
                           QStringLiteral("%1 is already rejected until %2; nothing was written")
                               .arg(key,
                                    QDateTime::fromMSecsSinceEpoch(until, QTimeZone::utc()).toString(Qt::ISODate))};
        }
    }
    if (readsReviewPolicy()) {
        const RedisReply &policy = replies.constLast();
        for (qsizetype i = 0; i + 1 < policy.elements.size(); i += 2)
            reviewPolicy.set(policy.elements[i].str.toStdString(), policy.elements[i + 1].str.toStdString());
    }
    switch (kind) {
    case Kind::Edit:
    case Kind::Keep:
    case Kind::Revoke:
        if (!exists)
            return Refusal{ErrorKind::NotFound, QStringLiteral("no approved entry for key %1").arg(key)};
        if ((kind == Kind::Edit || expectedVersion != 0) && current && currentVersion != expectedVersion) {
            return Refusal{ErrorKind::VersionConflict,
                           QStringLiteral(
                               "version conflict: %1 is at version %2 (by %3), expected %4; reload and retry")
                               .arg(key)
                               .arg(currentVersion)
                               .arg(QString::fromStdString(current->approvedBy))
                               .arg(expectedVersion)};
        }
        break;
    case Kind::Unreject:
        if (!rejectedScore || rejectedScore->isNil())
            return Refusal{ErrorKind::NotFound, QStringLiteral("%1 is not in the rejected set").arg(key)};
        break;
    default: break;
    }
    return std::nullopt;
}

ApprovalService::Op::Transaction ApprovalService::Op::buildTransaction(qint64 nowMs) const
{
    Transaction tx;
    tx.audit.action = actionName().toStdString();
    tx.audit.key = key.toStdString();
    tx.audit.actor = actor.toStdString();
    tx.audit.user = user.toStdString();
    tx.audit.tsMs = nowMs;
    tx.audit.prevVersion = current ? current->version : 0;
    tx.result.ok = true;
    tx.result.key = key;
    tx.result.prevVersion = tx.audit.prevVersion;
    switch (kind) {
    case Kind::Approve:
    case Kind::Edit: addEntryWrite(tx, nowMs); break;
    case Kind::Revoke: addRevoke(tx); break;
    case Kind::Keep: addKeep(tx, nowMs); break;
    case Kind::Reject: addReject(tx, nowMs); break;
    case Kind::Unreject: addUnreject(tx); break;
    case Kind::Freeze:
    case Kind::Unfreeze: addFreezeFlag(tx); break;
    case Kind::Control: addControl(tx); break;
    case Kind::Import: addImport(tx); break;
    case Kind::ImportRejected: addImportRejected(tx); break;
    case Kind::AttachVariant: addVariant(tx, nowMs); break;
    case Kind::Negative: addNegative(tx); break;
    case Kind::L1Confirm:
    case Kind::L1Deny: addReview(tx); break;
    }
    return tx;
}

Entry ApprovalService::Op::entryFromProposal(std::string *auditDetail) const
{
    const Proposal &p = *proposal;
    Entry e;
    e.key = p.key;
    e.response = request.response ? request.response->toStdString() : p.response;
    e.prompt = p.prompt;
    e.system = p.system;
    e.ns = p.ns;
    e.model = p.model;
    e.intent = request.intent.toStdString();
    e.version = 1;
    e.ttlSeconds = request.ttlSeconds;
    e.reviewDays = request.reviewDays;
    QStringList detail{QStringLiteral("proposal=") + request.proposalId};
    if (!request.intent.isEmpty())
        detail << QStringLiteral("intent=") + request.intent;
    if (request.response && request.response->toStdString() != p.response)
        detail << QStringLiteral("edited");
    *auditDetail = detail.join(QLatin1Char(' ')).toStdString();
    return e;
}

Entry ApprovalService::Op::editedEntry(std::string *auditDetail) const
{
    Entry e = *current;
    e.response = newResponse.toStdString();
    e.version = current->version + 1;
    *auditDetail = "edit";
    return e;
}

void ApprovalService::Op::addEntryWrite(Transaction &tx, qint64 nowMs) const
{
    if (kind == Kind::Approve && fourEyesStep == FourEyesStep::First)
        return addSignOff(tx, nowMs);
    Entry e = kind == Kind::Approve ? entryFromProposal(&tx.audit.detail) : editedEntry(&tx.audit.detail);
    e.approvedBy = actor.toStdString();
    e.approvedAtMs = nowMs;
    renewReview(e, nowMs);
    if (kind == Kind::Approve && fourEyesStep == FourEyesStep::Second && signOff) {
        tx.audit.detail +=
            QStringLiteral(" second approval (four-eyes); first by %1 (%2) at %3")
                .arg(signOff->user, signOff->actor,
                     QDateTime::fromMSecsSinceEpoch(signOff->tsMs, QTimeZone::utc()).toString(Qt::ISODate))
                .toStdString();
    }
    QList<QByteArray> set{QByteArrayLiteral("SET"), bytes(RedisSchema::entryKey(key.toStdString())),
                          bytes(EntryCodec::encode(e))};
    // An edit keeps the expiry the approval gave the entry.
    if (kind == Kind::Edit)
        set.append(QByteArrayLiteral("KEEPTTL"));
    else if (e.ttlSeconds > 0)
        set << QByteArrayLiteral("EX") << QByteArray::number(e.ttlSeconds);
    tx.add(std::move(set));
    tx.audit.version = e.version;
    tx.result.version = e.version;
    if (kind == Kind::Approve) {
        QList<QByteArray> expiry;
        if (e.ttlSeconds > 0)
            expiry << QByteArrayLiteral("EX") << QByteArray::number(e.ttlSeconds);
        if (QList<QByteArray> vector = vectorCommand(e, SemanticThreshold(), expiry); !vector.isEmpty())
            tx.add(std::move(vector));
    } else {
        addVariantRewrites(tx, e);
    }
    tx.addAudit();
    addInvalidation(tx);
    if (kind == Kind::Approve)
        addAckAndForget(tx);
}

void ApprovalService::Op::renewReview(Entry &e, qint64 nowMs) const
{
    if (kind != Kind::Approve && reviewDays > 0)
        e.reviewDays = reviewDays;
    e.reviewByMs = nowMs + reviewPolicy.daysFor(e.ns, e.reviewDays) * ReviewPolicy::kDayMs;
}

void ApprovalService::Op::addKeep(Transaction &tx, qint64 nowMs) const
{
    Entry e = *current;
    renewReview(e, nowMs);
    // Same answer, same version: KEEPTTL keeps the expiry the approval gave it.
    tx.add({QByteArrayLiteral("SET"), bytes(RedisSchema::entryKey(key.toStdString())), bytes(EntryCodec::encode(e)),
            QByteArrayLiteral("KEEPTTL")});
    tx.audit.version = e.version;
    tx.audit.detail = QStringLiteral("review by %1 (%2 days)")
                          .arg(QDateTime::fromMSecsSinceEpoch(e.reviewByMs, QTimeZone::utc()).toString(Qt::ISODate))
                          .arg(reviewPolicy.daysFor(e.ns, e.reviewDays))
                          .toStdString();
    tx.result.version = e.version;
    tx.addAudit();
    // Gateways that stop serving entries past their date read the new one at once.
    addInvalidation(tx);
}

void ApprovalService::Op::addRevoke(Transaction &tx) const
{
    tx.add({QByteArrayLiteral("DEL"), bytes(RedisSchema::entryKey(key.toStdString()))});
    tx.audit.detail = current ? "revoked version " + std::to_string(current->version) : "revoked corrupt entry";
    addL1Revoke(tx);
    tx.addAudit();
    addInvalidation(tx);
}

void ApprovalService::Op::addReject(Transaction &tx, qint64 nowMs) const
{
    const qint64 until = nowMs + qint64(days) * 86400LL * 1000LL;
    tx.add({QByteArrayLiteral("ZADD"), bytes(RedisSchema::kRejected), QByteArray::number(until), utf8(key)});
    tx.audit.detail = QStringLiteral("proposal=%1 days=%2").arg(request.proposalId).arg(days).toStdString();
    tx.addAudit();
    addAckAndForget(tx);
}

void ApprovalService::Op::addUnreject(Transaction &tx) const
{
    tx.add({QByteArrayLiteral("ZREM"), bytes(RedisSchema::kRejected), utf8(key)});
    tx.audit.detail = "undo of reject";
    tx.addAudit();
}

void ApprovalService::Op::addFreezeFlag(Transaction &tx) const
{
    const bool freeze = kind == Kind::Freeze;
    if (freeze)
        tx.add({QByteArrayLiteral("SET"), bytes(RedisSchema::kFrozen), QByteArrayLiteral("1")});
    else
        tx.add({QByteArrayLiteral("DEL"), bytes(RedisSchema::kFrozen)});
    const std::string message = encode(
        ControlMessage{freeze ? ControlMessage::Verb::Freeze : ControlMessage::Verb::Unfreeze, {}});
    tx.audit.action = "control";
    tx.audit.detail = message;
    tx.addAudit();
    tx.add({QByteArrayLiteral("PUBLISH"), bytes(RedisSchema::kControlChannel), bytes(message)});
}

void ApprovalService::Op::addControl(Transaction &tx) const
{
    const ControlMessage &message = *controlMessage;
    // The drained hash outlives the message: a gateway that starts later reads it.
    if (message.verb == ControlMessage::Verb::Drain)
        tx.add(
            {QByteArrayLiteral("HSET"), bytes(RedisSchema::kDrained), bytes(message.target), QByteArrayLiteral("1")});
    else if (message.verb == ControlMessage::Verb::Undrain)
        tx.add({QByteArrayLiteral("HDEL"), bytes(RedisSchema::kDrained), bytes(message.target)});
    const std::string text = encode(message);
    tx.audit.action = "control";
    tx.audit.detail = text;
    tx.addAudit();
    if (!message.isAuditOnly())
        tx.add({QByteArrayLiteral("PUBLISH"), bytes(RedisSchema::kControlChannel), bytes(text)});
}

std::optional<Refusal> ApprovalService::Op::decideImport(const QList<RedisReply> &replies, qint64 nowMs)
{
    importWrites = false;
    if (import.expireAtMs > 0 && import.expireAtMs <= nowMs) {
        importOutcome = QStringLiteral("expired");
        return std::nullopt;
    }
    if (kind == Kind::ImportRejected) {
        const RedisReply &score = replies.value(4);
        const qint64 stored = score.isNil() ? 0 : score.str.toLongLong();
        if (score.isNil() || stored < import.expireAtMs) {
            importOutcome = QStringLiteral("imported");
            importWrites = true;
        } else {
            importOutcome = stored == import.expireAtMs ? QStringLiteral("unchanged") : QStringLiteral("kept");
        }
        return std::nullopt;
    }
    const Entry &file = import.entry;
    if (!current) {
        importOutcome = QStringLiteral("imported");
        importWrites = true;
        return std::nullopt;
    }
    if (*current == file) {
        importOutcome = QStringLiteral("unchanged");
        return std::nullopt;
    }
    bool fileWins = false;
    switch (import.prefer) {
    case ImportRequest::Prefer::None: {
        auto side = [](const Entry &e) {
            return QStringLiteral("version %1 by %2 at %3")
                .arg(e.version)
                .arg(QString::fromStdString(e.approvedBy))
                .arg(e.approvedAtMs);
        };
        return Refusal{ErrorKind::VersionConflict,
                       QStringLiteral("conflict: %1 differs on the server (%2) from the file (%3); nothing written "
                                      "(--prefer newer|file|server decides)")
                           .arg(key, side(*current), side(file))};
    }
    case ImportRequest::Prefer::File: fileWins = true; break;
    case ImportRequest::Prefer::Server: fileWins = false; break;
    case ImportRequest::Prefer::Newer:
        fileWins = file.version > current->version
            || (file.version == current->version && file.approvedAtMs > current->approvedAtMs);
        break;
    }
    importOutcome = fileWins ? QStringLiteral("replaced") : QStringLiteral("kept");
    importWrites = fileWins;
    return std::nullopt;
}

void ApprovalService::Op::addImport(Transaction &tx) const
{
    const Entry &e = import.entry;
    QList<QByteArray> set{QByteArrayLiteral("SET"), bytes(RedisSchema::entryKey(key.toStdString())),
                          bytes(EntryCodec::encode(e))};
    if (import.expireAtMs > 0)
        set << QByteArrayLiteral("PXAT") << QByteArray::number(import.expireAtMs);
    tx.add(std::move(set));
    QList<QByteArray> expiry;
    if (import.expireAtMs > 0)
        expiry << QByteArrayLiteral("PXAT") << QByteArray::number(import.expireAtMs);
    const SemanticThreshold threshold = import.l1Threshold > 0.0f
        ? EntryVectors::thresholdOf(import.l1Threshold, import.l1Denied, import.l1Evidence)
        : SemanticThreshold();
    if (QList<QByteArray> vector = vectorCommand(e, threshold, expiry); !vector.isEmpty())
        tx.add(std::move(vector));
    if (!e.variantOf.empty())
        tx.add({QByteArrayLiteral("SADD"), bytes(RedisSchema::variantsKey(e.variantOf)), utf8(key)});
    if (!import.l1Negatives.isEmpty()) {
        QList<QByteArray> sadd{QByteArrayLiteral("SADD"), bytes(RedisSchema::l1NegativeKey(key.toStdString()))};
        for (const QString &negative : import.l1Negatives)
            sadd.append(utf8(negative));
        tx.add(std::move(sadd));
    }
    tx.audit.version = e.version;
    tx.audit.detail = QStringLiteral("version %1 approved by %2 at %3")
                          .arg(e.version)
                          .arg(QString::fromStdString(e.approvedBy))
                          .arg(e.approvedAtMs)
                          .toStdString();
    if (current)
        tx.audit.detail += " replaced version " + std::to_string(current->version);
    tx.result.version = e.version;
    tx.addAudit();
    addInvalidation(tx);
}

void ApprovalService::Op::addImportRejected(Transaction &tx) const
{
    tx.add(
        {QByteArrayLiteral("ZADD"), bytes(RedisSchema::kRejected), QByteArray::number(import.expireAtMs), utf8(key)});
    tx.audit.detail = "rejected until " + std::to_string(import.expireAtMs);
    tx.addAudit();
}

void ApprovalService::Op::addAckAndForget(Transaction &tx) const
{
    QList<QByteArray> ack{QByteArrayLiteral("XACK"), bytes(RedisSchema::kProposals),
                          bytes(RedisSchema::kProposalsGroup), utf8(request.proposalId)};
    for (const QString &dup : request.duplicateIds)
        ack.append(utf8(dup));
    tx.add(std::move(ack));
    tx.add({QByteArrayLiteral("DEL"), bytes(RedisSchema::seenKey(key.toStdString()))});
    // Decided: a pending first approval (four-eyes) ends with it.
    tx.add({QByteArrayLiteral("HDEL"), bytes(RedisSchema::kSignOffs), utf8(key)});
}

void ApprovalService::Op::addInvalidation(Transaction &tx) const
{
    tx.add({QByteArrayLiteral("PUBLISH"), bytes(RedisSchema::kInvalidateChannel), utf8(key)});
}

ApprovalService::ApprovalService(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_defaultActor(QStringLiteral("console"))
{
}

ApprovalService::~ApprovalService() = default;

void ApprovalService::setConnection(RedisConnection *connection)
{
    m_connection = connection;
    m_userConnection = nullptr;
}

void ApprovalService::approve(const ApprovalRequest &request, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = request.variantOf.isEmpty() ? Op::Kind::Approve : Op::Kind::AttachVariant;
    op->request = request;
    op->actor = request.actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::approve(const QString &proposalId, const QString &key, const std::optional<QString> &response,
                              const QString &intent, const QString &actor, ResultCallback cb)
{
    ApprovalRequest r;
    r.proposalId = proposalId;
    r.key = key;
    r.response = response;
    r.intent = intent;
    r.actor = actor;
    approve(r, std::move(cb));
}

void ApprovalService::reject(const QString &proposalId, const QString &key, const QString &actor, int days,
                             ResultCallback cb, const QStringList &duplicateIds)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Reject;
    op->request.proposalId = proposalId;
    op->request.duplicateIds = duplicateIds;
    op->request.key = key;
    op->actor = actor;
    op->days = days;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::unreject(const QString &key, const QString &actor, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Unreject;
    op->request.key = key;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::revoke(const QString &key, const QString &actor, ResultCallback cb, qint64 expectedVersion)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Revoke;
    op->request.key = key;
    op->actor = actor;
    op->expectedVersion = expectedVersion;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::edit(const QString &key, const QString &newResponse, qint64 expectedVersion, const QString &actor,
                           ResultCallback cb, qint64 reviewDays)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Edit;
    op->request.key = key;
    op->newResponse = newResponse;
    op->expectedVersion = expectedVersion;
    op->reviewDays = reviewDays;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::keep(const QString &key, qint64 expectedVersion, const QString &actor, ResultCallback cb,
                           qint64 reviewDays)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Keep;
    op->request.key = key;
    op->expectedVersion = expectedVersion;
    op->reviewDays = reviewDays;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::importEntry(const ImportRequest &request, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Import;
    op->import = request;
    op->actor = request.actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::importRejected(const QString &key, qint64 untilMs, const QString &actor, bool dryRun,
                                     ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::ImportRejected;
    op->import.entry.key = key.toStdString();
    op->import.expireAtMs = untilMs;
    op->import.dryRun = dryRun;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::freezeApprovals(const QString &actor, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Freeze;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::unfreezeApprovals(const QString &actor, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Unfreeze;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::publishControl(const QString &message, const QString &actor, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Control;
    op->control = message.simplified();
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::enqueue(std::shared_ptr<Op> op)
{
    if (op->actor.isEmpty())
        op->actor = m_defaultActor;
    m_queue.push_back(std::move(op));
    // Never synchronous: results always arrive from the event loop.
    QMetaObject::invokeMethod(this, &ApprovalService::startNext, Qt::QueuedConnection);
}

void ApprovalService::startNext()
{
    if (m_busy || m_queue.empty())
        return;
    auto op = m_queue.front();
    m_queue.pop_front();
    m_busy = true;
    runOp(op);
}

void ApprovalService::finish(std::shared_ptr<Op> op, ApprovalResult result)
{
    result.action = op->actionName();
    if (result.key.isEmpty())
        result.key = op->key;
    if (result.ok && op->vectorLeftOut) {
        result.warning = QStringLiteral("%1 is written without its L1 vector (%2); l0l3-ctl vectors rebuild "
                                        "computes it once the embeddings endpoint answers")
                             .arg(op->key, op->vectorError);
        result.message += QStringLiteral("; warning: ") + result.warning;
    }
    m_busy = false;
    QPointer<ApprovalService> self(this);
    if (op->cb)
        op->cb(result);
    if (!self)
        return;
    emit finished(result);
    if (!self)
        return;
    if (!m_queue.empty())
        QMetaObject::invokeMethod(this, &ApprovalService::startNext, Qt::QueuedConnection);
}

void ApprovalService::fail(const std::shared_ptr<Op> &op, ErrorKind kind, const QString &message)
{
    ApprovalResult r;
    r.error = kind;
    r.message = message;
    if (kind == ErrorKind::PermissionDenied) {
        r.message = QStringLiteral("permission refused by Redis (ACL user %1; docs/SECURITY.md \"Operator roles\"): %2")
                        .arg(op->user.isEmpty() ? QStringLiteral("?") : op->user, message);
    }
    finish(op, r);
}

void ApprovalService::refuse(const std::shared_ptr<Op> &op, ErrorKind kind, const QString &message)
{
    // WATCH is connection state: drop it so the next write starts clean.
    if (RedisConnection *c = m_connection; c && c->isReady())
        c->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
    fail(op, kind, message);
}

void ApprovalService::runOp(std::shared_ptr<Op> op)
{
    if (!m_connection)
        return fail(op, ErrorKind::NotConnected, QStringLiteral("no Redis connection"));
    if (const std::optional<Refusal> refusal = op->checkArguments())
        return fail(op, refusal->kind, refusal->message);
    identify(op);
}

void ApprovalService::identify(std::shared_ptr<Op> op)
{
    if (m_connection->isReady() && m_userConnection == m_connection.data()
        && m_userGeneration == m_connection->generation())
        return proceed(op);
    QPointer<RedisConnection> conn = m_connection;
    conn->command({QByteArrayLiteral("ACL"), QByteArrayLiteral("WHOAMI")}, this, [this, op, conn](const RedisReply &r) {
        if (r.local)
            return fail(op, ErrorKind::NotConnected,
                        QStringLiteral("cannot read the authenticated user: %1").arg(r.errorMessage()));
        // An error (an ACL without +acl|whoami, a server without ACL) leaves it unknown for this
        // generation: the write is still refused or allowed by the ACL itself.
        m_user = !r.isError() && r.isString() ? QString::fromUtf8(r.str.left(128)) : QString();
        m_userConnection = conn.data();
        m_userGeneration = conn ? conn->generation() : 0;
        proceed(op);
    });
}

void ApprovalService::proceed(std::shared_ptr<Op> op)
{
    op->user = m_user;
    // An operator is who it authenticated as, whatever name the caller passed.
    if (op->user.startsWith(QLatin1String("op-")) && op->user.size() > 3)
        op->actor = op->user.mid(3);
    if (op->needsProposal())
        readProposal(op);
    else if (op->isReview())
        readReview(op);
    else
        checkPreconditions(op);
}

void ApprovalService::readReview(std::shared_ptr<Op> op)
{
    const QByteArray id = utf8(op->reviewId);
    m_connection->command(
        {QByteArrayLiteral("XRANGE"), bytes(RedisSchema::kL1Review), id, id, QByteArrayLiteral("COUNT"),
         QByteArrayLiteral("1")},
        this, [this, op](const RedisReply &r) {
            if (r.isError())
                return fail(op, kindOf(r),
                            QStringLiteral("cannot read L1 review %1: %2").arg(op->reviewId, r.errorMessage()));
            std::string id;
            StreamFields fields;
            if (!r.isArray() || r.elements.isEmpty() || !r.elements[0].toStreamEntry(&id, &fields)) {
                return fail(
                    op, ErrorKind::AlreadyDecided,
                    QStringLiteral("L1 review %1 is not in the queue: decided already, or trimmed").arg(op->reviewId));
            }
            std::string why;
            std::optional<L1ReviewItem> item = L1Review::decode(id, fields, &why);
            if (!item) {
                return fail(
                    op, ErrorKind::InvalidArgument,
                    QStringLiteral("L1 review %1 is malformed: %2").arg(op->reviewId, QString::fromStdString(why)));
            }
            op->review = std::move(*item);
            op->key = op->review.entry;
            checkPreconditions(op);
        });
}

void ApprovalService::readProposal(std::shared_ptr<Op> op)
{
    const QByteArray id = utf8(op->request.proposalId);
    m_connection->command({QByteArrayLiteral("XRANGE"), bytes(RedisSchema::kProposals), id, id,
                           QByteArrayLiteral("COUNT"), QByteArrayLiteral("1")},
                          this, [this, op](const RedisReply &r) { onProposalRead(op, r); });
}

void ApprovalService::onProposalRead(std::shared_ptr<Op> op, const RedisReply &r)
{
    if (r.isError()) {
        const ErrorKind kind = r.errorMessage().contains(QLatin1String("Invalid stream ID"))
            ? ErrorKind::InvalidArgument
            : kindOf(r);
        return fail(op, kind,
                    QStringLiteral("cannot read proposal %1: %2").arg(op->request.proposalId, r.errorMessage()));
    }
    std::string id;
    StreamFields fields;
    if (!r.isArray() || r.elements.isEmpty() || !r.elements[0].toStreamEntry(&id, &fields))
        return fail(op, ErrorKind::NotFound, QStringLiteral("no proposal with id %1").arg(op->request.proposalId));
    if (const std::optional<Refusal> refusal = op->adoptProposal(id, fields))
        return fail(op, refusal->kind, refusal->message);
    checkPreconditions(op);
}

void ApprovalService::setEmbeddings(const EmbeddingSettings &settings)
{
    delete m_embeddings;
    m_embeddings = settings.isRemote() ? new EmbeddingClient(settings, this) : nullptr;
}

void ApprovalService::embedFirst(std::shared_ptr<Op> op)
{
    // Imports and negative pairs waiting in the queue join this request (one per batch, not per entry).
    QList<std::shared_ptr<Op>> ops{op};
    QStringList texts{op->embedText()};
    for (const std::shared_ptr<Op> &queued : m_queue) {
        if (texts.size() >= m_embeddings->settings().batchSize)
            break;
        if (queued->embedded || (queued->kind != Op::Kind::Import && queued->kind != Op::Kind::Negative))
            continue;
        if (const QString text = queued->embedText(); !text.isEmpty()) {
            ops.append(queued);
            texts.append(text);
        }
    }
    for (const std::shared_ptr<Op> &o : std::as_const(ops)) {
        o->embedded = true;
        o->vectorModel = m_embeddings->settings().modelId();
    }
    m_embeddings->embed(texts, [this, op, ops](const EmbeddingClient::Result &r) {
        for (qsizetype i = 0; i < ops.size(); ++i) {
            if (r.ok)
                ops[i]->remoteVector = r.vectors[std::size_t(i)];
            else
                ops[i]->vectorError = r.error;
        }
        checkPreconditions(op);
    });
}

void ApprovalService::checkPreconditions(std::shared_ptr<Op> op)
{
    if (m_embeddings && !op->embedded && !op->embedText().isEmpty())
        return embedFirst(op);
    RedisConnection *conn = m_connection;
    if (!conn)
        return fail(op, ErrorKind::NotConnected, QStringLiteral("no Redis connection"));
    // The four-eyes reads go first (with their WATCH); the preconditions' replies follow them.
    QList<QList<QByteArray>> commands = op->fourEyesCommands();
    const qsizetype fourEyesReplies = commands.size();
    commands += op->preconditionCommands();
    conn->pipeline(commands, this, [this, op, fourEyesReplies](const QList<RedisReply> &replies) {
        if (fourEyesReplies > 0) {
            if (const std::optional<Refusal> refusal = op->takeFourEyes(replies.mid(0, fourEyesReplies)))
                return refuse(op, refusal->kind, refusal->message);
        }
        onPreconditions(op, replies.mid(fourEyesReplies));
    });
}

void ApprovalService::onPreconditions(std::shared_ptr<Op> op, const QList<RedisReply> &replies)
{
    for (const RedisReply &r : replies) {
        if (r.isError())
            return refuse(op, kindOf(r), QStringLiteral("%1 refused: %2").arg(op->actionName(), r.errorMessage()));
    }
    RedisConnection *conn = m_connection;
    if (!conn || !conn->isReady())
        return fail(op, ErrorKind::NotConnected, QStringLiteral("connection lost before the transaction"));
    std::optional<Refusal> refusal = notPrimary(replies[1], *conn);
    if (!refusal && op->touchesEntry() && !replies[2].isNil()) {
        refusal = Refusal{ErrorKind::Frozen,
                          QStringLiteral("refused: approvals are frozen (%1 is set); unfreeze them first")
                              .arg(QString::fromLatin1(bytes(RedisSchema::kFrozen)))};
    }
    if (!refusal)
        refusal = op->checkStoredState(replies);
    if (!refusal)
        refusal = op->decideFourEyes();
    if (!refusal && op->isImport())
        refusal = op->decideImport(replies, QDateTime::currentMSecsSinceEpoch());
    if (refusal)
        return refuse(op, refusal->kind, refusal->message);
    if (op->isImport() && (!op->importWrites || op->import.dryRun)) {
        // Nothing to write (or a dry run): the WATCH goes, the decision is the result.
        conn->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
        ApprovalResult r;
        r.ok = true;
        r.key = op->key;
        r.importOutcome = op->importOutcome;
        r.version = op->kind == Op::Kind::Import ? op->import.entry.version : 0;
        r.prevVersion = op->current ? op->current->version : 0;
        r.message = QStringLiteral("import %1: %2%3")
                        .arg(op->key, op->importOutcome,
                             op->import.dryRun && op->importWrites ? QStringLiteral(" (dry run: not written)")
                                                                   : QString());
        return finish(op, r);
    }
    readL1State(op);
}

void ApprovalService::runTransaction(std::shared_ptr<Op> op)
{
    RedisConnection *conn = m_connection;
    if (!conn)
        return fail(op, ErrorKind::NotConnected, QStringLiteral("no Redis connection"));
    Op::Transaction tx = op->buildTransaction(QDateTime::currentMSecsSinceEpoch());
    tx.result.importOutcome = op->importOutcome;
    conn->transaction(tx.commands, this,
                      [this, op, result = tx.result](const RedisReply &exec) { onExec(op, result, exec); });
}

void ApprovalService::onExec(std::shared_ptr<Op> op, const ApprovalResult &result, const RedisReply &exec)
{
    // Approve and reject WATCH the whole rejected set, which any other rejection touches: the
    // preconditions are read again, so a decision on this key becomes AlreadyDecided and one on
    // another key does not stop this one.
    constexpr int kMaxWatchRetries = 5;
    // A review verdict WATCHes the review stream, which every sampled L1 answer appends to: the
    // same retry, where an item another console decided is then AlreadyDecided.
    if (exec.isNil() && (op->needsProposal() || op->isReview()) && op->watchRetries < kMaxWatchRetries) {
        ++op->watchRetries;
        op->current.reset();
        return checkPreconditions(op);
    }
    if (exec.isNil()) {
        return fail(op, ErrorKind::VersionConflict,
                    QStringLiteral("version conflict: %1 changed while this %2 was being written (WATCH); nothing was "
                                   "written, reload and retry")
                        .arg(op->key, op->actionName()));
    }
    if (exec.isError())
        return fail(op, kindOf(exec), QStringLiteral("%1 failed: %2").arg(op->actionName(), exec.errorMessage()));
    for (const RedisReply &part : exec.elements) {
        if (part.isError()) {
            return fail(op, kindOf(part),
                        QStringLiteral("%1 partly failed inside the transaction: %2")
                            .arg(op->actionName(), part.errorMessage()));
        }
    }
    confirmReplication(op, result);
}

void ApprovalService::confirmReplication(std::shared_ptr<Op> op, ApprovalResult result)
{
    RedisConnection *conn = m_connection;
    result.message = result.awaitingSecondApproval
        ? QStringLiteral("first approval of %1 recorded: waiting for second approval (a different user)").arg(op->key)
        : QStringLiteral("%1 %2 done").arg(op->actionName(), op->key);
    // Imports are confirmed once, after the last one (CorpusImporter).
    if (m_waitTimeoutMs <= 0 || !conn || op->isImport())
        return finish(op, result);
    const int commandTimeout = m_waitTimeoutMs + conn->options().commandTimeoutMs;
    conn->command(
        {QByteArrayLiteral("WAIT"), QByteArrayLiteral("1"), QByteArray::number(m_waitTimeoutMs)}, this,
        [this, op, result](const RedisReply &r) { onReplicaWait(op, result, r); }, commandTimeout);
}

void ApprovalService::onReplicaWait(std::shared_ptr<Op> op, ApprovalResult result, const RedisReply &reply)
{
    if (reply.isInteger()) {
        result.replicasAcked = int(reply.integer);
        result.message += QStringLiteral("; %1 replica(s) acknowledged").arg(reply.integer);
    } else {
        result.replicasAcked = -1;
        result.message +=
            QStringLiteral("; written, but WAIT failed (%1): replication not confirmed").arg(reply.errorMessage());
    }
    finish(op, result);
}

void ApprovalService::markNegative(const QString &key, const QString &negativeKey, const QString &negativePrompt,
                                   const QString &actor, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Negative;
    op->request.key = key;
    op->negativeKey = negativeKey;
    op->negativePrompt = negativePrompt;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::reviewL1(const QString &reviewId, bool confirmed, const QString &actor, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = confirmed ? Op::Kind::L1Confirm : Op::Kind::L1Deny;
    op->reviewId = reviewId;
    op->actor = actor;
    op->cb = std::move(cb);
    enqueue(op);
}

void ApprovalService::readL1State(std::shared_ptr<Op> op)
{
    RedisConnection *conn = m_connection;
    if (!conn)
        return fail(op, ErrorKind::NotConnected, QStringLiteral("no Redis connection"));
    const std::string key = op->key.toStdString();
    QList<QList<QByteArray>> reads;
    switch (op->kind) {
    case Op::Kind::AttachVariant: {
        const std::string main = op->request.variantOf.toStdString();
        reads = {{QByteArrayLiteral("WATCH"), bytes(RedisSchema::entryKey(main)), bytes(RedisSchema::variantsKey(main)),
                  bytes(RedisSchema::vectorKey(main))},
                 {QByteArrayLiteral("GET"), bytes(RedisSchema::entryKey(main))},
                 {QByteArrayLiteral("PTTL"), bytes(RedisSchema::entryKey(main))},
                 {QByteArrayLiteral("SCARD"), bytes(RedisSchema::variantsKey(main))},
                 {QByteArrayLiteral("GET"), bytes(RedisSchema::vectorKey(main))}};
        break;
    }
    case Op::Kind::Edit:
    case Op::Kind::Revoke:
        reads = {{QByteArrayLiteral("WATCH"), bytes(RedisSchema::variantsKey(key))},
                 {QByteArrayLiteral("SMEMBERS"), bytes(RedisSchema::variantsKey(key))}};
        break;
    case Op::Kind::Negative:
        reads = {{QByteArrayLiteral("WATCH"), bytes(RedisSchema::vectorKey(key)),
                  bytes(RedisSchema::l1NegativeKey(key))},
                 {QByteArrayLiteral("GET"), bytes(RedisSchema::vectorKey(key))},
                 {QByteArrayLiteral("PTTL"), bytes(RedisSchema::entryKey(key))},
                 {QByteArrayLiteral("SCARD"), bytes(RedisSchema::l1NegativeKey(key))}};
        break;
    case Op::Kind::L1Confirm:
    case Op::Kind::L1Deny: {
        const QByteArray id = utf8(op->reviewId);
        reads = {{QByteArrayLiteral("WATCH"), bytes(RedisSchema::vectorKey(key)),
                  bytes(RedisSchema::l1NegativeKey(key)), bytes(RedisSchema::kL1Review)},
                 {QByteArrayLiteral("GET"), bytes(RedisSchema::vectorKey(key))},
                 {QByteArrayLiteral("PTTL"), bytes(RedisSchema::entryKey(key))},
                 {QByteArrayLiteral("SCARD"), bytes(RedisSchema::l1NegativeKey(key))},
                 {QByteArrayLiteral("XRANGE"), bytes(RedisSchema::kL1Review), id, id, QByteArrayLiteral("COUNT"),
                  QByteArrayLiteral("1")}};
        break;
    }
    default: return runTransaction(op);
    }
    conn->pipeline(reads, this, [this, op](const QList<RedisReply> &replies) { onL1State(op, replies); });
}

void ApprovalService::onL1State(std::shared_ptr<Op> op, const QList<RedisReply> &replies)
{
    for (const RedisReply &r : replies) {
        if (r.isError())
            return refuse(op, kindOf(r), QStringLiteral("%1 refused: %2").arg(op->actionName(), r.errorMessage()));
    }
    auto invalid = [&](const QString &message) { refuse(op, ErrorKind::InvalidArgument, message); };
    switch (op->kind) {
    case Op::Kind::AttachVariant: {
        const QString main = op->request.variantOf;
        if (replies[1].isNil())
            return refuse(op, ErrorKind::NotFound, QStringLiteral("no approved entry for key %1").arg(main));
        std::string why;
        op->mainEntry = EntryCodec::decode(replies[1].str.toStdString(), &why);
        if (!op->mainEntry)
            return invalid(QStringLiteral("the entry %1 is corrupt (%2)").arg(main, QString::fromStdString(why)));
        if (!op->mainEntry->variantOf.empty())
            return invalid(QStringLiteral("%1 is itself a variant of %2: attach to that entry")
                               .arg(main, QString::fromStdString(op->mainEntry->variantOf)));
        if (main == op->key)
            return invalid(QStringLiteral("a proposal cannot be a variant of its own key"));
        const Proposal &p = *op->proposal;
        if (p.ns != op->mainEntry->ns || p.model != op->mainEntry->model
            || EntryVectors::systemSha256(p.system) != EntryVectors::systemSha256(op->mainEntry->system)) {
            return invalid(QStringLiteral("proposal %1 asks in another namespace, system prompt or model than %2; "
                                          "a variant must share all three")
                               .arg(op->request.proposalId, main));
        }
        op->mainPttlMs = replies[2].isInteger() ? replies[2].integer : -1;
        if (replies[3].integer >= qint64(RedisSchema::kMaxVariantsPerEntry))
            return invalid(QStringLiteral("%1 has %2 variants already (the most an entry may have)")
                               .arg(main)
                               .arg(replies[3].integer));
        // A near miss of this very entry, judged the same question: a confirmation at the
        // higher of the gateway's similarity and a recomputed one (a low report loosens nothing).
        if (p.l1Key == main.toStdString() && !replies[4].isNil()) {
            op->confirmsMain = true;
            op->storedVector = replies[4].str;
            op->threshold = EntryVectors::storedState(op->storedVector);
            op->negativeSimilarity = std::max(p.l1Similarity,
                                              op->remoteSimilarity().value_or(
                                                  EntryVectors::similarity(op->mainEntry->prompt, p.prompt)));
        }
        break;
    }
    case Op::Kind::Edit:
    case Op::Kind::Revoke:
        for (const RedisReply &member : replies[1].elements) {
            // Only what the console wrote: a cache key, at most the bound.
            if (CacheKey::isValid(member.str.toStdString())
                && op->variantKeys.size() < qsizetype(RedisSchema::kMaxVariantsPerEntry))
                op->variantKeys.append(QString::fromLatin1(member.str));
        }
        if (op->kind == Op::Kind::Edit && !op->variantKeys.isEmpty())
            return readVariantEntries(op);
        break;
    case Op::Kind::Negative: {
        if (!op->current)
            return refuse(op, ErrorKind::NotFound, QStringLiteral("no approved entry for key %1").arg(op->key));
        if (!op->current->variantOf.empty())
            return invalid(QStringLiteral("%1 is a variant of %2: mark the pair against that entry")
                               .arg(op->key, QString::fromStdString(op->current->variantOf)));
        op->entryPttlMs = replies[2].isInteger() ? replies[2].integer : -1;
        op->storedVector = replies[1].isNil() ? QByteArray() : replies[1].str;
        op->threshold = EntryVectors::storedState(op->storedVector);
        op->negativeSimilarity = op->remoteSimilarity().value_or(
            EntryVectors::similarity(op->current->prompt, op->negativePrompt.toStdString()));
        if (replies[3].integer >= qint64(RedisSchema::kMaxL1Negatives))
            return invalid(QStringLiteral("%1 has %2 negative pairs already (the most an entry may have)")
                               .arg(op->key)
                               .arg(replies[3].integer));
        break;
    }
    case Op::Kind::L1Confirm:
    case Op::Kind::L1Deny:
        // Read after the WATCH: a verdict another console wrote since is seen here, or loses the WATCH.
        if (!replies[4].isArray() || replies[4].elements.isEmpty()) {
            return refuse(op, ErrorKind::AlreadyDecided,
                          QStringLiteral("L1 review %1 was decided by someone else meanwhile; nothing was written")
                              .arg(op->reviewId));
        }
        op->vectorStored = op->current && !replies[1].isNil();
        op->storedVector = replies[1].isNil() ? QByteArray() : replies[1].str;
        op->threshold = EntryVectors::storedState(op->storedVector);
        op->entryPttlMs = replies[2].isInteger() ? replies[2].integer : -1;
        op->negativesFull = replies[3].integer >= qint64(RedisSchema::kMaxL1Negatives);
        if (op->current) {
            // The gateway's similarity is what served; the recomputed one guards against a lower report.
            op->negativeSimilarity = std::max(float(op->review.similarity),
                                              EntryVectors::similarity(op->current->prompt,
                                                                       op->review.prompt.toStdString()));
        }
        break;
    default: break;
    }
    runTransaction(op);
}

void ApprovalService::readVariantEntries(std::shared_ptr<Op> op)
{
    RedisConnection *conn = m_connection;
    if (!conn)
        return fail(op, ErrorKind::NotConnected, QStringLiteral("no Redis connection"));
    QList<QByteArray> watch{QByteArrayLiteral("WATCH")};
    QList<QByteArray> mget{QByteArrayLiteral("MGET")};
    for (const QString &variant : std::as_const(op->variantKeys)) {
        watch.append(bytes(RedisSchema::entryKey(variant.toStdString())));
        mget.append(bytes(RedisSchema::entryKey(variant.toStdString())));
    }
    conn->pipeline({watch, mget}, this, [this, op](const QList<RedisReply> &replies) {
        for (const RedisReply &r : replies) {
            if (r.isError())
                return refuse(op, kindOf(r), QStringLiteral("%1 refused: %2").arg(op->actionName(), r.errorMessage()));
        }
        for (const RedisReply &value : replies[1].elements) {
            if (value.isNil())
                continue;
            std::optional<Entry> variant = EntryCodec::decode(value.str.toStdString());
            // A variant edited on its own still follows its main entry; anything else is left alone.
            if (variant && variant->variantOf == op->key.toStdString())
                op->variantEntries.append(std::move(*variant));
        }
        runTransaction(op);
    });
}

void ApprovalService::Op::addVariant(Transaction &tx, qint64 nowMs) const
{
    const Proposal &p = *proposal;
    Entry v = *mainEntry;
    v.key = p.key;
    v.prompt = p.prompt;
    v.system = p.system;
    v.variantOf = mainEntry->key;
    v.version = 1;
    v.approvedBy = actor.toStdString();
    v.approvedAtMs = nowMs;
    // The main entry's remaining life: a variant never outlives the answer it serves.
    QList<QByteArray> expiry;
    if (mainPttlMs > 0)
        expiry << QByteArrayLiteral("PX") << QByteArray::number(mainPttlMs);
    tx.add(
        QList<QByteArray>{QByteArrayLiteral("SET"), bytes(RedisSchema::entryKey(v.key)), bytes(EntryCodec::encode(v))}
        + expiry);
    if (QList<QByteArray> vector = vectorCommand(v, SemanticThreshold(), expiry); !vector.isEmpty())
        tx.add(std::move(vector));
    tx.add({QByteArrayLiteral("SADD"), bytes(RedisSchema::variantsKey(mainEntry->key)), utf8(key)});
    QString detail = QStringLiteral("proposal=%1 variant_of=%2 similarity=%3")
                         .arg(request.proposalId, QString::fromStdString(mainEntry->key))
                         .arg(double(EntryVectors::similarity(mainEntry->prompt, p.prompt)), 0, 'f', 3);
    // The main entry's threshold: written only when the evidence or the value moved.
    SemanticThreshold after = threshold;
    bool loosened = false;
    if (confirmsMain) {
        after.confirm(negativeSimilarity);
        if (after.evidence() != threshold.evidence() || after.value() != threshold.value()) {
            if (QList<QByteArray> vector = thresholdCommand(*mainEntry, after, expiry); !vector.isEmpty()) {
                tx.add(std::move(vector));
                loosened = after.value() != threshold.value();
            }
        }
        detail += QStringLiteral(" l1_similarity=%1 threshold=%2->%3")
                      .arg(double(negativeSimilarity), 0, 'f', 3)
                      .arg(double(threshold.value()), 0, 'f', 3)
                      .arg(double(after.value()), 0, 'f', 3);
    }
    tx.audit.version = v.version;
    tx.audit.detail = detail.toStdString();
    tx.result.version = v.version;
    tx.addAudit();
    addInvalidation(tx);
    if (loosened)
        tx.add({QByteArrayLiteral("PUBLISH"), bytes(RedisSchema::kInvalidateChannel), bytes(mainEntry->key)});
    addAckAndForget(tx);
}

void ApprovalService::Op::addNegative(Transaction &tx) const
{
    SemanticThreshold after = threshold;
    after.deny(negativeSimilarity);
    tx.add({QByteArrayLiteral("SADD"), bytes(RedisSchema::l1NegativeKey(key.toStdString())), utf8(negativeKey)});
    QList<QByteArray> expiry;
    if (entryPttlMs > 0)
        expiry << QByteArrayLiteral("PX") << QByteArray::number(entryPttlMs);
    if (QList<QByteArray> vector = thresholdCommand(*current, after, expiry); !vector.isEmpty())
        tx.add(std::move(vector));
    tx.audit.version = current->version;
    tx.audit.detail = QStringLiteral("not_same=%1 similarity=%2 threshold=%3->%4")
                          .arg(negativeKey)
                          .arg(double(negativeSimilarity), 0, 'f', 3)
                          .arg(double(threshold.value()), 0, 'f', 3)
                          .arg(double(after.value()), 0, 'f', 3)
                          .toStdString();
    tx.result.version = current->version;
    tx.addAudit();
    addInvalidation(tx);
}

void ApprovalService::Op::addReview(Transaction &tx) const
{
    tx.add({QByteArrayLiteral("XDEL"), bytes(RedisSchema::kL1Review), utf8(reviewId)});
    // A denial always writes (its similarity is kept even when the value stays); a
    // confirmation only when it added evidence below the threshold or loosened it.
    const bool tighten = kind == Kind::L1Deny && vectorStored;
    SemanticThreshold after = threshold;
    if (vectorStored) {
        if (tighten)
            after.deny(negativeSimilarity);
        else
            after.confirm(negativeSimilarity);
    }
    const bool loosened = !tighten && after.value() != threshold.value();
    if (tighten && !negativesFull)
        tx.add({QByteArrayLiteral("SADD"), bytes(RedisSchema::l1NegativeKey(key.toStdString())), utf8(review.key)});
    if (tighten || after.evidence() != threshold.evidence() || loosened) {
        QList<QByteArray> expiry;
        if (entryPttlMs > 0)
            expiry << QByteArrayLiteral("PX") << QByteArray::number(entryPttlMs);
        if (QList<QByteArray> vector = thresholdCommand(*current, after, expiry); !vector.isEmpty())
            tx.add(std::move(vector));
    }
    tx.audit.version = current ? current->version : 0;
    QString detail = QStringLiteral("review=%1 request=%2 similarity=%3 region=%4")
                         .arg(reviewId, review.key)
                         .arg(review.similarity, 0, 'f', 3)
                         .arg(review.region);
    if (!current)
        detail += QStringLiteral(" entry gone");
    else if (!vectorStored)
        detail += QStringLiteral(" no vector");
    else
        detail += QStringLiteral(" threshold=%1->%2")
                      .arg(double(threshold.value()), 0, 'f', 3)
                      .arg(double(after.value()), 0, 'f', 3);
    tx.audit.detail = detail.toStdString();
    tx.result.version = tx.audit.version;
    tx.addAudit();
    if (tighten || loosened)
        addInvalidation(tx);
}

void ApprovalService::Op::addVariantRewrites(Transaction &tx, const Entry &edited) const
{
    for (Entry v : variantEntries) {
        v.response = edited.response;
        v.version += 1;
        v.approvedBy = edited.approvedBy;
        v.approvedAtMs = edited.approvedAtMs;
        tx.add({QByteArrayLiteral("SET"), bytes(RedisSchema::entryKey(v.key)), bytes(EntryCodec::encode(v)),
                QByteArrayLiteral("KEEPTTL")});
        tx.add({QByteArrayLiteral("PUBLISH"), bytes(RedisSchema::kInvalidateChannel), bytes(v.key)});
    }
    if (!variantEntries.isEmpty())
        tx.audit.detail += " and its " + std::to_string(variantEntries.size()) + " variant(s)";
}

void ApprovalService::Op::addL1Revoke(Transaction &tx) const
{
    const std::string k = key.toStdString();
    tx.add({QByteArrayLiteral("DEL"), bytes(RedisSchema::vectorKey(k)), bytes(RedisSchema::variantsKey(k)),
            bytes(RedisSchema::l1NegativeKey(k))});
    if (current && !current->variantOf.empty())
        tx.add({QByteArrayLiteral("SREM"), bytes(RedisSchema::variantsKey(current->variantOf)), utf8(key)});
    for (const QString &variant : variantKeys) {
        const std::string v = variant.toStdString();
        tx.add({QByteArrayLiteral("DEL"), bytes(RedisSchema::entryKey(v)), bytes(RedisSchema::vectorKey(v))});
        tx.add({QByteArrayLiteral("PUBLISH"), bytes(RedisSchema::kInvalidateChannel), bytes(v)});
    }
    if (!variantKeys.isEmpty())
        tx.audit.detail += " with its " + std::to_string(variantKeys.size())
            + " variant(s): " + variantKeys.join(QLatin1Char(' ')).toStdString();
}

QList<QList<QByteArray>> ApprovalService::Op::fourEyesCommands() const
{
    // An edit changes what is served: refused in a namespace under the rule (decideFourEyes), whose
    // name is known only once the entry is read, so the whole (small) set is read.
    if (kind == Kind::Edit)
        return {{QByteArrayLiteral("WATCH"), bytes(RedisSchema::kFourEyes)},
                {QByteArrayLiteral("SMEMBERS"), bytes(RedisSchema::kFourEyes)},
                {QByteArrayLiteral("PING")}};
    if (kind != Kind::Approve && kind != Kind::AttachVariant)
        return {};
    return {{QByteArrayLiteral("WATCH"), bytes(RedisSchema::kFourEyes), bytes(RedisSchema::kSignOffs)},
            {QByteArrayLiteral("SISMEMBER"), bytes(RedisSchema::kFourEyes), bytes(proposal->ns)},
            {QByteArrayLiteral("HGET"), bytes(RedisSchema::kSignOffs), utf8(key)}};
}

std::optional<Refusal> ApprovalService::Op::takeFourEyes(const QList<RedisReply> &replies)
{
    if (replies.size() != 3)
        return Refusal{ErrorKind::NotConnected, QStringLiteral("no reply to the four-eyes reads")};
    for (const RedisReply &r : replies) {
        if (r.isError())
            return Refusal{kindOf(r), QStringLiteral("%1 refused: %2").arg(actionName(), r.errorMessage())};
    }
    if (kind == Kind::Edit) {
        for (const RedisReply &ns : replies[1].elements)
            fourEyesNamespaces.append(ns.toString());
        return std::nullopt;
    }
    fourEyes = replies[1].isInteger() && replies[1].integer == 1;
    // A sign-off that does not decode is none: this approval becomes the first and replaces it.
    signOff = replies[2].isNil() ? std::nullopt : SignOff::decode(replies[2].str);
    return std::nullopt;
}

QString ApprovalService::Op::approvedResponse() const
{
    return request.response ? *request.response : QString::fromStdString(proposal->response);
}

std::optional<Refusal> ApprovalService::Op::decideFourEyes()
{
    fourEyesStep = FourEyesStep::None;
    if (kind == Kind::Edit && current && fourEyesNamespaces.contains(QString::fromStdString(current->ns))) {
        return Refusal{ErrorKind::InvalidArgument,
                       QStringLiteral("namespace \"%1\" is under the four-eyes rule: an edit would serve an answer "
                                      "one person approved. Revoke %2 and approve the new answer from a proposal "
                                      "(two approvers), or turn the rule off; nothing was written")
                           .arg(QString::fromStdString(current->ns), key)};
    }
    if ((kind != Kind::Approve && kind != Kind::AttachVariant) || !fourEyes)
        return std::nullopt;
    const QString ns = QString::fromStdString(proposal->ns);
    if (kind == Kind::AttachVariant) {
        return Refusal{ErrorKind::InvalidArgument,
                       QStringLiteral("namespace \"%1\" is under the four-eyes rule: approve proposal %2 on its own "
                                      "(two approvers), not as a variant; nothing was written")
                           .arg(ns, request.proposalId)};
    }
    if (user.isEmpty()) {
        return Refusal{ErrorKind::RedisError,
                       QStringLiteral("namespace \"%1\" is under the four-eyes rule and the server does not say who "
                                      "is logged in (ACL WHOAMI); nothing was written")
                           .arg(ns)};
    }
    if (!signOff || signOff->response != approvedResponse()) {
        fourEyesStep = FourEyesStep::First;
        return std::nullopt;
    }
    if (signOff->user == user) {
        return Refusal{
            ErrorKind::SecondApproverNeeded,
            QStringLiteral("%1 is waiting for second approval: you (%2) gave the first approval at %3, and namespace "
                           "\"%4\" is under the four-eyes rule, so a different user must approve the same answer; "
                           "nothing was written")
                .arg(key, user, QDateTime::fromMSecsSinceEpoch(signOff->tsMs, QTimeZone::utc()).toString(Qt::ISODate),
                     ns)};
    }
    fourEyesStep = FourEyesStep::Second;
    return std::nullopt;
}

void ApprovalService::Op::addSignOff(Transaction &tx, qint64 nowMs) const
{
    SignOff s;
    s.user = user;
    s.actor = actor;
    s.response = approvedResponse();
    s.proposalId = request.proposalId;
    s.ns = QString::fromStdString(proposal->ns);
    s.tsMs = nowMs;
    tx.add({QByteArrayLiteral("HSET"), bytes(RedisSchema::kSignOffs), utf8(key), s.encode()});
    tx.audit.action = "first-approval";
    QString detail = QStringLiteral("proposal=%1 four-eyes: waiting for second approval").arg(request.proposalId);
    if (request.response && request.response->toStdString() != proposal->response)
        detail += QStringLiteral(" edited");
    if (signOff) {
        detail +=
            QStringLiteral("; restarts the sign-off %1 (%2) gave another answer").arg(signOff->user, signOff->actor);
    }
    tx.audit.detail = detail.toStdString();
    tx.result.awaitingSecondApproval = true;
    tx.addAudit();
}

} // namespace l0l3
