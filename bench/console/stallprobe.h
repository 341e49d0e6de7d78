#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QTimer>

namespace l0l3 {

// Event-loop latency probe for the thread it lives on (the UI thread here):
// a 1 ms precise timer records the interval between consecutive ticks. An
// event handler that blocks the loop for T ms shows up as an interval of
// about T ms, so the longest interval is the longest stall a user would see
// (a frame is 16 ms).
class StallProbe : public QObject
{
    Q_OBJECT
public:
    explicit StallProbe(QObject *parent = nullptr);

    void start();
    void stop();

    // Intervals in ms since start() (kept after stop()).
    const QList<double> &intervalsMs() const { return m_intervals; }
    // When each interval ended, ms since start() (same order as intervalsMs()).
    const QList<double> &endsMs() const { return m_ends; }
    // CPU time the probed thread used within each interval, ms (same order):
    // an interval much longer than its CPU time is the thread waiting for a
    // core (the VM, other processes), not the thread being busy.
    const QList<double> &cpuMs() const { return m_cpu; }
    double maxMs() const;
    // The CPU time within the longest interval, and the most CPU time within any interval.
    double cpuInLongestMs() const;
    double maxCpuMs() const;
    // Nearest-rank percentile (q in 0..1) of the intervals; 0 when none.
    double percentileMs(double q) const;
    // Intervals longer than thresholdMs.
    int countAbove(double thresholdMs) const;

private:
    void tick();

    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_lastNs = -1;
    qint64 m_lastCpuNs = 0;
    QList<double> m_intervals;
    QList<double> m_ends;
    QList<double> m_cpu;
};

} // namespace l0l3
