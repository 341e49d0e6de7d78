#include "core/control/proposalclusters.h"

#include <QHash>

#include <algorithm>
#include <functional>
#include <numeric>
#include <vector>

#include "core/common/embedding.h"
#include "core/control/entryvectors.h"

namespace l0l3 {

QString ProposalCluster::summary() const
{
    return QStringLiteral("%1 phrasing%2, seen %3 time%4")
        .arg(phrasings())
        .arg(phrasings() == 1 ? QString() : QStringLiteral("s"))
        .arg(seenTotal)
        .arg(seenTotal == 1 ? QString() : QStringLiteral("s"));
}

namespace {

// vectorOf: a proposal's vector, false when it has none (it then stays alone).
QList<ProposalCluster> buildWith(const QList<ProposalItem> &items, const QSet<QString> &alone, float threshold,
                                 const std::function<bool(const ProposalItem &, std::vector<float> *)> &vectorOf)
{
    // By scope, each in descending savings (the representative first, ties by key for a stable order).
    QHash<QByteArray, QList<qsizetype>> scopes;
    QList<qsizetype> order(items.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](qsizetype a, qsizetype b) {
        if (items[a].savingsScore != items[b].savingsScore)
            return items[a].savingsScore > items[b].savingsScore;
        return items[a].key < items[b].key;
    });
    for (const qsizetype i : order) {
        const ProposalItem &p = items[i];
        const std::string scope = EntryVectors::scopeOf(p.ns.toStdString(), p.system.toStdString(),
                                                        p.model.toStdString());
        scopes[QByteArray::fromStdString(scope)].append(i);
    }

    QList<ProposalCluster> clusters;
    for (auto it = scopes.cbegin(); it != scopes.cend(); ++it) {
        const QList<qsizetype> &members = it.value();
        // Star linkage: in descending savings, a proposal joins the cluster whose representative
        // (its first member) is most similar to it, at least the threshold; else it leads a new
        // one. Members are only ever compared with representatives, so A ~ B ~ C never pulls C
        // into A's cluster through B.
        std::vector<std::vector<float>> leaders; // the representatives' vectors
        std::vector<int> clusterOfLeader;        // per leader: index into local
        QList<QList<qsizetype>> local;
        for (qsizetype n = 0; n < members.size(); ++n) {
            const ProposalItem &p = items[members[n]];
            std::vector<float> v;
            if (n >= ProposalClusters::kMaxPerScope || alone.contains(p.key) || !vectorOf(p, &v)) {
                local.append(QList<qsizetype>{members[n]});
                continue;
            }
            int best = -1;
            float bestSimilarity = threshold;
            for (std::size_t m = 0; m < leaders.size(); ++m) {
                if (leaders[m].size() != v.size())
                    continue;
                const float s = dot(v, leaders[m]);
                if (s >= bestSimilarity) {
                    bestSimilarity = s;
                    best = clusterOfLeader[m];
                }
            }
            if (best < 0) {
                best = int(local.size());
                local.append(QList<qsizetype>());
                leaders.push_back(std::move(v));
                clusterOfLeader.push_back(best);
            }
            local[best].append(members[n]);
        }
        for (const QList<qsizetype> &group : std::as_const(local)) {
            ProposalCluster c;
            for (const qsizetype i : group) {
                c.members.append(items[i]);
                c.seenTotal += items[i].seenTotal;
                c.savings += items[i].savingsScore;
            }
            clusters.append(std::move(c));
        }
    }
    std::stable_sort(clusters.begin(), clusters.end(), [](const ProposalCluster &a, const ProposalCluster &b) {
        if (a.savings != b.savings)
            return a.savings > b.savings;
        return a.representative().key < b.representative().key;
    });
    return clusters;
}

} // namespace

QList<ProposalCluster> ProposalClusters::build(const QList<ProposalItem> &items, const QSet<QString> &alone,
                                               float threshold)
{
    return buildWith(items, alone, threshold, [](const ProposalItem &p, std::vector<float> *v) {
        *v = EntryVectors::provider().embed(p.prompt.toStdString());
        return true;
    });
}

QList<ProposalCluster> ProposalClusters::build(const QList<ProposalItem> &items,
                                               const QHash<QString, std::vector<float>> &vectors,
                                               const QSet<QString> &alone, float threshold)
{
    return buildWith(items, alone, threshold, [&vectors](const ProposalItem &p, std::vector<float> *v) {
        const auto it = vectors.constFind(p.key);
        if (it == vectors.cend() || it->empty())
            return false;
        *v = *it;
        return true;
    });
}

} // namespace l0l3
