#include "bench/console/stallprobe.h"

#include <algorithm>
#include <cmath>

namespace l0l3 {

StallProbe::StallProbe(QObject *parent)
    : QObject(parent)
{
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(1);
    connect(&m_timer, &QTimer::timeout, this, &StallProbe::tick);
}

void StallProbe::start()
{
    m_intervals.clear();
    m_intervals.reserve(64 * 1024);
    m_ends.clear();
    m_ends.reserve(64 * 1024);
    m_clock.start();
    m_lastNs = m_clock.nsecsElapsed();
    m_timer.start();
}

void StallProbe::stop()
{
    m_timer.stop();
    tick(); // the interval in progress counts too
    m_lastNs = -1;
}

void StallProbe::tick()
{
    if (m_lastNs < 0)
        return;
    const qint64 now = m_clock.nsecsElapsed();
    m_intervals.append(double(now - m_lastNs) / 1e6);
    m_ends.append(double(now) / 1e6);
    m_lastNs = now;
}

double StallProbe::maxMs() const
{
    return m_intervals.isEmpty() ? 0 : *std::max_element(m_intervals.cbegin(), m_intervals.cend());
}

double StallProbe::percentileMs(double q) const
{
    if (m_intervals.isEmpty())
        return 0;
    QList<double> sorted = m_intervals;
    std::sort(sorted.begin(), sorted.end());
    const qsizetype rank = std::clamp<qsizetype>(qsizetype(std::ceil(q * double(sorted.size()))), 1, sorted.size());
    return sorted[rank - 1];
}

int StallProbe::countAbove(double thresholdMs) const
{
    return int(std::count_if(m_intervals.cbegin(), m_intervals.cend(), [thresholdMs](double v) { return v > thresholdMs; }));
}

} // namespace l0l3
