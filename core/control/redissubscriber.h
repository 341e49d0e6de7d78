#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>
#include <QTimer>

#include <memory>

#include "core/control/redistls.h"

class QSslSocket;
struct redisReader;

namespace l0l3 {

// A Redis pub/sub connection (RESP2 SUBSCRIBE), kept open with reconnects.
//
// RedisConnection matches one reply to one command, which pub/sub breaks
// (a subscribed link pushes messages forever), so subscriptions get their own
// small connection: a QSslSocket (asynchronous connect and DNS; plain TCP, or
// TLS when tls.enabled, verified as RedisConnection does) with hiredis' RESP
// reader for parsing. A message still incomplete after maxReplyBytes drops
// the link.
//
// Thread affinity: lives and signals on the thread that owns it.
class RedisSubscriber : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString host = QStringLiteral("127.0.0.1");
        int port = 6379;
        QByteArray user;     // empty: AUTH password only (if a password is set)
        QByteArray password; // empty: no AUTH
        int reconnectMinMs = 100;
        int reconnectMaxMs = 5000;
        int connectTimeoutMs = 5000;
        qint64 maxReplyBytes = qint64(64) << 20;
        RedisTls tls;
    };

    RedisSubscriber(const Options &options, const QList<QByteArray> &channels, QObject *parent = nullptr);
    ~RedisSubscriber() override;

    const Options &options() const { return m_options; }
    // Connects, authenticates and subscribes; reconnects until close().
    void open();
    void close();
    // True once every channel's subscribe confirmation arrived on the current link.
    bool isSubscribed() const { return m_subscribed; }

signals:
    void subscribed();
    void message(const QByteArray &channel, const QByteArray &payload);
    void disconnected(const QString &reason);

private:
    void onConnected();
    void onSocketError();
    void onReadyRead();
    void onLinkLost(const QString &reason);
    void scheduleReconnect();
    void send(const QList<QByteArray> &argv);

    Options m_options;
    QList<QByteArray> m_channels;
    QSslSocket *m_socket = nullptr;
    QString m_tlsFailure;
    std::unique_ptr<redisReader, void (*)(redisReader *)> m_reader;
    QTimer m_reconnectTimer;
    QTimer m_connectTimer;
    bool m_wantOpen = false;
    bool m_subscribed = false;
    int m_confirmed = 0;
    int m_authPending = 0;
    int m_attempt = 0;
};

} // namespace l0l3
