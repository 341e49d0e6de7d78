#include "core/control/approvalservice.h"

#include <QDateTime>
#include <QMetaObject>
#include <QTimeZone>

#include "core/common/auditrecord.h"
#include "core/common/cachekey.h"
#include "core/common/controlmessage.h"
#include "core/common/entry.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/common/reviewpolicy.h"
#include "core/common/semanticthreshold.h"
#include "core/control/entryvectors.h"

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
        Negative
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
    // keys and, for an edit, their entries; a negative pair's key, prompt, similarity and
    // the threshold before and after.
    std::optional<Entry> mainEntry;
    qint64 mainPttlMs = -1;
    QStringList variantKeys;
    QList<Entry> variantEntries;
    QString negativeKey;
    QString negativePrompt;
    float negativeSimilarity = 0.0f;
    float thresholdBefore = SemanticThreshold::kInitial;
    qint64 entryPttlMs = -1;

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
        }
        return {};
    }
    bool needsProposal() const { return kind == Kind::Approve || kind == Kind::Reject || kind == Kind::AttachVariant; }
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
    Entry e = kind == Kind::Approve ? entryFromProposal(&tx.audit.detail) : editedEntry(&tx.audit.detail);
    e.approvedBy = actor.toStdString();
    e.approvedAtMs = nowMs;
    renewReview(e, nowMs);
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
        if (QList<QByteArray> vector = EntryVectors::setCommand(e, SemanticThreshold::kInitial, expiry);
            !vector.isEmpty())
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
    if (QList<QByteArray> vector = EntryVectors::setCommand(e, SemanticThreshold::kInitial, expiry); !vector.isEmpty())
        tx.add(std::move(vector));
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
    else
        checkPreconditions(op);
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

void ApprovalService::checkPreconditions(std::shared_ptr<Op> op)
{
    RedisConnection *conn = m_connection;
    if (!conn)
        return fail(op, ErrorKind::NotConnected, QStringLiteral("no Redis connection"));
    conn->pipeline(op->preconditionCommands(), this,
                   [this, op](const QList<RedisReply> &replies) { onPreconditions(op, replies); });
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
    if (exec.isNil() && op->needsProposal() && op->watchRetries < kMaxWatchRetries) {
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
    result.message = QStringLiteral("%1 %2 done").arg(op->actionName(), op->key);
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
        reads = {{QByteArrayLiteral("WATCH"), bytes(RedisSchema::entryKey(main)),
                  bytes(RedisSchema::variantsKey(main))},
                 {QByteArrayLiteral("GET"), bytes(RedisSchema::entryKey(main))},
                 {QByteArrayLiteral("PTTL"), bytes(RedisSchema::entryKey(main))},
                 {QByteArrayLiteral("SCARD"), bytes(RedisSchema::variantsKey(main))}};
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
        op->thresholdBefore = EntryVectors::storedThreshold(replies[1].isNil() ? QByteArray() : replies[1].str);
        op->entryPttlMs = replies[2].isInteger() ? replies[2].integer : -1;
        op->negativeSimilarity = EntryVectors::similarity(op->current->prompt, op->negativePrompt.toStdString());
        if (replies[3].integer >= qint64(RedisSchema::kMaxL1Negatives))
            return invalid(QStringLiteral("%1 has %2 negative pairs already (the most an entry may have)")
                               .arg(op->key)
                               .arg(replies[3].integer));
        break;
    }
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
    if (QList<QByteArray> vector = EntryVectors::setCommand(v, SemanticThreshold::kInitial, expiry); !vector.isEmpty())
        tx.add(std::move(vector));
    tx.add({QByteArrayLiteral("SADD"), bytes(RedisSchema::variantsKey(mainEntry->key)), utf8(key)});
    tx.audit.version = v.version;
    tx.audit.detail = QStringLiteral("proposal=%1 variant_of=%2 similarity=%3")
                          .arg(request.proposalId, QString::fromStdString(mainEntry->key))
                          .arg(double(EntryVectors::similarity(mainEntry->prompt, p.prompt)), 0, 'f', 3)
                          .toStdString();
    tx.result.version = v.version;
    tx.addAudit();
    addInvalidation(tx);
    addAckAndForget(tx);
}

void ApprovalService::Op::addNegative(Transaction &tx) const
{
    const float after = EntryVectors::tightened(thresholdBefore, negativeSimilarity);
    tx.add({QByteArrayLiteral("SADD"), bytes(RedisSchema::l1NegativeKey(key.toStdString())), utf8(negativeKey)});
    QList<QByteArray> expiry;
    if (entryPttlMs > 0)
        expiry << QByteArrayLiteral("PX") << QByteArray::number(entryPttlMs);
    if (QList<QByteArray> vector = EntryVectors::setCommand(*current, after, expiry); !vector.isEmpty())
        tx.add(std::move(vector));
    tx.audit.version = current->version;
    tx.audit.detail = QStringLiteral("not_same=%1 similarity=%2 threshold=%3->%4")
                          .arg(negativeKey)
                          .arg(double(negativeSimilarity), 0, 'f', 3)
                          .arg(double(thresholdBefore), 0, 'f', 3)
                          .arg(double(after), 0, 'f', 3)
                          .toStdString();
    tx.result.version = current->version;
    tx.addAudit();
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

} // namespace l0l3
