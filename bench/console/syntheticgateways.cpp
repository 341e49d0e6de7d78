#include "bench/console/syntheticgateways.h"

#include <QMetaObject>
#include <QThread>

#include "bench/console/gatewayfleet.h"

namespace l0l3 {

SyntheticGateways::SyntheticGateways()
    : m_thread(new QThread)
    , m_fleet(new GatewayFleet)
{
    m_thread->setObjectName(QStringLiteral("l0l3-bench-gateways"));
    m_fleet->moveToThread(m_thread);
    m_thread->start();
}

SyntheticGateways::~SyntheticGateways()
{
    // Sockets and servers are destroyed on the thread that owns them.
    QMetaObject::invokeMethod(
        m_fleet, [f = m_fleet] { delete f; }, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
    delete m_thread;
}

bool SyntheticGateways::start(int count, int regions)
{
    QStringList names;
    for (int i = 0; i < count; ++i)
        names.append(QStringLiteral("region-%1").arg(i % std::max(1, regions), 2, 10, QLatin1Char('0')));
    QList<int> ports;
    QMetaObject::invokeMethod(
        m_fleet, [&] { ports = m_fleet->create(names); }, Qt::BlockingQueuedConnection);
    m_gateways.clear();
    for (qsizetype i = 0; i < ports.size(); ++i) {
        if (ports[i] <= 0)
            return false;
        m_gateways.append({names[i], QUrl(QStringLiteral("http://127.0.0.1:%1").arg(ports[i]))});
    }
    return m_gateways.size() == count;
}

int SyntheticGateways::scrapes() const
{
    int n = 0;
    QMetaObject::invokeMethod(
        m_fleet, [&] { n = m_fleet->scrapes(); }, Qt::BlockingQueuedConnection);
    return n;
}

} // namespace l0l3
