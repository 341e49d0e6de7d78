#pragma once

#include <QDateTime>
#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QMap>
#include <QObject>
#include <QString>
#include <QTimer>

class QNetworkAccessManager;
class QTextStream;

namespace l0l3 {

class DemoStack;
class RedisConnection;

// `--demo --headless`: one status line per second, per region the request
// rate, hit rate and p99 computed from each gateway's /metrics (bucket
// deltas over the last few seconds, the way histogram_quantile does), and
// the length of the proposals stream on the primary.
class DemoHeadlessRunner : public QObject
{
    Q_OBJECT
public:
    // Scrapes the stack's gateways; prints to stdout unless print is false.
    explicit DemoHeadlessRunner(DemoStack *stack, QObject *parent = nullptr);

    void start(int intervalMs = 1000);
    void stop();
    void setPrinting(bool print) { m_print = print; }

    // Regions' numbers over the window, for tests and the console.
    struct RegionStatus
    {
        QString region;
        bool scraped = false; // false: /metrics did not answer this tick
        double requestsPerSecond = 0;
        double hitRate = 0;       // hits / requests over the window, 0..1
        double p99Seconds = 0;    // NaN-free: 0 without observations
        double totalRequests = 0; // counter value at the last scrape
    };
    QList<RegionStatus> regions() const { return m_status; }
    qint64 proposals() const { return m_proposals; }

signals:
    void statusLine(const QString &line);

private:
    struct Scrape
    {
        qint64 atMs = 0;
        double requests = 0;
        double hits = 0;
        QMap<double, double> buckets; // le -> cumulative count, summed over tiers
    };

    void tick();
    void onMetrics(int regionIndex, const QByteArray &body, bool ok);
    void maybePrint();

    DemoStack *m_stack;
    QNetworkAccessManager *m_http;
    RedisConnection *m_redis = nullptr; // to the primary, for the proposals count
    QTimer m_timer;
    QElapsedTimer m_clock;
    bool m_print = true;
    int m_pending = 0;
    quint64 m_tick = 0;
    QList<RegionStatus> m_status;
    QHash<QString, QList<Scrape>> m_history; // per region, the last few scrapes
    qint64 m_proposals = -1;
};

} // namespace l0l3
