#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>
#include <QTcpServer>

class QTcpSocket;

namespace l0l3::test {

// A RESP server on a free loopback port that a test controls and that records
// everything it receives: a rogue Sentinel or a fake primary. It answers PING,
// AUTH (any credentials), CLIENT, ROLE (master), SENTINEL
// get-master-addr-by-name (masterHost:masterPort) and SUBSCRIBE, and publishes
// what the test tells it to. With requireAuth it answers -NOAUTH to anything
// but AUTH until a client authenticated, as a Sentinel with an ACL user does.
class RogueRedis : public QObject
{
    Q_OBJECT
public:
    explicit RogueRedis(QObject *parent = nullptr);
    ~RogueRedis() override;

    bool start(QString *error = nullptr);
    int port() const { return int(m_server.serverPort()); }
    QString host() const { return QStringLiteral("127.0.0.1"); }

    bool requireAuth = true;
    QString masterHost = QStringLiteral("127.0.0.1");
    int masterPort = 0;

    // Every byte any client sent, in arrival order.
    QByteArray received() const { return m_received; }
    // The commands received, each as its arguments.
    QList<QList<QByteArray>> commands() const { return m_commands; }
    // How many commands named `name` (case-insensitive) arrived.
    int count(const QByteArray &name) const;
    int connectionsAccepted() const { return m_accepted; }

    // Sends a pub/sub message to every client subscribed to channel.
    void publish(const QByteArray &channel, const QByteArray &message);

private:
    struct Client;
    void onNewConnection();
    void onReadyRead(QTcpSocket *socket);
    void answer(Client &client, const QList<QByteArray> &command);

    QTcpServer m_server;
    QList<Client *> m_clients;
    QByteArray m_received;
    QList<QList<QByteArray>> m_commands;
    int m_accepted = 0;
};

} // namespace l0l3::test
