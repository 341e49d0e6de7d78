#include "core/control/guidelines.h"

#include <QStringDecoder>

#include "core/common/redisschema.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

namespace {

QByteArray keyOf(const QString &ns)
{
    const QByteArray n = ns.toUtf8();
    return QByteArray::fromStdString(RedisSchema::guidelinesKey(std::string_view(n.constData(), size_t(n.size()))));
}

bool validUtf8(const QByteArray &bytes, QString *out = nullptr)
{
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString text = decoder.decode(bytes);
    if (decoder.hasError())
        return false;
    if (out)
        *out = text;
    return true;
}

} // namespace

QString Guidelines::checkNamespace(const QString &ns)
{
    const QByteArray n = ns.toUtf8();
    if (n.isEmpty())
        return QStringLiteral("no namespace given");
    if (n.size() > kMaxNamespaceBytes)
        return QStringLiteral("the namespace is longer than %1 bytes").arg(kMaxNamespaceBytes);
    for (const QChar c : ns) {
        if (c.category() == QChar::Other_Control || c.category() == QChar::Other_Format)
            return QStringLiteral("the namespace has a control or format character");
    }
    return {};
}

QString Guidelines::checkText(const QByteArray &markdown)
{
    if (markdown.size() > kMaxBytes)
        return QStringLiteral("the guidelines are %1 bytes, more than %2").arg(markdown.size()).arg(kMaxBytes);
    if (!validUtf8(markdown))
        return QStringLiteral("the guidelines are not valid UTF-8");
    return {};
}

void Guidelines::read(RedisConnection *connection, const QString &ns, QObject *context, ReadCallback done)
{
    const QString bad = checkNamespace(ns);
    if (!bad.isEmpty()) {
        done({}, bad);
        return;
    }
    // STRLEN first: a value over the bound is never transferred.
    connection->pipeline(
        {{"STRLEN", keyOf(ns)}, {"GETRANGE", keyOf(ns), "0", QByteArray::number(kMaxBytes - 1)}}, context,
        [done](const QList<RedisReply> &replies) {
            for (const RedisReply &r : replies) {
                if (r.isError()) {
                    done({}, r.errorMessage());
                    return;
                }
            }
            if (replies.size() != 2) {
                done({}, QStringLiteral("no reply"));
                return;
            }
            const long long size = replies[0].toInteger();
            if (size > kMaxBytes) {
                done({}, QStringLiteral("the stored guidelines are %1 bytes, more than %2").arg(size).arg(kMaxBytes));
                return;
            }
            QString text;
            if (!validUtf8(replies[1].str, &text)) {
                done({}, QStringLiteral("the stored guidelines are not valid UTF-8"));
                return;
            }
            done(text, {});
        });
}

void Guidelines::write(RedisConnection *connection, const QString &ns, const QByteArray &markdown, QObject *context,
                       WriteCallback done)
{
    QString bad = checkNamespace(ns);
    if (bad.isEmpty())
        bad = checkText(markdown);
    if (!bad.isEmpty()) {
        done(bad);
        return;
    }
    const QList<QByteArray> argv = markdown.isEmpty() ? QList<QByteArray>{"DEL", keyOf(ns)}
                                                      : QList<QByteArray>{"SET", keyOf(ns), markdown};
    connection->command(argv, context,
                        [done](const RedisReply &r) { done(r.isError() ? r.errorMessage() : QString()); });
}

} // namespace l0l3
