#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>

namespace l0l3 {

class RedisConnection;

// The namespaces under the four-eyes rule (RedisSchema::kFourEyes, a set): an
// approval in such a namespace is a first sign-off, and the entry is written
// only when a different authenticated user approves the same answer
// (ApprovalService). Marking and unmarking is audited (action "four-eyes",
// detail "on"/"off", the namespace as the key, the ACL user from ACL WHOAMI);
// who may do it is the ACL's business (packaging/redis/users.acl: admins).
class FourEyes
{
public:
    // Empty when ns names a namespace (as Guidelines::checkNamespace), else why not.
    static QString checkNamespace(const QString &ns);

    using ListCallback = std::function<void(const QStringList &namespaces, const QString &error)>;
    static void list(RedisConnection *connection, QObject *context, ListCallback done);
    // MULTI: SADD (on) or SREM (off), XADD of the audit record; EXEC. done(error), empty on success.
    using WriteCallback = std::function<void(const QString &error)>;
    static void set(RedisConnection *connection, const QString &ns, bool on, const QString &actor, QObject *context,
                    WriteCallback done);
};

} // namespace l0l3
