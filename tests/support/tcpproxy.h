#pragma once

#include <QByteArray>
#include <QString>
#include <QThread>

#include <atomic>

namespace l0l3::test {

// A loopback TCP forwarder put between a process and a server to delay the
// server's answers on purpose (a replica reply that arrives late). Every
// accepted connection is relayed to the target as is. After holdRepliesAfter(marker),
// a connection whose client sends bytes containing marker has everything the
// server sends from then on kept back, until release() forwards it in order.
// Other connections (e.g. a subscriber on the same server) are not affected.
// The relay runs on a thread of its own, so blocking test code (a
// synchronous Redis client, a local event loop) never stalls it.
class TcpProxy
{
public:
    TcpProxy();
    ~TcpProxy();
    TcpProxy(const TcpProxy &) = delete;
    TcpProxy &operator=(const TcpProxy &) = delete;

    // Listens on 127.0.0.1 (any free port) and relays to host:port.
    bool start(const QString &targetHost, quint16 targetPort, QString *error = nullptr);
    void stop();
    quint16 port() const { return m_port; }

    void holdRepliesAfter(const QByteArray &marker);
    // Server bytes kept back so far.
    qint64 heldBytes() const { return m_heldBytes.load(); }
    // Forwards what was kept back and holds nothing more.
    void release();

private:
    class Relay;
    QThread m_thread;
    Relay *m_relay = nullptr;
    quint16 m_port = 0;
    std::atomic<qint64> m_heldBytes{0};
};

} // namespace l0l3::test
