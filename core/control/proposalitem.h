#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include "core/control/regioncounts.h"

namespace l0l3 {

// One proposed answer as the operator sees it: the proposals stream entries of
// one cache key merged, with the demand read from l0l3:v1:seen:KEY. The inputs
// of the ranking are kept next to the score so the UI can show them.
struct ProposalItem
{
    QString id;               // stream id of the first proposal of this key
    QStringList duplicateIds; // other stream ids of the same key (acked with id)
    QString key;              // cache key, as in the gateway's x-l0l3-key header
    QString prompt;
    QString system;
    QString ns;
    // The answer as proposed, UTF-8: UTF-16 would double a large queue's
    // memory for answers that are mostly never shown; responseText()
    // converts where one is.
    QByteArray responseUtf8;
    QString model;
    QString proposedRegion;      // region of the gateway that proposed it first
    RegionCounts regions;        // region -> misses seen there, sorted by region
    qint64 seenTotal = 0;        // the seen hash's "_total" (sum of regions if absent)
    qint64 upstreamMs = 0;       // upstream latency a hit would save
    qint64 promptTokens = 0;     // 0 if unknown
    qint64 completionTokens = 0; // 0 if unknown
    qint64 tsMs = 0;             // proposal time
    // What L1 would have answered with in shadow mode (the gateway's candidate): the entry's key
    // and the similarity; empty when the gateway found none.
    QString l1Key;
    float l1Similarity = 0;
    double savingsScore = 0;
    // Four-eyes: the ACL user who gave the first approval and when (RedisSchema::kSignOffs);
    // empty unless the proposal is waiting for second approval by a different user.
    QString firstApprover;
    qint64 firstApprovedAtMs = 0;

    // Estimated savings: seenTotal x distinct regions x upstream seconds saved,
    // x (1 + tokens/1000) when token counts are known (cost saved). Each
    // factor is at least 1 so a missing input never zeroes the rank.
    static double computeSavings(qint64 seenTotal, int regionCount, qint64 upstreamMs, qint64 tokens);
    void updateScore();
    QString responseText() const { return QString::fromUtf8(responseUtf8); }
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::ProposalItem)
