#include "core/control/entrystore.h"

#include "core/common/cachekey.h"
#include "core/common/redisschema.h"
#include "core/common/vectorrecord.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

} // namespace

bool EntryStore::matches(const Entry &e, const QString &search)
{
    if (search.isEmpty())
        return true;
    for (const std::string *field : {&e.key, &e.prompt, &e.response, &e.intent, &e.approvedBy, &e.ns}) {
        if (QString::fromStdString(*field).contains(search, Qt::CaseInsensitive))
            return true;
    }
    return false;
}

EntryStore::EntryStore(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
}

void EntryStore::scan(const QString &search)
{
    m_search = search;
    m_cursor = "0";
    m_paged = false;
    m_running = true;
    m_done = false;
    m_total = 0;
    readPage(++m_generation);
}

void EntryStore::startPaged(const QString &search)
{
    m_search = search;
    m_cursor = "0";
    m_paged = true;
    m_running = false;
    m_done = false;
    m_total = 0;
    ++m_generation;
}

void EntryStore::fetchMore()
{
    if (!m_paged || m_done || m_running)
        return;
    m_running = true;
    readPage(m_generation);
}

void EntryStore::readPage(quint64 generation)
{
    if (!m_connection) {
        m_running = false;
        emit failed(QStringLiteral("no Redis connection"));
        return;
    }
    m_connection->command(
        {QByteArrayLiteral("SCAN"), m_cursor, QByteArrayLiteral("MATCH"), bytes(RedisSchema::kEntryPattern),
         QByteArrayLiteral("COUNT"), QByteArray::number(m_pageSize)},
        this, [this, generation](const RedisReply &r) {
            if (generation != m_generation)
                return;
            if (r.isError() || !r.isArray() || r.elements.size() != 2) {
                m_running = false;
                emit failed(QStringLiteral("cannot scan entries: %1")
                                .arg(r.isError() ? r.errorMessage() : QStringLiteral("bad reply")));
                return;
            }
            m_cursor = r.elements[0].str;
            const QList<RedisReply> keys = r.elements[1].elements;
            const int stride = m_withL1State ? 4 : 2;
            QList<QList<QByteArray>> cmds;
            cmds.reserve(keys.size() * stride);
            for (const RedisReply &k : keys) {
                cmds.append({QByteArrayLiteral("GET"), k.str});
                cmds.append({QByteArrayLiteral("TTL"), k.str});
                if (m_withL1State) {
                    const std::string cacheKey = k.str.mid(k.str.lastIndexOf(':') + 1).toStdString();
                    cmds.append({QByteArrayLiteral("GET"), bytes(RedisSchema::vectorKey(cacheKey))});
                    cmds.append({QByteArrayLiteral("SMEMBERS"), bytes(RedisSchema::l1NegativeKey(cacheKey))});
                }
            }
            m_connection->pipeline(cmds, this, [this, generation, keys, stride](const QList<RedisReply> &replies) {
                if (generation != m_generation)
                    return;
                QList<EntryItem> items;
                int malformed = 0;
                for (qsizetype i = 0; i < keys.size(); ++i) {
                    const RedisReply &value = replies[i * stride];
                    if (value.isError()) {
                        m_running = false;
                        emit failed(QStringLiteral("cannot read entries: %1").arg(value.errorMessage()));
                        return;
                    }
                    if (value.isNil())
                        continue; // deleted between SCAN and GET
                    auto entry = EntryCodec::decode(value.str.toStdString());
                    if (!entry) {
                        ++malformed;
                        continue;
                    }
                    if (!matches(*entry, m_search))
                        continue;
                    EntryItem item;
                    item.entry = std::move(*entry);
                    item.redisKey = keys[i].toString();
                    const qint64 ttl = replies[i * stride + 1].integer;
                    item.ttlRemainingSeconds = ttl >= 0 ? ttl : -1;
                    if (stride == 4) {
                        const RedisReply &vector = replies[i * stride + 2];
                        const RedisReply &negatives = replies[i * stride + 3];
                        if (vector.isError() || negatives.isError()) {
                            m_running = false;
                            emit failed(QStringLiteral("cannot read the L1 state of %1: %2")
                                            .arg(item.redisKey,
                                                 vector.isError() ? vector.errorMessage() : negatives.errorMessage()));
                            return;
                        }
                        // A record that does not decode is not exported: the import computes a fresh one.
                        if (!vector.isNil()) {
                            if (auto record = VectorRecordCodec::decode(vector.str.toStdString())) {
                                item.l1Threshold = record->threshold;
                                item.l1Denied = record->denied;
                                item.l1Evidence = std::move(record->evidence);
                            }
                        }
                        for (const RedisReply &n : negatives.elements) {
                            if (CacheKey::isValid(n.str.toStdString())
                                && item.l1Negatives.size() < qsizetype(RedisSchema::kMaxL1Negatives))
                                item.l1Negatives.append(n.toString());
                        }
                    }
                    items.append(std::move(item));
                }
                m_total += int(items.size());
                m_done = m_cursor == "0";
                emit pageLoaded(items, malformed);
                if (m_done) {
                    m_running = false;
                    emit finished(m_total);
                } else if (!m_paged || items.isEmpty()) {
                    readPage(generation); // an empty SCAN page says nothing: go on
                } else {
                    m_running = false;
                }
            });
        });
}

void EntryStore::get(const QString &key, QObject *context, EntryCallback cb)
{
    if (!m_connection) {
        QMetaObject::invokeMethod(
            context ? context : this, [cb] { cb(std::nullopt, QStringLiteral("no Redis connection")); },
            Qt::QueuedConnection);
        return;
    }
    const QByteArray redisKey = bytes(RedisSchema::entryKey(key.toStdString()));
    m_connection->pipeline({{QByteArrayLiteral("GET"), redisKey}, {QByteArrayLiteral("TTL"), redisKey}}, context,
                           [cb, redisKey](const QList<RedisReply> &replies) {
                               if (replies[0].isError()) {
                                   cb(std::nullopt, replies[0].errorMessage());
                                   return;
                               }
                               if (replies[0].isNil()) {
                                   cb(std::nullopt, QString());
                                   return;
                               }
                               std::string why;
                               auto entry = EntryCodec::decode(replies[0].str.toStdString(), &why);
                               if (!entry) {
                                   cb(std::nullopt, QStringLiteral("corrupt entry: ") + QString::fromStdString(why));
                                   return;
                               }
                               EntryItem item;
                               item.entry = std::move(*entry);
                               item.redisKey = QString::fromUtf8(redisKey);
                               item.ttlRemainingSeconds = replies[1].integer >= 0 ? replies[1].integer : -1;
                               cb(item, QString());
                           });
}

} // namespace l0l3
