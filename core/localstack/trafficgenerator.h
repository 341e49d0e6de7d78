#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QObject>
#include <QString>
#include <QTimer>
#include <QUrl>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/common/latencyhistogram.h"
#include "core/localstack/dataset.h"
#include "core/localstack/trafficsummary.h"

class QNetworkAccessManager;
class QNetworkReply;

namespace l0l3 {

struct TrafficTarget
{
    QUrl url;       // gateway base URL; "/v1/chat/completions" is appended when the path is empty, "/" or "/v1"
    QString region; // picks the per-region intent mix; empty = global popularity only
};

struct TrafficOptions
{
    QList<TrafficTarget> targets;
    double rate = 20;           // arrivals per second across all targets (Poisson, open loop)
    double durationSeconds = 0; // 0: until stop()
    int concurrency = 64;       // arrivals beyond this many in-flight requests are dropped, not queued
    quint64 seed = 1;
    double streamFraction = 0; // share of requests with "stream": true
    QString apiKey;            // Authorization: Bearer, when set
    int requestTimeoutMs = 30000;
    int drainTimeoutMs = 10000; // after the last arrival, how long in-flight requests may finish
    // Staged intents (DatasetIntent::staged) send only their first paraphrase until a response
    // to it is a cache hit (it was approved), then any: the later paraphrases are misses next to
    // an approved entry, which shadow L1 names as their candidate (the demo).
    bool stageParaphrases = false;
};

// Open-loop traffic: a timer fires Poisson arrivals at `rate`, each one an
// OpenAI chat request for a Zipf-popular intent (weighted by the target's
// region) and a uniformly chosen paraphrase (only the first one of a staged
// intent until it was a hit, with stageParaphrases), sent round-robin over the
// targets. Responses are classified by status and x-l0l3-tier / x-l0l3-cache.
// Lives in one thread (the one it was created in).
class TrafficGenerator : public QObject
{
    Q_OBJECT
public:
    TrafficGenerator(Dataset dataset, TrafficOptions options, QObject *parent = nullptr);
    ~TrafficGenerator() override;

    // Normalises a --target URL to the chat completions endpoint.
    static QUrl chatCompletionsUrl(const QUrl &base);

    void start();
    // Stops arrivals; in-flight requests get drainTimeoutMs, then finished().
    void stop();
    void setRate(double rate);
    bool isRunning() const { return m_running; }

    TrafficSummary summary() const;

signals:
    void finished();

private:
    void tick();
    void sendOne();
    void onReplyFinished(QNetworkReply *reply, qint64 startedNs, int intent);
    void beginDrain();
    void finish();
    double nextGapSeconds();
    // An index into m_dataset.intents().
    int pickIntent(const QString &region);
    bool heldBack(int intent) const;

    Dataset m_dataset;
    TrafficOptions m_options;
    std::vector<std::unique_ptr<QNetworkAccessManager>> m_managers;
    QList<QUrl> m_urls;
    std::mt19937_64 m_rng;
    QHash<QString, std::discrete_distribution<int>> m_intentPickers;
    std::vector<bool> m_hit; // per intent: a response to it was a cache hit
    QTimer m_arrivalTimer;
    QTimer m_drainTimer;
    QElapsedTimer m_clock;
    double m_nextArrival = 0; // seconds since start
    double m_stoppedAt = -1;  // seconds since start when arrivals stopped
    bool m_running = false;
    bool m_draining = false;
    quint64 m_next = 0; // round-robin cursor over targets and managers
    QList<QNetworkReply *> m_inFlight;

    TrafficSummary m_counts; // counters only; quantiles are filled in summary()
    LatencyHistogram m_all;
    std::map<QString, std::unique_ptr<LatencyHistogram>> m_byTier;
};

} // namespace l0l3
