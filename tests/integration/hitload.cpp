#include "tests/integration/hitload.h"

#include <QDateTime>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>

#include "tests/integration/chatwire.h"

namespace l0l3::test {

namespace {

constexpr int kRequestTimeoutMs = 5000;
constexpr int kKeptFailures = 20;

} // namespace

HitLoad::HitLoad(const QList<HitTarget> &targets, int gapMs, QObject *parent)
    : QObject(parent)
    , m_targets(targets)
    , m_gapMs(gapMs)
{
    for (qsizetype i = 0; i < targets.size(); ++i)
        m_managers.push_back(std::make_unique<QNetworkAccessManager>());
}

HitLoad::~HitLoad()
{
    m_running = false;
    // The managers abort what is in flight; onReply is not reached for a destroyed this.
    for (auto &m : m_managers)
        m->disconnect(this);
}

void HitLoad::start()
{
    if (m_running)
        return;
    m_running = true;
    for (int i = 0; i < int(m_targets.size()); ++i)
        send(i);
}

void HitLoad::stop()
{
    m_running = false;
}

void HitLoad::send(int index)
{
    if (!m_running)
        return;
    const HitTarget &t = m_targets.at(index);
    QNetworkRequest request(t.url);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    request.setTransferTimeout(kRequestTimeoutMs);
    QNetworkReply *reply = m_managers[std::size_t(index)]->post(request, t.body);
    ++m_inFlight;
    connect(reply, &QNetworkReply::finished, this, [this, index, reply] { onReply(index, reply); });
}

void HitLoad::onReply(int index, QNetworkReply *reply)
{
    reply->deleteLater();
    --m_inFlight;
    const HitTarget &t = m_targets.at(index);
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QByteArray cache = reply->rawHeader("x-l0l3-cache");
    const QByteArray tier = reply->rawHeader("x-l0l3-tier");
    const QByteArray body = reply->readAll();
    const QString content = ChatWire::completionContent(body);
    if (status == 200 && cache == "hit" && content == t.expected) {
        ++m_ok;
        ++m_okByRegion[t.region];
        ++m_tiers[QString::fromLatin1(tier)];
    } else {
        ++m_failed;
        if (m_failures.size() < kKeptFailures)
            m_failures.append(QStringLiteral("%1 %2: status %3 (%4) cache=%5 tier=%6 body=%7")
                                  .arg(QDateTime::currentDateTime().toString(QStringLiteral("hh:mm:ss.zzz")), t.region)
                                  .arg(status)
                                  .arg(reply->errorString(), QString::fromLatin1(cache), QString::fromLatin1(tier),
                                       QString::fromUtf8(body.left(200))));
    }
    if (m_running)
        QTimer::singleShot(m_gapMs, this, [this, index] { send(index); });
}

} // namespace l0l3::test
