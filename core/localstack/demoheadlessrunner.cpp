#include "core/localstack/demoheadlessrunner.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QTextStream>

#include <cmath>
#include <limits>
#include <string>

#include "core/common/histogramquantile.h"
#include "core/common/prometheusparser.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/control/redisconnection.h"
#include "core/localstack/demostack.h"

namespace l0l3 {

namespace {

// p99 over a single second of a few requests per region is noise; five
// seconds moves quickly enough and stays readable.
constexpr qint64 kWindowMs = 5000;

bool isHit(const PromSample &sample)
{
    const auto outcome = sample.labels.find("outcome");
    if (outcome != sample.labels.end() && outcome->second == "hit")
        return true;
    const auto tier = sample.labels.find("tier");
    const bool cachedTier = tier != sample.labels.end()
        && (tier->second == "L0.5" || tier->second == "L0" || tier->second == "L1");
    const bool failed = outcome != sample.labels.end() && outcome->second.find("error") != std::string::npos;
    return cachedTier && !failed;
}

} // namespace

DemoHeadlessRunner::DemoHeadlessRunner(DemoStack *stack, QObject *parent)
    : QObject(parent)
    , m_stack(stack)
    , m_http(new QNetworkAccessManager(this))
{
    connect(&m_timer, &QTimer::timeout, this, &DemoHeadlessRunner::tick);
}

void DemoHeadlessRunner::start(int intervalMs)
{
    m_clock.start();
    m_timer.start(intervalMs);
}

void DemoHeadlessRunner::stop()
{
    m_timer.stop();
    delete m_redis; // no reconnecting to a stack that is going away
    m_redis = nullptr;
}

void DemoHeadlessRunner::tick()
{
    if (m_pending > 0)
        return; // the previous tick is still waiting for a slow gateway
    const DemoTopology topology = m_stack->topology();
    if (m_stack->state() != DemoStack::State::Ready)
        return;
    ++m_tick;
    m_status.resize(topology.regions.size());
    m_pending = int(topology.regions.size()) + 1;
    for (int i = 0; i < topology.regions.size(); ++i) {
        m_status[i].region = topology.regions.at(i).name;
        QUrl url = topology.regions.at(i).gatewayUrl;
        url.setPath(QStringLiteral("/metrics"));
        QNetworkRequest request(url);
        request.setTransferTimeout(900);
        QNetworkReply *reply = m_http->get(request);
        connect(reply, &QNetworkReply::finished, this, [this, reply, i] {
            reply->deleteLater();
            const bool ok = reply->error() == QNetworkReply::NoError;
            onMetrics(i, ok ? reply->readAll() : QByteArray(), ok);
        });
    }
    // No command is pending here (m_pending was 0), so replacing the connection drops nothing.
    if (!m_redis || m_redis->options().port != topology.primary.port) {
        delete m_redis;
        RedisConnection::Options options;
        options.host = topology.host;
        options.port = topology.primary.port;
        options.user = QByteArrayLiteral("console");
        options.password = topology.credentials.console.toUtf8();
        options.tls = topology.redisTls();
        m_redis = new RedisConnection(options, this);
        m_redis->open();
    }
    // No console runs headless: stand in for it and move the gateways' proposals from the inbox to the stream.
    m_redis->command(
        {"FCALL", QByteArray(ProposalFunction::kDrainName.data(), qsizetype(ProposalFunction::kDrainName.size())), "0",
         QByteArray::number(ProposalFunction::kDrainMax)},
        this, [](const RedisReply &) {}, 900);
    m_redis->command(
        {"XLEN", QByteArray(RedisSchema::kProposals.data(), qsizetype(RedisSchema::kProposals.size()))}, this,
        [this](const RedisReply &reply) {
            if (reply.isInteger())
                m_proposals = reply.integer;
            if (--m_pending == 0)
                maybePrint();
        },
        900);
}

void DemoHeadlessRunner::onMetrics(int regionIndex, const QByteArray &body, bool ok)
{
    RegionStatus &status = m_status[regionIndex];
    status.scraped = ok;
    if (ok) {
        const std::string region = status.region.toStdString();
        Scrape scrape;
        scrape.atMs = m_clock.elapsed();
        for (const PromSample &sample :
             PrometheusParser::parse(std::string_view(body.constData(), size_t(body.size())))) {
            const auto label = sample.labels.find("region");
            if (label != sample.labels.end() && label->second != region)
                continue;
            if (sample.name == "l0l3_requests_total") {
                scrape.requests += sample.value;
                if (isHit(sample))
                    scrape.hits += sample.value;
            } else if (sample.name == "l0l3_request_duration_seconds_bucket") {
                const auto le = sample.labels.find("le");
                if (le == sample.labels.end())
                    continue;
                const double bound = le->second == "+Inf" ? std::numeric_limits<double>::infinity()
                                                          : std::stod(le->second);
                scrape.buckets[bound] += sample.value;
            }
        }
        QList<Scrape> &history = m_history[status.region];
        history.append(scrape);
        while (history.size() > 2 && scrape.atMs - history.at(1).atMs >= kWindowMs)
            history.removeFirst();
        const Scrape &from = history.constFirst();
        status.totalRequests = scrape.requests;
        if (history.size() >= 2 && scrape.atMs > from.atMs) {
            const double seconds = double(scrape.atMs - from.atMs) / 1000.0;
            const double requests = std::max(0.0, scrape.requests - from.requests);
            status.requestsPerSecond = requests / seconds;
            status.hitRate = requests > 0 ? std::max(0.0, scrape.hits - from.hits) / requests : 0;
            std::vector<HistogramBucket> earlier;
            std::vector<HistogramBucket> later;
            for (auto it = scrape.buckets.begin(); it != scrape.buckets.end(); ++it) {
                later.push_back({it.key(), it.value()});
                earlier.push_back({it.key(), from.buckets.value(it.key(), 0)});
            }
            const double p99 = HistogramQuantile::compute(0.99, HistogramQuantile::delta(earlier, later));
            status.p99Seconds = std::isfinite(p99) ? p99 : 0;
        }
    }
    if (--m_pending == 0)
        maybePrint();
}

void DemoHeadlessRunner::maybePrint()
{
    QString line = QStringLiteral("[%1s]").arg(m_clock.elapsed() / 1000, 4);
    for (const RegionStatus &s : std::as_const(m_status)) {
        if (!s.scraped)
            line += QStringLiteral(" %1: no metrics |").arg(s.region);
        else
            line += QStringLiteral(" %1: %2 req/s hit %3% p99 %4 ms |")
                        .arg(s.region)
                        .arg(s.requestsPerSecond, 0, 'f', 1)
                        .arg(s.hitRate * 100.0, 0, 'f', 0)
                        .arg(s.p99Seconds * 1000.0, 0, 'f', 0);
    }
    line += m_proposals >= 0 ? QStringLiteral(" proposals %1").arg(m_proposals) : QStringLiteral(" proposals ?");
    if (m_print) {
        QTextStream out(stdout);
        out << line << Qt::endl;
    }
    emit statusLine(line);
}

} // namespace l0l3
