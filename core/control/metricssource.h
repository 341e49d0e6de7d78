#pragma once

#include <QObject>
#include <QTimer>

#include "core/control/metricssnapshot.h"

namespace l0l3 {

// Where the dashboards get their numbers: a direct scrape of the gateways or
// a Prometheus server. Both emit the same MetricsSnapshot once per tick.
//
// Thread affinity: the thread it lives on does the network I/O and the
// arithmetic; put it on a worker thread, never the UI thread.
class MetricsSource : public QObject
{
    Q_OBJECT
public:
    explicit MetricsSource(QObject *parent = nullptr);

    void setIntervalMs(int ms);
    int intervalMs() const { return m_intervalMs; }
    void start();
    void stop();
    bool isRunning() const { return m_timer.isActive(); }

    // Collects once; snapshotReady() when done. A refresh while one is in
    // flight is dropped (a slow source must not pile up requests).
    virtual void refresh() = 0;

signals:
    void snapshotReady(const l0l3::MetricsSnapshot &snapshot);

private:
    QTimer m_timer;
    int m_intervalMs = 1000;
};

} // namespace l0l3
