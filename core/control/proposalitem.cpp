#include "core/control/proposalitem.h"

#include <algorithm>

namespace l0l3 {

double ProposalItem::computeSavings(qint64 seenTotal, int regionCount, qint64 upstreamMs, qint64 tokens)
{
    const double seen = double(std::max<qint64>(1, seenTotal));
    const double regionsFactor = double(std::max(1, regionCount));
    const double seconds = double(std::max<qint64>(1, upstreamMs)) / 1000.0;
    const double cost = tokens > 0 ? 1.0 + double(tokens) / 1000.0 : 1.0;
    return seen * regionsFactor * seconds * cost;
}

void ProposalItem::updateScore()
{
    savingsScore = computeSavings(seenTotal, int(regions.size()), upstreamMs, promptTokens + completionTokens);
}

} // namespace l0l3
