#include "core/control/proposalclusters.h"

#include <QHash>

#include <algorithm>
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

QList<ProposalCluster> ProposalClusters::build(const QList<ProposalItem> &items, const QSet<QString> &alone,
                                               float threshold)
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
        std::vector<std::vector<float>> vectors;
        std::vector<int> clusterOf; // per compared member: index into local
        QList<QList<qsizetype>> local;
        for (qsizetype n = 0; n < members.size(); ++n) {
            const ProposalItem &p = items[members[n]];
            if (n >= kMaxPerScope || alone.contains(p.key)) {
                local.append(QList<qsizetype>{members[n]});
                continue;
            }
            std::vector<float> v = EntryVectors::provider().embed(p.prompt.toStdString());
            int best = -1;
            float bestSimilarity = threshold;
            for (std::size_t m = 0; m < vectors.size(); ++m) {
                const float s = dot(v, vectors[m]);
                if (s >= bestSimilarity) {
                    bestSimilarity = s;
                    best = clusterOf[m];
                }
            }
            if (best < 0) {
                best = int(local.size());
                local.append(QList<qsizetype>());
            }
            local[best].append(members[n]);
            vectors.push_back(std::move(v));
            clusterOf.push_back(best);
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

} // namespace l0l3
