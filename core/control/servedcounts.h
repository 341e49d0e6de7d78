#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>

#include <functional>

#include "core/control/redisconnection.h"

namespace l0l3 {

// How many requests an approved entry answered, per region, from the
// gateways' counters (RedisSchema::servedKey: "REGION:HOUR" -> count, hours
// since the epoch on the primary's clock). The blast radius an operator sees
// before editing or revoking it. Counters are flushed by the gateways every
// few seconds, so the latest seconds are not in them yet; they are untrusted
// (any gateway credential may count anything) and only ever shown.
struct ServedCounts
{
    struct Region
    {
        QString name;
        qint64 thisHour = 0;     // since the start of the current UTC hour
        qint64 previousHour = 0; // the whole hour before it
        qint64 lastDay = 0;      // the current hour and the 23 before it
    };
    QString key;
    qint64 hour = 0;       // the current hour (since the epoch) on the primary's clock
    QList<Region> regions; // by name
    bool ok = false;
    QString error;

    qint64 totalThisHour() const;
    qint64 totalPreviousHour() const;
    qint64 totalLastDay() const;
    // One or two lines for a confirmation dialog or a terminal, e.g. "Served 12 requests since
    // 14:00 UTC, 30 in the hour before, 400 in 24 h (nyc 300, tokyo 100)."
    QString summary() const;

    // From the primary's TIME (seconds) and the HGETALL reply of the hash; fields that do not
    // parse, hours outside the last day and counts that are not positive are ignored.
    static ServedCounts fromReplies(const QString &key, const RedisReply &time, const RedisReply &hash);
    // TIME + HGETALL on the connection; cb runs once, on the connection's thread, guarded by context.
    static void read(RedisConnection *connection, const QString &key, QObject *context,
                     std::function<void(const ServedCounts &)> cb);
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::ServedCounts)
