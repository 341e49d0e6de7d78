#include "core/control/l1review.h"

#include <QPointer>
#include <QRegularExpression>

#include <cmath>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

} // namespace

QList<QByteArray> L1Review::rangeCommand(const QString &afterId, int count)
{
    return {QByteArrayLiteral("XRANGE"),
            bytes(RedisSchema::kL1Review),
            afterId.isEmpty() ? QByteArrayLiteral("-") : "(" + afterId.toLatin1(),
            QByteArrayLiteral("+"),
            QByteArrayLiteral("COUNT"),
            QByteArray::number(qBound(1, count, kMaxItems))};
}

bool L1Review::isValidId(const QString &id)
{
    static const QRegularExpression re(QStringLiteral("^[0-9]{1,20}-[0-9]{1,20}$"));
    return id.size() <= 41 && re.match(id).hasMatch();
}

std::optional<L1ReviewItem> L1Review::decode(const std::string &id, const StreamFields &fields, std::string *why)
{
    auto bad = [why](std::string reason) -> std::optional<L1ReviewItem> {
        if (why)
            *why = std::move(reason);
        return std::nullopt;
    };
    L1ReviewItem item;
    item.id = QString::fromStdString(id);
    if (!isValidId(item.id))
        return bad("not a stream id");
    bool seen[7] = {};
    static constexpr const char *kNames[] = {"key", "entry", "similarity", "ns", "prompt", "region", "ts"};
    for (const auto &[field, value] : fields) {
        int index = -1;
        for (int i = 0; i < 7; ++i) {
            if (field == kNames[i])
                index = i;
        }
        if (index < 0)
            continue;
        if (seen[index])
            return bad("field " + field + " twice");
        seen[index] = true;
        switch (index) {
        case 0:
        case 1:
            if (!CacheKey::isValid(value))
                return bad(field + " is not a cache key");
            (index == 0 ? item.key : item.entry) = QString::fromStdString(value);
            break;
        case 2: {
            bool ok = false;
            item.similarity = QString::fromStdString(value.substr(0, 16)).toDouble(&ok);
            if (!ok || value.size() > 16 || !std::isfinite(item.similarity) || item.similarity < 0
                || item.similarity > 1)
                return bad("similarity is not a number in [0, 1]");
            break;
        }
        case 3:
            if (value.size() > 256)
                return bad("ns is too long");
            item.ns = QString::fromUtf8(value.data(), qsizetype(value.size()));
            break;
        case 4:
            if (value.size() > std::size_t(ProposalFunction::kL1ReviewMaxPromptBytes))
                return bad("prompt is too long");
            item.prompt = QString::fromUtf8(value.data(), qsizetype(value.size()));
            break;
        case 5:
            if (value.empty() || value.size() > 64)
                return bad("region is not 1 to 64 bytes");
            item.region = QString::fromUtf8(value.data(), qsizetype(value.size()));
            break;
        case 6: {
            bool ok = false;
            item.tsMs = QString::fromStdString(value.substr(0, 20)).toLongLong(&ok);
            if (!ok || value.size() > 20 || item.tsMs < 0)
                return bad("ts is not a time in ms");
            break;
        }
        }
    }
    for (int i = 0; i < 7; ++i) {
        if (!seen[i])
            return bad(std::string("no field ") + kNames[i]);
    }
    return item;
}

QList<L1ReviewItem> L1Review::parse(const RedisReply &reply, int *malformed)
{
    QList<L1ReviewItem> items;
    int bad = 0;
    for (const RedisReply &element : reply.elements) {
        if (items.size() >= kMaxItems)
            break;
        std::string id;
        StreamFields fields;
        if (!element.toStreamEntry(&id, &fields)) {
            ++bad;
            continue;
        }
        if (std::optional<L1ReviewItem> item = decode(id, fields))
            items.append(std::move(*item));
        else
            ++bad;
    }
    if (malformed)
        *malformed = bad;
    return items;
}

void L1Review::load(RedisConnection *connection, const QString &afterId, int count, QObject *context, LoadCallback cb)
{
    if (!connection) {
        cb({}, 0, QStringLiteral("not connected"));
        return;
    }
    QPointer<RedisConnection> conn = connection;
    connection->command(rangeCommand(afterId, count), context, [conn, context, cb](const RedisReply &r) {
        if (r.isError()) {
            cb({}, 0, r.errorMessage());
            return;
        }
        int malformed = 0;
        QList<L1ReviewItem> items = parse(r, &malformed);
        if (items.isEmpty() || !conn) {
            cb(items, malformed, {});
            return;
        }
        QList<QByteArray> mget{QByteArrayLiteral("MGET")};
        for (const L1ReviewItem &item : std::as_const(items))
            mget.append(bytes(RedisSchema::entryKey(item.entry.toStdString())));
        conn->command(mget, context, [items, malformed, cb](const RedisReply &entries) mutable {
            // Without the prompts the queue still shows (an error here names nothing to decide).
            for (qsizetype i = 0; i < items.size() && i < entries.elements.size(); ++i) {
                if (entries.elements[i].isNil())
                    continue;
                if (std::optional<Entry> e = EntryCodec::decode(entries.elements[i].str.toStdString()))
                    items[i].entryPrompt = QString::fromStdString(e->prompt);
            }
            cb(items, malformed, {});
        });
    });
}

} // namespace l0l3
