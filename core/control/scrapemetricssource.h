#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QString>
#include <QUrl>

#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/control/metricssource.h"

class QNetworkAccessManager;
class QNetworkReply;

namespace l0l3 {

// Scrapes every gateway's /metrics itself (the demo and small fleets).
//
// All GETs of a tick run concurrently on one QNetworkAccessManager; the tick
// ends when every gateway answered or failed (a failure marks that gateway
// offline). Per gateway it keeps the cumulative counters of the scrapes within
// the window and reports deltas between the oldest and the newest, as rate()
// would: requests/s, shares per tier, error rate, and p50/p99 from the
// l0l3_request_duration_seconds bucket deltas (summed over tiers, then
// HistogramQuantile, i.e. histogram_quantile(q, sum by (le) (rate(...)))).
// A counter reset (gateway restart) makes the newest counts the delta.
class ScrapeMetricsSource : public MetricsSource
{
    Q_OBJECT
public:
    struct Target
    {
        QString region; // empty: taken from the `region` label of the gateway's samples
        QUrl url;       // http://host:port/metrics
    };

    explicit ScrapeMetricsSource(const QList<Target> &targets, QObject *parent = nullptr);
    ~ScrapeMetricsSource() override;

    // Replaces the gateways to scrape; one whose URL and region stay keeps its
    // history (discovery re-sends the whole list every few seconds).
    void setTargets(const QList<Target> &targets);
    // How far back the deltas reach (default 10 s); at least two scrapes are needed.
    void setWindowMs(int ms) { m_windowMs = ms; }
    void setScrapeTimeoutMs(int ms) { m_scrapeTimeoutMs = ms; }

    void refresh() override;

    // Wall time of the last complete tick (first request to last reply), for diagnostics.
    qint64 lastTickMs() const { return m_lastTickMs; }

private:
    struct Counters
    {
        qint64 atMs = 0;                                        // monotonic
        std::map<std::pair<QString, QString>, double> requests; // (tier, outcome) -> count
        std::vector<std::pair<double, double>> buckets;         // (le, cumulative) summed over tiers
    };
    struct Gateway
    {
        Target target;
        QString region; // resolved
        bool up = false;
        QString state;                                           // worst degradation state reported
        double lagMs = std::numeric_limits<double>::quiet_NaN(); // l0l3_replication_lag_seconds, in ms
        std::deque<Counters> history;
    };

    void startRequests(std::size_t from, quint64 tick);
    void onReply(std::size_t index, QNetworkReply *reply, quint64 tick);
    void ingest(Gateway &g, const QByteArray &body, qint64 nowMs);
    void finishTick();

    QNetworkAccessManager *m_network = nullptr;
    std::vector<Gateway> m_gateways;
    QElapsedTimer m_clock;
    int m_windowMs = 10000;
    int m_scrapeTimeoutMs = 2000;
    quint64 m_tick = 0;
    int m_outstanding = 0;
    qint64 m_tickStartedMs = 0;
    qint64 m_lastTickMs = 0;
};

} // namespace l0l3
