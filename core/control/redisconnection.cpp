#include "core/control/redisconnection.h"

#include <QHostInfo>
#include <QMetaObject>

#include <algorithm>
#include <chrono>
#include <limits>
#include <vector>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/common/hiredisarena.h"
#include "core/common/redisurl.h"
#include "core/control/redisasyncqtadapter.h"

namespace l0l3 {

namespace {

qint64 nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

constexpr qint64 kNoDeadline = std::numeric_limits<qint64>::max();

// Replies are built in one arena each (HiredisArena) and taken over from
// hiredis (onReplyCb) so that they can be delivered from the event loop,
// outside hiredis' call stack, without being copied. hiredis 0.14 frees each
// reply right after its callback through the reader's freeObject: this one
// skips the reply the callback just took.
thread_local void *t_takenReply = nullptr;

void releaseUnlessTaken(void *reply)
{
    if (reply && reply == t_takenReply) {
        t_takenReply = nullptr;
        return;
    }
    HiredisArena::release(reply);
}

redisReplyObjectFunctions *replyFunctions()
{
    static redisReplyObjectFunctions fns = [] {
        redisReplyObjectFunctions f = HiredisArena::functions();
        f.freeObject = &releaseUnlessTaken;
        return f;
    }();
    return &fns;
}

} // namespace

std::optional<RedisConnection::Options> RedisConnection::Options::fromUrl(const QString &url, QString *error)
{
    std::string why;
    const auto parsed = RedisUrl::parse(url.toStdString(), &why);
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
    return o;
}

QString RedisConnection::Options::redacted() const
{
    QString hostPart = host.contains(QLatin1Char(':')) ? u'[' + host + u']' : host;
    QString s = QStringLiteral("redis://");
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
    if (m_ctx) {
        redisAsyncContext *ac = m_ctx;
        m_ctx = nullptr;
        ac->data = nullptr; // hiredis' NULL-reply callbacks below are ignored
        redisAsyncFree(ac);
    }
    delete m_adapter;
    m_adapter = nullptr;

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
    // redisAsyncConnect would resolve synchronously: resolve on Qt's lookup thread.
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

void RedisConnection::startConnect(const QHostAddress &address)
{
    const QByteArray ip = address.toString().toLatin1();
    redisAsyncContext *ac = redisAsyncConnect(ip.constData(), m_options.port);
    if (!ac) {
        handleLinkLost(QStringLiteral("out of memory creating the Redis context"));
        return;
    }
    if (ac->err) {
        const QString why = QString::fromUtf8(ac->errstr);
        redisAsyncFree(ac);
        handleLinkLost(QStringLiteral("cannot connect to %1: %2").arg(m_options.redacted(), why));
        return;
    }
    m_ctx = ac;
    ac->data = this;
    ac->c.reader->fn = replyFunctions();
    m_adapter = new RedisAsyncQtAdapter(this);
    m_adapter->attach(ac);
    redisAsyncSetConnectCallback(ac, &RedisConnection::onConnectCb);
    redisAsyncSetDisconnectCallback(ac, &RedisConnection::onDisconnectCb);
    setState(State::Connecting);
    sendHandshake();
}

// AUTH and SELECT are written right away: hiredis buffers them until the
// socket is connected. With neither, a PING proves the link.
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
                    dropContext(why);
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

void RedisConnection::onConnectCb(const redisAsyncContext *ctx, int status)
{
    auto *self = static_cast<RedisConnection *>(ctx->data);
    if (!self || status == REDIS_OK)
        return;
    // hiredis frees the context right after this callback.
    const QString why =
        QStringLiteral("cannot connect to %1: %2").arg(self->m_options.redacted(), QString::fromUtf8(ctx->errstr));
    const_cast<redisAsyncContext *>(ctx)->data = nullptr;
    self->m_ctx = nullptr;
    self->handleLinkLost(why);
}

void RedisConnection::onDisconnectCb(const redisAsyncContext *ctx, int status)
{
    auto *self = static_cast<RedisConnection *>(ctx->data);
    if (!self)
        return;
    const QString why = status == REDIS_OK
        ? QStringLiteral("connection to %1 closed").arg(self->m_options.redacted())
        : QStringLiteral("connection to %1 lost: %2").arg(self->m_options.redacted(), QString::fromUtf8(ctx->errstr));
    const_cast<redisAsyncContext *>(ctx)->data = nullptr;
    self->m_ctx = nullptr; // hiredis frees it when this returns
    self->handleLinkLost(why);
}

void RedisConnection::onReplyCb(redisAsyncContext *ctx, void *reply, void *privdata)
{
    auto *self = static_cast<RedisConnection *>(ctx->data);
    if (!self)
        return;
    const quint64 id = quint64(reinterpret_cast<quintptr>(privdata));
    auto it = self->m_pending.find(id);
    if (it == self->m_pending.end())
        return;
    Pending &p = it->second;
    if (!reply) {
        p.deadlineMs = kNoDeadline;
        p.awaiting = 0;
        self->m_completed.push_back({id, RedisReply::localError("connection lost")});
        self->scheduleDelivery();
        return;
    }
    t_takenReply = reply; // released by the HiredisReply, after delivery
    p.replies->emplace_back(static_cast<redisReply *>(reply));
    if (--p.awaiting > 0)
        return;
    p.deadlineMs = kNoDeadline;
    self->m_completed.push_back({id, {}});
    self->scheduleDelivery();
}

// Bookkeeping only: may run inside a hiredis callback.
void RedisConnection::handleLinkLost(const QString &reason)
{
    if (m_ctx) {
        m_ctx->data = nullptr;
        m_ctx = nullptr;
    }
    if (m_adapter) {
        m_adapter->detach();
        m_adapter->deleteLater();
        m_adapter = nullptr;
    }
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

// Frees the context from our own code (timer, close, handshake failure).
void RedisConnection::dropContext(const QString &reason)
{
    if (m_ctx) {
        redisAsyncContext *ac = m_ctx;
        m_ctx = nullptr;
        ac->data = nullptr;
        redisAsyncFree(ac);
    }
    handleLinkLost(reason);
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
    if (m_ctx) {
        dropContext(QStringLiteral("connection closed"));
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
    for (std::size_t i = 0; i < commands.size(); ++i) {
        const std::string_view cmd = commands.command(i);
        const int rc = m_ctx
            ? redisAsyncFormattedCommand(m_ctx, &RedisConnection::onReplyCb, reinterpret_cast<void *>(quintptr(id)),
                                         cmd.data(), cmd.size())
            : REDIS_ERR;
        if (rc != REDIS_OK) {
            // Replies to the commands already sent find the id gone once this is delivered.
            Pending &p = m_pending.at(id);
            p.awaiting = 0;
            p.deadlineMs = kNoDeadline;
            m_completed.push_back({id, RedisReply::localError("cannot send the command: not connected")});
            scheduleDelivery();
            return;
        }
    }
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
        // hiredis cannot cancel one command: a late reply means the link is
        // unusable (replies are matched by order), so drop it and reconnect.
        const QString why = QStringLiteral("timeout waiting for %1").arg(m_options.redacted());
        dropContext(why);
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
