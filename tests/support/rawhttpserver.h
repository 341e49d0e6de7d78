#pragma once

#include <QByteArray>
#include <QHash>
#include <QObject>
#include <QSet>
#include <QTcpServer>

class QTcpSocket;

namespace l0l3::test {

// A loopback HTTP server that answers every request with the same raw bytes,
// whatever they are: an upstream for tests that need answers a real server
// never sends (broken framing, odd headers) or a large answer whose delivery
// the test watches. A request is answered once its head (up to the blank
// line) has arrived; its body is not waited for. Runs on the thread that
// created it (its event loop must run).
class RawHttpServer : public QObject
{
public:
    struct Options
    {
        bool closeAfterResponse = false; // close each connection once its answer is written
        int sendBufferBytes = 0;         // SO_SNDBUF of each connection; 0: the system's default
    };

    explicit RawHttpServer(QByteArray response)
        : RawHttpServer(std::move(response), Options{})
    {
    }
    RawHttpServer(QByteArray response, Options options);
    // Closes the connections still open first: their disconnected() must not reach members gone.
    ~RawHttpServer() override;

    int port() const { return m_server.serverPort(); }
    // Requests answered so far.
    int requests() const { return m_requests; }
    // Bytes of answers the kernel has taken so far, and bytes still waiting in this process for the
    // peer to make room: a peer that stops reading shows as bytesUnsent() that no longer shrinks.
    qint64 bytesSent() const { return m_sent; }
    qint64 bytesUnsent() const;

private:
    QByteArray m_response;
    Options m_options;
    QTcpServer m_server;
    QHash<QTcpSocket *, QByteArray> m_received;
    QSet<QTcpSocket *> m_answered;
    int m_requests = 0;
    qint64 m_sent = 0;
};

} // namespace l0l3::test
