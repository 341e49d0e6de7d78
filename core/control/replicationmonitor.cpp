#include "core/control/replicationmonitor.h"

#include <QHash>

#include <limits>

#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"

namespace l0l3 {

namespace {

QHash<QByteArray, QByteArray> parseInfo(const QByteArray &text)
{
    QHash<QByteArray, QByteArray> fields;
    for (const QByteArray &raw : text.split('\n')) {
        const QByteArray line = raw.trimmed();
        if (line.isEmpty() || line.startsWith('#'))
            continue;
        const qsizetype colon = line.indexOf(':');
        if (colon > 0)
            fields.insert(line.left(colon), line.mid(colon + 1));
    }
    return fields;
}

qint64 toInt(const QByteArray &s, qint64 fallback = -1)
{
    bool ok = false;
    const qint64 v = s.toLongLong(&ok);
    return ok ? v : fallback;
}

QByteArray heartbeatKey()
{
    return QByteArray::fromStdString(std::string(RedisSchema::kHeartbeat));
}

} // namespace

struct ReplicationMonitor::Tick
{
    quint64 id = 0;
    QElapsedTimer clock;
    int budgetMs = 800;
    PrimaryReplicationStatus primary;
    QList<RegionReplicationStatus> regions;
    std::vector<bool> heartbeatDone;
    std::vector<bool> infoDone;
    bool primaryInfoDone = false;
    bool primaryClockDone = false;
    qint64 heartbeatMs = -1;  // written this tick
    qint64 heartbeatAtMs = 0; // t.clock elapsed when it was read
    int probeRound = 0;
    bool finished = false;
};

ReplicationMonitor::ReplicationMonitor(const RedisConnection::Options &primary, const QList<Replica> &replicas,
                                       QObject *parent)
    : QObject(parent)
    , m_primaryOptions(primary)
    , m_timer(this)
{
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, &ReplicationMonitor::tick);
    m_primary = makeConnection(primary);
    setReplicas(replicas);
}

ReplicationMonitor::~ReplicationMonitor()
{
    if (m_current)
        m_current->finished = true;
}

RedisConnection *ReplicationMonitor::makeConnection(const RedisConnection::Options &options)
{
    RedisConnection::Options o = options;
    // A hung server must not hold a link (and the commands queued on it) for
    // longer than a few ticks.
    o.commandTimeoutMs = qMin(o.commandTimeoutMs, qMax(500, m_intervalMs * 2));
    o.connectTimeoutMs = qMin(o.connectTimeoutMs, qMax(500, m_intervalMs * 2));
    o.reconnectMaxMs = qMin(o.reconnectMaxMs, qMax(500, m_intervalMs));
    return new RedisConnection(o, this);
}

void ReplicationMonitor::setIntervalMs(int ms)
{
    m_intervalMs = qMax(50, ms);
    if (m_timer.isActive())
        m_timer.start(m_intervalMs);
}

void ReplicationMonitor::start()
{
    m_primary->open();
    for (auto &r : m_replicas)
        r->connection->open();
    m_timer.start(m_intervalMs);
    tick();
}

void ReplicationMonitor::stop()
{
    m_timer.stop();
    if (m_current)
        m_current->finished = true;
    m_current.reset();
    m_primary->close();
    for (auto &r : m_replicas)
        r->connection->close();
}

void ReplicationMonitor::setPrimaryAddress(const QString &host, int port)
{
    if (m_primaryOptions.host == host && m_primaryOptions.port == port)
        return;
    m_primaryOptions.host = host;
    m_primaryOptions.port = port;
    const bool running = m_timer.isActive();
    m_primary->close();
    m_primary->deleteLater();
    m_primary = makeConnection(m_primaryOptions);
    if (running)
        m_primary->open();
}

void ReplicationMonitor::setReplicas(const QList<Replica> &replicas)
{
    if (m_current) {
        m_current->finished = true; // its indexes no longer match
        m_current.reset();
    }
    for (auto &r : m_replicas) {
        r->connection->close();
        r->connection->deleteLater();
    }
    m_replicas.clear();
    for (const Replica &config : replicas) {
        auto link = std::make_unique<ReplicaLink>();
        link->config = config;
        link->connection = makeConnection(config.options);
        if (m_timer.isActive())
            link->connection->open();
        m_replicas.push_back(std::move(link));
    }
}

bool ReplicationMonitor::tickOver(const std::shared_ptr<Tick> &t) const
{
    return t->finished || m_current != t;
}

void ReplicationMonitor::tick()
{
    if (m_current && !m_current->finished)
        return; // the previous tick is still within its budget
    auto t = std::make_shared<Tick>();
    t->id = ++m_tickId;
    t->clock.start();
    t->budgetMs = qMax(40, m_intervalMs * 8 / 10);
    t->primary.host = m_primaryOptions.host;
    t->primary.port = m_primaryOptions.port;
    t->heartbeatDone.assign(m_replicas.size(), false);
    t->infoDone.assign(m_replicas.size(), false);
    for (const auto &r : m_replicas) {
        RegionReplicationStatus s;
        s.region = r->config.region;
        s.host = r->config.options.host;
        s.port = r->config.options.port;
        t->regions.append(s);
    }
    m_current = t;
    QTimer::singleShot(t->budgetMs, this, [this, t] {
        if (!tickOver(t))
            finishTick(t);
    });

    m_primary->command(
        {QByteArrayLiteral("INFO"), QByteArrayLiteral("replication")}, this,
        [this, t](const RedisReply &r) {
            if (tickOver(t))
                return;
            t->primaryInfoDone = true;
            if (r.isError()) {
                t->primary.error = r.errorMessage();
            } else {
                const auto info = parseInfo(r.str);
                t->primary.reachable = true;
                t->primary.role = QString::fromLatin1(info.value("role"));
                t->primary.connectedReplicas = int(toInt(info.value("connected_slaves")));
                t->primary.offset = toInt(info.value("master_repl_offset"));
            }
            finishTick(t);
        },
        t->budgetMs);

    readPrimaryClock(t, [this, t](qint64 clockMs) {
        if (clockMs < 0) {
            t->primaryClockDone = true;
            for (std::size_t i = 0; i < t->heartbeatDone.size(); ++i)
                t->heartbeatDone[i] = true;
            finishTick(t);
            return;
        }
        t->heartbeatMs = clockMs;
        t->heartbeatAtMs = t->clock.elapsed();
        t->primary.clockMs = clockMs;
        const bool viaFunction = m_heartbeatFunction;
        const QList<QByteArray> write = viaFunction
            ? QList<QByteArray>{QByteArrayLiteral("FCALL"),
                                QByteArray::fromStdString(std::string(ProposalFunction::kHeartbeatName)),
                                QByteArrayLiteral("0")}
            : QList<QByteArray>{QByteArrayLiteral("SET"), heartbeatKey(), QByteArray::number(clockMs)};
        m_primary->command(
            write, this,
            [this, t, viaFunction](const RedisReply &r) {
                if (viaFunction && r.isError() && !r.local
                    && (r.errorCode() == "NOPERM" || r.str.contains("not found")))
                    m_heartbeatFunction = false; // library not loaded or call refused: the next tick SETs
                if (tickOver(t))
                    return;
                t->primaryClockDone = true;
                if (r.isError()) {
                    t->primary.error = QStringLiteral("cannot write the heartbeat: %1").arg(r.errorMessage());
                    // Still read the replicas: their lag against the last heartbeat is meaningful.
                }
                probeReplicas(t);
            },
            t->budgetMs);
    });

    for (std::size_t i = 0; i < m_replicas.size(); ++i) {
        ReplicaLink *link = m_replicas[i].get();
        QList<QList<QByteArray>> cmds{{QByteArrayLiteral("INFO"), QByteArrayLiteral("replication")}};
        if (link->configAllowed)
            cmds.append(
                {QByteArrayLiteral("CONFIG"), QByteArrayLiteral("GET"), QByteArrayLiteral("replica-serve-stale-data")});
        link->connection->pipeline(
            cmds, this,
            [this, t, i, link](const QList<RedisReply> &replies) {
                if (tickOver(t))
                    return;
                t->infoDone[i] = true;
                RegionReplicationStatus &s = t->regions[qsizetype(i)];
                const RedisReply &info = replies.first();
                if (info.isError()) {
                    s.reachable = false;
                    s.error = info.errorMessage();
                } else {
                    const auto fields = parseInfo(info.str);
                    s.reachable = true;
                    const QByteArray role = fields.value("role");
                    if (role != "slave") {
                        s.linkUp = false;
                        s.error = QStringLiteral("not a replica (role %1)").arg(QString::fromLatin1(role));
                    } else {
                        s.linkUp = fields.value("master_link_status") == "up";
                        s.offset = toInt(fields.value("slave_repl_offset"));
                        s.lastIoSecondsAgo = s.linkUp ? int(toInt(fields.value("master_last_io_seconds_ago"))) : -1;
                        if (!s.linkUp)
                            s.error = QStringLiteral("replication link down (master %1:%2)")
                                          .arg(QString::fromLatin1(fields.value("master_host")),
                                               QString::fromLatin1(fields.value("master_port")));
                    }
                }
                if (replies.size() > 1) {
                    const RedisReply &cfg = replies[1];
                    if (cfg.isError() && !cfg.local) {
                        link->configAllowed = false; // NOPERM: the ACL keeps CONFIG from the console
                    } else if (cfg.isArray() && cfg.elements.size() == 2) {
                        s.serveStaleData = cfg.elements[1].str == "yes" ? 1 : 0;
                    }
                }
                finishTick(t);
            },
            t->budgetMs);
    }
}

void ReplicationMonitor::readPrimaryClock(std::shared_ptr<Tick> t, std::function<void(qint64)> done)
{
    if (m_timeAllowed) {
        m_primary->command(
            {QByteArrayLiteral("TIME")}, this,
            [this, t, done](const RedisReply &r) {
                if (tickOver(t))
                    return;
                if (r.isError() && !r.local && r.errorCode() == "NOPERM") {
                    m_timeAllowed = false;
                    readPrimaryClock(t, done);
                    return;
                }
                if (r.isError() || !r.isArray() || r.elements.size() != 2) {
                    t->primary.reachable = false;
                    if (t->primary.error.isEmpty())
                        t->primary.error = r.isError() ? r.errorMessage() : QStringLiteral("unexpected TIME reply");
                    done(-1);
                    return;
                }
                done(r.elements[0].toInteger() * 1000 + r.elements[1].toInteger() / 1000);
            },
            t->budgetMs);
        return;
    }
    // The console ACL user may lack TIME (@fast); INFO is allowed and carries the clock.
    m_primary->command(
        {QByteArrayLiteral("INFO"), QByteArrayLiteral("server")}, this,
        [this, t, done](const RedisReply &r) {
            if (tickOver(t))
                return;
            const qint64 usec = r.isError() ? -1 : toInt(parseInfo(r.str).value("server_time_usec"));
            if (usec < 0) {
                t->primary.reachable = false;
                if (t->primary.error.isEmpty())
                    t->primary.error = r.isError() ? r.errorMessage()
                                                   : QStringLiteral("INFO server has no server_time_usec");
                done(-1);
                return;
            }
            done(usec / 1000);
        },
        t->budgetMs);
}

void ReplicationMonitor::probeReplicas(std::shared_ptr<Tick> t)
{
    struct Round
    {
        qint64 primaryNowMs = -1;
        QList<RedisReply> gets;
        std::vector<std::size_t> indexes;
        int remaining = 0;
    };
    auto round = std::make_shared<Round>();
    for (std::size_t i = 0; i < m_replicas.size(); ++i) {
        if (!t->heartbeatDone[i])
            round->indexes.push_back(i);
    }
    if (round->indexes.empty()) {
        finishTick(t);
        return;
    }
    round->gets.resize(qsizetype(round->indexes.size()));
    round->remaining = int(round->indexes.size()) + 1;
    ++t->probeRound;

    auto complete = [this, t, round] {
        if (--round->remaining > 0 || tickOver(t))
            return;
        bool retry = false;
        for (qsizetype k = 0; k < round->gets.size(); ++k) {
            const std::size_t i = round->indexes[std::size_t(k)];
            RegionReplicationStatus &s = t->regions[qsizetype(i)];
            ReplicaLink *link = m_replicas[i].get();
            const RedisReply &get = round->gets[k];
            if (get.isError()) {
                s.reachable = false;
                s.error = get.errorMessage();
                if (round->primaryNowMs >= 0 && link->lastHeartbeatMs >= 0)
                    s.lagMs = round->primaryNowMs - link->lastHeartbeatMs;
                t->heartbeatDone[i] = true;
                continue;
            }
            bool ok = false;
            const qint64 hb = get.isNil() ? -1 : get.toInteger(&ok);
            if (ok)
                link->lastHeartbeatMs = hb;
            if (round->primaryNowMs < 0) {
                t->heartbeatDone[i] = true; // no primary clock: lag unknown this tick
                continue;
            }
            const bool current = ok && hb >= t->heartbeatMs;
            if (!current && t->clock.elapsed() < t->budgetMs / 2) {
                retry = true;
                continue;
            }
            s.lagMs = ok ? qMax<qint64>(0, round->primaryNowMs - hb) : -1;
            if (!ok)
                s.error = QStringLiteral("no heartbeat on the replica yet");
            t->heartbeatDone[i] = true;
        }
        if (retry) {
            // Replication usually lands within a few ms; back off 5, 10, 20... ms.
            const int delay = qMin(5 << qMin(t->probeRound - 1, 5), 100);
            QTimer::singleShot(delay, this, [this, t] {
                if (!tickOver(t))
                    probeReplicas(t);
            });
            return;
        }
        finishTick(t);
    };

    readPrimaryClock(t, [round, complete](qint64 now) {
        round->primaryNowMs = now;
        complete();
    });
    for (qsizetype k = 0; k < qsizetype(round->indexes.size()); ++k) {
        const std::size_t i = round->indexes[std::size_t(k)];
        m_replicas[i]->connection->command(
            {QByteArrayLiteral("GET"), heartbeatKey()}, this,
            [t, round, k, complete](const RedisReply &r) {
                round->gets[k] = r;
                complete();
            },
            t->budgetMs);
    }
}

void ReplicationMonitor::finishTick(std::shared_ptr<Tick> t)
{
    if (tickOver(t))
        return;
    const bool budgetSpent = t->clock.elapsed() >= t->budgetMs;
    bool complete = t->primaryInfoDone && t->primaryClockDone;
    for (std::size_t i = 0; i < m_replicas.size(); ++i)
        complete = complete && t->infoDone[i] && t->heartbeatDone[i];
    if (!complete && !budgetSpent)
        return;
    t->finished = true;

    const QString late = QStringLiteral("no reply within %1 ms").arg(t->budgetMs);
    if (!t->primaryInfoDone || !t->primaryClockDone) {
        t->primary.reachable = false;
        if (t->primary.error.isEmpty())
            t->primary.error = late;
    }
    for (std::size_t i = 0; i < m_replicas.size(); ++i) {
        RegionReplicationStatus &s = t->regions[qsizetype(i)];
        s.primaryOffset = t->primary.offset;
        if (!t->infoDone[i]) {
            s.reachable = false;
            s.linkUp = false;
            if (s.error.isEmpty())
                s.error = late;
        }
        if (!t->infoDone[i] || !t->heartbeatDone[i]) {
            // The replica is silent: its lag is at least the age of what it last showed.
            const qint64 last = m_replicas[i]->lastHeartbeatMs;
            if (t->heartbeatMs >= 0 && last >= 0)
                s.lagMs = t->heartbeatMs + (t->clock.elapsed() - t->heartbeatAtMs) - last;
        }
    }
    m_current.reset();
    emit primaryUpdated(t->primary);
    emit statusUpdated(t->regions);
}

} // namespace l0l3
