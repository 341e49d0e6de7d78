#pragma once

#include <QHash>
#include <QList>
#include <QSet>
#include <QString>

#include <vector>

#include "core/control/proposalitem.h"

namespace l0l3 {

// Pending proposals grouped into clusters of likely-same questions, for the
// operator to approve one representative and attach the rest as its variants
// in one action. A cluster only ever holds proposals of one scope (namespace,
// normalised system prompt, model family: what a variant must share with its
// entry). Within a scope, taken in descending savings score (ties by key), a
// proposal joins the cluster whose representative is most similar to it
// (cosine of their lexical vectors, EntryVectors) when that similarity is at
// least the threshold, else it starts one as its representative (star
// linkage: every member is within the threshold of the representative, whose
// answer every member is served; two members alike only through a third
// are never chained into one cluster). The lexical embedder misses synonyms,
// so the default threshold is low: a cluster is a suggestion the operator
// confirms, never a decision. With the vectors of a remote embeddings model
// (the profile's provider) the bar is higher (kRemoteThreshold): such models
// score unrelated texts well above 0. The representative is thus the member
// with the highest savings score (the one whose answer the operator reads);
// members are in descending savings.
struct ProposalCluster
{
    QList<ProposalItem> members; // members.first() is the representative
    qint64 seenTotal = 0;        // summed over the members
    double savings = 0;          // summed savings scores

    const ProposalItem &representative() const { return members.first(); }
    int phrasings() const { return int(members.size()); }
    // "12 phrasings, seen 57 times"
    QString summary() const;
};

class ProposalClusters
{
public:
    static constexpr float kDefaultThreshold = 0.35f;
    static constexpr float kRemoteThreshold = 0.75f;
    // Proposals of one scope clustered at most (the best by savings; the rest stay alone). Each
    // is compared with the representatives before it: at most n(n-1)/2 comparisons.
    static constexpr int kMaxPerScope = 2000;

    // Clusters of items, by descending summed savings. Keys in `alone` (clusters the operator
    // split) are never grouped: each is a cluster of its own.
    static QList<ProposalCluster> build(const QList<ProposalItem> &items, const QSet<QString> &alone = {},
                                        float threshold = kDefaultThreshold);
    // The same with the given vectors (a proposal's by its key, all of one model and dimension,
    // L2-normalised) instead of the lexical ones; a proposal without one is a cluster of its own.
    static QList<ProposalCluster> build(const QList<ProposalItem> &items,
                                        const QHash<QString, std::vector<float>> &vectors,
                                        const QSet<QString> &alone = {}, float threshold = kRemoteThreshold);
};

} // namespace l0l3
