#include "tests/support/tcpproxy.h"

#include <QHostAddress>
#include <QMetaObject>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>

#include <memory>
#include <vector>

namespace l0l3::test {

// Lives on the proxy's thread; everything below runs there.
class TcpProxy::Relay : public QObject
{
public:
    Relay(QString host, quint16 port, std::atomic<qint64> *heldBytes)
        : m_host(std::move(host))
        , m_port(port)
        , m_heldBytes(heldBytes)
    {
    }

    quint16 listen(QString *error)
    {
        m_server = new QTcpServer(this);
        QObject::connect(m_server, &QTcpServer::newConnection, this, [this] { accept(); });
        if (!m_server->listen(QHostAddress::LocalHost, 0)) {
            *error = m_server->errorString();
            return 0;
        }
        return m_server->serverPort();
    }

    void hold(const QByteArray &marker) { m_marker = marker; }

    void release()
    {
        m_marker.clear();
        for (const auto &pair : m_pairs) {
            pair->marked = false;
            if (!pair->held.isEmpty() && pair->client)
                pair->client->write(pair->held);
            pair->held.clear();
        }
        m_heldBytes->store(0);
    }

    void shutdown()
    {
        for (const auto &pair : m_pairs) {
            if (pair->client)
                pair->client->abort();
            if (pair->server)
                pair->server->abort();
        }
        m_pairs.clear();
        delete m_server;
        m_server = nullptr;
    }

private:
    struct Pair
    {
        QPointer<QTcpSocket> client;
        QPointer<QTcpSocket> server;
        QByteArray toServer; // written once the server side is connected
        QByteArray held;
        QByteArray tail; // the client's last bytes: a marker split across two reads
        bool marked = false;
    };

    void accept()
    {
        while (QTcpSocket *client = m_server->nextPendingConnection()) {
            auto pair = std::make_shared<Pair>();
            pair->client = client;
            pair->server = new QTcpSocket(this);
            client->setParent(this);
            QObject::connect(client, &QTcpSocket::readyRead, this, [this, pair] { fromClient(*pair); });
            QObject::connect(pair->server, &QTcpSocket::connected, this, [pair] {
                pair->server->write(pair->toServer);
                pair->toServer.clear();
            });
            QObject::connect(pair->server, &QTcpSocket::readyRead, this, [this, pair] { fromServer(*pair); });
            auto close = [pair] {
                if (pair->client)
                    pair->client->disconnectFromHost();
                if (pair->server)
                    pair->server->disconnectFromHost();
            };
            QObject::connect(client, &QTcpSocket::disconnected, this, close);
            QObject::connect(pair->server, &QTcpSocket::disconnected, this, close);
            QObject::connect(pair->server, &QTcpSocket::errorOccurred, this, close);
            pair->server->connectToHost(m_host, m_port);
            m_pairs.push_back(pair);
        }
    }

    void fromClient(Pair &pair)
    {
        const QByteArray data = pair.client->readAll();
        const QByteArray seen = pair.tail + data;
        if (!m_marker.isEmpty() && seen.contains(m_marker))
            pair.marked = true;
        pair.tail = seen.right(qMax<qsizetype>(0, m_marker.size() - 1));
        if (pair.server && pair.server->state() == QAbstractSocket::ConnectedState)
            pair.server->write(data);
        else
            pair.toServer += data;
    }

    void fromServer(Pair &pair)
    {
        const QByteArray data = pair.server->readAll();
        if (pair.marked && !m_marker.isEmpty()) {
            pair.held += data;
            m_heldBytes->fetch_add(data.size());
            return;
        }
        if (pair.client)
            pair.client->write(data);
    }

    QString m_host;
    quint16 m_port;
    std::atomic<qint64> *m_heldBytes;
    QTcpServer *m_server = nullptr;
    QByteArray m_marker;
    std::vector<std::shared_ptr<Pair>> m_pairs;
};

TcpProxy::TcpProxy() = default;

TcpProxy::~TcpProxy()
{
    stop();
}

bool TcpProxy::start(const QString &targetHost, quint16 targetPort, QString *error)
{
    stop();
    m_relay = new Relay(targetHost, targetPort, &m_heldBytes);
    m_relay->moveToThread(&m_thread);
    QObject::connect(&m_thread, &QThread::finished, m_relay, &QObject::deleteLater);
    m_thread.start();
    QString why;
    QMetaObject::invokeMethod(
        m_relay, [this, &why] { m_port = m_relay->listen(&why); }, Qt::BlockingQueuedConnection);
    if (m_port == 0) {
        if (error)
            *error = QStringLiteral("TcpProxy cannot listen: ") + why;
        stop();
        return false;
    }
    return true;
}

void TcpProxy::stop()
{
    if (!m_relay)
        return;
    QMetaObject::invokeMethod(
        m_relay, [relay = m_relay] { relay->shutdown(); }, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
    m_relay = nullptr; // deleted by the thread's finished signal
    m_port = 0;
    m_heldBytes.store(0);
}

void TcpProxy::holdRepliesAfter(const QByteArray &marker)
{
    QMetaObject::invokeMethod(
        m_relay, [relay = m_relay, marker] { relay->hold(marker); }, Qt::BlockingQueuedConnection);
}

void TcpProxy::release()
{
    QMetaObject::invokeMethod(
        m_relay, [relay = m_relay] { relay->release(); }, Qt::BlockingQueuedConnection);
}

} // namespace l0l3::test
