#include "core/control/signoff.h"

#include <QJsonDocument>
#include <QJsonObject>

#include "core/common/cachekey.h"
#include "core/common/redisschema.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

QByteArray SignOff::encode() const
{
    const QJsonObject o{{QStringLiteral("user"), user},
                        {QStringLiteral("actor"), actor},
                        {QStringLiteral("response"), response},
                        {QStringLiteral("proposal"), proposalId},
                        {QStringLiteral("ns"), ns},
                        {QStringLiteral("ts_ms"), tsMs}};
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

std::optional<SignOff> SignOff::decode(const QByteArray &json, QString *error)
{
    auto bad = [error](const QString &why) -> std::optional<SignOff> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    if (json.size() > kMaxBytes)
        return bad(QStringLiteral("sign-off is %1 bytes, more than %2").arg(json.size()).arg(kMaxBytes));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (!doc.isObject())
        return bad(QStringLiteral("sign-off is not a JSON object: %1").arg(parseError.errorString()));
    const QJsonObject o = doc.object();
    SignOff s;
    s.user = o.value(QStringLiteral("user")).toString().left(128);
    s.actor = o.value(QStringLiteral("actor")).toString().left(128);
    s.response = o.value(QStringLiteral("response")).toString();
    s.proposalId = o.value(QStringLiteral("proposal")).toString().left(64);
    s.ns = o.value(QStringLiteral("ns")).toString().left(256);
    s.tsMs = qint64(o.value(QStringLiteral("ts_ms")).toDouble());
    if (s.user.isEmpty() || !o.value(QStringLiteral("response")).isString())
        return bad(QStringLiteral("sign-off without a user or a response"));
    return s;
}

void SignOff::readAll(RedisConnection *connection, QObject *context, ReadCallback done)
{
    const QByteArray key(RedisSchema::kSignOffs.data(), qsizetype(RedisSchema::kSignOffs.size()));
    connection->command({QByteArrayLiteral("HGETALL"), key}, context, [done](const RedisReply &r) {
        if (r.isError()) {
            done({}, r.errorMessage());
            return;
        }
        QHash<QString, SignOff> out;
        for (qsizetype i = 0; i + 1 < r.elements.size(); i += 2) {
            const QByteArray &field = r.elements[i].str;
            if (!CacheKey::isValid(field.toStdString()))
                continue;
            if (std::optional<SignOff> s = decode(r.elements[i + 1].str))
                out.insert(QString::fromLatin1(field), *s);
        }
        done(out, {});
    });
}

} // namespace l0l3
