#include "core/control/redissubscriber.h"

#include <QSslSocket>

#include <vector>

#include <hiredis/hiredis.h>

#include "core/control/redisreply.h"

namespace l0l3 {

RedisSubscriber::RedisSubscriber(const Options &options, const QList<QByteArray> &channels, QObject *parent)
    : QObject(parent)
    , m_options(options)
    , m_channels(channels)
    , m_reader(nullptr, &redisReaderFree)
    , m_reconnectTimer(this)
    , m_connectTimer(this)
{
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &RedisSubscriber::open);
    m_connectTimer.setSingleShot(true);
    connect(&m_connectTimer, &QTimer::timeout, this, [this] {
        onLinkLost(QStringLiteral("timeout connecting to %1:%2").arg(m_options.host).arg(m_options.port));
    });
}

RedisSubscriber::~RedisSubscriber()
{
    m_wantOpen = false;
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void RedisSubscriber::open()
{
    m_wantOpen = true;
    m_reconnectTimer.stop();
    if (m_socket)
        return;
    m_subscribed = false;
    m_confirmed = 0;
    m_authPending = 0;
    m_tlsFailure.clear();
    m_reader.reset(redisReaderCreate());
    auto *socket = new QSslSocket(this);
    QString why;
    if (m_options.tls.enabled && !m_options.tls.configure(*socket, &why)) {
        delete socket;
        emit disconnected(why);
        scheduleReconnect();
        return;
    }
    m_socket = socket;
    if (m_options.tls.enabled)
        connect(m_socket, &QSslSocket::encrypted, this, &RedisSubscriber::onConnected);
    else
        connect(m_socket, &QSslSocket::connected, this, &RedisSubscriber::onConnected);
    connect(m_socket, &QSslSocket::sslErrors, this, [this](const QList<QSslError> &errors) {
        m_tlsFailure = RedisTls::verificationFailure(m_options.host, m_options.port, errors);
    });
    connect(m_socket, &QSslSocket::readyRead, this, &RedisSubscriber::onReadyRead);
    connect(m_socket, &QSslSocket::disconnected, this, [this] {
        onLinkLost(QStringLiteral("connection to %1:%2 closed").arg(m_options.host).arg(m_options.port));
    });
    connect(m_socket, &QSslSocket::errorOccurred, this, &RedisSubscriber::onSocketError);
    m_connectTimer.start(m_options.connectTimeoutMs);
    if (m_options.tls.enabled)
        m_socket->connectToHostEncrypted(m_options.host, quint16(m_options.port));
    else
        m_socket->connectToHost(m_options.host, quint16(m_options.port));
}

void RedisSubscriber::onSocketError()
{
    if (!m_socket)
        return;
    onLinkLost(m_tlsFailure.isEmpty()
                   ? QStringLiteral("%1:%2: %3").arg(m_options.host).arg(m_options.port).arg(m_socket->errorString())
                   : m_tlsFailure);
}

void RedisSubscriber::close()
{
    m_wantOpen = false;
    m_reconnectTimer.stop();
    m_connectTimer.stop();
    if (m_socket) {
        QSslSocket *s = m_socket;
        m_socket = nullptr;
        s->disconnect(this);
        s->abort();
        s->deleteLater();
    }
    m_subscribed = false;
}

void RedisSubscriber::send(const QList<QByteArray> &argv)
{
    std::vector<const char *> args;
    std::vector<size_t> lens;
    for (const QByteArray &a : argv) {
        args.push_back(a.constData());
        lens.push_back(size_t(a.size()));
    }
    char *cmd = nullptr;
    const int len = redisFormatCommandArgv(&cmd, int(args.size()), args.data(), lens.data());
    if (len > 0 && m_socket)
        m_socket->write(cmd, len);
    free(cmd);
}

void RedisSubscriber::onConnected()
{
    m_connectTimer.stop();
    if (!m_options.password.isEmpty()) {
        m_authPending = 1;
        if (m_options.user.isEmpty())
            send({QByteArrayLiteral("AUTH"), m_options.password});
        else
            send({QByteArrayLiteral("AUTH"), m_options.user, m_options.password});
    }
    QList<QByteArray> argv{QByteArrayLiteral("SUBSCRIBE")};
    argv.append(m_channels);
    send(argv);
}

void RedisSubscriber::onReadyRead()
{
    if (!m_socket || !m_reader)
        return;
    const QByteArray data = m_socket->readAll();
    if (redisReaderFeed(m_reader.get(), data.constData(), size_t(data.size())) != REDIS_OK) {
        onLinkLost(QStringLiteral("protocol error from %1:%2").arg(m_options.host).arg(m_options.port));
        return;
    }
    // Bytes the reader holds beyond the replies parsed below belong to one
    // message still coming; bounded before parsing, so a complete reply is
    // never refused for what followed it.
    const auto unparsedBytes = [this] { return m_reader ? qint64(m_reader->len - m_reader->pos) : 0; };
    // A receiver may close() us from a signal; stop parsing then.
    while (m_socket && m_reader) {
        void *raw = nullptr;
        if (redisReaderGetReply(m_reader.get(), &raw) != REDIS_OK) {
            onLinkLost(QStringLiteral("protocol error from %1:%2").arg(m_options.host).arg(m_options.port));
            return;
        }
        if (!raw) {
            if (unparsedBytes() > m_options.maxReplyBytes)
                onLinkLost(QStringLiteral("a message from %1:%2 is larger than %3 bytes")
                               .arg(m_options.host)
                               .arg(m_options.port)
                               .arg(m_options.maxReplyBytes));
            break;
        }
        const RedisReply reply = RedisReply::fromHiredis(static_cast<redisReply *>(raw));
        freeReplyObject(raw);
        if (m_authPending > 0) {
            --m_authPending;
            if (reply.isError()) {
                onLinkLost(QStringLiteral("AUTH failed on %1:%2: %3")
                               .arg(m_options.host)
                               .arg(m_options.port)
                               .arg(reply.errorMessage()));
                return;
            }
            continue;
        }
        if (reply.isError()) {
            onLinkLost(QStringLiteral("SUBSCRIBE failed on %1:%2: %3")
                           .arg(m_options.host)
                           .arg(m_options.port)
                           .arg(reply.errorMessage()));
            return;
        }
        if (!reply.isArray() || reply.elements.size() < 3)
            continue;
        const QByteArray kind = reply.elements[0].str.toLower();
        if (kind == "subscribe") {
            if (++m_confirmed == m_channels.size()) {
                m_subscribed = true;
                m_attempt = 0;
                emit subscribed();
            }
        } else if (kind == "message") {
            emit message(reply.elements[1].str, reply.elements[2].str);
        }
    }
}

void RedisSubscriber::onLinkLost(const QString &reason)
{
    if (!m_socket)
        return;
    m_connectTimer.stop();
    QSslSocket *s = m_socket;
    m_socket = nullptr;
    s->disconnect(this);
    s->abort();
    s->deleteLater();
    m_subscribed = false;
    emit disconnected(reason);
    scheduleReconnect();
}

void RedisSubscriber::scheduleReconnect()
{
    if (!m_wantOpen)
        return;
    const int shift = qMin(m_attempt, 16);
    const qint64 delay = qMin<qint64>(qint64(m_options.reconnectMinMs) << shift, m_options.reconnectMaxMs);
    ++m_attempt;
    m_reconnectTimer.start(int(delay));
}

} // namespace l0l3
