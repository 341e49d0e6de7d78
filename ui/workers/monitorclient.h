#pragma once

#include <QObject>
#include <QString>

#include "ui/workers/monitorconfig.h"

class QThread;

namespace l0l3 {

class MonitorWorker;

// Owns the dashboards' worker thread (quit-and-wait) and posts requests to
// its MonitorWorker; connect to worker()'s signals (queued).
class MonitorClient : public QObject
{
    Q_OBJECT
public:
    explicit MonitorClient(QObject *parent = nullptr);
    ~MonitorClient() override;

    MonitorWorker *worker() const { return m_worker; }
    void configure(const MonitorConfig &config);
    void refreshTopology();
    void failover();
    void promoteManually(const QString &host, int port);

private:
    QThread *m_thread;
    MonitorWorker *m_worker;
};

} // namespace l0l3
