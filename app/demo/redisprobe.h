#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>
#include <QTcpSocket>
#include <QTimer>

#include <functional>

#include "app/demo/respreply.h"

namespace l0l3 {

// A one-shot, non-blocking Redis round trip for the demo launcher's
// readiness checks and status line: connect, AUTH (when a user is given),
// send the commands pipelined, hand back their replies, disconnect. Not a
// client library: the control plane has its own connection for real work.
class RedisProbe : public QObject
{
    Q_OBJECT
public:
    using Command = QList<QByteArray>;
    // replies has one entry per command (AUTH excluded) when error is empty.
    using Callback = std::function<void(const QList<RespReply> &replies, const QString &error)>;

    // done runs exactly once, in context's thread, unless context is destroyed first.
    static void run(const QString &host, quint16 port, const QString &user, const QString &password,
                    const QList<Command> &commands, int timeoutMs, QObject *context, Callback done);

private:
    RedisProbe(QObject *context, Callback done);
    void finish(const QList<RespReply> &replies, const QString &error);
    void onReadyRead();

    QTcpSocket m_socket;
    QTimer m_timeout;
    Callback m_done;
    QByteArray m_buffer;
    int m_expected = 0;
    bool m_authenticated = false;
    bool m_sentAuth = false;
    QList<RespReply> m_replies;
};

} // namespace l0l3
