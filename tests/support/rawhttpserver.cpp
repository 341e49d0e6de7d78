#include "tests/support/rawhttpserver.h"

#include <QTcpSocket>

namespace l0l3::test {

RawHttpServer::RawHttpServer(QByteArray response, Options options)
    : m_response(std::move(response))
    , m_options(options)
{
    m_server.listen(QHostAddress::LocalHost, 0);
    QObject::connect(&m_server, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket *client = m_server.nextPendingConnection()) {
            if (m_options.sendBufferBytes > 0)
                client->setSocketOption(QAbstractSocket::SendBufferSizeSocketOption, m_options.sendBufferBytes);
            QObject::connect(client, &QTcpSocket::readyRead, client, [this, client] {
                m_received[client] += client->readAll();
                if (m_received[client].contains("\r\n\r\n") && !m_answered.contains(client)) {
                    m_answered.insert(client);
                    ++m_requests;
                    client->write(m_response);
                    if (m_options.closeAfterResponse)
                        client->disconnectFromHost();
                }
            });
            QObject::connect(client, &QTcpSocket::bytesWritten, this, [this](qint64 n) { m_sent += n; });
            QObject::connect(client, &QTcpSocket::disconnected, this, [this, client] {
                m_received.remove(client);
                m_answered.remove(client);
                client->deleteLater();
            });
        }
    });
}

RawHttpServer::~RawHttpServer()
{
    m_server.close();
    const QList<QTcpSocket *> clients = m_received.keys() + QList<QTcpSocket *>(m_answered.cbegin(), m_answered.cend());
    for (QTcpSocket *client : findChildren<QTcpSocket *>() + m_server.findChildren<QTcpSocket *>() + clients)
        QObject::disconnect(client, nullptr, this, nullptr);
}

qint64 RawHttpServer::bytesUnsent() const
{
    qint64 unsent = 0;
    for (QTcpSocket *client : m_answered)
        unsent += client->bytesToWrite();
    return unsent;
}

} // namespace l0l3::test
