#include "core/control/vectorrebuild.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/common/entry.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
#include "core/control/entryvectors.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

std::optional<VectorRecord> decodeRecord(const RedisReply &r)
{
    if (!r.isString())
        return std::nullopt;
    return VectorRecordCodec::decode(std::string_view(r.str.constData(), std::size_t(r.str.size())));
}

} // namespace

VectorRebuild::VectorRebuild(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_options(options)
{
    m_client = new EmbeddingClient(m_options.embeddings, this);
}

void VectorRebuild::start()
{
    if (const QString problem = m_options.embeddings.check(); !problem.isEmpty())
        return fail(problem);
    if (!m_connection)
        return fail(QStringLiteral("no Redis connection"));
    m_connection->command({QByteArrayLiteral("ROLE")}, this, [this](const RedisReply &role) {
        if (role.isError())
            return fail(QStringLiteral("ROLE failed: %1").arg(role.errorMessage()));
        if (!role.isArray() || role.elements.isEmpty() || role.elements[0].str != "master")
            return fail(QStringLiteral("refused: %1 is not the primary; vectors are written on the primary only")
                            .arg(m_connection->options().redacted()));
        scanNext();
    });
}

void VectorRebuild::scanNext()
{
    const int batch = m_options.embeddings.batchSize;
    if (m_pending.size() >= batch || (m_scanDone && !m_pending.isEmpty())) {
        QList<QByteArray> keys = m_pending.mid(0, batch);
        m_pending.remove(0, keys.size());
        return runBatch(keys, 0);
    }
    if (m_scanDone)
        return done();
    m_connection->command({QByteArrayLiteral("SCAN"), m_cursor, QByteArrayLiteral("MATCH"),
                           bytes(RedisSchema::kEntryPattern), QByteArrayLiteral("COUNT"),
                           QByteArray::number(kScanCount)},
                          this, [this](const RedisReply &r) {
                              if (r.isError())
                                  return fail(QStringLiteral("SCAN failed: %1").arg(r.errorMessage()));
                              if (!r.isArray() || r.elements.size() != 2)
                                  return fail(QStringLiteral("SCAN gave an unexpected reply"));
                              m_cursor = r.elements[0].str;
                              m_scanDone = m_cursor == "0";
                              for (const RedisReply &k : r.elements[1].elements)
                                  m_pending.append(k.str);
                              scanNext();
                          });
}

void VectorRebuild::runBatch(QList<QByteArray> keys, int retries)
{
    if (!m_connection)
        return fail(QStringLiteral("no Redis connection"));
    QList<QByteArray> watch{QByteArrayLiteral("WATCH")};
    QList<QByteArray> entries{QByteArrayLiteral("MGET")};
    QList<QByteArray> vectors{QByteArrayLiteral("MGET")};
    QList<QList<QByteArray>> reads;
    const std::size_t prefix = RedisSchema::entryKey("").size();
    for (const QByteArray &k : std::as_const(keys)) {
        watch.append(k);
        entries.append(k);
        vectors.append(
            bytes(RedisSchema::vectorKey(std::string_view(k.constData(), std::size_t(k.size())).substr(prefix))));
    }
    reads << watch << entries << vectors;
    for (const QByteArray &k : std::as_const(keys))
        reads.append({QByteArrayLiteral("PTTL"), k});
    m_connection->pipeline(reads, this, [this, keys, retries](const QList<RedisReply> &replies) {
        onBatchRead(keys, retries, replies);
    });
}

void VectorRebuild::onBatchRead(QList<QByteArray> keys, int retries, const QList<RedisReply> &replies)
{
    for (const RedisReply &r : replies) {
        if (r.isError()) {
            m_connection->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
            return fail(QStringLiteral("reading the entries failed: %1").arg(r.errorMessage()));
        }
    }
    const qsizetype n = keys.size();
    if (replies.size() != 3 + n || replies[1].elements.size() != n || replies[2].elements.size() != n)
        return fail(QStringLiteral("reading the entries gave an unexpected reply"));
    struct Item
    {
        Entry entry;
        SemanticThreshold threshold;
        qint64 pttlMs;
    };
    auto items = std::make_shared<QList<Item>>();
    QStringList prompts;
    const std::string model = m_options.embeddings.modelId();
    qint64 seen = 0;
    qint64 current = 0;
    for (qsizetype i = 0; i < n; ++i) {
        const RedisReply &value = replies[1].elements[i];
        const qint64 pttl = replies[3 + i].isInteger() ? replies[3 + i].integer : -2;
        if (!value.isString() || pttl == -2)
            continue; // revoked or expired since the SCAN
        std::optional<Entry> e = EntryCodec::decode(value.str.toStdString());
        if (!e)
            continue; // not the console's: left alone, as the gateways do
        ++seen;
        const std::optional<VectorRecord> stored = decodeRecord(replies[2].elements[i]);
        if (m_options.missingOnly && stored && stored->model == model) {
            ++current;
            continue;
        }
        prompts.append(QString::fromStdString(e->prompt));
        // The threshold state is kept; evidence measured under another model is not evidence under this one.
        SemanticThreshold threshold = stored ? EntryVectors::thresholdOf(*stored) : SemanticThreshold();
        if (stored && stored->model != model)
            threshold = SemanticThreshold::restore(threshold.value(), threshold.highestDenied(), {});
        items->append({std::move(*e), std::move(threshold), pttl});
    }
    auto next = [this, seen, current] {
        m_counts.entries += seen;
        m_counts.current += current;
        emit progress(m_counts);
        scanNext();
    };
    if (items->isEmpty()) {
        m_connection->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
        return next();
    }
    m_client->embed(prompts, [this, keys, retries, items, model, next](const EmbeddingClient::Result &r) {
        if (!m_connection)
            return fail(QStringLiteral("no Redis connection"));
        if (!r.ok) {
            m_connection->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
            return fail(r.error);
        }
        QList<QList<QByteArray>> tx;
        for (qsizetype i = 0; i < items->size(); ++i) {
            const Item &item = (*items)[i];
            QList<QByteArray> expiry;
            if (item.pttlMs > 0)
                expiry << QByteArrayLiteral("PX") << QByteArray::number(item.pttlMs);
            VectorRecord record = EntryVectors::recordFor(item.entry, item.threshold.value(), model,
                                                          r.vectors[std::size_t(i)]);
            EntryVectors::setThreshold(record, item.threshold);
            QList<QByteArray> set = EntryVectors::setCommand(item.entry.key, record, expiry);
            if (set.isEmpty())
                continue;
            tx.append(set);
            tx.append({QByteArrayLiteral("PUBLISH"), bytes(RedisSchema::kInvalidateChannel),
                       QByteArray::fromStdString(item.entry.key)});
        }
        const qint64 written = tx.size() / 2;
        m_connection->transaction(tx, this, [this, keys, retries, written, next](const RedisReply &exec) {
            if (exec.isNil()) {
                if (retries >= kMaxRetries)
                    return fail(QStringLiteral("entries kept changing while their vectors were written; run it again"));
                return runBatch(keys, retries + 1);
            }
            if (exec.isError())
                return fail(QStringLiteral("writing the vectors failed: %1").arg(exec.errorMessage()));
            for (const RedisReply &part : exec.elements) {
                if (part.isError())
                    return fail(QStringLiteral("writing the vectors partly failed: %1").arg(part.errorMessage()));
            }
            m_counts.written += written;
            next();
        });
    });
}

void VectorRebuild::fail(const QString &message)
{
    if (m_finished)
        return;
    m_finished = true;
    emit finished(false, message, m_counts);
}

void VectorRebuild::done()
{
    if (m_finished)
        return;
    m_finished = true;
    QString message = QStringLiteral("%1 vector(s) written with %2 for %3 entr%4")
                          .arg(m_counts.written)
                          .arg(QString::fromStdString(m_options.embeddings.modelId()))
                          .arg(m_counts.entries)
                          .arg(m_counts.entries == 1 ? QStringLiteral("y") : QStringLiteral("ies"));
    if (m_options.missingOnly)
        message += QStringLiteral(", %1 already of that model").arg(m_counts.current);
    emit finished(true, message, m_counts);
}

} // namespace l0l3
