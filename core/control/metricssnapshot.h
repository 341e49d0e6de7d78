#pragma once

#include <QDateTime>
#include <QList>
#include <QMap>
#include <QMetaType>
#include <QString>
#include <QtNumeric>

#include <map>

namespace l0l3 {

// One region's traffic over the source's window.
struct RegionMetrics
{
    QString region;
    double rps = 0; // requests per second, all outcomes
    // Share of requests (0..1) per answer: "L0.5", "L0", "L1" (hits by tier),
    // "miss" (answered upstream), "bypass"; only keys with traffic.
    QMap<QString, double> hitRateByTier;
    double hitRate = 0;     // all hit tiers together
    double p50Ms = qQNaN(); // NaN when no request was observed in the window
    double p99Ms = qQNaN();
    double errorRate = 0; // share of requests with outcome "error"
    // Worst state of the region's gateways: normal, elevated, degraded,
    // replica_down, offline ("offline" when no gateway answers).
    QString degradationState;
    bool up = false; // at least one gateway answered
    int gatewaysUp = 0;
    int gatewaysTotal = 0;    // 0 when unknown (Prometheus source)
    double windowSeconds = 0; // the window the rates were computed over
    // The largest l0l3_replication_lag_seconds the region's gateways report,
    // in ms; NaN when none reports a finite one.
    double replicationLagMs = qQNaN();
};

// One gateway as the scrape saw it (empty from the Prometheus source).
struct ScrapedGateway
{
    QString region;
    QString url;              // the /metrics URL scraped
    bool up = false;          // answered this tick
    QString degradationState; // its worst l0l3_degradation_state; empty when down
    double replicationLagMs = qQNaN();
};

struct MetricsSnapshot
{
    QDateTime timestamp;
    QList<RegionMetrics> regions;   // sorted by region name
    QList<ScrapedGateway> gateways; // in target order (scrape source only)
    QString error;                  // the source itself failed (e.g. Prometheus unreachable)

    const RegionMetrics *region(const QString &name) const
    {
        for (const RegionMetrics &r : regions) {
            if (r.region == name)
                return &r;
        }
        return nullptr;
    }
};

// Degradation states from least to most severe (DESIGN.md); -1 if unknown.
int degradationSeverity(const QString &state);

// Requests of one region over a window, counted by what answered them, the
// way both metrics sources read l0l3_requests_total{tier,outcome}.
struct RequestTally
{
    std::map<QString, double> answers; // the tier of a hit, or "miss" / "bypass"
    double total = 0;
    double errors = 0;

    void add(const QString &tier, const QString &outcome, double count);
    // hitRateByTier, hitRate and errorRate of m (left alone when empty).
    void applyTo(RegionMetrics &m) const;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::RegionMetrics)
Q_DECLARE_METATYPE(l0l3::MetricsSnapshot)
