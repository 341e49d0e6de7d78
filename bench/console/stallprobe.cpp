#include "bench/console/stallprobe.h"

#include <algorithm>
#include <cmath>

#include <time.h>

namespace l0l3 {

namespace {

qint64 threadCpuNs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

} // namespace

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
    m_cpu.clear();
    m_cpu.reserve(64 * 1024);
    m_clock.start();
    m_lastNs = m_clock.nsecsElapsed();
    m_lastCpuNs = threadCpuNs();
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
    const qint64 cpu = threadCpuNs();
    m_intervals.append(double(now - m_lastNs) / 1e6);
    m_ends.append(double(now) / 1e6);
    m_cpu.append(double(cpu - m_lastCpuNs) / 1e6);
    m_lastNs = now;
    m_lastCpuNs = cpu;
}

double StallProbe::cpuInLongestMs() const
{
    if (m_intervals.isEmpty())
        return 0;
    return m_cpu[std::max_element(m_intervals.cbegin(), m_intervals.cend()) - m_intervals.cbegin()];
}

double StallProbe::maxCpuMs() const
{
    return m_cpu.isEmpty() ? 0 : *std::max_element(m_cpu.cbegin(), m_cpu.cend());
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
    return int(
        std::count_if(m_intervals.cbegin(), m_intervals.cend(), [thresholdMs](double v) { return v > thresholdMs; }));
}

} // namespace l0l3
