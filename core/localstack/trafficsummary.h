#pragma once

#include <QList>
#include <QMap>
#include <QString>

namespace l0l3 {

// What a TrafficGenerator saw so far (a value type: safe to queue across threads).
// Latencies are in seconds and cover 2xx responses only.
struct TrafficSummary
{
    struct Tier
    {
        QString tier; // x-l0l3-tier of the response ("L0.5", "L0", "L3"); "none" without the header
        quint64 count = 0;
        double p50 = 0;
        double p99 = 0;
    };

    double elapsedSeconds = 0;
    quint64 sent = 0;
    quint64 completed = 0;               // got an HTTP response or failed at the network level
    quint64 ok = 0;                      // 2xx
    quint64 errors = 0;                  // non-2xx or network failure
    quint64 dropped = 0;                 // arrivals not sent because --concurrency requests were in flight
    quint64 hits = 0;                    // x-l0l3-cache: hit
    QMap<QString, quint64> statusCounts; // "200", "503", "network", "timeout", "aborted"
    QMap<QString, quint64> hitsByTier;
    double p50 = 0;
    double p99 = 0;
    QList<Tier> tiers;

    double throughput() const { return elapsedSeconds > 0 ? double(completed) / elapsedSeconds : 0; }
    double hitRate() const { return ok > 0 ? double(hits) / double(ok) : 0; }

    // Line-oriented "key fields..." text, stable for scripts and tests:
    //   requests sent=N completed=N ok=N errors=N dropped=N
    //   throughput_rps X
    //   status 200=N 503=N
    //   hits total=N hit_rate=X L0=N L0.5=N
    //   latency_ms all n=N p50=X p99=X
    //   latency_ms <tier> n=N p50=X p99=X
    QString toText() const;
};

} // namespace l0l3
