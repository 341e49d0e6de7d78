#include "core/control/fleetview.h"

#include <QDateTime>
#include <QMap>

#include <algorithm>
#include <memory>

namespace l0l3 {

namespace {

constexpr int kMaxReplicas = 1024;
constexpr int kMaxFieldChars = 300;

struct InfoReplication
{
    QString role;
    qint64 offset = -1;
    QList<FleetReplica> replicas;
};

// INFO replication's text: "field:value" lines; a replica is
// "slaveN:ip=...,port=...,state=...,offset=...,lag=...".
InfoReplication parseInfoReplication(const QByteArray &text)
{
    InfoReplication out;
    for (const QByteArray &rawLine : text.split('\n')) {
        const QByteArray line = rawLine.trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        const QByteArray name = line.left(colon);
        const QByteArray value = line.mid(colon + 1);
        if (name == "role") {
            out.role = QString::fromUtf8(value.left(kMaxFieldChars));
        } else if (name == "master_repl_offset") {
            bool ok = false;
            const qint64 v = value.toLongLong(&ok);
            out.offset = ok ? v : -1;
        } else if (name.startsWith("slave") && out.replicas.size() < kMaxReplicas) {
            bool isIndex = false;
            name.mid(5).toInt(&isIndex);
            if (!isIndex)
                continue;
            FleetReplica r;
            for (const QByteArray &pair : value.split(',')) {
                const qsizetype eq = pair.indexOf('=');
                if (eq <= 0)
                    continue;
                const QByteArray k = pair.left(eq);
                const QByteArray v = pair.mid(eq + 1).left(kMaxFieldChars);
                if (k == "ip")
                    r.host = QString::fromUtf8(v);
                else if (k == "port")
                    r.port = v.toInt();
                else if (k == "state")
                    r.state = QString::fromUtf8(v);
                else if (k == "offset")
                    r.offset = v.toLongLong();
                else if (k == "lag")
                    r.ackLagSeconds = v.toInt();
            }
            r.linkUp = r.state == QLatin1String("online");
            if (!r.host.isEmpty() && r.port > 0)
                out.replicas.append(r);
        }
    }
    return out;
}

QString hostPort(const QString &host, int port)
{
    return host + QLatin1Char(':') + QString::number(port);
}

} // namespace

FleetView FleetView::build(const QList<GatewayRecord> &records, const QByteArray &infoReplication,
                           const SentinelTopology *topology, qint64 nowMs)
{
    FleetView v;
    v.builtAtMs = nowMs;

    for (const GatewayRecord &rec : records) {
        FleetGateway g;
        g.record = rec;
        g.ageMs = rec.ageMs();
        if (g.ageMs < 0 && rec.lastSeenMs > 0)
            g.ageMs = qMax<qint64>(0, nowMs - rec.lastSeenMs); // the gateway's clock: skew included
        g.stale = rec.periodMs > 0 && g.ageMs > 2 * rec.periodMs;
        v.gateways.append(g);
    }

    // Replicas: the primary's view first, then what only Sentinel knows.
    if (!infoReplication.isEmpty()) {
        InfoReplication info = parseInfoReplication(infoReplication);
        v.primaryRole = info.role;
        v.primaryOffset = info.offset;
        for (FleetReplica &r : info.replicas) {
            if (r.offset >= 0 && info.offset >= 0)
                r.offsetBehind = qMax<qint64>(0, info.offset - r.offset);
        }
        v.replicas = info.replicas;
    }
    if (topology) {
        if (!topology->error.isEmpty())
            v.errors.append(QStringLiteral("Sentinel: %1").arg(topology->error.left(kMaxFieldChars)));
        if (topology->masterPort > 0) {
            v.primaryHost = topology->masterHost;
            v.primaryPort = topology->masterPort;
        }
        for (const SentinelTopology::Node &n : topology->replicas) {
            auto it = std::find_if(v.replicas.begin(), v.replicas.end(),
                                   [&](const FleetReplica &r) { return r.host == n.host && r.port == n.port; });
            if (it == v.replicas.end()) {
                if (v.replicas.size() >= kMaxReplicas)
                    continue;
                FleetReplica r;
                r.host = n.host;
                r.port = n.port;
                r.linkUp = n.linkUp;
                r.offset = n.offset;
                v.replicas.append(r);
                it = v.replicas.end() - 1;
            }
            it->sentinelFlags = n.flags;
        }
        if (!topology->sentinelHost.isEmpty()) {
            FleetSentinel s;
            s.host = topology->sentinelHost;
            s.port = topology->sentinelPort;
            s.linkUp = true;
            s.answered = true;
            v.sentinels.append(s);
        }
        for (const SentinelTopology::Node &n : topology->sentinels) {
            FleetSentinel s;
            s.host = n.host;
            s.port = n.port;
            s.runId = n.runId;
            s.flags = n.flags;
            s.linkUp = n.linkUp;
            v.sentinels.append(s);
        }
    }

    // Regions: from the gateways; a replica belongs to the region of the
    // gateways that name it (the first one's, when they disagree).
    QMap<QString, FleetRegion> regions;
    QMap<QString, QString> replicaRegion;
    for (const FleetGateway &g : std::as_const(v.gateways)) {
        FleetRegion &region = regions[g.record.region];
        region.name = g.record.region;
        region.gateways.append(g);
        if (!g.record.replica.isEmpty() && !replicaRegion.contains(g.record.replica))
            replicaRegion.insert(g.record.replica, g.record.region);
    }
    for (FleetReplica &r : v.replicas) {
        r.region = replicaRegion.value(hostPort(r.host, r.port));
        if (!r.region.isEmpty())
            regions[r.region].replicas.append(r);
    }
    v.regions = regions.values();
    return v;
}

FleetViewBuilder::FleetViewBuilder(RedisConnection *primary, QObject *parent)
    : QObject(parent)
    , m_primary(primary)
    , m_registry(new FleetRegistry(primary, this))
{
}

void FleetViewBuilder::build(QObject *context, std::function<void(const FleetView &)> done)
{
    QPointer<QObject> guard(context);
    auto records = std::make_shared<QList<GatewayRecord>>();
    auto errors = std::make_shared<QStringList>();
    auto finish = [this, guard, records, errors, done](const QByteArray &info) {
        if (!guard)
            return;
        FleetView v = FleetView::build(*records, info, m_topology ? &*m_topology : nullptr,
                                       QDateTime::currentMSecsSinceEpoch());
        if (m_primary) {
            if (v.primaryPort == 0) {
                v.primaryHost = m_primary->options().host;
                v.primaryPort = m_primary->options().port;
            }
        }
        v.malformedRecords = m_registry->malformed();
        for (const QString &reason : m_registry->malformedReasons())
            v.errors.append(QStringLiteral("malformed registry record %1").arg(reason));
        v.errors = *errors + v.errors;
        done(v);
    };
    m_registry->read(this, [this, records, errors, finish](const QList<GatewayRecord> &list, const QString &error) {
        *records = list;
        if (!error.isEmpty())
            errors->append(error);
        if (!m_primary) {
            errors->append(QStringLiteral("no Redis connection"));
            finish({});
            return;
        }
        m_primary->command(
            {QByteArrayLiteral("INFO"), QByteArrayLiteral("replication")}, this, [errors, finish](const RedisReply &r) {
                if (r.isError() || !r.isString()) {
                    errors->append(QStringLiteral("INFO replication: %1")
                                       .arg(r.isError() ? r.errorMessage() : QStringLiteral("bad reply")));
                    finish({});
                    return;
                }
                finish(r.str);
            });
    });
}

} // namespace l0l3
