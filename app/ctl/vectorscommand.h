#pragma once

#include <QObject>
#include <QString>

#include "core/control/embeddingclient.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// l0l3-ctl vectors rebuild [--missing] [--embeddings URL --embeddings-model NAME]:
// recomputes the L1 vectors of all approved entries with the given provider
// (VectorRebuild), in bounded batches, progress on stderr, the summary on
// stdout. --missing: only entries without a vector of that model (after
// approvals whose embeddings request failed). done(exitCode, message): 0 ok,
// 1 when Redis or the embeddings endpoint failed (what was written stays).
class VectorsCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        EmbeddingSettings embeddings;
        bool missingOnly = false;
    };

    VectorsCommand(RedisConnection *connection, const Options &options, QObject *parent = nullptr);

    void start();

signals:
    void done(int exitCode, const QString &message);

private:
    RedisConnection *m_connection;
    Options m_options;
};

} // namespace l0l3
