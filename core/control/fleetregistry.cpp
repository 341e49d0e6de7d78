#include "core/control/fleetregistry.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QJsonValue>

#include <algorithm>
#include <memory>

#include "core/common/redisschema.h"

namespace l0l3 {

namespace {

constexpr int kMaxReasons = 5;
constexpr int kMaxReasonBytes = 200;
constexpr int kCommandsPerKey = 3; // GETRANGE, STRLEN, PTTL

// A string field: absent is empty; present must be a string of at most max bytes (UTF-8).
bool stringField(const QJsonObject &o, const char *name, int max, QString *out, QString *error)
{
    const QJsonValue v = o.value(QLatin1String(name));
    if (v.isUndefined() || v.isNull())
        return true;
    if (!v.isString()) {
        *error = QStringLiteral("field %1 is not a string").arg(QLatin1String(name));
        return false;
    }
    const QString s = v.toString();
    if (s.toUtf8().size() > max) {
        *error = QStringLiteral("field %1 is longer than %2 bytes").arg(QLatin1String(name)).arg(max);
        return false;
    }
    *out = s;
    return true;
}

// A non-negative integer field of at most 2^53 (JSON numbers are doubles).
bool intField(const QJsonObject &o, const char *name, qint64 *out, QString *error)
{
    const QJsonValue v = o.value(QLatin1String(name));
    if (v.isUndefined() || v.isNull())
        return true;
    const double d = v.toDouble(-1);
    if (!v.isDouble() || d < 0 || d > 9007199254740992.0 || d != double(qint64(d))) {
        *error = QStringLiteral("field %1 is not a non-negative integer").arg(QLatin1String(name));
        return false;
    }
    *out = qint64(d);
    return true;
}

} // namespace

std::optional<GatewayRecord> parseGatewayRecord(const QByteArray &value, QString *error)
{
    QString why;
    auto fail = [&](const QString &reason) -> std::optional<GatewayRecord> {
        if (error)
            *error = reason;
        return std::nullopt;
    };
    if (value.size() > FleetRegistry::kMaxValueBytes)
        return fail(QStringLiteral("value of %1 bytes, over %2").arg(value.size()).arg(FleetRegistry::kMaxValueBytes));
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(value, &pe);
    if (pe.error != QJsonParseError::NoError)
        return fail(QStringLiteral("not JSON: %1").arg(pe.errorString()));
    if (!doc.isObject())
        return fail(QStringLiteral("not a JSON object"));
    const QJsonObject o = doc.object();
    GatewayRecord r;
    if (!stringField(o, "instance", 256, &r.instance, &why) || !stringField(o, "region", 64, &r.region, &why)
        || !stringField(o, "url", 512, &r.url, &why) || !stringField(o, "version", 64, &r.version, &why)
        || !stringField(o, "state", 32, &r.state, &why) || !stringField(o, "replica", 300, &r.replica, &why)
        || !intField(o, "started_ms", &r.startedMs, &why) || !intField(o, "last_seen_ms", &r.lastSeenMs, &why)
        || !intField(o, "period_ms", &r.periodMs, &why) || !intField(o, "expiry_ms", &r.expiryMs, &why))
        return fail(why);
    if (r.instance.isEmpty())
        return fail(QStringLiteral("no instance"));
    return r;
}

struct FleetRegistry::Read
{
    QObject *context = nullptr;
    QPointer<QObject> guard;
    std::function<void(const QList<GatewayRecord> &, const QString &)> done;
    QByteArray cursor = "0";
    int scanCalls = 0;
    bool truncated = false; // stopped at kMaxKeys or kMaxScanCalls
    QList<QByteArray> keys;
    QList<GatewayRecord> records;

    void finish(QList<GatewayRecord> out, const QString &error)
    {
        if (!guard)
            return;
        std::sort(out.begin(), out.end(), [](const GatewayRecord &a, const GatewayRecord &b) {
            return a.region != b.region ? a.region < b.region : a.instance < b.instance;
        });
        done(out, error);
    }
};

FleetRegistry::FleetRegistry(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
}

void FleetRegistry::read(QObject *context, std::function<void(const QList<GatewayRecord> &, const QString &error)> done)
{
    auto r = std::make_shared<Read>();
    r->context = context;
    r->guard = context;
    r->done = std::move(done);
    m_malformed = 0;
    m_malformedReasons.clear();
    scanStep(r);
}

void FleetRegistry::scanStep(std::shared_ptr<Read> r)
{
    if (!m_connection) {
        r->finish({}, QStringLiteral("no Redis connection"));
        return;
    }
    if (!r->guard)
        return;
    const QByteArray pattern = QByteArray::fromStdString(std::string(RedisSchema::kFleetGatewayPattern));
    ++r->scanCalls;
    m_connection->command(
        {QByteArrayLiteral("SCAN"), r->cursor, QByteArrayLiteral("MATCH"), pattern, QByteArrayLiteral("COUNT"),
         QByteArrayLiteral("200")},
        this, [this, r](const RedisReply &reply) {
            if (reply.isError() || !reply.isArray() || reply.elements.size() != 2 || !reply.elements[1].isArray()) {
                r->finish({},
                          QStringLiteral("cannot scan the fleet registry: %1")
                              .arg(reply.isError() ? reply.errorMessage() : QStringLiteral("bad reply")));
                return;
            }
            r->cursor = reply.elements[0].str;
            for (const RedisReply &k : reply.elements[1].elements) {
                if (k.isString() && !r->keys.contains(k.str) && r->keys.size() < kMaxKeys)
                    r->keys.append(k.str);
            }
            const bool more = r->cursor != "0";
            if (more && r->keys.size() < kMaxKeys && r->scanCalls < kMaxScanCalls) {
                scanStep(r);
                return;
            }
            r->truncated = more;
            fetch(r);
        });
}

void FleetRegistry::fetch(std::shared_ptr<Read> r)
{
    if (!m_connection) {
        r->finish({}, QStringLiteral("no Redis connection"));
        return;
    }
    if (r->keys.isEmpty()) {
        r->finish({}, {});
        return;
    }
    // Never more than kMaxValueBytes + 1 bytes of a value (GETRANGE), whatever
    // a hostile writer stored; STRLEN tells how large it really is.
    const QByteArray last = QByteArray::number(kMaxValueBytes);
    QList<QList<QByteArray>> cmds;
    cmds.reserve(r->keys.size() * kCommandsPerKey);
    for (const QByteArray &k : std::as_const(r->keys)) {
        cmds.append({QByteArrayLiteral("GETRANGE"), k, QByteArrayLiteral("0"), last});
        cmds.append({QByteArrayLiteral("STRLEN"), k});
        cmds.append({QByteArrayLiteral("PTTL"), k});
    }
    m_connection->pipeline(cmds, this, [this, r](const QList<RedisReply> &replies) {
        if (replies.size() != r->keys.size() * kCommandsPerKey) {
            const QString why = replies.isEmpty() ? QStringLiteral("no reply") : replies.first().errorMessage();
            r->finish({}, QStringLiteral("cannot read the fleet registry: %1").arg(why));
            return;
        }
        QList<GatewayRecord> out;
        for (qsizetype i = 0; i < r->keys.size(); ++i) {
            const RedisReply &value = replies[i * kCommandsPerKey];
            const RedisReply &length = replies[i * kCommandsPerKey + 1];
            const RedisReply &ttl = replies[i * kCommandsPerKey + 2];
            if (length.isInteger() && length.integer == 0 && ttl.isInteger() && ttl.integer == -2)
                continue; // expired between SCAN and GETRANGE
            QString why;
            std::optional<GatewayRecord> rec;
            if (value.isError())
                why = QStringLiteral("cannot read: %1").arg(value.errorMessage().left(kMaxReasonBytes));
            else if (!value.isString())
                why = QStringLiteral("not a string");
            else if (length.isInteger() && length.integer > kMaxValueBytes)
                why = QStringLiteral("value of %1 bytes, over %2").arg(length.integer).arg(kMaxValueBytes);
            else
                rec = parseGatewayRecord(value.str, &why);
            // The key names the instance: a record claiming another name is not believed.
            const QByteArray prefix = QByteArray::fromStdString(std::string(RedisSchema::kPrefix))
                + QByteArray::fromStdString(std::string(RedisSchema::kFleetGatewayKind));
            if (rec && r->keys[i].mid(prefix.size()) != rec->instance.toUtf8()) {
                why = QStringLiteral("instance \"%1\" is not the key's").arg(rec->instance.left(kMaxReasonBytes));
                rec.reset();
            }
            if (!rec) {
                ++m_malformed;
                if (m_malformedReasons.size() < kMaxReasons)
                    m_malformedReasons.append(QStringLiteral("%1: %2").arg(
                        QString::fromUtf8(r->keys[i].left(kMaxReasonBytes)), why.left(kMaxReasonBytes)));
                continue;
            }
            rec->redisKey = QString::fromUtf8(r->keys[i]);
            rec->ttlMs = ttl.isInteger() && ttl.integer >= 0 ? ttl.integer : -1;
            out.append(*rec);
        }
        r->finish(out,
                  r->truncated ? QStringLiteral("the registry holds more records than %1 (or needs more "
                                                "than %2 SCAN calls): the rest is not shown")
                                     .arg(kMaxKeys)
                                     .arg(kMaxScanCalls)
                               : QString());
    });
}

} // namespace l0l3
