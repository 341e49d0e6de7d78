#include "app/ctl/variantscommand.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>

#include <algorithm>
#include <cstdio>

#include "core/common/cachekey.h"
#include "core/common/redisschema.h"
#include "core/common/visibletext.h"

namespace l0l3 {

namespace {

QByteArray bytes(const std::string &s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

QString oneLine(const std::string &s, int max)
{
    QString t = QString::fromStdString(s).simplified();
    if (t.size() > max)
        t = t.left(max - 1) + QChar(0x2026);
    return QString::fromStdString(VisibleText::escape(t.toStdString()));
}

QJsonObject toObject(const Entry &e)
{
    return QJsonObject{{QStringLiteral("key"), QString::fromStdString(e.key)},
                       {QStringLiteral("prompt"), QString::fromStdString(e.prompt)},
                       {QStringLiteral("version"), qint64(e.version)},
                       {QStringLiteral("approved_by"), QString::fromStdString(e.approvedBy)},
                       {QStringLiteral("approved_at_ms"), qint64(e.approvedAtMs)}};
}

} // namespace

VariantsCommand::VariantsCommand(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_options(options)
{
}

void VariantsCommand::start()
{
    const std::string key = m_options.key.toStdString();
    if (!CacheKey::isValid(key)) {
        emit done(2, QStringLiteral("l0l3-ctl: variants: \"%1\" is not a cache key").arg(m_options.key.left(64)));
        return;
    }
    m_connection->pipeline(
        {{QByteArrayLiteral("GET"), bytes(RedisSchema::entryKey(key))},
         {QByteArrayLiteral("SMEMBERS"), bytes(RedisSchema::variantsKey(key))}},
        this, [this](const QList<RedisReply> &replies) {
            for (const RedisReply &r : replies) {
                if (r.isError()) {
                    emit done(1, QStringLiteral("l0l3-ctl: variants: ") + r.errorMessage());
                    return;
                }
            }
            const auto main = replies[0].isNil() ? std::nullopt : EntryCodec::decode(replies[0].str.toStdString());
            if (!main) {
                emit done(1, QStringLiteral("l0l3-ctl: no approved entry for key %1").arg(m_options.key));
                return;
            }
            QList<QByteArray> keys;
            for (const RedisReply &m : replies[1].elements) {
                if (CacheKey::isValid(m.str.toStdString())
                    && keys.size() < qsizetype(RedisSchema::kMaxVariantsPerEntry))
                    keys.append(m.str);
            }
            readVariants(*main, keys);
        });
}

void VariantsCommand::readVariants(const Entry &main, const QList<QByteArray> &keys)
{
    auto print = [this, main](QList<Entry> variants) {
        std::sort(variants.begin(), variants.end(), [](const Entry &a, const Entry &b) {
            return a.approvedAtMs != b.approvedAtMs ? a.approvedAtMs < b.approvedAtMs : a.key < b.key;
        });
        const QByteArray text = m_options.json ? toJson(main, variants) : toText(main, variants).toUtf8();
        std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
        std::fflush(stdout);
        emit done(0, {});
    };
    if (keys.isEmpty())
        return print({});
    QList<QByteArray> mget{QByteArrayLiteral("MGET")};
    for (const QByteArray &k : keys)
        mget.append(bytes(RedisSchema::entryKey(k.toStdString())));
    m_connection->command(mget, this, [this, main, print](const RedisReply &r) {
        if (r.isError()) {
            emit done(1, QStringLiteral("l0l3-ctl: variants: ") + r.errorMessage());
            return;
        }
        QList<Entry> variants;
        for (const RedisReply &value : r.elements) {
            if (value.isNil())
                continue;
            auto e = EntryCodec::decode(value.str.toStdString());
            if (e && e->variantOf == main.key)
                variants.append(std::move(*e));
        }
        print(variants);
    });
}

QByteArray VariantsCommand::toJson(const Entry &main, const QList<Entry> &variants)
{
    QJsonArray arr;
    for (const Entry &v : variants)
        arr.append(toObject(v));
    QJsonObject root = toObject(main);
    root.insert(QStringLiteral("variants"), arr);
    const QByteArray json = QJsonDocument(root).toJson(QJsonDocument::Indented);
    const std::string safe = VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())));
    return QByteArray(safe.data(), qsizetype(safe.size()));
}

QString VariantsCommand::toText(const Entry &main, const QList<Entry> &variants)
{
    QString out = QStringLiteral("%1  %2  (%3 variant%4)\n")
                      .arg(QString::fromStdString(main.key), oneLine(main.prompt, 70))
                      .arg(variants.size())
                      .arg(variants.size() == 1 ? QString() : QStringLiteral("s"));
    for (const Entry &v : variants) {
        out += QStringLiteral("  %1  %2  %3  %4\n")
                   .arg(QString::fromStdString(v.key),
                        QDateTime::fromMSecsSinceEpoch(v.approvedAtMs, QTimeZone::utc()).toString(Qt::ISODate),
                        oneLine(v.approvedBy, 12).leftJustified(12), oneLine(v.prompt, 70));
    }
    return out;
}

} // namespace l0l3
