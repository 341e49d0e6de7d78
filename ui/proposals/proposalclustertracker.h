#pragma once

#include <QDeadlineTimer>
#include <QHash>
#include <QObject>
#include <QSet>
#include <QString>
#include <QThreadPool>
#include <QTimer>

#include <vector>

#include "core/control/embeddingclient.h"

namespace l0l3 {

class ProposalTableModel;
struct ProposalItem;

// Keeps the queue's Cluster column current: after rows arrive, leave or
// change, it builds the clusters (ProposalClusters) again off the UI thread
// and hands them to the model. Runs are debounced, one at a time, and spaced
// by four times the last run's duration (at most kMaxSpacingMs: a run the
// machine stalled does not hold the next one back for long), so a busy queue
// keeps a core busy with them about a fifth of the time. At most kMaxClustered
// proposals, the best by savings, are clustered (as many as ProposalClusters
// compares in one scope): the ones an operator reaches; the others show no
// cluster. Nothing runs while held (a load).
//
// With a remote embeddings provider (setEmbeddings, the profile's), the
// proposals are clustered with that model's vectors of their prompts: fetched
// asynchronously (EmbeddingClient, kEmbeddingBatch prompts per call, one call
// at a time) and cached by proposal key (at most kMaxClustered, dropped when
// the proposal leaves the clustered set). Until every proposal has one the
// first time, and while the endpoint fails (retried after kRetryMs), the
// clusters are lexical, said once in statusMessage; afterwards a proposal
// whose vector is still on its way stays out of the clusters until it comes.
class ProposalClusterTracker : public QObject
{
    Q_OBJECT
public:
    static constexpr int kMaxClustered = 2000;
    static constexpr int kDebounceMs = 200;
    static constexpr int kMaxSpacingMs = 2000;
    static constexpr int kEmbeddingBatch = 64;
    static constexpr int kRetryMs = 30000;

    explicit ProposalClusterTracker(ProposalTableModel *model, QObject *parent = nullptr);
    ~ProposalClusterTracker() override;

    // Proposals the operator split off their clusters (ProposalClusters::build's `alone`).
    void setSplitKeys(const QSet<QString> &keys);
    void setHeld(bool held);
    // The profile's provider; a local (lexical) one: the lexical clusters, nothing fetched.
    void setEmbeddings(const l0l3::EmbeddingSettings &settings);
    // Whether the clusters shown come from the remote provider's vectors (for tests).
    bool usesRemoteVectors() const { return m_remoteReady; }
    // The number of runs applied so far (for tests).
    int runs() const { return m_runs; }
    // How long the last run took off the UI thread.
    qint64 lastRunMs() const { return m_lastRunMs; }

signals:
    void clustersUpdated();
    // About the vectors the clusters are built with (lexical fallback, failures), once per change.
    void statusMessage(const QString &message, int timeoutMs);

private:
    void schedule();
    void run();
    // Asks for the vectors of up to kEmbeddingBatch of items that have none (none in flight).
    void fetchVectors(const QList<ProposalItem> &items);

    ProposalTableModel *m_model;
    QSet<QString> m_splitKeys;
    QTimer m_timer;
    qint64 m_lastRunMs = 0;
    bool m_held = false;
    bool m_running = false;
    bool m_dirty = false;
    int m_runs = 0;
    EmbeddingClient *m_embedder = nullptr; // a child; null: lexical
    quint64 m_embedderGeneration = 0;      // bumped by setEmbeddings: older answers are dropped
    QHash<QString, std::vector<float>> m_vectors;
    bool m_fetching = false;
    bool m_remoteReady = false; // every clustered proposal had a vector once since the last failure
    int m_said = 0;             // what statusMessage said last: 0 nothing (or remote vectors), 1 fetching, 2 failing
    QString m_lastError;
    QDeadlineTimer m_retryAt;
    // Last: destroyed first, waiting for a run in progress before anything it posts to goes.
    QThreadPool m_pool;
};

} // namespace l0l3
