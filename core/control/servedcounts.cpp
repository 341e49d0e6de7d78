#include "core/control/servedcounts.h"

#include <QMap>

#include "core/common/redisschema.h"
#include "core/common/visibletext.h"

namespace l0l3 {

namespace {

// Fields read at most (the function keeps far fewer: 64 regions of 25 hours).
constexpr qsizetype kMaxFields = 4096;
constexpr qint64 kHoursPerDay = 24;

template<typename F>
qint64 sum(const QList<ServedCounts::Region> &regions, F field)
{
    qint64 total = 0;
    for (const ServedCounts::Region &r : regions)
        total += field(r);
    return total;
}

} // namespace

qint64 ServedCounts::totalThisHour() const
{
    return sum(regions, [](const Region &r) { return r.thisHour; });
}

qint64 ServedCounts::totalPreviousHour() const
{
    return sum(regions, [](const Region &r) { return r.previousHour; });
}

qint64 ServedCounts::totalLastDay() const
{
    return sum(regions, [](const Region &r) { return r.lastDay; });
}

QString ServedCounts::summary() const
{
    if (!ok)
        return QStringLiteral("Requests served: unknown (%1).").arg(error);
    if (regions.isEmpty())
        return QStringLiteral("Served no request from the cache in the last 24 h (as the gateways counted it).");
    QStringList perRegion;
    for (const Region &r : regions) {
        perRegion << QStringLiteral("%1: %2 this hour, %3 the hour before, %4 in 24 h")
                         .arg(QString::fromStdString(VisibleText::escape(r.name.left(64).toStdString())))
                         .arg(r.thisHour)
                         .arg(r.previousHour)
                         .arg(r.lastDay);
    }
    return QStringLiteral("Served %1 request(s) since %2:00 UTC, %3 in the hour before, %4 in the last 24 h — %5.")
        .arg(totalThisHour())
        .arg(hour % 24, 2, 10, QLatin1Char('0'))
        .arg(totalPreviousHour())
        .arg(totalLastDay())
        .arg(perRegion.join(QStringLiteral("; ")));
}

ServedCounts ServedCounts::fromReplies(const QString &key, const RedisReply &time, const RedisReply &hash)
{
    ServedCounts out;
    out.key = key;
    if (time.isError() || hash.isError()) {
        out.error = (time.isError() ? time : hash).errorMessage();
        return out;
    }
    bool secondsOk = false;
    const qint64 seconds = time.elements.isEmpty() ? 0 : time.elements[0].str.toLongLong(&secondsOk);
    if (!secondsOk || seconds <= 0) {
        out.error = QStringLiteral("no clock from the primary");
        return out;
    }
    out.hour = seconds / 3600;
    QMap<QString, Region> byName;
    const qsizetype n = qMin(hash.elements.size(), 2 * kMaxFields);
    for (qsizetype i = 0; i + 1 < n; i += 2) {
        const QByteArray field = hash.elements[i].str;
        const qsizetype colon = field.lastIndexOf(':');
        bool hourOk = false;
        bool countOk = false;
        const qint64 hour = colon > 0 ? field.mid(colon + 1).toLongLong(&hourOk) : 0;
        const qint64 count = hash.elements[i + 1].str.toLongLong(&countOk);
        if (!hourOk || !countOk || count <= 0 || hour > out.hour || hour <= out.hour - kHoursPerDay)
            continue;
        Region &r = byName[QString::fromUtf8(field.left(colon))];
        r.name = QString::fromUtf8(field.left(colon));
        r.lastDay += count;
        if (hour == out.hour)
            r.thisHour += count;
        else if (hour == out.hour - 1)
            r.previousHour += count;
    }
    out.regions = byName.values();
    out.ok = true;
    return out;
}

void ServedCounts::read(RedisConnection *connection, const QString &key, QObject *context,
                        std::function<void(const ServedCounts &)> cb)
{
    if (!connection) {
        ServedCounts none;
        none.key = key;
        none.error = QStringLiteral("no Redis connection");
        cb(none);
        return;
    }
    const std::string redisKey = RedisSchema::servedKey(key.toStdString());
    connection->pipeline({{QByteArrayLiteral("TIME")},
                          {QByteArrayLiteral("HGETALL"), QByteArray(redisKey.data(), qsizetype(redisKey.size()))}},
                         context, [key, cb = std::move(cb)](const QList<RedisReply> &replies) {
                             cb(fromReplies(key, replies.value(0), replies.value(1)));
                         });
}

} // namespace l0l3
