#pragma once

#include <QDateTime>
#include <QList>
#include <QString>
#include <QUrl>

#include <functional>

#include "core/control/metricssource.h"

class QJsonArray;
class QNetworkAccessManager;

namespace l0l3 {

// Reads the same numbers from a Prometheus server (large fleets), with
// PromQL doing the aggregation: per region
//   sum by (region, tier, outcome) (rate(l0l3_requests_total[W]))
//   histogram_quantile(q, sum by (le, region) (rate(l0l3_request_duration_seconds_bucket[W])))
//   max by (region, state) (l0l3_degradation_state)
//   count by (region) (l0l3_draining)   -- one series per gateway that is being scraped
// through /api/v1/query per tick and /api/v1/query_range for history.
class PrometheusMetricsSource : public MetricsSource
{
    Q_OBJECT
public:
    // baseUrl: http://host:9090 (the API paths are appended).
    explicit PrometheusMetricsSource(const QUrl &baseUrl, QObject *parent = nullptr);

    // The rate() window as a PromQL duration (default "1m"). Must cover at
    // least two scrapes.
    void setWindow(const QString &promDuration) { m_window = promDuration; }
    QString window() const { return m_window; }
    void setTimeoutMs(int ms) { m_timeoutMs = ms; }

    void refresh() override;
    // historyReady() with one snapshot per step between from and to.
    void fetchHistory(const QDateTime &from, const QDateTime &to, int stepSeconds);

    // The PromQL expressions used, in the order above (p50 and p99 separately).
    QStringList queries() const;

signals:
    void historyReady(const QList<l0l3::MetricsSnapshot> &snapshots);

private:
    using Results = std::function<void(const QList<QJsonArray> &results, const QString &error)>;
    void runAll(const QString &path, const QList<QPair<QString, QString>> &extraParams, Results done);
    static QList<MetricsSnapshot> assemble(const QList<QJsonArray> &results, bool range, double windowSeconds);

    QNetworkAccessManager *m_network = nullptr;
    QUrl m_base;
    QString m_window = QStringLiteral("1m");
    int m_timeoutMs = 5000;
    bool m_busy = false;
};

} // namespace l0l3
