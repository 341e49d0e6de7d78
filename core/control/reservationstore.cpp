#include "core/control/reservationstore.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>
#include <QTimer>

#include <algorithm>

#include "core/common/auditrecord.h"
#include "core/common/redisschema.h"
#include "core/control/redisconnection.h"
#include "core/control/redisreply.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

const QByteArray &hashKey()
{
    static const QByteArray key = bytes(RedisSchema::kReservations);
    return key;
}

QList<QByteArray> auditXadd(const QString &action, const Reservation &r, const QString &user, qint64 nowMs,
                            const QString &detail)
{
    AuditRecord record;
    record.action = action.toStdString();
    record.key = r.field().toStdString();
    record.actor = user.toStdString();
    record.user = user.toStdString();
    record.tsMs = nowMs;
    record.detail = detail.toStdString();
    QList<QByteArray> argv{QByteArrayLiteral("XADD"), bytes(RedisSchema::kAudit), QByteArrayLiteral("*")};
    for (const auto &[field, value] : AuditCodec::encode(record)) {
        argv.append(bytes(field));
        argv.append(bytes(value));
    }
    return argv;
}

QString utc(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, QTimeZone::utc()).toString(Qt::ISODate);
}

// The primary's clock from a TIME reply; 0 when it is not one.
qint64 serverMs(const RedisReply &r)
{
    if (!r.isArray() || r.elements.size() != 2)
        return 0;
    bool okS = false, okUs = false;
    const qint64 s = r.elements[0].str.toLongLong(&okS);
    const qint64 us = r.elements[1].str.toLongLong(&okUs);
    return okS && okUs && s > 0 ? s * 1000 + us / 1000 : 0;
}

const QStringList &kinds()
{
    static const QStringList k{QStringLiteral("namespace"), QStringLiteral("region"), QStringLiteral("cluster")};
    return k;
}

} // namespace

struct ReservationStore::Op
{
    enum class Kind { List, Claim, Release };
    Kind kind = Kind::List;
    QString sliceKind;
    QString value;
    qint64 durationMs = 0;
    int attempts = 0;
    ResultCallback done;
    ListCallback listed;
};

ReservationStore::ReservationStore(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
}

ReservationStore::~ReservationStore() = default;

QString ReservationStore::checkSlice(const QString &kind, const QString &value)
{
    if (!kinds().contains(kind))
        return QStringLiteral("a reservation is of a namespace, region or cluster, not \"%1\"").arg(kind.left(40));
    const QByteArray v = value.toUtf8();
    if (v.isEmpty())
        return QStringLiteral("no %1 given").arg(kind);
    if (v.size() > kMaxValueBytes)
        return QStringLiteral("the %1 is longer than %2 bytes").arg(kind).arg(kMaxValueBytes);
    for (const QChar c : value) {
        if (c.category() == QChar::Other_Control || c.category() == QChar::Other_Format)
            return QStringLiteral("the %1 has a control or format character").arg(kind);
    }
    return {};
}

QByteArray ReservationStore::encode(const Reservation &r)
{
    QJsonObject o;
    o.insert(QStringLiteral("holder"), r.holder);
    o.insert(QStringLiteral("since_ms"), r.sinceMs);
    o.insert(QStringLiteral("until_ms"), r.untilMs);
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

std::optional<Reservation> ReservationStore::decode(const QString &field, const QByteArray &json)
{
    if (json.size() > kMaxRecordBytes)
        return std::nullopt;
    const qsizetype colon = field.indexOf(u':');
    if (colon <= 0)
        return std::nullopt;
    Reservation r;
    r.kind = field.left(colon);
    r.value = field.mid(colon + 1);
    if (!checkSlice(r.kind, r.value).isEmpty())
        return std::nullopt;
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        return std::nullopt;
    const QJsonObject o = doc.object();
    r.holder = o.value(QStringLiteral("holder")).toString();
    r.sinceMs = qint64(o.value(QStringLiteral("since_ms")).toDouble());
    r.untilMs = qint64(o.value(QStringLiteral("until_ms")).toDouble());
    if (r.holder.isEmpty() || r.holder.size() > 128 || r.untilMs <= 0)
        return std::nullopt;
    return r;
}

void ReservationStore::list(ListCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::List;
    op->listed = std::move(cb);
    enqueue(op);
}

void ReservationStore::claim(const QString &kind, const QString &value, qint64 durationMs, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Claim;
    op->sliceKind = kind;
    op->value = value;
    op->durationMs = durationMs;
    op->done = std::move(cb);
    enqueue(op);
}

void ReservationStore::release(const QString &kind, const QString &value, ResultCallback cb)
{
    auto op = std::make_shared<Op>();
    op->kind = Op::Kind::Release;
    op->sliceKind = kind;
    op->value = value;
    op->done = std::move(cb);
    enqueue(op);
}

void ReservationStore::enqueue(std::shared_ptr<Op> op)
{
    m_queue.push_back(std::move(op));
    // Never inside the call: the caller's state is settled before its callback runs.
    if (!m_busy)
        QTimer::singleShot(0, this, &ReservationStore::startNext);
}

void ReservationStore::startNext()
{
    if (m_busy || m_queue.empty())
        return;
    m_busy = true;
    std::shared_ptr<Op> op = m_queue.front();
    m_queue.pop_front();
    if (!m_connection || !m_connection->isReady()) {
        if (op->kind == Op::Kind::List)
            op->listed({}, 0, QStringLiteral("not connected"));
        else
            op->done({false, QStringLiteral("not connected"), {}});
        m_busy = false;
        startNext();
        return;
    }
    if (op->kind == Op::Kind::List)
        runList(op);
    else
        runChange(op);
}

void ReservationStore::finish(const std::shared_ptr<Op> &op, const Result &result)
{
    if (op->done)
        op->done(result);
    m_busy = false;
    QTimer::singleShot(0, this, &ReservationStore::startNext);
}

void ReservationStore::runList(std::shared_ptr<Op> op)
{
    auto fail = [this, op](const QString &error) {
        if (m_connection)
            m_connection->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
        op->listed({}, 0, error);
        m_busy = false;
        QTimer::singleShot(0, this, &ReservationStore::startNext);
    };
    // WATCH may be refused (viewers): then expired records are left for someone who may remove them.
    m_connection->pipeline(
        {{QByteArrayLiteral("WATCH"), hashKey()},
         {QByteArrayLiteral("ACL"), QByteArrayLiteral("WHOAMI")},
         {QByteArrayLiteral("TIME")},
         {QByteArrayLiteral("HLEN"), hashKey()}},
        this, [this, op, fail](const QList<RedisReply> &head) {
            if (head.size() != 4 || head[3].isError() || serverMs(head[2]) == 0) {
                fail(head.size() == 4 && head[3].isError() ? head[3].errorMessage()
                                                           : QStringLiteral("cannot read the reservations"));
                return;
            }
            if (head[3].toInteger() > kMaxReservations) {
                fail(QStringLiteral("%1 reservations, more than %2").arg(head[3].toInteger()).arg(kMaxReservations));
                return;
            }
            const bool watched = !head[0].isError();
            const QString user = head[1].isString() ? head[1].toString() : QString();
            const qint64 nowMs = serverMs(head[2]);
            m_connection->command(
                {QByteArrayLiteral("HGETALL"), hashKey()}, this,
                [this, op, fail, watched, user, nowMs](const RedisReply &all) {
                    if (all.isError() || !all.isArray()) {
                        fail(all.isError() ? all.errorMessage() : QStringLiteral("cannot read the reservations"));
                        return;
                    }
                    QList<Reservation> live, expired;
                    for (qsizetype i = 0; i + 1 < all.elements.size() && i < 2 * kMaxReservations; i += 2) {
                        const auto r = decode(all.elements[i].toString(), all.elements[i + 1].str);
                        if (!r)
                            continue;
                        (r->untilMs > nowMs ? live : expired).append(*r);
                    }
                    std::sort(live.begin(), live.end(),
                              [](const Reservation &a, const Reservation &b) { return a.field() < b.field(); });
                    auto report = [this, op, live, nowMs] {
                        op->listed(live, nowMs, {});
                        m_busy = false;
                        QTimer::singleShot(0, this, &ReservationStore::startNext);
                    };
                    if (watched && !expired.isEmpty() && !user.isEmpty()) {
                        purge(expired, user, nowMs, report);
                        return;
                    }
                    if (watched)
                        m_connection->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
                    report();
                });
        });
}

void ReservationStore::purge(const QList<Reservation> &expired, const QString &user, qint64 nowMs,
                             std::function<void()> done)
{
    QList<QList<QByteArray>> tx;
    for (const Reservation &r : expired) {
        tx.append({QByteArrayLiteral("HDEL"), hashKey(), r.field().toUtf8()});
        tx.append(auditXadd(QStringLiteral("reservation-expire"), r, user, nowMs,
                            QStringLiteral("held by %1 until %2").arg(r.holder, utc(r.untilMs))));
    }
    // A failed EXEC (another console removed them first, or the ACL refused) changes nothing.
    m_connection->transaction(tx, this, [done](const RedisReply &) { done(); });
}

void ReservationStore::runChange(std::shared_ptr<Op> op)
{
    const QString bad = checkSlice(op->sliceKind, op->value);
    if (!bad.isEmpty()) {
        finish(op, {false, bad, {}});
        return;
    }
    if (op->kind == Op::Kind::Claim && (op->durationMs < kMinDurationMs || op->durationMs > kMaxMinutes * 60000LL)) {
        finish(op, {false, QStringLiteral("a reservation lasts 1 second to %1 minutes").arg(kMaxMinutes), {}});
        return;
    }
    ++op->attempts;
    Reservation slice;
    slice.kind = op->sliceKind;
    slice.value = op->value;
    m_connection->pipeline({{QByteArrayLiteral("WATCH"), hashKey()},
                            {QByteArrayLiteral("ACL"), QByteArrayLiteral("WHOAMI")},
                            {QByteArrayLiteral("TIME")},
                            {QByteArrayLiteral("HLEN"), hashKey()},
                            {QByteArrayLiteral("HGET"), hashKey(), slice.field().toUtf8()}},
                           this, [this, op](const QList<RedisReply> &replies) { onChangeRead(op, replies); });
}

void ReservationStore::onChangeRead(std::shared_ptr<Op> op, const QList<RedisReply> &replies)
{
    auto refuse = [this, op](const QString &message) {
        if (m_connection)
            m_connection->command({QByteArrayLiteral("UNWATCH")}, this, [](const RedisReply &) {});
        finish(op, {false, message, {}});
    };
    if (replies.size() != 5) {
        refuse(QStringLiteral("no reply from Redis"));
        return;
    }
    for (const RedisReply &r : replies) {
        if (r.isError()) {
            refuse(r.errorMessage());
            return;
        }
    }
    const QString user = replies[1].toString();
    const qint64 nowMs = serverMs(replies[2]);
    if (user.isEmpty() || nowMs == 0) {
        refuse(QStringLiteral("the server would not say who is logged in (ACL WHOAMI) or its time"));
        return;
    }
    Reservation mine;
    mine.kind = op->sliceKind;
    mine.value = op->value;
    const std::optional<Reservation> held = replies[4].isString() ? decode(mine.field(), replies[4].str)
                                                                  : std::optional<Reservation>();
    const bool live = held && held->untilMs > nowMs;
    QList<QList<QByteArray>> tx;
    Result result;
    if (held && !live)
        tx.append(auditXadd(QStringLiteral("reservation-expire"), *held, user, nowMs,
                            QStringLiteral("held by %1 until %2").arg(held->holder, utc(held->untilMs))));
    if (op->kind == Op::Kind::Claim) {
        if (live && held->holder != user) {
            refuse(QStringLiteral("%1 is held by %2 until %3").arg(mine.field(), held->holder, utc(held->untilMs)));
            return;
        }
        if (!held && replies[3].toInteger() >= kMaxReservations) {
            refuse(QStringLiteral("there are %1 reservations already").arg(kMaxReservations));
            return;
        }
        mine.holder = user;
        mine.sinceMs = live ? held->sinceMs : nowMs;
        mine.untilMs = nowMs + op->durationMs;
        tx.append({QByteArrayLiteral("HSET"), hashKey(), mine.field().toUtf8(), encode(mine)});
        tx.append(auditXadd(QStringLiteral("reservation-claim"), mine, user, nowMs,
                            QStringLiteral("until %1").arg(utc(mine.untilMs))));
        result = {true, QStringLiteral("%1 reserved by %2 until %3").arg(mine.field(), user, utc(mine.untilMs)), mine};
    } else {
        if (!live) {
            if (tx.isEmpty()) {
                refuse(QStringLiteral("%1 is not reserved").arg(mine.field()));
                return;
            }
            // Expired: removed (and audited as such), nothing left to release.
            tx.prepend({QByteArrayLiteral("HDEL"), hashKey(), mine.field().toUtf8()});
            result = {false, QStringLiteral("%1 is not reserved (expired)").arg(mine.field()), *held};
        } else if (held->holder != user) {
            refuse(QStringLiteral("%1 is held by %2, not by %3").arg(mine.field(), held->holder, user));
            return;
        } else {
            tx.append({QByteArrayLiteral("HDEL"), hashKey(), mine.field().toUtf8()});
            tx.append(auditXadd(QStringLiteral("reservation-release"), *held, user, nowMs,
                                QStringLiteral("held since %1").arg(utc(held->sinceMs))));
            result = {true, QStringLiteral("%1 released").arg(mine.field()), *held};
        }
    }
    m_connection->transaction(tx, this, [this, op, result](const RedisReply &exec) {
        if (exec.isNil()) {
            // Another client changed the reservations between the read and EXEC: read again.
            if (op->attempts < 5) {
                runChange(op);
                return;
            }
            finish(op, {false, QStringLiteral("the reservations kept changing; try again"), {}});
            return;
        }
        if (exec.isError() || !exec.isArray()) {
            finish(op, {false, exec.isError() ? exec.errorMessage() : QStringLiteral("the write failed"), {}});
            return;
        }
        for (const RedisReply &r : exec.elements) {
            if (r.isError()) {
                finish(op, {false, r.errorMessage(), {}});
                return;
            }
        }
        finish(op, result);
    });
}

} // namespace l0l3
