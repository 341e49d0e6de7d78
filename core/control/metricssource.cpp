#include "core/control/metricssource.h"

#include <QStringList>

namespace l0l3 {

int degradationSeverity(const QString &state)
{
    static const QStringList order{QStringLiteral("normal"), QStringLiteral("elevated"), QStringLiteral("degraded"),
                                   QStringLiteral("replica_down"), QStringLiteral("offline")};
    return int(order.indexOf(state));
}

void RequestTally::add(const QString &tier, const QString &outcome, double count)
{
    total += count;
    if (outcome == QLatin1String("hit"))
        answers[tier] += count;
    else if (outcome == QLatin1String("miss") || outcome == QLatin1String("bypass"))
        answers[outcome] += count;
    else if (outcome == QLatin1String("error"))
        errors += count;
}

void RequestTally::applyTo(RegionMetrics &m) const
{
    if (total <= 0)
        return;
    for (const auto &[k, v] : answers) {
        m.hitRateByTier.insert(k, v / total);
        if (k != QLatin1String("miss") && k != QLatin1String("bypass"))
            m.hitRate += v / total;
    }
    m.errorRate = errors / total;
}

MetricsSource::MetricsSource(QObject *parent)
    : QObject(parent)
    , m_timer(this)
{
    connect(&m_timer, &QTimer::timeout, this, &MetricsSource::refresh);
}

void MetricsSource::setIntervalMs(int ms)
{
    m_intervalMs = qMax(100, ms);
    if (m_timer.isActive())
        m_timer.start(m_intervalMs);
}

void MetricsSource::start()
{
    m_timer.start(m_intervalMs);
    refresh();
}

void MetricsSource::stop()
{
    m_timer.stop();
}

} // namespace l0l3
