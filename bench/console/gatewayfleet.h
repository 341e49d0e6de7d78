#pragma once

#include <QList>
#include <QObject>
#include <QString>

#include <memory>
#include <vector>

namespace l0l3 {

class GatewayMetrics;
namespace test {
class FakeMetricsEndpoint;
}

// The endpoints of SyntheticGateways; lives on (and is used only from) the
// fleet's thread.
class GatewayFleet : public QObject
{
    Q_OBJECT
public:
    explicit GatewayFleet(QObject *parent = nullptr);
    ~GatewayFleet() override;

    // Returns the ports (0 for an endpoint that could not listen).
    QList<int> create(const QStringList &regions);
    void destroyAll();
    int scrapes() const;

private:
    std::vector<std::unique_ptr<GatewayMetrics>> m_metrics;
    std::vector<test::FakeMetricsEndpoint *> m_endpoints;
};

} // namespace l0l3
