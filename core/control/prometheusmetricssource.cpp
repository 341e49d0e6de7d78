#include "core/control/prometheusmetricssource.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QRegularExpression>
#include <QUrlQuery>

#include <cmath>
#include <map>
#include <memory>

namespace l0l3 {

namespace {

// PromQL durations as used here: 30s, 1m, 1m30s, 2h, 500ms.
double durationSeconds(const QString &d)
{
    static const QRegularExpression part(QStringLiteral("(\\d+(?:\\.\\d+)?)(ms|s|m|h|d|w|y)"));
    double total = 0;
    auto it = part.globalMatch(d);
    while (it.hasNext()) {
        const auto m = it.next();
        const double v = m.captured(1).toDouble();
        const QString unit = m.captured(2);
        if (unit == QLatin1String("ms"))
            total += v / 1000;
        else if (unit == QLatin1String("s"))
            total += v;
        else if (unit == QLatin1String("m"))
            total += v * 60;
        else if (unit == QLatin1String("h"))
            total += v * 3600;
        else if (unit == QLatin1String("d"))
            total += v * 86400;
        else if (unit == QLatin1String("w"))
            total += v * 7 * 86400;
        else
            total += v * 365 * 86400;
    }
    return total;
}

double promValue(const QJsonValue &v)
{
    // Prometheus sends sample values as strings: "1.5", "NaN", "+Inf".
    const QString s = v.toString();
    if (s == QLatin1String("NaN"))
        return qQNaN();
    if (s == QLatin1String("+Inf"))
        return qInf();
    if (s == QLatin1String("-Inf"))
        return -qInf();
    return s.toDouble();
}

} // namespace

PrometheusMetricsSource::PrometheusMetricsSource(const QUrl &baseUrl, QObject *parent)
    : MetricsSource(parent)
    , m_network(new QNetworkAccessManager(this))
    , m_base(baseUrl)
{
}

QStringList PrometheusMetricsSource::queries() const
{
    const QString w = m_window;
    const QString buckets =
        QStringLiteral("sum by (le, region) (rate(l0l3_request_duration_seconds_bucket[%1]))").arg(w);
    return {
        QStringLiteral("sum by (region, tier, outcome) (rate(l0l3_requests_total[%1]))").arg(w),
        QStringLiteral("histogram_quantile(0.5, %1)").arg(buckets),
        QStringLiteral("histogram_quantile(0.99, %1)").arg(buckets),
        QStringLiteral("max by (region, state) (l0l3_degradation_state)"),
        QStringLiteral("count by (region) (l0l3_draining)"),
        QStringLiteral("max by (region) (l0l3_replication_lag_seconds)"),
    };
}

void PrometheusMetricsSource::runAll(const QString &path, const QList<QPair<QString, QString>> &extraParams,
                                     Results done)
{
    const QStringList qs = queries();
    struct Acc
    {
        QList<QJsonArray> results;
        int remaining = 0;
        QString error;
    };
    auto acc = std::make_shared<Acc>();
    acc->results.resize(qs.size());
    acc->remaining = int(qs.size());
    QUrl url = m_base;
    QString basePath = url.path();
    while (basePath.endsWith(QLatin1Char('/')))
        basePath.chop(1);
    url.setPath(basePath + path);
    for (qsizetype i = 0; i < qs.size(); ++i) {
        QUrlQuery form;
        form.addQueryItem(QStringLiteral("query"), qs[i]);
        for (const auto &p : extraParams)
            form.addQueryItem(p.first, p.second);
        QNetworkRequest request(url);
        request.setTransferTimeout(m_timeoutMs);
        request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/x-www-form-urlencoded"));
        // POST keeps long expressions out of the URL; the API accepts both.
        QNetworkReply *reply = m_network->post(request, form.toString(QUrl::FullyEncoded).toUtf8());
        connect(reply, &QNetworkReply::finished, this, [reply, acc, i, done, url] {
            reply->deleteLater();
            const QByteArray body = reply->readAll();
            const QJsonObject o = QJsonDocument::fromJson(body).object();
            if (o.value(QLatin1String("status")).toString() != QLatin1String("success")) {
                if (acc->error.isEmpty()) {
                    acc->error = o.contains(QLatin1String("error"))
                        ? QStringLiteral("Prometheus: %1").arg(o.value(QLatin1String("error")).toString())
                        : QStringLiteral("Prometheus at %1: %2").arg(url.toString(), reply->errorString());
                }
            } else {
                acc->results[i] = o.value(QLatin1String("data")).toObject().value(QLatin1String("result")).toArray();
            }
            if (--acc->remaining == 0)
                done(acc->results, acc->error);
        });
    }
}

void PrometheusMetricsSource::refresh()
{
    if (m_busy)
        return;
    m_busy = true;
    const double window = durationSeconds(m_window);
    // One evaluation time for every query, so their samples line up.
    const QString at = QString::number(QDateTime::currentMSecsSinceEpoch() / 1000.0, 'f', 3);
    runAll(QStringLiteral("/api/v1/query"), {{QStringLiteral("time"), at}},
           [this, window](const QList<QJsonArray> &results, const QString &error) {
               m_busy = false;
               if (!error.isEmpty()) {
                   MetricsSnapshot s;
                   s.timestamp = QDateTime::currentDateTimeUtc();
                   s.error = error;
                   emit snapshotReady(s);
                   return;
               }
               const QList<MetricsSnapshot> snaps = assemble(results, false, window);
               MetricsSnapshot s = snaps.isEmpty() ? MetricsSnapshot{} : snaps.first();
               if (!s.timestamp.isValid())
                   s.timestamp = QDateTime::currentDateTimeUtc();
               emit snapshotReady(s);
           });
}

void PrometheusMetricsSource::fetchHistory(const QDateTime &from, const QDateTime &to, int stepSeconds)
{
    const double window = durationSeconds(m_window);
    const QList<QPair<QString, QString>> params{
        {QStringLiteral("start"), QString::number(from.toMSecsSinceEpoch() / 1000.0, 'f', 3)},
        {QStringLiteral("end"), QString::number(to.toMSecsSinceEpoch() / 1000.0, 'f', 3)},
        {QStringLiteral("step"), QString::number(qMax(1, stepSeconds))},
    };
    runAll(QStringLiteral("/api/v1/query_range"), params,
           [this, window](const QList<QJsonArray> &results, const QString &error) {
               if (!error.isEmpty()) {
                   MetricsSnapshot s;
                   s.timestamp = QDateTime::currentDateTimeUtc();
                   s.error = error;
                   emit historyReady({s});
                   return;
               }
               emit historyReady(assemble(results, true, window));
           });
}

QList<MetricsSnapshot> PrometheusMetricsSource::assemble(const QList<QJsonArray> &results, bool range,
                                                         double windowSeconds)
{
    struct Acc
    {
        RegionMetrics m;
        RequestTally requests;
        int worst = -1;
        bool seen = false;
    };
    // timestamp (ms) -> region -> accumulator
    std::map<qint64, std::map<QString, Acc>> byTime;
    auto forEachPoint = [range](const QJsonArray &series, auto fn) {
        for (const QJsonValue &item : series) {
            const QJsonObject o = item.toObject();
            const QJsonObject metric = o.value(QLatin1String("metric")).toObject();
            auto one = [&](const QJsonArray &point) {
                const qint64 ms = qint64(point.at(0).toDouble() * 1000.0 + 0.5);
                fn(metric, ms, promValue(point.at(1)));
            };
            if (range) {
                for (const QJsonValue &p : o.value(QLatin1String("values")).toArray())
                    one(p.toArray());
            } else {
                one(o.value(QLatin1String("value")).toArray());
            }
        }
    };
    auto accFor = [&byTime, windowSeconds](qint64 ms, const QJsonObject &metric) -> Acc & {
        const QString region = metric.value(QLatin1String("region")).toString(QStringLiteral("unknown"));
        Acc &a = byTime[ms][region];
        a.m.region = region;
        a.m.windowSeconds = windowSeconds;
        return a;
    };

    forEachPoint(results.value(0), [&](const QJsonObject &metric, qint64 ms, double v) {
        Acc &a = accFor(ms, metric);
        if (std::isnan(v) || v <= 0)
            return;
        a.requests.add(metric.value(QLatin1String("tier")).toString(),
                       metric.value(QLatin1String("outcome")).toString(), v);
    });
    forEachPoint(results.value(1),
                 [&](const QJsonObject &metric, qint64 ms, double v) { accFor(ms, metric).m.p50Ms = v * 1000.0; });
    forEachPoint(results.value(2),
                 [&](const QJsonObject &metric, qint64 ms, double v) { accFor(ms, metric).m.p99Ms = v * 1000.0; });
    forEachPoint(results.value(3), [&](const QJsonObject &metric, qint64 ms, double v) {
        Acc &a = accFor(ms, metric);
        const QString state = metric.value(QLatin1String("state")).toString();
        const int sev = degradationSeverity(state);
        if (v > 0.5 && sev > a.worst) {
            a.worst = sev;
            a.m.degradationState = state;
        }
    });
    forEachPoint(results.value(4), [&](const QJsonObject &metric, qint64 ms, double v) {
        Acc &a = accFor(ms, metric);
        a.m.gatewaysUp = int(v);
        a.m.up = v >= 1;
    });
    forEachPoint(results.value(5), [&](const QJsonObject &metric, qint64 ms, double v) {
        if (std::isfinite(v) && v >= 0)
            accFor(ms, metric).m.replicationLagMs = v * 1000.0;
    });

    QList<MetricsSnapshot> out;
    for (auto &[ms, regions] : byTime) {
        MetricsSnapshot s;
        s.timestamp = QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC);
        for (auto &[name, a] : regions) {
            a.m.rps = a.requests.total;
            a.requests.applyTo(a.m);
            if (!a.m.up)
                a.m.degradationState = QStringLiteral("offline");
            s.regions.append(a.m);
        }
        out.append(s);
    }
    return out;
}

} // namespace l0l3
