#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>

#include <functional>
#include <optional>

#include "core/control/redisconnection.h"

namespace l0l3 {

// One gateway's announcement, as read from l0l3:v1:fleet:gateway:{instance}
// (written by the gateway's FleetAnnouncer). Every string is untrusted: a
// gateway credential may write any value under its registry keys. The parser
// bounds and checks each field; show them as plain text only.
struct GatewayRecord
{
    QString instance, region, url, version, state;
    qint64 startedMs = 0, lastSeenMs = 0; // the gateway's clock, ms since the epoch
    qint64 ttlMs = -1;                    // PTTL when read; -1: no expiry (not written by a gateway)
    qint64 periodMs = 0;                  // how often the gateway rewrites it (0: unknown)
    qint64 expiryMs = 0;                  // the PX it was written with (0: unknown)
    QString replica;                      // the gateway's replica, host:port (may be empty)
    QString redisKey;                     // the key it was read from

    // ms since the last write, from the key's TTL (the primary's clock, so no
    // skew): expiryMs - ttlMs; -1 when unknown.
    qint64 ageMs() const { return expiryMs > 0 && ttlMs >= 0 ? qMax<qint64>(0, expiryMs - ttlMs) : -1; }
};

// The parser for one registry value; nullopt and *error when the value is
// too large, not a JSON object, or a field has the wrong type or size.
// Unknown fields are ignored. Strings keep control characters (render them
// with core/common/visibletext.h or the console's formatting).
std::optional<GatewayRecord> parseGatewayRecord(const QByteArray &value, QString *error = nullptr);

// Reads every l0l3:v1:fleet:gateway:* key on one connection (normally the
// primary): SCAN MATCH (at most kMaxKeys keys, kMaxScanCalls calls), then
// GETRANGE (at most kMaxValueBytes + 1 bytes of each value), STRLEN and PTTL
// pipelined. Values that are too large, do not parse or name another instance
// than their key are skipped and counted (malformed() after the callback; the
// first few reasons in malformedReasons()).
//
// Thread affinity: lives on the thread of its RedisConnection (not owned).
class FleetRegistry : public QObject
{
    Q_OBJECT
public:
    static constexpr int kMaxValueBytes = 2048;
    static constexpr int kMaxKeys = 4096;
    static constexpr int kMaxScanCalls = 256;

    explicit FleetRegistry(RedisConnection *connection, QObject *parent = nullptr);

    // done(records sorted by region then instance, error). error is non-empty
    // when the registry could not be read (records then holds what was read
    // before the failure). done is not called when context is destroyed first.
    void read(QObject *context, std::function<void(const QList<GatewayRecord> &, const QString &error)> done);

    int malformed() const { return m_malformed; }
    QStringList malformedReasons() const { return m_malformedReasons; }

private:
    struct Read;
    void scanStep(std::shared_ptr<Read> r);
    void fetch(std::shared_ptr<Read> r);

    QPointer<RedisConnection> m_connection;
    int m_malformed = 0;
    QStringList m_malformedReasons;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::GatewayRecord)
