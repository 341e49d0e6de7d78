#pragma once

#include <QMetaType>
#include <QString>

namespace l0l3 {

// Outcome of one ApprovalService write, delivered by value.
struct ApprovalResult
{
    enum class ErrorKind {
        None,
        InvalidArgument,  // bad input (empty key, days <= 0, key does not match proposal)
        NotConnected,     // no link to Redis / connection lost / timed out
        ReadOnlyReplica,  // ROLE says the connection is not the primary
        Frozen,           // approvals are frozen (l0l3:v1:frozen)
        NotFound,         // proposal or entry does not exist
        VersionConflict,  // someone else changed the entry (version or WATCH)
        AlreadyDecided,   // the proposal's key was approved or rejected already (by anyone)
        PermissionDenied, // NOPERM from the ACL
        // Four-eyes: this user signed off the answer first; a different user must approve it.
        SecondApproverNeeded,
        RedisError, // any other server error
    };

    bool ok = false;
    ErrorKind error = ErrorKind::None;
    QString message;        // human readable, says what happened and what to do
    QString action;         // approve | edit | reject | revoke | freeze | unfreeze | control | import
    QString key;            // cache key (or control target)
    qint64 version = 0;     // entry version written (0 when none)
    qint64 prevVersion = 0; // entry version replaced (0 when none)
    // Replicas that acknowledged the write (WAIT 1 <timeout>); -1 when unknown
    // (WAIT failed). Never assumed.
    int replicasAcked = -1;
    // Imports only: "imported", "replaced" (the file won a conflict), "unchanged"
    // (identical), "kept" (the server won a conflict), "expired" (its TTL or
    // rejection ran out); with a dry run, what would happen.
    QString importOutcome;
    // Approve in a four-eyes namespace: the first approval was recorded (RedisSchema::kSignOffs),
    // no entry was written and the proposal stays pending until a different user approves it.
    bool awaitingSecondApproval = false;
    // Done, with something the operator must know: e.g. the entry was written without its
    // L1 vector because the embeddings endpoint failed (also appended to message).
    QString warning;

    static QString errorName(ErrorKind kind);
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::ApprovalResult)
