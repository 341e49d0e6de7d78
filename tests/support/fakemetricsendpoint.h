#pragma once

#include <QByteArray>
#include <QHash>
#include <QHostAddress>
#include <QTcpServer>
#include <QTcpSocket>

#include <atomic>
#include <functional>

namespace l0l3::test {

// A minimal HTTP/1.1 server on a free loopback port that answers every
// request with the current body as a Prometheus text page (or with 500 while
// failing). Lives on the thread that created it.
class FakeMetricsEndpoint : public QObject
{
public:
    explicit FakeMetricsEndpoint(QObject *parent = nullptr)
        : QObject(parent)
    {
        m_server.listen(QHostAddress::LocalHost, 0);
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *s = m_server.nextPendingConnection()) {
                connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
                connect(s, &QTcpSocket::readyRead, s, [this, s] {
                    QByteArray &buf = m_partial[s];
                    buf += s->readAll();
                    if (!buf.contains("\r\n\r\n"))
                        return;
                    m_partial.remove(s);
                    ++m_requests;
                    const QByteArray body = m_failing ? QByteArrayLiteral("boom\n")
                        : m_bodyFunction              ? m_bodyFunction(m_requests)
                                                      : m_body;
                    const QByteArray status = m_failing ? "500 Internal Server Error" : "200 OK";
                    s->write("HTTP/1.1 " + status + "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: "
                             + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
                    s->disconnectFromHost();
                });
            }
        });
    }

    // Sockets first, while the members their handlers use are still alive.
    ~FakeMetricsEndpoint() override
    {
        m_server.close();
        qDeleteAll(m_server.findChildren<QTcpSocket *>(Qt::FindDirectChildrenOnly));
    }

    int port() const { return m_server.serverPort(); }
    QByteArray url() const { return "http://127.0.0.1:" + QByteArray::number(port()) + "/metrics"; }
    void setBody(const QByteArray &body) { m_body = body; }
    // Called per request with the request number (1, 2, ...), e.g. for counters that grow.
    void setBodyFunction(std::function<QByteArray(int)> fn) { m_bodyFunction = std::move(fn); }
    void setFailing(bool failing) { m_failing = failing; }
    int requests() const { return m_requests; }

private:
    QTcpServer m_server{this};
    QHash<QTcpSocket *, QByteArray> m_partial;
    QByteArray m_body;
    std::function<QByteArray(int)> m_bodyFunction;
    std::atomic<bool> m_failing{false};
    std::atomic<int> m_requests{0};
};

} // namespace l0l3::test
