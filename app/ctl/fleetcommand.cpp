#include "app/ctl/fleetcommand.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QTimer>
#include <QUrl>

#include <cmath>
#include <cstdio>
#include <map>

#include "app/ctl/ctloutput.h"
#include "core/common/histogramquantile.h"
#include "core/common/prometheusparser.h"
#include "core/common/visibletext.h"

namespace l0l3 {

namespace {

// A gateway's /metrics is a few tens of KiB; anything past this is not read.
constexpr qint64 kMaxMetricsBytes = 4 << 20;
// Sentinel's answer: discovery first (it admits the Sentinels), then the topology.
constexpr int kSentinelTimeoutMs = 8000;

QJsonValue number(double v)
{
    return std::isfinite(v) ? QJsonValue(v) : QJsonValue(QJsonValue::Null);
}

QString show(double v, int decimals, const QString &unit = {})
{
    return std::isfinite(v) ? QString::number(v, 'f', decimals) + unit : QStringLiteral("-");
}

QString ago(qint64 ms)
{
    return ms < 0 ? QStringLiteral("?") : QString::number(double(ms) / 1000.0, 'f', 1) + QStringLiteral(" s ago");
}

} // namespace

FleetCommand::FleetCommand(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_options(options)
    , m_builder(new FleetViewBuilder(connection, this))
{
}

FleetCommand::~FleetCommand() = default;

void FleetCommand::start()
{
    if (m_options.sentinels.isEmpty()) {
        buildView();
        return;
    }
    SentinelClient::Options so;
    so.masterName = m_options.masterName;
    so.sentinels = m_options.sentinels;
    // ROLE on what the Sentinels name, as the console user, only on the primary given.
    so.serverUser = m_connection->options().user;
    so.serverPassword = m_connection->options().password;
    so.serverHosts = {{m_connection->options().host, m_connection->options().port}};
    so.commandTimeoutMs = 3000;
    so.tls = m_connection->options().tls; // the Sentinels' tls-port, with the primary's CA
    m_sentinel = new SentinelClient(so, this);
    // Discovery admits the Sentinels (PING before AUTH); the topology is asked once it is over.
    auto ask = [this] {
        if (m_topologyAsked)
            return;
        m_topologyAsked = true;
        m_sentinel->refreshTopology();
    };
    connect(m_sentinel, &SentinelClient::primaryChanged, this, ask);
    connect(m_sentinel, &SentinelClient::discoveryFailed, this, ask);
    connect(m_sentinel, &SentinelClient::topologyUpdated, this, [this](const SentinelTopology &t) {
        if (m_viewStarted)
            return;
        m_topology = t;
        buildView();
    });
    QTimer::singleShot(kSentinelTimeoutMs, this, [this] {
        if (m_viewStarted)
            return;
        SentinelTopology t;
        t.error = QStringLiteral("no Sentinel answered within %1 ms").arg(kSentinelTimeoutMs);
        m_topology = t;
        buildView();
    });
    m_sentinel->start();
}

void FleetCommand::buildView()
{
    m_viewStarted = true;
    if (m_sentinel)
        m_sentinel->stop();
    if (m_topology)
        m_builder->setSentinelTopology(*m_topology);
    m_builder->build(this, [this](const FleetView &view) {
        m_view = view;
        if (!m_view.errors.isEmpty() && m_view.gateways.isEmpty() && m_view.primaryRole.isEmpty()) {
            emit done(
                1, QStringLiteral("l0l3-ctl: cannot read the fleet: %1").arg(m_view.errors.join(QStringLiteral("; "))));
            return;
        }
        if (!m_options.scrape || m_view.gateways.isEmpty()) {
            print();
            return;
        }
        m_network = new QNetworkAccessManager(this);
        m_first = QList<Scrape>(m_view.gateways.size());
        m_second = QList<Scrape>(m_view.gateways.size());
        m_scrapeErrors = QList<QString>(m_view.gateways.size());
        scrapeAll(0);
    });
}

void FleetCommand::scrapeAll(int round)
{
    m_outstanding = 0;
    for (qsizetype i = 0; i < m_view.gateways.size(); ++i) {
        // The URL is untrusted (any gateway credential may write a record): only http(s), its
        // /metrics path, no redirect followed, the body bounded.
        const QUrl base(m_view.gateways[i].record.url, QUrl::StrictMode);
        if (!base.isValid() || (base.scheme() != u"http" && base.scheme() != u"https") || base.host().isEmpty()
            || !base.userInfo().isEmpty()) {
            m_scrapeErrors[i] = QStringLiteral("not an http(s) URL");
            continue;
        }
        QUrl url = base;
        url.setPath(base.path().endsWith(u'/') ? base.path() + QStringLiteral("metrics")
                                               : base.path() + QStringLiteral("/metrics"));
        url.setQuery(QString());
        url.setFragment(QString());
        QNetworkRequest request(url);
        request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
        request.setTransferTimeout(m_options.scrapeTimeoutMs);
        QNetworkReply *reply = m_network->get(request);
        ++m_outstanding;
        connect(reply, &QNetworkReply::downloadProgress, reply, [reply](qint64 received, qint64) {
            if (received > kMaxMetricsBytes)
                reply->abort();
        });
        connect(reply, &QNetworkReply::finished, this, [this, reply, i, round] {
            QList<Scrape> &target = round == 0 ? m_first : m_second;
            reply->deleteLater();
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            if (reply->error() != QNetworkReply::NoError || status != 200) {
                m_scrapeErrors[i] = reply->error() != QNetworkReply::NoError ? reply->errorString().left(300)
                                                                             : QStringLiteral("HTTP %1").arg(status);
            } else {
                target[i] = parseMetrics(reply->read(kMaxMetricsBytes));
                if (!target[i].ok)
                    m_scrapeErrors[i] = QStringLiteral("no L0L3 metrics in the answer");
                else if (round == 1)
                    m_scrapeErrors[i].clear();
            }
            if (--m_outstanding == 0) {
                if (round == 0)
                    QTimer::singleShot(m_options.windowMs, this, [this] { scrapeAll(1); });
                else
                    print();
            }
        });
    }
    if (m_outstanding == 0) {
        if (round == 0)
            QTimer::singleShot(m_options.windowMs, this, [this] { scrapeAll(1); });
        else
            print();
    }
}

FleetCommand::Scrape FleetCommand::parseMetrics(const QByteArray &body)
{
    Scrape s;
    std::map<double, double> buckets;
    for (const PromSample &p : PrometheusParser::parse(std::string_view(body.constData(), size_t(body.size())))) {
        if (p.name == "l0l3_requests_total") {
            s.ok = true;
            if (!std::isfinite(p.value))
                continue;
            s.requests += p.value;
            auto outcome = p.labels.find("outcome");
            if (outcome != p.labels.end() && outcome->second == "hit")
                s.hits += p.value;
        } else if (p.name == "l0l3_request_duration_seconds_bucket") {
            auto le = p.labels.find("le");
            if (le == p.labels.end() || !std::isfinite(p.value))
                continue;
            const double bound = le->second == "+Inf" ? std::numeric_limits<double>::infinity()
                                                      : QByteArray::fromStdString(le->second).toDouble();
            buckets[bound] += p.value;
        } else if (p.name == "l0l3_replication_lag_seconds") {
            s.lagSeconds = p.value;
        } else if (p.name == "l0l3_degradation_state" && p.value == 1) {
            auto state = p.labels.find("state");
            if (state != p.labels.end())
                s.state = QString::fromStdString(state->second.substr(0, 32));
        }
    }
    for (const auto &[le, count] : buckets)
        s.buckets.emplace_back(le, count);
    return s;
}

FleetCommand::Live FleetCommand::live(const Scrape &first, const Scrape &second)
{
    Live l;
    l.up = second.ok;
    if (!second.ok)
        return l;
    l.state = second.state;
    l.lagSeconds = second.lagSeconds;
    std::vector<HistogramBucket> a, b;
    for (const auto &[le, c] : first.buckets)
        a.push_back({le, c});
    for (const auto &[le, c] : second.buckets)
        b.push_back({le, c});
    double requests = second.requests - first.requests;
    double hits = second.hits - first.hits;
    std::vector<HistogramBucket> window = first.ok ? HistogramQuantile::delta(a, b) : b;
    if (!first.ok || requests <= 0 || requests > second.requests) {
        // Nothing in the window (or a restart in between): what the gateway counted since it started.
        l.sinceStart = true;
        requests = second.requests;
        hits = second.hits;
        window = b;
    }
    l.requests = requests;
    if (requests > 0) {
        l.hitRate = hits / requests;
        l.p99Ms = HistogramQuantile::compute(0.99, window) * 1000.0;
    }
    return l;
}

void FleetCommand::print()
{
    QList<Live> lives;
    for (qsizetype i = 0; i < m_view.gateways.size(); ++i) {
        Live l;
        if (m_options.scrape && i < m_second.size()) {
            l = live(m_first[i], m_second[i]);
            l.error = m_scrapeErrors.value(i);
        }
        lives.append(l);
    }

    if (m_options.json) {
        QJsonArray gateways;
        for (qsizetype i = 0; i < m_view.gateways.size(); ++i) {
            const FleetGateway &g = m_view.gateways[i];
            const GatewayRecord &r = g.record;
            QJsonObject o{{QStringLiteral("instance"), r.instance},
                          {QStringLiteral("region"), r.region},
                          {QStringLiteral("url"), r.url},
                          {QStringLiteral("version"), r.version},
                          {QStringLiteral("state"), r.state},
                          {QStringLiteral("replica"), r.replica},
                          {QStringLiteral("started_ms"), r.startedMs},
                          {QStringLiteral("last_seen_ms"), r.lastSeenMs},
                          {QStringLiteral("age_ms"), g.ageMs},
                          {QStringLiteral("ttl_ms"), r.ttlMs},
                          {QStringLiteral("period_ms"), r.periodMs},
                          {QStringLiteral("stale"), g.stale},
                          {QStringLiteral("alive"), !g.stale}};
            if (m_options.scrape) {
                const Live &l = lives[i];
                o.insert(QStringLiteral("metrics"),
                         QJsonObject{{QStringLiteral("up"), l.up},
                                     {QStringLiteral("error"), l.error},
                                     {QStringLiteral("state"), l.state},
                                     {QStringLiteral("replication_lag_seconds"), number(l.lagSeconds)},
                                     {QStringLiteral("p99_ms"), number(l.p99Ms)},
                                     {QStringLiteral("hit_rate"), number(l.hitRate)},
                                     {QStringLiteral("requests"), l.requests},
                                     {QStringLiteral("window"),
                                      l.sinceStart ? QStringLiteral("since-start")
                                                   : QStringLiteral("%1ms").arg(m_options.windowMs)}});
            }
            gateways.append(o);
        }
        QJsonArray replicas;
        for (const FleetReplica &r : std::as_const(m_view.replicas))
            replicas.append(QJsonObject{{QStringLiteral("host"), r.host},
                                        {QStringLiteral("port"), r.port},
                                        {QStringLiteral("region"), r.region},
                                        {QStringLiteral("state"), r.state},
                                        {QStringLiteral("link_up"), r.linkUp},
                                        {QStringLiteral("offset"), r.offset},
                                        {QStringLiteral("offset_behind"), r.offsetBehind},
                                        {QStringLiteral("ack_lag_seconds"), r.ackLagSeconds},
                                        {QStringLiteral("sentinel_flags"), r.sentinelFlags}});
        QJsonArray sentinels;
        for (const FleetSentinel &s : std::as_const(m_view.sentinels))
            sentinels.append(QJsonObject{{QStringLiteral("host"), s.host},
                                         {QStringLiteral("port"), s.port},
                                         {QStringLiteral("run_id"), s.runId},
                                         {QStringLiteral("flags"), s.flags},
                                         {QStringLiteral("link_up"), s.linkUp},
                                         {QStringLiteral("answered"), s.answered}});
        QJsonArray regions;
        for (const FleetRegion &region : std::as_const(m_view.regions)) {
            QJsonArray gw, rep;
            for (const FleetGateway &g : region.gateways)
                gw.append(g.record.instance);
            for (const FleetReplica &r : region.replicas)
                rep.append(QStringLiteral("%1:%2").arg(r.host).arg(r.port));
            regions.append(QJsonObject{{QStringLiteral("name"), region.name},
                                       {QStringLiteral("gateways"), gw},
                                       {QStringLiteral("replicas"), rep}});
        }
        const QJsonObject doc{{QStringLiteral("primary"),
                               QJsonObject{{QStringLiteral("host"), m_view.primaryHost},
                                           {QStringLiteral("port"), m_view.primaryPort},
                                           {QStringLiteral("role"), m_view.primaryRole},
                                           {QStringLiteral("offset"), m_view.primaryOffset}}},
                              {QStringLiteral("regions"), regions},
                              {QStringLiteral("gateways"), gateways},
                              {QStringLiteral("replicas"), replicas},
                              {QStringLiteral("sentinels"), sentinels},
                              {QStringLiteral("malformed_records"), m_view.malformedRecords},
                              {QStringLiteral("errors"), QJsonArray::fromStringList(m_view.errors)},
                              {QStringLiteral("built_at_ms"), m_view.builtAtMs}};
        const QByteArray json = QJsonDocument(doc).toJson(QJsonDocument::Indented);
        CtlOutput::write(
            QString::fromStdString(VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())))));
        emit done(0, {});
        return;
    }

    QString text = QStringLiteral("primary %1:%2 (%3)\n")
                       .arg(CtlOutput::visible(m_view.primaryHost))
                       .arg(m_view.primaryPort)
                       .arg(
                           CtlOutput::visible(m_view.primaryRole.isEmpty() ? QStringLiteral("?") : m_view.primaryRole));
    text += QStringLiteral("regions: %1\n").arg(m_view.regions.size());
    for (const FleetRegion &region : std::as_const(m_view.regions))
        text += QStringLiteral("  %1: %2 gateway(s), %3 replica(s)\n")
                    .arg(CtlOutput::visible(region.name))
                    .arg(region.gateways.size())
                    .arg(region.replicas.size());
    text += QStringLiteral("gateways: %1\n").arg(m_view.gateways.size());
    for (qsizetype i = 0; i < m_view.gateways.size(); ++i) {
        const FleetGateway &g = m_view.gateways[i];
        const GatewayRecord &r = g.record;
        text += QStringLiteral("  %1  region %2  %3  v%4  state %5  last seen %6  %7\n")
                    .arg(CtlOutput::visible(r.instance), CtlOutput::visible(r.region), CtlOutput::visible(r.url),
                         CtlOutput::visible(r.version), CtlOutput::visible(r.state), ago(g.ageMs),
                         g.stale ? QStringLiteral("STALE") : QStringLiteral("alive"));
        if (m_options.scrape) {
            const Live &l = lives[i];
            if (!l.up)
                text += QStringLiteral("      metrics: unreachable (%1)\n").arg(CtlOutput::visible(l.error));
            else
                text += QStringLiteral("      metrics: state %1  p99 %2  hit rate %3  lag %4  (%5)\n")
                            .arg(CtlOutput::visible(l.state), show(l.p99Ms, 1, QStringLiteral(" ms")),
                                 show(l.hitRate * 100.0, 1, QStringLiteral(" %")),
                                 show(l.lagSeconds, 3, QStringLiteral(" s")),
                                 l.sinceStart ? QStringLiteral("since start")
                                              : QStringLiteral("last %1 ms").arg(m_options.windowMs));
        }
    }
    text += QStringLiteral("replicas: %1\n").arg(m_view.replicas.size());
    for (const FleetReplica &r : std::as_const(m_view.replicas))
        text += QStringLiteral("  %1:%2  region %3  link %4  behind %5 bytes  ack %6 s ago%7\n")
                    .arg(CtlOutput::visible(r.host))
                    .arg(r.port)
                    .arg(r.region.isEmpty() ? QStringLiteral("?") : CtlOutput::visible(r.region))
                    .arg(r.linkUp ? QStringLiteral("up") : QStringLiteral("DOWN"))
                    .arg(r.offsetBehind)
                    .arg(r.ackLagSeconds)
                    .arg(r.sentinelFlags.isEmpty()
                             ? QString()
                             : QStringLiteral("  sentinel: ") + CtlOutput::visible(r.sentinelFlags));
    text += QStringLiteral("sentinels: %1\n").arg(m_view.sentinels.size());
    for (const FleetSentinel &s : std::as_const(m_view.sentinels))
        text += QStringLiteral("  %1:%2  %3%4\n")
                    .arg(CtlOutput::visible(s.host))
                    .arg(s.port)
                    .arg(s.linkUp ? QStringLiteral("up") : QStringLiteral("DOWN"))
                    .arg(s.flags.isEmpty() ? QString() : QStringLiteral("  ") + CtlOutput::visible(s.flags));
    if (m_view.malformedRecords > 0)
        text += QStringLiteral("malformed registry records: %1\n").arg(m_view.malformedRecords);
    for (const QString &e : std::as_const(m_view.errors))
        text += QStringLiteral("error: %1\n").arg(CtlOutput::visible(e));
    CtlOutput::write(text);
    emit done(0, {});
}

} // namespace l0l3
