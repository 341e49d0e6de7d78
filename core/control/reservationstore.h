#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>

#include <deque>
#include <functional>
#include <memory>

namespace l0l3 {

class RedisConnection;
class RedisReply;

// An operator's claim on a slice of the proposal queue (RedisSchema::kReservations).
struct Reservation
{
    QString kind;   // "namespace", "region" or "cluster"
    QString value;  // the namespace, region or cluster id
    QString holder; // the ACL user that claimed it (ACL WHOAMI)
    qint64 sinceMs = 0;
    qint64 untilMs = 0; // the primary's clock

    QString field() const { return kind + u':' + value; }
    bool operator==(const Reservation &) const = default;
};

// Reservations: claim, release and list slices of the queue, each claim until
// a time. Records live in one hash (RedisSchema::kReservations); every change
// is a WATCH/MULTI/EXEC that also appends an audit record ("reservation-claim",
// "reservation-release", "reservation-expire"; key = the slice, e.g.
// "namespace:acme"), so every console following the audit stream sees it live.
// The holder is the authenticated ACL user, never a name passed in. Times are
// the primary's (TIME), so consoles with skewed clocks agree.
//
// A record past its time is expired: list() and claim() remove it and audit
// the expiry (the first to see it does; the others' EXEC fails on the WATCH
// and they leave it). Reservations are advisory: the console marks and skips
// what another operator holds, ApprovalService does not check them.
//
// WATCH is per connection: give the store a connection no one else uses for
// WATCH/MULTI (the console's ApprovalService has its own). Operations run one
// at a time in call order; each callback runs exactly once, never inside the call.
class ReservationStore : public QObject
{
    Q_OBJECT
public:
    static constexpr int kMaxReservations = 1000;
    static constexpr int kMaxValueBytes = 200;
    static constexpr int kMaxRecordBytes = 1024;
    static constexpr int kMaxMinutes = 24 * 60;
    static constexpr int kDefaultMinutes = 30;
    static constexpr qint64 kMinDurationMs = 1000;

    struct Result
    {
        bool ok = false;
        QString message;         // what happened, or why not
        Reservation reservation; // the claim (claim), the one released (release)
    };
    using ResultCallback = std::function<void(const Result &)>;
    // live: unexpired reservations, sorted by slice; serverNowMs: the primary's clock
    // when read; error set when they could not be read.
    using ListCallback = std::function<void(const QList<Reservation> &live, qint64 serverNowMs, const QString &error)>;

    explicit ReservationStore(RedisConnection *connection, QObject *parent = nullptr);
    ~ReservationStore() override;

    // Empty when kind/value name a slice that may be reserved, else why not.
    static QString checkSlice(const QString &kind, const QString &value);
    // The record in the hash (JSON), and back; nullopt for anything malformed or over the bounds.
    static QByteArray encode(const Reservation &r);
    static std::optional<Reservation> decode(const QString &field, const QByteArray &json);

    void list(ListCallback cb);
    // Claims the slice for durationMs from now (kMinDurationMs..kMaxMinutes). Refused while
    // another user holds it; the holder's own claim is renewed until the new time.
    void claim(const QString &kind, const QString &value, qint64 durationMs, ResultCallback cb);
    // Releases the caller's own claim; refused for another user's.
    void release(const QString &kind, const QString &value, ResultCallback cb);

private:
    struct Op;
    void enqueue(std::shared_ptr<Op> op);
    void startNext();
    void finish(const std::shared_ptr<Op> &op, const Result &result);
    void runList(std::shared_ptr<Op> op);
    void runChange(std::shared_ptr<Op> op);
    void onChangeRead(std::shared_ptr<Op> op, const QList<RedisReply> &replies);
    // Removes the expired records (WATCHed already) with one audit record each; then done().
    void purge(const QList<Reservation> &expired, const QString &user, qint64 nowMs, std::function<void()> done);

    QPointer<RedisConnection> m_connection;
    std::deque<std::shared_ptr<Op>> m_queue;
    bool m_busy = false;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::Reservation)
