#pragma once

#include <QByteArray>
#include <QHash>
#include <QObject>
#include <QString>

#include <functional>
#include <optional>

namespace l0l3 {

class RedisConnection;

// The pending first approval of a proposal in a four-eyes namespace
// (RedisSchema::kFourEyes): one field of RedisSchema::kSignOffs, keyed by the
// cache key, holding this as JSON. ApprovalService writes it on the first
// approval and deletes it when the proposal is decided (a second approval by
// another user, or a rejection). Read back it is untrusted (any user allowed
// to write the hash wrote it): sizes are bounded and text is shown as text.
struct SignOff
{
    static constexpr qsizetype kMaxBytes = 256 * 1024;

    QString user;       // the authenticated ACL user (ACL WHOAMI) of the first approver
    QString actor;      // the name in the audit record (the operator, or a service account's --actor)
    QString response;   // the exact answer signed off; a second approval of another answer starts over
    QString proposalId; // the stream id approved
    QString ns;
    qint64 tsMs = 0;

    QByteArray encode() const;
    static std::optional<SignOff> decode(const QByteArray &json, QString *error = nullptr);

    // HGETALL of kSignOffs: done(signOffs by cache key, error). Fields that do not decode are skipped.
    using ReadCallback = std::function<void(const QHash<QString, SignOff> &signOffs, const QString &error)>;
    static void readAll(RedisConnection *connection, QObject *context, ReadCallback done);
};

} // namespace l0l3
