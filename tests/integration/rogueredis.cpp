#include "tests/integration/rogueredis.h"

#include <QHostAddress>
#include <QTcpSocket>

namespace l0l3::test {

namespace {

constexpr qsizetype kMaxBuffered = 1 << 20;

QByteArray bulk(const QByteArray &s)
{
    return '$' + QByteArray::number(s.size()) + "\r\n" + s + "\r\n";
}

// One complete RESP array of bulk strings from the front of buffer (consumed);
// nullopt-like empty result with *complete = false when more bytes are needed.
bool takeCommand(QByteArray &buffer, QList<QByteArray> *out, bool *malformed)
{
    *malformed = false;
    out->clear();
    if (buffer.isEmpty())
        return false;
    if (buffer.front() != '*') {
        *malformed = true;
        return false;
    }
    qsizetype pos = buffer.indexOf("\r\n");
    if (pos < 0)
        return false;
    const int n = buffer.mid(1, pos - 1).toInt();
    if (n < 1 || n > 64) {
        *malformed = true;
        return false;
    }
    pos += 2;
    for (int i = 0; i < n; ++i) {
        if (pos >= buffer.size())
            return false;
        if (buffer.at(pos) != '$') {
            *malformed = true;
            return false;
        }
        const qsizetype end = buffer.indexOf("\r\n", pos);
        if (end < 0)
            return false;
        const int len = buffer.mid(pos + 1, end - pos - 1).toInt();
        if (len < 0 || len > kMaxBuffered) {
            *malformed = true;
            return false;
        }
        if (end + 2 + len + 2 > buffer.size())
            return false;
        out->append(buffer.mid(end + 2, len));
        pos = end + 2 + len + 2;
    }
    buffer.remove(0, pos);
    return true;
}

} // namespace

struct RogueRedis::Client
{
    QTcpSocket *socket = nullptr;
    QByteArray buffer;
    bool authenticated = false;
    QList<QByteArray> channels;
};

RogueRedis::RogueRedis(QObject *parent)
    : QObject(parent)
{
    connect(&m_server, &QTcpServer::newConnection, this, &RogueRedis::onNewConnection);
}

RogueRedis::~RogueRedis()
{
    // The sockets are the server's children and die after this body: their
    // disconnected() must not reach the list of clients freed here.
    for (Client *c : std::as_const(m_clients))
        c->socket->disconnect(this);
    m_server.close();
    qDeleteAll(m_clients);
    m_clients.clear();
}

bool RogueRedis::start(QString *error)
{
    if (m_server.listen(QHostAddress::LocalHost, 0))
        return true;
    if (error)
        *error = m_server.errorString();
    return false;
}

int RogueRedis::count(const QByteArray &name) const
{
    int n = 0;
    for (const auto &c : m_commands)
        n += c.first().compare(name, Qt::CaseInsensitive) == 0 ? 1 : 0;
    return n;
}

void RogueRedis::publish(const QByteArray &channel, const QByteArray &message)
{
    for (Client *c : std::as_const(m_clients)) {
        if (c->channels.contains(channel))
            c->socket->write("*3\r\n" + bulk("message") + bulk(channel) + bulk(message));
    }
}

void RogueRedis::onNewConnection()
{
    while (QTcpSocket *socket = m_server.nextPendingConnection()) {
        ++m_accepted;
        auto *client = new Client;
        client->socket = socket;
        m_clients.append(client);
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
        connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
            for (qsizetype i = 0; i < m_clients.size(); ++i) {
                if (m_clients[i]->socket == socket) {
                    delete m_clients.takeAt(i);
                    break;
                }
            }
            socket->deleteLater();
        });
    }
}

void RogueRedis::onReadyRead(QTcpSocket *socket)
{
    Client *client = nullptr;
    for (Client *c : std::as_const(m_clients))
        if (c->socket == socket)
            client = c;
    if (!client)
        return;
    const QByteArray data = socket->readAll();
    m_received += data;
    client->buffer += data;
    if (client->buffer.size() > kMaxBuffered) {
        socket->abort();
        return;
    }
    QList<QByteArray> command;
    bool malformed = false;
    while (takeCommand(client->buffer, &command, &malformed)) {
        m_commands.append(command);
        answer(*client, command);
    }
    if (malformed)
        socket->write("-ERR protocol error\r\n");
}

void RogueRedis::answer(Client &client, const QList<QByteArray> &command)
{
    const QByteArray name = command.first().toUpper();
    QTcpSocket *s = client.socket;
    if (name == "AUTH") {
        client.authenticated = true;
        s->write("+OK\r\n");
        return;
    }
    if (requireAuth && !client.authenticated) {
        s->write("-NOAUTH Authentication required.\r\n");
        return;
    }
    if (name == "PING") {
        s->write(client.channels.isEmpty() ? QByteArray("+PONG\r\n") : "*2\r\n" + bulk("pong") + bulk({}));
    } else if (name == "CLIENT" || name == "SELECT") {
        s->write("+OK\r\n");
    } else if (name == "ROLE") {
        s->write("*3\r\n" + bulk("master") + ":0\r\n*0\r\n");
    } else if (name == "SENTINEL" && command.size() == 3 && command[1].toLower() == "get-master-addr-by-name") {
        s->write("*2\r\n" + bulk(masterHost.toUtf8()) + bulk(QByteArray::number(masterPort)));
    } else if (name == "SUBSCRIBE") {
        for (qsizetype i = 1; i < command.size(); ++i) {
            client.channels.append(command[i]);
            s->write("*3\r\n" + bulk("subscribe") + bulk(command[i]) + ':' + QByteArray::number(client.channels.size())
                     + "\r\n");
        }
    } else {
        s->write("-ERR unknown command '" + name.left(64) + "'\r\n");
    }
}

} // namespace l0l3::test
