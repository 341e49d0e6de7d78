#include "core/control/foureyes.h"

#include <QDateTime>

#include "core/common/auditrecord.h"
#include "core/common/redisschema.h"
#include "core/control/guidelines.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

} // namespace

QString FourEyes::checkNamespace(const QString &ns)
{
    return Guidelines::checkNamespace(ns);
}

void FourEyes::list(RedisConnection *connection, QObject *context, ListCallback done)
{
    connection->command({QByteArrayLiteral("SMEMBERS"), bytes(RedisSchema::kFourEyes)}, context,
                        [done](const RedisReply &r) {
                            if (r.isError()) {
                                done({}, r.errorMessage());
                                return;
                            }
                            QStringList namespaces;
                            for (const RedisReply &member : r.elements)
                                namespaces.append(QString::fromUtf8(member.str.left(Guidelines::kMaxNamespaceBytes)));
                            namespaces.sort();
                            done(namespaces, {});
                        });
}

void FourEyes::set(RedisConnection *connection, const QString &ns, bool on, const QString &actor, QObject *context,
                   WriteCallback done)
{
    if (const QString bad = checkNamespace(ns); !bad.isEmpty()) {
        done(bad);
        return;
    }
    // The audit names the authenticated user; an operator is its own actor.
    connection->command(
        {QByteArrayLiteral("ACL"), QByteArrayLiteral("WHOAMI")}, context,
        [connection, ns, on, actor, context, done](const RedisReply &who) {
            if (who.local) {
                done(who.errorMessage());
                return;
            }
            AuditRecord audit;
            audit.action = "four-eyes";
            audit.key = ns.toStdString();
            audit.user = !who.isError() && who.isString() ? who.str.left(128).toStdString() : std::string();
            audit.actor = audit.user.starts_with("op-") && audit.user.size() > 3 ? audit.user.substr(3)
                                                                                 : actor.toStdString();
            audit.tsMs = QDateTime::currentMSecsSinceEpoch();
            audit.detail = on ? "on" : "off";
            QList<QByteArray> xadd{QByteArrayLiteral("XADD"), bytes(RedisSchema::kAudit), QByteArrayLiteral("*")};
            for (const auto &[field, value] : AuditCodec::encode(audit))
                xadd << bytes(field) << bytes(value);
            const QList<QByteArray> change{on ? QByteArrayLiteral("SADD") : QByteArrayLiteral("SREM"),
                                           bytes(RedisSchema::kFourEyes), ns.toUtf8()};
            connection->transaction({change, xadd}, context, [done](const RedisReply &exec) {
                if (exec.isError()) {
                    done(exec.errorMessage());
                    return;
                }
                for (const RedisReply &part : exec.elements) {
                    if (part.isError()) {
                        done(part.errorMessage());
                        return;
                    }
                }
                done({});
            });
        });
}

} // namespace l0l3
