#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>

#include "core/control/embeddingclient.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// Recomputes the L1 vector of every approved entry (main entries and
// variants) with one provider, e.g. after the fleet switched embeddings
// provider or model (a gateway ignores records of another model id) or after
// approvals whose vector the endpoint failed to compute.
//
// On the primary only. SCANs the entry keys and works in batches of at most
// the provider's batch size: WATCH the batch's entries, read them, their
// expiry and stored vectors, embed their prompts in one request, then
// MULTI/EXEC the new records (the stored threshold kept; the entry's
// remaining expiry) and an invalidation per key, so gateways reload them. An
// entry revoked or changed meanwhile makes EXEC fail: the batch is read again
// (a few times at most). An embeddings failure stops the run: what was
// written stays, a second run completes it.
class VectorRebuild : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        EmbeddingSettings embeddings;
        // Only entries without a record of the provider's model id (repairs after failures).
        bool missingOnly = false;
    };
    struct Counts
    {
        qint64 entries = 0; // entries seen
        qint64 written = 0; // vector records written
        qint64 current = 0; // missingOnly: already of the provider's model, left alone
    };

    VectorRebuild(RedisConnection *connection, const Options &options, QObject *parent = nullptr);

    void start();

signals:
    // After each batch written.
    void progress(const l0l3::VectorRebuild::Counts &counts);
    // Exactly once. message: the summary, or what failed.
    void finished(bool ok, const QString &message, const l0l3::VectorRebuild::Counts &counts);

private:
    static constexpr int kScanCount = 256;
    static constexpr int kMaxRetries = 5;

    void scanNext();
    void runBatch(QList<QByteArray> keys, int retries);
    void onBatchRead(QList<QByteArray> keys, int retries, const QList<RedisReply> &replies);
    void fail(const QString &message);
    void done();

    QPointer<RedisConnection> m_connection;
    Options m_options;
    EmbeddingClient *m_client = nullptr;
    QByteArray m_cursor = QByteArrayLiteral("0");
    bool m_scanDone = false;
    QList<QByteArray> m_pending; // entry keys scanned, not yet batched
    Counts m_counts;
    bool m_finished = false;
};

} // namespace l0l3
