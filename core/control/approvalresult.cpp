#include "core/control/approvalresult.h"

namespace l0l3 {

QString ApprovalResult::errorName(ErrorKind kind)
{
    switch (kind) {
    case ErrorKind::None: return QStringLiteral("none");
    case ErrorKind::InvalidArgument: return QStringLiteral("invalid-argument");
    case ErrorKind::NotConnected: return QStringLiteral("not-connected");
    case ErrorKind::ReadOnlyReplica: return QStringLiteral("replica");
    case ErrorKind::Frozen: return QStringLiteral("frozen");
    case ErrorKind::NotFound: return QStringLiteral("not-found");
    case ErrorKind::VersionConflict: return QStringLiteral("version-conflict");
    case ErrorKind::AlreadyDecided: return QStringLiteral("already-decided");
    case ErrorKind::PermissionDenied: return QStringLiteral("permission-denied");
    case ErrorKind::SecondApproverNeeded: return QStringLiteral("second-approver-needed");
    case ErrorKind::RedisError: return QStringLiteral("redis-error");
    }
    return QStringLiteral("unknown");
}

} // namespace l0l3
