#include "core/control/scrapemetricssource.h"

#include <QDateTime>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/common/histogramquantile.h"
#include "core/common/prometheusparser.h"

namespace l0l3 {

namespace {

double parseLe(const std::string &le)
{
    if (le == "+Inf" || le == "Inf" || le == "inf")
        return std::numeric_limits<double>::infinity();
    try {
        return std::stod(le);
    } catch (...) {
        return std::numeric_limits<double>::quiet_NaN();
    }
}

QString labelOf(const PromSample &s, const char *name)
{
    const auto it = s.labels.find(name);
    return it == s.labels.end() ? QString() : QString::fromStdString(it->second);
}

} // namespace

ScrapeMetricsSource::ScrapeMetricsSource(const QList<Target> &targets, QObject *parent)
    : MetricsSource(parent)
    , m_network(new QNetworkAccessManager(this))
{
    m_clock.start();
    setTargets(targets);
}

ScrapeMetricsSource::~ScrapeMetricsSource() = default;

void ScrapeMetricsSource::setTargets(const QList<Target> &targets)
{
    ++m_tick; // replies of a running tick no longer match
    m_outstanding = 0;
    // A gateway that stays keeps its history, so its rates do not restart.
    std::vector<Gateway> previous = std::move(m_gateways);
    m_gateways.clear();
    for (const Target &t : targets) {
        const auto kept = std::find_if(previous.begin(), previous.end(), [&t](const Gateway &g) {
            return g.target.url == t.url && g.target.region == t.region;
        });
        if (kept != previous.end()) {
            m_gateways.push_back(std::move(*kept));
            previous.erase(kept);
            continue;
        }
        Gateway g;
        g.target = t;
        g.region = t.region;
        m_gateways.push_back(std::move(g));
    }
}

void ScrapeMetricsSource::refresh()
{
    if (m_outstanding > 0)
        return;
    const quint64 tick = ++m_tick;
    m_tickStartedMs = m_clock.elapsed();
    if (m_gateways.empty()) {
        finishTick();
        return;
    }
    m_outstanding = int(m_gateways.size());
    startRequests(0, tick);
}

// Creating a request costs QNAM some work; a big fleet is started in small
// batches so the thread's event loop (and the replies already arriving) keep running.
void ScrapeMetricsSource::startRequests(std::size_t from, quint64 tick)
{
    if (tick != m_tick)
        return;
    constexpr std::size_t kBatch = 8;
    const std::size_t end = std::min(m_gateways.size(), from + kBatch);
    for (std::size_t i = from; i < end; ++i) {
        QNetworkRequest request(m_gateways[i].target.url);
        request.setTransferTimeout(m_scrapeTimeoutMs);
        request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
        request.setRawHeader("Accept", "text/plain;version=0.0.4");
        QNetworkReply *reply = m_network->get(request);
        connect(reply, &QNetworkReply::finished, this, [this, i, reply, tick] { onReply(i, reply, tick); });
    }
    if (end < m_gateways.size())
        QTimer::singleShot(0, this, [this, end, tick] { startRequests(end, tick); });
}

void ScrapeMetricsSource::onReply(std::size_t index, QNetworkReply *reply, quint64 tick)
{
    reply->deleteLater();
    if (tick != m_tick || index >= m_gateways.size())
        return;
    Gateway &g = m_gateways[index];
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (reply->error() != QNetworkReply::NoError || status != 200) {
        g.up = false;
        g.state.clear();
        g.lagMs = qQNaN();
    } else {
        ingest(g, reply->readAll(), m_clock.elapsed());
    }
    if (--m_outstanding == 0)
        finishTick();
}

void ScrapeMetricsSource::ingest(Gateway &g, const QByteArray &body, qint64 nowMs)
{
    const auto samples = PrometheusParser::parse(std::string_view(body.constData(), std::size_t(body.size())));
    Counters c;
    c.atMs = nowMs;
    std::map<double, double> buckets;
    QString state;
    QString region;
    double lagMs = qQNaN();
    for (const PromSample &s : samples) {
        if (region.isEmpty())
            region = labelOf(s, "region");
        if (s.name == "l0l3_requests_total") {
            c.requests[{labelOf(s, "tier"), labelOf(s, "outcome")}] += s.value;
        } else if (s.name == "l0l3_request_duration_seconds_bucket") {
            const auto le = s.labels.find("le");
            if (le == s.labels.end())
                continue;
            const double bound = parseLe(le->second);
            if (!std::isnan(bound))
                buckets[bound] += s.value;
        } else if (s.name == "l0l3_degradation_state" && s.value > 0.5) {
            const QString st = labelOf(s, "state");
            if (degradationSeverity(st) > degradationSeverity(state))
                state = st;
        } else if (s.name == "l0l3_replication_lag_seconds" && std::isfinite(s.value) && s.value >= 0) {
            lagMs = s.value * 1000.0;
        }
    }
    c.buckets.assign(buckets.begin(), buckets.end());
    if (g.region.isEmpty())
        g.region = region;
    g.up = true;
    g.state = state;
    g.lagMs = lagMs;
    g.history.push_back(std::move(c));
    // Keep the newest scrape at or before the window start as the baseline.
    while (g.history.size() > 2 && g.history[1].atMs <= nowMs - m_windowMs)
        g.history.pop_front();
}

void ScrapeMetricsSource::finishTick()
{
    m_lastTickMs = m_clock.elapsed() - m_tickStartedMs;

    struct Acc
    {
        RegionMetrics m;
        RequestTally requests;
        std::map<double, double> buckets;
        int worst = -1;
    };
    std::map<QString, Acc> regions;
    MetricsSnapshot snapshot;
    for (const Gateway &g : m_gateways) {
        const QString name = g.region.isEmpty() ? QStringLiteral("unknown") : g.region;
        snapshot.gateways.append({name, g.target.url.toString(), g.up, g.up ? g.state : QString(), g.lagMs});
        Acc &a = regions[name];
        a.m.region = name;
        ++a.m.gatewaysTotal;
        if (!g.up)
            continue;
        ++a.m.gatewaysUp;
        a.m.up = true;
        if (std::isfinite(g.lagMs) && !(a.m.replicationLagMs >= g.lagMs))
            a.m.replicationLagMs = g.lagMs;
        const int sev = degradationSeverity(g.state);
        if (sev > a.worst) {
            a.worst = sev;
            a.m.degradationState = g.state;
        }
        if (g.history.size() < 2)
            continue;
        const Counters &earlier = g.history.front();
        const Counters &later = g.history.back();
        const double seconds = double(later.atMs - earlier.atMs) / 1000.0;
        if (seconds <= 0)
            continue;
        a.m.windowSeconds = std::max(a.m.windowSeconds, seconds);

        bool reset = false;
        for (const auto &[k, v] : later.requests) {
            const auto it = earlier.requests.find(k);
            if (it != earlier.requests.end() && v < it->second)
                reset = true;
        }
        double gatewayTotal = 0;
        for (const auto &[k, v] : later.requests) {
            const auto it = earlier.requests.find(k);
            const double d = (reset || it == earlier.requests.end()) ? v : v - it->second;
            if (d <= 0)
                continue;
            gatewayTotal += d;
            a.requests.add(k.first, k.second, d);
        }
        a.m.rps += gatewayTotal / seconds;

        std::vector<HistogramBucket> e, l;
        for (const auto &[le, v] : earlier.buckets)
            e.push_back({le, v});
        for (const auto &[le, v] : later.buckets)
            l.push_back({le, v});
        for (const HistogramBucket &b : HistogramQuantile::delta(e, l))
            a.buckets[b.upperBound] += b.cumulativeCount;
    }

    snapshot.timestamp = QDateTime::currentDateTimeUtc();
    for (auto &[name, a] : regions) {
        if (!a.m.up)
            a.m.degradationState = QStringLiteral("offline");
        a.requests.applyTo(a.m);
        std::vector<HistogramBucket> buckets;
        for (const auto &[le, v] : a.buckets)
            buckets.push_back({le, v});
        a.m.p50Ms = HistogramQuantile::compute(0.5, buckets) * 1000.0;
        a.m.p99Ms = HistogramQuantile::compute(0.99, buckets) * 1000.0;
        snapshot.regions.append(a.m);
    }
    emit snapshotReady(snapshot);
}

} // namespace l0l3
