#pragma once

#include <QList>
#include <QString>
#include <QUrl>

#include <memory>

class QThread;

namespace l0l3 {

class GatewayFleet;

// count fake gateways, each a loopback HTTP endpoint serving /metrics as the
// real gateway renders it (GatewayMetrics::render with that gateway's own
// counters), spread round-robin over `regions` region names. Each scrape
// first records ~300 synthetic requests (tiers, outcomes, latencies), so
// rates and quantiles move from tick to tick as on a live fleet. All
// endpoints run on one thread of their own, not the UI thread.
class SyntheticGateways
{
public:
    struct Gateway
    {
        QString region;
        QUrl baseUrl; // http://127.0.0.1:port
    };

    SyntheticGateways();
    ~SyntheticGateways(); // stops the endpoints and their thread
    SyntheticGateways(const SyntheticGateways &) = delete;
    SyntheticGateways &operator=(const SyntheticGateways &) = delete;

    // false if an endpoint could not listen.
    bool start(int count, int regions);
    QList<Gateway> gateways() const { return m_gateways; }
    int scrapes() const;

private:
    QThread *m_thread = nullptr;
    GatewayFleet *m_fleet = nullptr;
    QList<Gateway> m_gateways;
};

} // namespace l0l3
