#pragma once

#include <QList>
#include <QSet>
#include <QString>

#include "core/control/proposalitem.h"

namespace l0l3 {

// Pending proposals grouped into clusters of likely-same questions, for the
// operator to approve one representative and attach the rest as its variants
// in one action. A cluster only ever holds proposals of one scope (namespace,
// normalised system prompt, model family: what a variant must share with its
// entry). Within a scope, a proposal joins the cluster holding the proposal
// most similar to it (cosine of their lexical vectors, EntryVectors) when
// that similarity is at least the threshold (single link), else starts one.
// The lexical embedder misses synonyms, so the default threshold is low: a
// cluster is a suggestion the operator confirms, never a decision.
// The representative is the member with the highest savings score (the one
// whose answer the operator reads); members are in descending savings.
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
    static constexpr float kDefaultThreshold = 0.25f;
    // Proposals of one scope compared pairwise at most (the best by savings; the rest stay alone).
    static constexpr int kMaxPerScope = 2000;

    // Clusters of items, by descending summed savings. Keys in `alone` (clusters the operator
    // split) are never grouped: each is a cluster of its own.
    static QList<ProposalCluster> build(const QList<ProposalItem> &items, const QSet<QString> &alone = {},
                                        float threshold = kDefaultThreshold);
};

} // namespace l0l3
