#include "core/localstack/trafficgenerator.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>

#include <algorithm>
#include <cmath>

namespace l0l3 {

namespace {

// QNetworkAccessManager opens at most six HTTP/1.1 connections per host and
// queues the rest; each manager has its own pool, so concurrency needs
// concurrency / 6 managers to stay open loop.
constexpr int kConnectionsPerManager = 6;

} // namespace

TrafficGenerator::TrafficGenerator(Dataset dataset, TrafficOptions options, QObject *parent)
    : QObject(parent)
    , m_dataset(std::move(dataset))
    , m_options(std::move(options))
    , m_rng(m_options.seed)
    , m_hit(size_t(m_dataset.intents().size()), false)
{
    m_options.concurrency = std::max(1, m_options.concurrency);
    const int managers = (m_options.concurrency + kConnectionsPerManager - 1) / kConnectionsPerManager;
    for (int i = 0; i < managers; ++i) {
        auto manager = std::make_unique<QNetworkAccessManager>();
        manager->setAutoDeleteReplies(false);
        m_managers.push_back(std::move(manager));
    }
    for (const TrafficTarget &target : std::as_const(m_options.targets))
        m_urls.append(chatCompletionsUrl(target.url));

    m_arrivalTimer.setTimerType(Qt::PreciseTimer);
    m_arrivalTimer.setInterval(5);
    connect(&m_arrivalTimer, &QTimer::timeout, this, &TrafficGenerator::tick);
    m_drainTimer.setSingleShot(true);
    connect(&m_drainTimer, &QTimer::timeout, this, [this] {
        // Aborting emits finished() on each reply, which counts it and may finish().
        const QList<QNetworkReply *> pending = m_inFlight;
        for (QNetworkReply *reply : pending)
            reply->abort();
        finish();
    });
}

TrafficGenerator::~TrafficGenerator()
{
    for (QNetworkReply *reply : std::as_const(m_inFlight)) {
        reply->disconnect(this);
        reply->abort();
        delete reply;
    }
}

QUrl TrafficGenerator::chatCompletionsUrl(const QUrl &base)
{
    QUrl url = base;
    QString path = url.path();
    while (path.endsWith(QLatin1Char('/')))
        path.chop(1);
    if (path.isEmpty())
        path = QStringLiteral("/v1/chat/completions");
    else if (path.endsWith(QLatin1String("/v1")))
        path += QStringLiteral("/chat/completions");
    url.setPath(path);
    return url;
}

void TrafficGenerator::start()
{
    if (m_running || m_urls.isEmpty())
        return;
    m_running = true;
    m_draining = false;
    m_stoppedAt = -1;
    m_clock.start();
    m_nextArrival = nextGapSeconds();
    m_arrivalTimer.start();
}

void TrafficGenerator::stop()
{
    if (m_running && !m_draining)
        beginDrain();
}

void TrafficGenerator::setRate(double rate)
{
    m_options.rate = std::max(0.0, rate);
    if (m_running)
        m_nextArrival = m_clock.nsecsElapsed() / 1e9 + nextGapSeconds();
}

double TrafficGenerator::nextGapSeconds()
{
    if (m_options.rate <= 0)
        return 3600;
    std::exponential_distribution<double> gap(m_options.rate);
    return gap(m_rng);
}

void TrafficGenerator::tick()
{
    const double now = m_clock.nsecsElapsed() / 1e9;
    if (m_options.durationSeconds > 0 && now >= m_options.durationSeconds) {
        beginDrain();
        return;
    }
    // After a stall (a busy event loop) send at most one second's worth at
    // once rather than a burst of everything that was due.
    const double oldest = now - 1.0;
    if (m_nextArrival < oldest)
        m_nextArrival = oldest;
    int budget = std::max(1, int(std::ceil(m_options.rate)));
    while (m_nextArrival <= now && budget-- > 0) {
        sendOne();
        m_nextArrival += nextGapSeconds();
    }
}

int TrafficGenerator::pickIntent(const QString &region)
{
    auto it = m_intentPickers.find(region);
    if (it == m_intentPickers.end()) {
        std::vector<double> weights;
        for (const DatasetIntent &intent : m_dataset.intents())
            weights.push_back(intent.weightIn(region));
        if (std::all_of(weights.begin(), weights.end(), [](double w) { return w <= 0; }))
            std::fill(weights.begin(), weights.end(), 1.0);
        it = m_intentPickers.insert(region, std::discrete_distribution<int>(weights.begin(), weights.end()));
    }
    return it.value()(m_rng);
}

bool TrafficGenerator::heldBack(int intent) const
{
    return m_options.stageParaphrases && m_dataset.intents().at(intent).staged && !m_hit.at(size_t(intent));
}

void TrafficGenerator::sendOne()
{
    if (m_inFlight.size() >= m_options.concurrency) {
        ++m_counts.dropped;
        return;
    }
    const quint64 slot = m_next++;
    const qsizetype targetIndex = qsizetype(slot % quint64(m_urls.size()));
    const int intentIndex = pickIntent(m_options.targets.at(targetIndex).region);
    const DatasetIntent &intent = m_dataset.intents().at(intentIndex);
    QString prompt = intent.paraphrases.first();
    if (!heldBack(intentIndex)) {
        std::uniform_int_distribution<qsizetype> pickParaphrase(0, intent.paraphrases.size() - 1);
        prompt = intent.paraphrases.at(pickParaphrase(m_rng));
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const bool stream = m_options.streamFraction > 0 && unit(m_rng) < m_options.streamFraction;

    const QJsonObject body{
        {QStringLiteral("model"), m_dataset.model()},
        {QStringLiteral("messages"),
         QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("system")},
                                {QStringLiteral("content"), m_dataset.systemPrompt()}},
                    QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                {QStringLiteral("content"), prompt}}}},
        {QStringLiteral("stream"), stream},
    };

    QNetworkRequest request(m_urls.at(targetIndex));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    if (!m_options.apiKey.isEmpty())
        request.setRawHeader("Authorization", "Bearer " + m_options.apiKey.toUtf8());
    request.setTransferTimeout(m_options.requestTimeoutMs);
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);

    QNetworkAccessManager *manager = m_managers.at(size_t(slot % m_managers.size())).get();
    const qint64 startedNs = m_clock.nsecsElapsed();
    QNetworkReply *reply = manager->post(request, QJsonDocument(body).toJson(QJsonDocument::Compact));
    m_inFlight.append(reply);
    ++m_counts.sent;
    connect(reply, &QNetworkReply::finished, this,
            [this, reply, startedNs, intentIndex] { onReplyFinished(reply, startedNs, intentIndex); });
}

void TrafficGenerator::onReplyFinished(QNetworkReply *reply, qint64 startedNs, int intent)
{
    m_inFlight.removeOne(reply);
    reply->deleteLater();
    ++m_counts.completed;
    const double latency = double(m_clock.nsecsElapsed() - startedNs) / 1e9;
    const QVariant statusAttr = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (!statusAttr.isValid()) {
        ++m_counts.errors;
        QString what = QStringLiteral("network");
        if (reply->error() == QNetworkReply::OperationCanceledError)
            what = m_draining ? QStringLiteral("aborted") : QStringLiteral("timeout");
        else if (reply->error() == QNetworkReply::TimeoutError)
            what = QStringLiteral("timeout");
        ++m_counts.statusCounts[what];
    } else {
        const int status = statusAttr.toInt();
        ++m_counts.statusCounts[QString::number(status)];
        if (status >= 200 && status < 300) {
            ++m_counts.ok;
            QString tier = QString::fromLatin1(reply->rawHeader("x-l0l3-tier")).trimmed();
            if (tier.isEmpty())
                tier = QStringLiteral("none");
            m_all.record(latency);
            auto &histogram = m_byTier[tier];
            if (!histogram)
                histogram = std::make_unique<LatencyHistogram>();
            histogram->record(latency);
            if (reply->rawHeader("x-l0l3-cache").trimmed().compare("hit", Qt::CaseInsensitive) == 0) {
                ++m_counts.hits;
                ++m_counts.hitsByTier[tier];
                m_hit[size_t(intent)] = true;
            }
        } else {
            ++m_counts.errors;
        }
    }
    if (m_draining && m_inFlight.isEmpty())
        finish();
}

void TrafficGenerator::beginDrain()
{
    m_arrivalTimer.stop();
    m_draining = true;
    m_stoppedAt = m_clock.nsecsElapsed() / 1e9;
    if (m_inFlight.isEmpty())
        QTimer::singleShot(0, this, &TrafficGenerator::finish);
    else
        m_drainTimer.start(m_options.drainTimeoutMs);
}

void TrafficGenerator::finish()
{
    if (!m_running)
        return;
    m_drainTimer.stop();
    m_running = false;
    m_counts.elapsedSeconds = m_clock.nsecsElapsed() / 1e9;
    emit finished();
}

TrafficSummary TrafficGenerator::summary() const
{
    TrafficSummary s = m_counts;
    if (m_running)
        s.elapsedSeconds = m_clock.isValid() ? m_clock.nsecsElapsed() / 1e9 : 0;
    s.p50 = m_all.quantile(0.5);
    s.p99 = m_all.quantile(0.99);
    for (const auto &[tier, histogram] : m_byTier)
        s.tiers.append({tier, histogram->count(), histogram->quantile(0.5), histogram->quantile(0.99)});
    return s;
}

} // namespace l0l3
