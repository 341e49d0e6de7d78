#include "bench/console/gatewayfleet.h"

#include <random>
#include <string>

#include "core/gateway/gatewaymetrics.h"
#include "tests/support/fakemetricsendpoint.h"

namespace l0l3 {

GatewayFleet::GatewayFleet(QObject *parent)
    : QObject(parent)
{
}

GatewayFleet::~GatewayFleet()
{
    destroyAll();
}

QList<int> GatewayFleet::create(const QStringList &regions)
{
    QList<int> ports;
    for (qsizetype i = 0; i < regions.size(); ++i) {
        auto metrics = std::make_unique<GatewayMetrics>(regions[i].toStdString());
        GatewayMetrics *m = metrics.get();
        auto *endpoint = new test::FakeMetricsEndpoint(this);
        // A second of traffic per scrape: mostly L0.5 and L0 hits (sub-ms),
        // some misses through the upstream (hundreds of ms), a few errors.
        auto rng = std::make_shared<std::minstd_rand>(unsigned(1000 + i));
        endpoint->setBodyFunction([m, rng](int) {
            std::uniform_real_distribution<double> u(0.0, 1.0);
            for (int r = 0; r < 300; ++r) {
                const double x = u(*rng);
                const double jitter = 0.5 + u(*rng);
                if (x < 0.60)
                    m->request(GatewayMetrics::Tier::HotCache, GatewayMetrics::Outcome::Hit, 0.0002 * jitter);
                else if (x < 0.85)
                    m->request(GatewayMetrics::Tier::Exact, GatewayMetrics::Outcome::Hit, 0.0008 * jitter);
                else if (x < 0.99)
                    m->request(GatewayMetrics::Tier::Upstream, GatewayMetrics::Outcome::Miss, 0.6 * jitter);
                else
                    m->request(GatewayMetrics::Tier::Upstream, GatewayMetrics::Outcome::Error, 2.0 * jitter);
            }
            std::string out;
            m->render(out, GatewayMetrics::Gauges{});
            return QByteArray(out.data(), qsizetype(out.size()));
        });
        ports.append(endpoint->port());
        m_metrics.push_back(std::move(metrics));
        m_endpoints.push_back(endpoint);
    }
    return ports;
}

void GatewayFleet::destroyAll()
{
    for (test::FakeMetricsEndpoint *e : m_endpoints)
        delete e;
    m_endpoints.clear();
    m_metrics.clear();
}

int GatewayFleet::scrapes() const
{
    int n = 0;
    for (const test::FakeMetricsEndpoint *e : m_endpoints)
        n += e->requests();
    return n;
}

} // namespace l0l3
