#include "core/control/metricssource.h"

#include <QStringList>

namespace l0l3 {

int degradationSeverity(const QString &state)
{
    static const QStringList order{QStringLiteral("normal"), QStringLiteral("elevated"), QStringLiteral("degraded"),
                                   QStringLiteral("replica_down"), QStringLiteral("offline")};
    return int(order.indexOf(state));
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
