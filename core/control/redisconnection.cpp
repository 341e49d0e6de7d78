#include "core/control/redisconnection.h"

#include <QHostAddress>
#include <QHostInfo>
#include <QMetaObject>
#include <QSslSocket>

#include <algorithm>
#include <chrono>
#include <limits>
#include <vector>

#include <hiredis/hiredis.h>

#include "core/common/hiredisarena.h"
#include "core/common/redisurl.h"

namespace l0l3 {

namespace {

qint64 nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

constexpr qint64 kNoDeadline = std::numeric_limits<qint64>::max();

// Read at most this much per read() call: a large reply arrives in pieces,
// each fed to the reader and checked against maxReplyBytes.
constexpr qint64 kReadChunk = 64 * 1024;

} // namespace

std::optional<RedisConnection::Options> RedisConnection::Options::fromUrl(const QString &url, QString *error)
{
    // rediss:// is redis:// over TLS; the rest of the URL reads the same.
    const bool tls = url.startsWith(QLatin1String("rediss://"), Qt::CaseInsensitive);
    const QString plain = tls ? QStringLiteral("redis://") + url.mid(9) : url;
    std::string why;
    const auto parsed = RedisUrl::parse(plain.toStdString(), &why);
    if (!parsed) {
        if (error)
            *error = QString::fromStdString(why);
        return std::nullopt;
    }
    Options o;
    o.host = QString::fromStdString(parsed->host);
    o.port = parsed->port;
    o.user = QByteArray::fromStdString(parsed->user);
    o.password = QByteArray::fromStdString(parsed->password);
    o.db = parsed->db;
    o.tls.enabled = tls;
    return o;
}

QString RedisConnection::Options::redacted() const
{
    QString hostPart = host.contains(QLatin1Char(':')) ? u'[' + host + u']' : host;
    QString s = tls.enabled ? QStringLiteral("rediss://") : QStringLiteral("redis://");
    if (!user.isEmpty())
        s += QString::fromUtf8(user) + u'@';
    s += hostPart + u':' + QString::number(port);
    if (db != 0)
        s += u'/' + QString::number(db);
    return s;
}

RedisConnection::RedisConnection(const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
    , m_reader(nullptr, &redisReaderFree)
{
    m_watchdog.setSingleShot(true);
    connect(&m_watchdog, &QTimer::timeout, this, &RedisConnection::checkDeadlines);
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, [this] {
        if (m_wantOpen && m_state == State::Closed)
            open();
    });
}

RedisConnection::~RedisConnection()
{
    m_destroying = true;
    m_wantOpen = false;
    m_watchdog.stop();
    m_reconnectTimer.stop();
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
    m_reader.reset();

    // Fail what is still pending, synchronously, while the object is whole.
    auto pending = std::move(m_pending);
    m_pending.clear();
    auto waiting = std::move(m_waiting);
    m_waiting.clear();
    m_completed.clear();
    const RedisReply gone = RedisReply::localError("connection destroyed");
    for (auto &[id, p] : pending) {
        if (!p.internal && p.deliverable())
            p.finish(gone);
    }
    for (Waiting &w : waiting) {
        if (w.pending.deliverable())
            w.pending.finish(gone);
    }
}

void RedisConnection::Pending::finish(const RedisReply &error)
{
    const bool failed = error.isError() || !replies || replies->empty();
    const RedisReply &why = error.isError() ? error : RedisReply::localError("no reply");
    if (raw) {
        if (failed)
            raw({}, why);
        else
            raw(std::move(*replies), {});
    } else if (callback) {
        callback(failed ? why : RedisReply::fromHiredis(replies->front().get()));
    }
}

void RedisConnection::setOptions(const Options &options)
{
    m_options = options;
}

void RedisConnection::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    emitQueued([this, state] { emit stateChanged(state); });
}

// Signals are emitted from the event loop, never inside a hiredis call stack,
// so receivers may delete the connection.
void RedisConnection::emitQueued(std::function<void()> fn)
{
    QMetaObject::invokeMethod(this, std::move(fn), Qt::QueuedConnection);
}

void RedisConnection::open()
{
    if (m_destroying)
        return;
    m_wantOpen = true;
    m_reconnectTimer.stop();
    if (m_state != State::Closed)
        return;
    QHostAddress literal;
    if (literal.setAddress(m_options.host)) {
        startConnect(literal);
        return;
    }
    setState(State::Resolving);
    const quint64 lookup = ++m_lookupGeneration;
    QHostInfo::lookupHost(m_options.host, this, [this, lookup](const QHostInfo &info) {
        onHostResolved(lookup, info.addresses(), info.error() == QHostInfo::NoError ? QString() : info.errorString());
    });
}

void RedisConnection::onHostResolved(quint64 lookupGeneration, const QList<QHostAddress> &addresses,
                                     const QString &errorString)
{
    if (lookupGeneration != m_lookupGeneration || m_state != State::Resolving)
        return;
    QHostAddress chosen;
    for (const QHostAddress &a : addresses) {
        if (a.protocol() == QAbstractSocket::IPv4Protocol) {
            chosen = a;
            break;
        }
    }
    if (chosen.isNull() && !addresses.isEmpty())
        chosen = addresses.first();
    if (chosen.isNull()) {
        setState(State::Closed);
        handleLinkLost(QStringLiteral("cannot resolve %1: %2")
                           .arg(m_options.host, errorString.isEmpty() ? QStringLiteral("no address") : errorString));
        return;
    }
    setState(State::Closed);
    startConnect(chosen);
}

// The TLS peer name (certificate check and SNI) is options().host, whatever
// address it resolved to.
void RedisConnection::startConnect(const QHostAddress &address)
{
    auto *socket = new QSslSocket(this);
    if (m_options.tls.enabled) {
        QString why;
        if (!m_options.tls.configure(*socket, &why)) {
            delete socket;
            handleLinkLost(QStringLiteral("cannot connect to %1: %2").arg(m_options.redacted(), why));
            return;
        }
    }
    m_reader.reset(redisReaderCreate());
    if (!m_reader) {
        delete socket;
        handleLinkLost(QStringLiteral("out of memory creating the Redis reader"));
        return;
    }
    HiredisArena::install(m_reader.get());
    m_socket = socket;
    m_transportUp = false;
    m_outbox.clear();
    m_tlsFailure.clear();
    m_replyOrder.clear();
    if (m_options.tls.enabled)
        connect(socket, &QSslSocket::encrypted, this, &RedisConnection::onTransportReady);
    else
        connect(socket, &QSslSocket::connected, this, &RedisConnection::onTransportReady);
    connect(socket, &QSslSocket::sslErrors, this, [this](const QList<QSslError> &errors) {
        // Not ignored: the socket aborts the handshake and reports an error next.
        m_tlsFailure = RedisTls::verificationFailure(m_options.host, m_options.port, errors);
    });
    connect(socket, &QSslSocket::readyRead, this, &RedisConnection::onReadable);
    connect(socket, &QSslSocket::errorOccurred, this, &RedisConnection::onSocketError);
    connect(socket, &QSslSocket::disconnected, this,
            [this] { handleLinkLost(QStringLiteral("connection to %1 closed").arg(m_options.redacted())); });
    setState(State::Connecting);
    sendHandshake();
    if (m_options.tls.enabled)
        socket->connectToHostEncrypted(address.toString(), quint16(m_options.port), m_options.host);
    else
        socket->connectToHost(address, quint16(m_options.port));
}

void RedisConnection::onTransportReady()
{
    if (!m_socket)
        return;
    m_transportUp = true;
    setState(State::Authenticating);
    if (!m_outbox.isEmpty()) {
        m_socket->write(m_outbox);
        m_outbox.clear();
    }
}

void RedisConnection::onSocketError()
{
    if (!m_socket)
        return;
    QString why;
    if (!m_tlsFailure.isEmpty())
        why = m_tlsFailure;
    else if (m_socket->error() == QAbstractSocket::RemoteHostClosedError)
        why = QStringLiteral("connection to %1 closed").arg(m_options.redacted());
    else if (m_socket->error() == QAbstractSocket::SslHandshakeFailedError)
        why = QStringLiteral("TLS handshake with %1 failed: %2").arg(m_options.redacted(), m_socket->errorString());
    else if (m_transportUp)
        why = QStringLiteral("connection to %1 lost: %2").arg(m_options.redacted(), m_socket->errorString());
    else
        why = QStringLiteral("cannot connect to %1: %2").arg(m_options.redacted(), m_socket->errorString());
    handleLinkLost(why);
}

void RedisConnection::writeOut(const std::string_view bytes)
{
    if (m_transportUp)
        m_socket->write(bytes.data(), qint64(bytes.size()));
    else
        m_outbox.append(bytes.data(), qsizetype(bytes.size()));
}

// Feeds what arrived to the reader and hands each complete reply to its
// command. Bookkeeping only: replies are delivered from the event loop.
void RedisConnection::onReadable()
{
    char chunk[kReadChunk];
    while (m_socket && m_socket->bytesAvailable() > 0) {
        const qint64 n = m_socket->read(chunk, kReadChunk);
        if (n <= 0)
            break;
        redisReader *r = m_reader.get();
        if (redisReaderFeed(r, chunk, size_t(n)) != REDIS_OK) {
            handleLinkLost(
                QStringLiteral("protocol error from %1: %2").arg(m_options.redacted(), QString::fromUtf8(r->errstr)));
            return;
        }
        for (;;) {
            void *reply = nullptr;
            if (redisReaderGetReply(r, &reply) != REDIS_OK) {
                handleLinkLost(QStringLiteral("protocol error from %1: %2")
                                   .arg(m_options.redacted(), QString::fromUtf8(r->errstr)));
                return;
            }
            if (!reply)
                break;
            if (!takeReply(reply))
                return; // the link was dropped
        }
        // What is left in the reader is the start of a reply still coming.
        if (qint64(r->len - r->pos) > m_options.maxReplyBytes) {
            handleLinkLost(QStringLiteral("a reply from %1 is larger than %2 bytes")
                               .arg(m_options.redacted())
                               .arg(m_options.maxReplyBytes));
            return;
        }
    }
}

// Replies come in the order the commands were sent: the oldest command
// waiting for one gets it. False when the reply answers nothing (the link is
// dropped).
bool RedisConnection::takeReply(void *reply)
{
    HiredisReply owned(static_cast<redisReply *>(reply));
    if (m_replyOrder.empty()) {
        handleLinkLost(QStringLiteral("protocol error from %1: a reply to no command").arg(m_options.redacted()));
        return false;
    }
    const quint64 id = m_replyOrder.front();
    m_replyOrder.pop_front();
    auto it = m_pending.find(id);
    if (it == m_pending.end() || it->second.awaiting <= 0)
        return true; // failed already; its remaining replies are skipped
    Pending &p = it->second;
    p.replies->push_back(std::move(owned));
    if (--p.awaiting > 0)
        return true;
    p.deadlineMs = kNoDeadline;
    m_completed.push_back({id, {}});
    scheduleDelivery();
    return true;
}

// AUTH and SELECT are queued right away and written once the transport is
// up (TLS: after the handshake). With neither, a PING proves the link.
void RedisConnection::sendHandshake()
{
    QList<QList<QByteArray>> steps;
    if (!m_options.password.isEmpty()) {
        if (m_options.user.isEmpty())
            steps.append({QByteArrayLiteral("AUTH"), m_options.password});
        else
            steps.append({QByteArrayLiteral("AUTH"), m_options.user, m_options.password});
    }
    if (m_options.db != 0)
        steps.append({QByteArrayLiteral("SELECT"), QByteArray::number(m_options.db)});
    if (steps.isEmpty())
        steps.append({QByteArrayLiteral("PING")});

    const quint64 ctxGeneration = m_generation;
    auto remaining = std::make_shared<int>(int(steps.size()));
    auto failed = std::make_shared<bool>(false);
    for (const auto &argv : steps) {
        const QByteArray name = argv.first();
        Pending p;
        p.internal = true;
        p.callback = [this, remaining, failed, name, ctxGeneration](const RedisReply &r) {
            if (*failed || ctxGeneration != m_generation)
                return;
            if (r.isError()) {
                *failed = true;
                const QString why = QStringLiteral("%1 failed on %2: %3")
                                        .arg(QString::fromLatin1(name), m_options.redacted(), r.errorMessage());
                m_lastError = why;
                if (!r.local)
                    handleLinkLost(why);
                return;
            }
            if (--*remaining == 0)
                handleConnected();
        };
        send(format({argv}), std::move(p), m_options.connectTimeoutMs);
    }
    armWatchdog();
}

void RedisConnection::handleConnected()
{
    ++m_generation;
    m_reconnectAttempt = 0;
    m_lastError.clear();
    setState(State::Ready);
    QPointer<RedisConnection> self(this);
    emit connected();
    if (self) // a receiver may have deleted the connection
        flushWaiting();
}

void RedisConnection::flushWaiting()
{
    auto waiting = std::move(m_waiting);
    m_waiting.clear();
    for (Waiting &w : waiting) {
        if (w.pending.context)
            send(w.commands, std::move(w.pending), w.timeoutMs);
    }
    armWatchdog();
}

// Bookkeeping only: may run inside one of the socket's signals, so the
// socket is deleted later; signals and callbacks go through the event loop.
void RedisConnection::handleLinkLost(const QString &reason)
{
    if (m_socket) {
        QSslSocket *s = m_socket;
        m_socket = nullptr;
        s->disconnect(this);
        s->abort();
        s->deleteLater();
    }
    m_reader.reset();
    m_transportUp = false;
    m_outbox.clear();
    m_replyOrder.clear();
    const bool wasReady = m_state == State::Ready;
    m_lastError = reason;
    failAll(reason);
    setState(State::Closed);
    // Separate events: a receiver of the first may delete the connection,
    // which discards the second.
    if (wasReady)
        emitQueued([this] { emit disconnected(); });
    emitQueued([this, reason] { emit error(reason); });
    scheduleReconnect();
}

void RedisConnection::failAll(const QString &reason)
{
    const QByteArray msg = reason.toUtf8();
    for (auto &[id, p] : m_pending) {
        p.deadlineMs = kNoDeadline;
        m_completed.push_back({id, RedisReply::localError(msg)});
    }
    if (!m_wantOpen || !m_options.autoReconnect) {
        for (Waiting &w : m_waiting) {
            const quint64 id = m_nextId++;
            m_pending.emplace(id, std::move(w.pending));
            m_completed.push_back({id, RedisReply::localError(msg)});
        }
        m_waiting.clear();
    }
    if (!m_completed.empty())
        scheduleDelivery();
}

void RedisConnection::scheduleReconnect()
{
    if (!m_options.autoReconnect)
        m_wantOpen = false; // later commands fail fast instead of waiting for a link that never comes
    if (!m_wantOpen || !m_options.autoReconnect || m_destroying)
        return;
    const int shift = qMin(m_reconnectAttempt, 16);
    const qint64 delay = qMin<qint64>(qint64(m_options.reconnectMinMs) << shift, m_options.reconnectMaxMs);
    ++m_reconnectAttempt;
    m_reconnectTimer.start(int(delay));
}

void RedisConnection::close()
{
    m_wantOpen = false;
    m_reconnectTimer.stop();
    ++m_lookupGeneration;
    if (m_socket) {
        handleLinkLost(QStringLiteral("connection closed"));
    } else {
        failAll(QStringLiteral("connection closed"));
        setState(State::Closed);
    }
}

RespCommands RedisConnection::format(const QList<QList<QByteArray>> &commands)
{
    RespCommands out;
    for (const QList<QByteArray> &argv : commands)
        out.addRange(argv);
    return out;
}

// All the commands go out under one id: the Pending completes with the last reply.
void RedisConnection::send(const RespCommands &commands, Pending pending, int timeoutMs)
{
    const quint64 id = m_nextId++;
    const int timeout = timeoutMs < 0 ? m_options.commandTimeoutMs : timeoutMs;
    pending.deadlineMs = nowMs() + timeout;
    pending.awaiting = int(commands.size());
    pending.replies = std::make_shared<std::vector<HiredisReply>>();
    pending.replies->reserve(commands.size());
    const qint64 deadline = pending.deadlineMs;
    m_pending.emplace(id, std::move(pending));
    if (!m_socket) {
        Pending &p = m_pending.at(id);
        p.awaiting = 0;
        p.deadlineMs = kNoDeadline;
        m_completed.push_back({id, RedisReply::localError("cannot send the command: not connected")});
        scheduleDelivery();
        return;
    }
    m_replyOrder.insert(m_replyOrder.end(), commands.size(), id);
    writeOut(commands.bytes());
    watchDeadline(deadline);
}

void RedisConnection::enqueue(RespCommands commands, Pending p, int timeoutMs)
{
    if (!p.context)
        p.context = this;
    p.hasContext = true;
    const bool empty = commands.empty() || commands.hasEmptyCommand();
    if (empty || m_destroying || (!m_wantOpen && m_state == State::Closed)) {
        const QByteArray why = empty ? QByteArrayLiteral("empty command") : QByteArrayLiteral("not connected");
        QObject *context = p.context;
        QMetaObject::invokeMethod(
            context, [p = std::move(p), why]() mutable { p.finish(RedisReply::localError(why)); },
            Qt::QueuedConnection);
        return;
    }
    if (m_state != State::Ready) {
        Waiting w;
        w.commands = std::move(commands);
        w.pending = std::move(p);
        w.timeoutMs = timeoutMs;
        w.pending.deadlineMs = nowMs() + (timeoutMs < 0 ? m_options.commandTimeoutMs : timeoutMs);
        const qint64 deadline = w.pending.deadlineMs;
        m_waiting.append(std::move(w));
        watchDeadline(deadline);
        return;
    }
    send(commands, std::move(p), timeoutMs);
}

void RedisConnection::command(const QList<QByteArray> &argv, QObject *context, ReplyCallback cb, int timeoutMs)
{
    Pending p;
    p.context = context;
    p.callback = std::move(cb);
    enqueue(format({argv}), std::move(p), timeoutMs);
}

void RedisConnection::pipeline(const QList<QList<QByteArray>> &commands, QObject *context, RepliesCallback cb,
                               int timeoutMs)
{
    pipelineRaw(
        commands, context,
        [cb = std::move(cb), n = commands.size()](std::vector<HiredisReply> replies, const RedisReply &error) {
            if (!cb)
                return;
            QList<RedisReply> out;
            out.reserve(n);
            for (qsizetype i = 0; i < n; ++i)
                out.append(error.isError() ? error : RedisReply::fromHiredis(replies[size_t(i)].get()));
            cb(out);
        },
        timeoutMs);
}

void RedisConnection::pipelineRaw(const QList<QList<QByteArray>> &commands, QObject *context, RawRepliesCallback cb,
                                  int timeoutMs)
{
    pipelineRaw(format(commands), context, std::move(cb), timeoutMs);
}

void RedisConnection::pipelineRaw(RespCommands commands, QObject *context, RawRepliesCallback cb, int timeoutMs)
{
    if (commands.empty()) {
        QMetaObject::invokeMethod(
            context ? context : this,
            [cb = std::move(cb)] {
                if (cb)
                    cb({}, {});
            },
            Qt::QueuedConnection);
        return;
    }
    Pending p;
    p.context = context;
    p.raw = std::move(cb);
    enqueue(std::move(commands), std::move(p), timeoutMs);
}

void RedisConnection::transaction(const QList<QList<QByteArray>> &commands, QObject *context, ReplyCallback cb,
                                  int timeoutMs)
{
    QList<QList<QByteArray>> all;
    all.reserve(commands.size() + 2);
    all.append({QByteArrayLiteral("MULTI")});
    all.append(commands);
    all.append({QByteArrayLiteral("EXEC")});
    pipeline(
        all, context,
        [cb = std::move(cb)](const QList<RedisReply> &replies) {
            if (!cb)
                return;
            if (replies.first().isError()) {
                cb(replies.first());
                return;
            }
            // A command rejected at queue time (e.g. NOPERM) is more telling than EXECABORT.
            if (replies.last().isError()) {
                for (qsizetype i = 1; i + 1 < replies.size(); ++i) {
                    if (replies[i].isError()) {
                        cb(replies[i]);
                        return;
                    }
                }
            }
            cb(replies.last());
        },
        timeoutMs);
}

void RedisConnection::scheduleDelivery()
{
    if (m_deliveryScheduled || m_destroying)
        return;
    m_deliveryScheduled = true;
    QMetaObject::invokeMethod(this, &RedisConnection::deliver, Qt::QueuedConnection);
}

void RedisConnection::deliver()
{
    m_deliveryScheduled = false;
    QPointer<RedisConnection> self(this);
    auto batch = std::move(m_completed);
    m_completed.clear();
    for (Completed &c : batch) {
        auto it = m_pending.find(c.id);
        if (it == m_pending.end())
            continue;
        Pending p = std::move(it->second);
        m_pending.erase(it);
        if (p.deliverable())
            p.finish(c.error);
        if (!self)
            return; // a callback deleted the connection; the destructor failed the rest
    }
}

void RedisConnection::checkDeadlines()
{
    const qint64 now = nowMs();
    qint64 next = kNoDeadline;
    bool linkTimedOut = false;
    for (const auto &[id, p] : m_pending) {
        if (p.deadlineMs <= now)
            linkTimedOut = true;
        else
            next = qMin(next, p.deadlineMs);
    }
    QList<Waiting> expired;
    for (qsizetype i = 0; i < m_waiting.size();) {
        if (m_waiting[i].pending.deadlineMs <= now) {
            expired.append(std::move(m_waiting[i]));
            m_waiting.removeAt(i);
        } else {
            next = qMin(next, m_waiting[i].pending.deadlineMs);
            ++i;
        }
    }
    for (Waiting &w : expired) {
        const quint64 id = m_nextId++;
        m_pending.emplace(id, std::move(w.pending));
        m_completed.push_back(
            {id, RedisReply::localError("timeout: not connected to " + m_options.redacted().toUtf8())});
        scheduleDelivery();
    }
    if (linkTimedOut) {
        // One command cannot be cancelled: a late reply means the link is
        // unusable (replies are matched by order), so drop it and reconnect.
        const QString why = QStringLiteral("timeout waiting for %1").arg(m_options.redacted());
        handleLinkLost(why);
        return;
    }
    if (next != kNoDeadline) {
        m_watchdogDeadlineMs = next;
        m_watchdog.start(int(qMax<qint64>(0, next - now)));
    }
}

// Brings the watchdog forward to deadline if it is due later (or idle).
void RedisConnection::watchDeadline(qint64 deadline)
{
    if (!m_watchdog.isActive() || deadline < m_watchdogDeadlineMs) {
        m_watchdogDeadlineMs = deadline;
        m_watchdog.start(int(qMax<qint64>(0, deadline - nowMs())));
    }
}

void RedisConnection::armWatchdog()
{
    qint64 next = kNoDeadline;
    for (const auto &[id, p] : m_pending)
        next = qMin(next, p.deadlineMs);
    for (const Waiting &w : m_waiting)
        next = qMin(next, w.pending.deadlineMs);
    if (next == kNoDeadline) {
        m_watchdog.stop();
        return;
    }
    m_watchdogDeadlineMs = next;
    m_watchdog.start(int(qBound<qint64>(qint64(0), next - nowMs(), qint64(std::numeric_limits<int>::max()))));
}

} // namespace l0l3
