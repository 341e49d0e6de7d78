#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <memory>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;

namespace l0l3::test {

// One approved prompt at one gateway, and the text a hit must carry.
struct HitTarget
{
    QString region;
    QUrl url;         // the gateway's /v1/chat/completions
    QByteArray body;  // the chat request
    QString expected; // the approved response
};

// Steady closed-loop read traffic on approved keys, without blocking the event
// loop (the control plane runs in the same thread): per target, one request
// in flight, the next one gapMs after the reply. Every reply that is not a
// 200 cache hit with the expected text counts as a failed cache read.
class HitLoad : public QObject
{
    Q_OBJECT
public:
    explicit HitLoad(const QList<HitTarget> &targets, int gapMs = 5, QObject *parent = nullptr);
    ~HitLoad() override;

    void start();
    // No new requests; isIdle() once the ones in flight have answered.
    void stop();
    bool isIdle() const { return m_inFlight == 0; }

    qint64 ok() const { return m_ok; }
    qint64 failed() const { return m_failed; }
    qint64 okIn(const QString &region) const { return m_okByRegion.value(region); }
    QHash<QString, qint64> tiers() const { return m_tiers; }
    // The first few failures, described.
    QStringList failures() const { return m_failures; }

private:
    void send(int index);
    void onReply(int index, QNetworkReply *reply);

    QList<HitTarget> m_targets;
    std::vector<std::unique_ptr<QNetworkAccessManager>> m_managers;
    int m_gapMs;
    bool m_running = false;
    int m_inFlight = 0;
    qint64 m_ok = 0;
    qint64 m_failed = 0;
    QHash<QString, qint64> m_okByRegion;
    QHash<QString, qint64> m_tiers;
    QStringList m_failures;
};

} // namespace l0l3::test
