#pragma once

#include <QByteArray>
#include <QHostAddress>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QTimer>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/common/respcommands.h"
#include "core/control/redisreply.h"
#include "core/control/redistls.h"

class QSslSocket;
struct redisReader;

namespace l0l3 {

// One asynchronous Redis connection driven by the event loop of the thread
// that owns it.
//
// Transport: a QSslSocket this object owns (plain TCP for redis://, TLS for
// rediss://, one code path), commands written as RESP, replies parsed by
// hiredis' reader (redisReaderFeed/GetReply) and matched to commands in the
// order they were sent. hiredis 0.14 has no TLS, so no hiredis context is
// used.
//
// Thread affinity: every method must be called on the thread the object lives
// on; all callbacks and signals are delivered on that thread. To keep Redis off
// the UI thread, create it inside (or moveToThread it with) a worker QObject
// living on a QThread. Move it only while closed.
//
// Guarantees:
// - Reply callbacks are guarded by a context QObject: if the context is
//   destroyed before the reply arrives, the callback is not called.
// - Callbacks and signals never run inside a hiredis call stack, so they may
//   close or delete the connection.
// - Destroying the connection fails every pending command with a local error
//   (callback still guarded by its context), synchronously, in the destructor.
// - Every command has a watchdog (hiredis 0.14 has no async timeouts): when the
//   oldest pending reply is late, the link is considered dead: all pending
//   commands fail with "timeout", the socket is dropped and, if enabled,
//   reconnected with backoff. Replies are never matched to the wrong command.
// - Commands issued while (re)connecting are queued and sent once AUTH/SELECT
//   succeeded; commands issued while closed fail (asynchronously).
// - Replies are bounded: a reply still incomplete after maxReplyBytes drops
//   the link like a protocol error (every pending command fails).
// - TLS: a certificate that fails verification drops the link; lastError()
//   and error() say "TLS certificate verification failed for HOST:PORT: ...".
class RedisConnection : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString host = QStringLiteral("127.0.0.1");
        int port = 6379;
        QByteArray user;     // empty: AUTH password only (if a password is set)
        QByteArray password; // empty: no AUTH
        int db = 0;          // SELECT after AUTH when not 0
        int commandTimeoutMs = 5000;
        int connectTimeoutMs = 5000;
        bool autoReconnect = true;
        int reconnectMinMs = 100;
        int reconnectMaxMs = 5000;
        qint64 maxReplyBytes = qint64(256) << 20;
        // rediss:// sets tls.enabled; the files come from the caller.
        RedisTls tls;

        // redis[s]://[user[:password]@]host[:port][/db]; nullopt + *error if invalid.
        static std::optional<Options> fromUrl(const QString &url, QString *error = nullptr);
        // redis[s]://user@host:port/db (no password), for messages.
        QString redacted() const;
    };

    enum class State { Closed, Resolving, Connecting, Authenticating, Ready };
    Q_ENUM(State)

    using ReplyCallback = std::function<void(const RedisReply &)>;
    using RepliesCallback = std::function<void(const QList<RedisReply> &)>;
    // Replies as hiredis parsed them, one per command in order, for large
    // replies decoded straight into the caller's types (no RedisReply tree).
    // On a local failure (timeout, link lost, not connected) replies is empty
    // and error says why; server errors are REDIS_REPLY_ERROR replies.
    using RawRepliesCallback = std::function<void(std::vector<HiredisReply> replies, const RedisReply &error)>;

    explicit RedisConnection(const Options &options, QObject *parent = nullptr);
    ~RedisConnection() override;

    const Options &options() const { return m_options; }
    void setOptions(const Options &options); // takes effect on the next open()

    // Starts connecting (resolve, connect, AUTH, SELECT). connected() when ready.
    void open();
    // Drops the link; pending commands fail with "connection closed"; no reconnect.
    void close();

    State state() const { return m_state; }
    bool isReady() const { return m_state == State::Ready; }
    // Increments each time the connection becomes Ready. Per-connection state
    // (WATCH, MULTI, SELECT) only holds within one generation.
    quint64 generation() const { return m_generation; }
    QString lastError() const { return m_lastError; }

    // Sends one command. cb is called exactly once unless context is destroyed
    // first (context must not be null). timeoutMs < 0: options().commandTimeoutMs.
    void command(const QList<QByteArray> &argv, QObject *context, ReplyCallback cb, int timeoutMs = -1);
    // Sends commands back to back on the same link; cb gets all replies in order.
    void pipeline(const QList<QList<QByteArray>> &commands, QObject *context, RepliesCallback cb, int timeoutMs = -1);
    // Like pipeline(), without converting the replies.
    void pipelineRaw(const QList<QList<QByteArray>> &commands, QObject *context, RawRepliesCallback cb,
                     int timeoutMs = -1);
    // The same for commands formatted already (large pipelines: no list per command).
    void pipelineRaw(RespCommands commands, QObject *context, RawRepliesCallback cb, int timeoutMs = -1);
    // MULTI, commands, EXEC as one pipeline. cb gets the EXEC reply: an Array of
    // the commands' replies, Nil when a WATCHed key changed, or an Error
    // (EXECABORT, transport error).
    void transaction(const QList<QList<QByteArray>> &commands, QObject *context, ReplyCallback cb, int timeoutMs = -1);

    int pendingCount() const { return int(m_pending.size() + m_waiting.size()); }

signals:
    void connected();
    void disconnected();
    void error(const QString &message);
    void stateChanged(l0l3::RedisConnection::State state);

private:
    // One command (callback: a RedisReply tree) or a batch of commands sent
    // back to back (raw: their hiredis replies, delivered together).
    struct Pending
    {
        QPointer<QObject> context;
        bool hasContext = false;
        ReplyCallback callback;
        RawRepliesCallback raw;
        int awaiting = 1;                                   // replies still to come
        std::shared_ptr<std::vector<HiredisReply>> replies; // received so far (set when sent)
        qint64 deadlineMs = 0;
        bool internal = false; // handshake command, not user-visible

        bool deliverable() const { return internal || !hasContext || context; }
        // The replies, or error when it is a (local) error.
        void finish(const RedisReply &error);
    };
    struct Waiting
    {
        RespCommands commands;
        Pending pending; // deadlineMs: while waiting for the link
        int timeoutMs = -1;
    };
    struct Completed
    {
        quint64 id = 0;
        RedisReply error; // a local error, or Nil: the replies are in the Pending
    };

    void startConnect(const QHostAddress &address);
    void onHostResolved(quint64 lookupGeneration, const QList<QHostAddress> &addresses, const QString &errorString);
    void onTransportReady();
    void onSocketError();
    void onReadable();
    bool takeReply(void *reply);
    void writeOut(const std::string_view bytes);
    void handleConnected();
    void handleLinkLost(const QString &reason);
    void failAll(const QString &reason);
    void scheduleReconnect();
    void setState(State state);
    static RespCommands format(const QList<QList<QByteArray>> &commands);
    void enqueue(RespCommands commands, Pending pending, int timeoutMs);
    void send(const RespCommands &commands, Pending pending, int timeoutMs);
    void sendHandshake();
    void flushWaiting();
    void scheduleDelivery();
    void deliver();
    void checkDeadlines();
    void armWatchdog();
    void watchDeadline(qint64 deadline);
    void emitQueued(std::function<void()> fn);

    Options m_options;
    State m_state = State::Closed;
    bool m_wantOpen = false;
    bool m_destroying = false;
    quint64 m_generation = 0;
    quint64 m_lookupGeneration = 0;
    quint64 m_nextId = 1;
    int m_reconnectAttempt = 0;
    QString m_lastError;

    QSslSocket *m_socket = nullptr;
    std::unique_ptr<redisReader, void (*)(redisReader *)> m_reader;
    bool m_transportUp = false; // connected (TLS: encrypted); until then writes wait in m_outbox
    QByteArray m_outbox;
    QString m_tlsFailure;                 // why the server's certificate was refused, this attempt
    std::map<quint64, Pending> m_pending; // sent, ordered by send order
    std::deque<quint64> m_replyOrder;     // the Pending each expected reply belongs to, one per command sent
    QList<Waiting> m_waiting;             // not yet sent (connecting)
    std::vector<Completed> m_completed;   // replies waiting for delivery
    bool m_deliveryScheduled = false;
    QTimer m_watchdog;
    qint64 m_watchdogDeadlineMs = 0;
    QTimer m_reconnectTimer;
};

} // namespace l0l3
