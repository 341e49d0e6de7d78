#include "ui/proposals/proposalclustertracker.h"

#include <QElapsedTimer>
#include <QHash>
#include <QList>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/control/proposalclusters.h"
#include "ui/proposals/proposaltablemodel.h"

namespace l0l3 {

ProposalClusterTracker::ProposalClusterTracker(ProposalTableModel *model, QObject *parent)
    : QObject(parent)
    , m_model(model)
{
    m_pool.setMaxThreadCount(1);
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &ProposalClusterTracker::run);
    connect(model, &QAbstractItemModel::rowsInserted, this, &ProposalClusterTracker::schedule);
    connect(model, &QAbstractItemModel::rowsRemoved, this, &ProposalClusterTracker::schedule);
    connect(model, &QAbstractItemModel::modelReset, this, &ProposalClusterTracker::schedule);
    connect(model, &QAbstractItemModel::dataChanged, this, [this](const QModelIndex &tl, const QModelIndex &br) {
        // The tracker's own change of the Cluster cells (or the L1 candidates' prompts) is no
        // reason to run again.
        if (ProposalTableModel::annotationsOnly(tl, br))
            return;
        schedule();
    });
}

ProposalClusterTracker::~ProposalClusterTracker()
{
    m_pool.waitForDone();
}

void ProposalClusterTracker::setSplitKeys(const QSet<QString> &keys)
{
    m_splitKeys = keys;
    schedule();
}

void ProposalClusterTracker::setHeld(bool held)
{
    m_held = held;
    if (held)
        m_timer.stop();
    else if (m_dirty)
        schedule();
}

void ProposalClusterTracker::setEmbeddings(const EmbeddingSettings &settings)
{
    delete m_embedder; // its pending callbacks are dropped with it
    m_embedder = settings.isRemote() ? new EmbeddingClient(settings, this) : nullptr;
    ++m_embedderGeneration;
    m_vectors.clear();
    m_fetching = false;
    m_remoteReady = false;
    m_said = 0;
    m_lastError.clear();
    m_retryAt = QDeadlineTimer();
    schedule();
}

void ProposalClusterTracker::fetchVectors(const QList<ProposalItem> &items)
{
    if (!m_embedder || m_fetching || (!m_lastError.isEmpty() && !m_retryAt.hasExpired()))
        return;
    QStringList keys;
    QStringList prompts;
    for (const ProposalItem &item : items) {
        if (m_vectors.contains(item.key))
            continue;
        keys.append(item.key);
        prompts.append(item.prompt);
        if (keys.size() == kEmbeddingBatch)
            break;
    }
    if (keys.isEmpty())
        return;
    m_fetching = true;
    const quint64 generation = m_embedderGeneration;
    m_embedder->embed(prompts, [this, keys, generation](const EmbeddingClient::Result &r) {
        if (generation != m_embedderGeneration)
            return;
        m_fetching = false;
        if (!r.ok) {
            m_lastError = r.error;
            m_remoteReady = false;
            m_retryAt.setRemainingTime(kRetryMs);
            QTimer::singleShot(kRetryMs, this, [this, generation] {
                if (generation == m_embedderGeneration)
                    schedule();
            });
            schedule();
            return;
        }
        m_lastError.clear();
        // Another dimension: the endpoint now serves another model, the cached vectors are stale.
        if (!m_vectors.isEmpty() && !r.vectors.empty() && m_vectors.cbegin()->size() != r.vectors.front().size())
            m_vectors.clear();
        for (qsizetype i = 0; i < keys.size() && std::size_t(i) < r.vectors.size(); ++i)
            m_vectors.insert(keys[i], r.vectors[std::size_t(i)]);
        schedule();
    });
}

void ProposalClusterTracker::schedule()
{
    m_dirty = true;
    if (m_held || m_running || m_timer.isActive())
        return;
    // Not restarted by later changes: a steady stream of them still gets a run.
    m_timer.start(int(std::clamp<qint64>(4 * m_lastRunMs, kDebounceMs, kMaxSpacingMs)));
}

void ProposalClusterTracker::run()
{
    if (m_held || m_running)
        return;
    m_dirty = false;
    // The best kMaxClustered rows by savings, without the ones being decided.
    const int rows = m_model->rowCount();
    std::vector<int> order(static_cast<std::size_t>(rows));
    std::iota(order.begin(), order.end(), 0);
    if (rows > kMaxClustered) {
        std::nth_element(order.begin(), order.begin() + kMaxClustered, order.end(),
                         [this](int a, int b) { return m_model->savingsAt(a) > m_model->savingsAt(b); });
        order.resize(kMaxClustered);
    }
    QList<ProposalItem> items;
    items.reserve(qsizetype(order.size()));
    for (const int row : order) {
        const ProposalItem &item = m_model->itemAt(row);
        if (!m_model->isPending(item.key))
            items.append(item);
    }
    // The remote provider's vectors once every proposal had one; lexical until then or while it fails.
    QHash<QString, std::vector<float>> vectors;
    bool remote = false;
    if (m_embedder) {
        QSet<QString> clustered;
        qsizetype missing = 0;
        for (const ProposalItem &item : std::as_const(items)) {
            clustered.insert(item.key);
            missing += m_vectors.contains(item.key) ? 0 : 1;
        }
        for (auto it = m_vectors.begin(); it != m_vectors.end();)
            it = clustered.contains(it.key()) ? std::next(it) : m_vectors.erase(it);
        fetchVectors(items);
        const QString model = QString::fromStdString(m_embedder->settings().modelId());
        if (missing == 0 && m_lastError.isEmpty() && !m_remoteReady) {
            m_remoteReady = true;
            if (m_said != 0)
                emit statusMessage(tr("Proposal clusters: with the vectors of %1").arg(model), 8000);
            m_said = 0;
        }
        if (m_remoteReady) {
            remote = true;
            vectors = m_vectors;
        } else if (!m_lastError.isEmpty() && m_said != 2) {
            m_said = 2;
            emit statusMessage(
                tr("Proposal clusters are lexical (retried in %1 s): %2").arg(kRetryMs / 1000).arg(m_lastError), 0);
        } else if (m_lastError.isEmpty() && m_said == 0) {
            m_said = 1;
            emit statusMessage(tr("Proposal clusters are lexical until the vectors of %1 proposals arrive (%2)")
                                   .arg(missing)
                                   .arg(model),
                               8000);
        }
    }
    m_running = true;
    m_pool.start([this, items = std::move(items), alone = m_splitKeys, vectors = std::move(vectors), remote] {
        QElapsedTimer took;
        took.start();
        const QList<ProposalCluster> clusters = remote ? ProposalClusters::build(items, vectors, alone)
                                                       : ProposalClusters::build(items, alone);
        QHash<QString, int> clusterOf;
        QList<ProposalTableModel::ClusterSummary> summaries;
        for (const ProposalCluster &c : clusters) {
            if (c.phrasings() < 2)
                continue;
            const int index = int(summaries.size());
            summaries.append(
                {c.representative().key, c.representative().prompt.left(500), c.summary(), c.phrasings(), c.savings});
            for (const ProposalItem &member : c.members)
                clusterOf.insert(member.key, index);
        }
        const qint64 ms = took.elapsed();
        QMetaObject::invokeMethod(
            this,
            [this, clusterOf = std::move(clusterOf), summaries = std::move(summaries), ms] {
                m_running = false;
                m_lastRunMs = ms;
                ++m_runs;
                if (!m_held)
                    m_model->setClusters(clusterOf, summaries);
                emit clustersUpdated();
                if (m_dirty)
                    schedule();
            },
            Qt::QueuedConnection);
    });
}

} // namespace l0l3
