#include "app/demo/redisprobe.h"

#include <QHostAddress>

namespace l0l3 {

RedisProbe::RedisProbe(QObject *context, Callback done)
    : QObject(context)
    , m_done(std::move(done))
{
}

void RedisProbe::run(const QString &host, quint16 port, const QString &user, const QString &password,
                     const QList<Command> &commands, int timeoutMs, QObject *context, Callback done)
{
    // Parented to the context: destroying the context drops the probe and its callback.
    auto *probe = new RedisProbe(context, std::move(done));
    probe->m_expected = int(commands.size());
    probe->m_sentAuth = !user.isEmpty() || !password.isEmpty();
    QByteArray request;
    if (probe->m_sentAuth) {
        Command auth{QByteArrayLiteral("AUTH")};
        if (!user.isEmpty())
            auth.append(user.toUtf8());
        auth.append(password.toUtf8());
        request += RespReply::encodeCommand(auth);
    }
    for (const Command &command : commands)
        request += RespReply::encodeCommand(command);

    probe->m_timeout.setSingleShot(true);
    connect(&probe->m_timeout, &QTimer::timeout, probe, [probe, timeoutMs] {
        probe->finish({}, QStringLiteral("timed out after %1 ms").arg(timeoutMs));
    });
    connect(&probe->m_socket, &QTcpSocket::connected, probe, [probe, request] {
        probe->m_socket.write(request);
    });
    connect(&probe->m_socket, &QTcpSocket::readyRead, probe, &RedisProbe::onReadyRead);
    connect(&probe->m_socket, &QTcpSocket::errorOccurred, probe, [probe] {
        probe->finish({}, probe->m_socket.errorString());
    });
    probe->m_timeout.start(timeoutMs);
    probe->m_socket.connectToHost(QHostAddress(host), port);
}

void RedisProbe::onReadyRead()
{
    m_buffer += m_socket.readAll();
    qsizetype pos = 0;
    for (;;) {
        RespReply reply;
        bool malformed = false;
        if (!RespReply::parse(m_buffer, &pos, &reply, &malformed)) {
            if (malformed)
                return finish({}, QStringLiteral("malformed reply"));
            break;
        }
        if (m_sentAuth && !m_authenticated) {
            if (reply.isError())
                return finish({}, QStringLiteral("AUTH failed: ") + QString::fromUtf8(reply.text));
            m_authenticated = true;
            continue;
        }
        m_replies.append(reply);
        if (m_replies.size() == m_expected)
            return finish(m_replies, {});
    }
    m_buffer.remove(0, pos);
}

void RedisProbe::finish(const QList<RespReply> &replies, const QString &error)
{
    if (!m_done)
        return;
    Callback done = std::move(m_done);
    m_done = nullptr;
    m_timeout.stop();
    m_socket.disconnect(this);
    m_socket.abort();
    deleteLater();
    done(replies, error);
}

} // namespace l0l3
