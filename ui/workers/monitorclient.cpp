#include "ui/workers/monitorclient.h"

#include <QMetaObject>
#include <QThread>

#include "ui/workers/monitorworker.h"

namespace l0l3 {

MonitorClient::MonitorClient(QObject *parent)
    : QObject(parent)
    , m_thread(new QThread(this))
    , m_worker(new MonitorWorker)
{
    qRegisterMetaType<MetricsSnapshot>();
    qRegisterMetaType<QList<RegionReplicationStatus>>();
    qRegisterMetaType<PrimaryReplicationStatus>();
    qRegisterMetaType<SentinelTopology>();
    qRegisterMetaType<FailoverResult>();
    qRegisterMetaType<FleetView>();
    m_thread->setObjectName(QStringLiteral("l0l3-monitor"));
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread->start();
}

MonitorClient::~MonitorClient()
{
    QMetaObject::invokeMethod(m_worker, &MonitorWorker::shutdown, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
}

void MonitorClient::configure(const MonitorConfig &config)
{
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, config] { w->configure(config); }, Qt::QueuedConnection);
}

void MonitorClient::refreshTopology()
{
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker] { w->refreshTopology(); }, Qt::QueuedConnection);
}

void MonitorClient::failover()
{
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker] { w->failover(); }, Qt::QueuedConnection);
}

void MonitorClient::promoteManually(const QString &host, int port)
{
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, host, port] { w->promoteManually(host, port); }, Qt::QueuedConnection);
}

} // namespace l0l3
