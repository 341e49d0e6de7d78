#include "core/localstack/trafficsummary.h"

namespace l0l3 {

namespace {

QString ms(double seconds)
{
    return QString::number(seconds * 1000.0, 'f', 1);
}

} // namespace

QString TrafficSummary::toText() const
{
    QString text = QStringLiteral("l0l3-load summary\n");
    text += QStringLiteral("elapsed_s %1\n").arg(elapsedSeconds, 0, 'f', 2);
    text += QStringLiteral("requests sent=%1 completed=%2 ok=%3 errors=%4 dropped=%5\n")
                .arg(sent)
                .arg(completed)
                .arg(ok)
                .arg(errors)
                .arg(dropped);
    text += QStringLiteral("throughput_rps %1\n").arg(throughput(), 0, 'f', 2);
    text += QStringLiteral("status");
    for (auto it = statusCounts.begin(); it != statusCounts.end(); ++it)
        text += QStringLiteral(" %1=%2").arg(it.key()).arg(it.value());
    text += QLatin1Char('\n');
    text += QStringLiteral("hits total=%1 hit_rate=%2").arg(hits).arg(hitRate(), 0, 'f', 3);
    for (auto it = hitsByTier.begin(); it != hitsByTier.end(); ++it)
        text += QStringLiteral(" %1=%2").arg(it.key()).arg(it.value());
    text += QLatin1Char('\n');
    text += QStringLiteral("latency_ms all n=%1 p50=%2 p99=%3\n").arg(ok).arg(ms(p50), ms(p99));
    for (const Tier &t : tiers)
        text += QStringLiteral("latency_ms %1 n=%2 p50=%3 p99=%4\n").arg(t.tier).arg(t.count).arg(ms(t.p50), ms(t.p99));
    return text;
}

} // namespace l0l3
