#include "core/control/sentinelclient.h"

#include <QHash>
#include <QPointer>
#include <QTimer>

#include <memory>

#include "core/control/redissubscriber.h"

namespace l0l3 {

namespace {

const QByteArray kSwitchMaster = QByteArrayLiteral("+switch-master");

// Sentinel answers SENTINEL master/replicas/sentinels with flat
// field, value, field, value... arrays (RESP2).
QHash<QByteArray, QByteArray> fieldsOf(const RedisReply &r)
{
    QHash<QByteArray, QByteArray> out;
    for (qsizetype i = 0; i + 1 < r.elements.size(); i += 2)
        out.insert(r.elements[i].str, r.elements[i + 1].str);
    return out;
}

SentinelTopology::Node nodeOf(const RedisReply &r, bool replica)
{
    const auto f = fieldsOf(r);
    SentinelTopology::Node n;
    n.host = QString::fromUtf8(f.value("ip"));
    n.port = f.value("port").toInt();
    n.runId = QString::fromUtf8(f.value("runid"));
    n.flags = QString::fromUtf8(f.value("flags"));
    if (replica) {
        n.offset = f.value("slave-repl-offset", "-1").toLongLong();
        n.linkUp = f.value("master-link-status") == "ok" && !n.flags.contains(QLatin1String("disconnected"));
    } else {
        n.linkUp = !n.flags.contains(QLatin1String("disconnected")) && !n.flags.contains(QLatin1String("s_down"));
    }
    return n;
}

} // namespace

SentinelClient::SentinelClient(const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
{
    for (const Address &a : options.sentinels) {
        RedisConnection::Options o;
        o.host = a.host;
        o.port = a.port;
        o.user = options.sentinelUser;
        o.password = options.sentinelPassword;
        o.commandTimeoutMs = options.commandTimeoutMs;
        o.connectTimeoutMs = options.commandTimeoutMs;
        o.reconnectMaxMs = 2000;
        m_sentinels.append(new RedisConnection(o, this));

        RedisSubscriber::Options so;
        so.host = a.host;
        so.port = a.port;
        so.user = options.sentinelUser;
        so.password = options.sentinelPassword;
        so.reconnectMaxMs = 2000;
        auto *sub = new RedisSubscriber(so, {kSwitchMaster}, this);
        connect(sub, &RedisSubscriber::message, this, [this](const QByteArray &channel, const QByteArray &payload) {
            if (channel == kSwitchMaster)
                onSwitchMessage(payload);
        });
        // A switch may have happened while this link was down.
        connect(sub, &RedisSubscriber::subscribed, this, [this] {
            if (hasPrimary())
                discover();
        });
        m_subscribers.append(sub);
    }
}

SentinelClient::~SentinelClient() = default;

void SentinelClient::start()
{
    for (RedisConnection *c : std::as_const(m_sentinels))
        c->open();
    for (RedisSubscriber *s : std::as_const(m_subscribers))
        s->open();
    discover();
}

void SentinelClient::stop()
{
    for (RedisConnection *c : std::as_const(m_sentinels))
        c->close();
    for (RedisSubscriber *s : std::as_const(m_subscribers))
        s->close();
}

RedisConnection::Options SentinelClient::serverOptions(const QString &host, int port) const
{
    RedisConnection::Options o;
    o.host = host;
    o.port = port;
    o.user = m_options.serverUser;
    o.password = m_options.serverPassword;
    o.autoReconnect = false;
    o.commandTimeoutMs = m_options.commandTimeoutMs;
    o.connectTimeoutMs = m_options.commandTimeoutMs;
    return o;
}

void SentinelClient::onSentinels(const QList<QList<QByteArray>> &commands, SentinelReplies done, int from)
{
    if (from >= m_sentinels.size()) {
        QList<RedisReply> none;
        for (qsizetype i = 0; i < commands.size(); ++i)
            none.append(RedisReply::localError("no Sentinel answered"));
        QMetaObject::invokeMethod(this, [done, none] { done(-1, none); }, Qt::QueuedConnection);
        return;
    }
    RedisConnection *c = m_sentinels[from];
    if (c->state() == RedisConnection::State::Closed)
        c->open();
    c->pipeline(commands, this, [this, commands, done, from](const QList<RedisReply> &replies) {
        // Only a transport failure moves on: a Sentinel's own error is the answer.
        if (!replies.isEmpty() && replies.first().isError() && replies.first().local) {
            onSentinels(commands, done, from + 1);
            return;
        }
        done(from, replies);
    });
}

void SentinelClient::checkRole(const QString &host, int port, int tries, std::function<void(bool, QString)> cb)
{
    auto *conn = new RedisConnection(serverOptions(host, port), this);
    conn->open();
    conn->command({QByteArrayLiteral("ROLE")}, this, [this, conn, host, port, tries, cb](const RedisReply &r) {
        conn->deleteLater();
        const bool isMaster = r.isArray() && !r.elements.isEmpty() && r.elements.first().str == "master";
        if (isMaster || tries <= 1) {
            QString why;
            if (!isMaster)
                why = r.isError() ? r.errorMessage()
                                  : QStringLiteral("ROLE on %1:%2 says %3")
                                        .arg(host).arg(port)
                                        .arg(r.elements.isEmpty() ? QStringLiteral("?") : r.elements.first().toString());
            cb(isMaster, why);
            return;
        }
        QTimer::singleShot(200, this, [this, host, port, tries, cb] { checkRole(host, port, tries - 1, cb); });
    });
}

void SentinelClient::discover()
{
    if (m_discovering || m_sentinels.isEmpty()) {
        if (m_sentinels.isEmpty())
            emit discoveryFailed(QStringLiteral("no Sentinel configured"));
        return;
    }
    m_discovering = true;
    discoverFrom(0, QString());
}

void SentinelClient::discoverFrom(int sentinelIndex, QString lastError)
{
    const QList<QList<QByteArray>> cmd{{QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("get-master-addr-by-name"),
                                        m_options.masterName.toUtf8()}};
    onSentinels(cmd, [this, lastError](int index, const QList<RedisReply> &replies) {
        const RedisReply &r = replies.first();
        if (index < 0) {
            m_discovering = false;
            emit discoveryFailed(lastError.isEmpty() ? r.errorMessage() : lastError);
            return;
        }
        if (!r.isArray() || r.elements.size() != 2) {
            const QString why = r.isError() ? r.errorMessage()
                                            : QStringLiteral("Sentinel does not know master %1").arg(m_options.masterName);
            discoverFrom(index + 1, why);
            return;
        }
        const QString host = r.elements[0].toString();
        const int port = int(r.elements[1].toInteger());
        // A Sentinel can lag behind a switch (or be partitioned): trust ROLE.
        checkRole(host, port, 1, [this, index, host, port](bool isMaster, const QString &why) {
            if (isMaster) {
                m_discovering = false;
                setPrimary(host, port);
                return;
            }
            discoverFrom(index + 1, why);
        });
    }, sentinelIndex);
}

void SentinelClient::onSwitchMessage(const QByteArray &payload)
{
    // "<master name> <old ip> <old port> <new ip> <new port>"
    const QList<QByteArray> parts = payload.split(' ');
    if (parts.size() != 5 || parts[0] != m_options.masterName.toUtf8())
        return;
    const QString oldHost = QString::fromUtf8(parts[1]);
    const int oldPort = parts[2].toInt();
    const QString host = QString::fromUtf8(parts[3]);
    const int port = parts[4].toInt();
    emit switchMasterObserved(oldHost, oldPort, host, port);
    if (host == m_primaryHost && port == m_primaryPort)
        return; // another Sentinel announcing the same switch
    checkRole(host, port, 10, [this, host, port](bool isMaster, const QString &) {
        // Sentinel already reconfigured the replicas; follow it even if ROLE
        // could not be read (e.g. the console user lacks access there).
        if (!isMaster)
            qWarning("l0l3: +switch-master to %s:%d not confirmed by ROLE; following Sentinel",
                     qUtf8Printable(host), port);
        setPrimary(host, port);
    });
}

void SentinelClient::setPrimary(const QString &host, int port)
{
    if (host == m_primaryHost && port == m_primaryPort)
        return;
    m_primaryHost = host;
    m_primaryPort = port;
    emit primaryChanged(host, port);
}

void SentinelClient::refreshTopology()
{
    const QByteArray name = m_options.masterName.toUtf8();
    const QByteArray sentinel = QByteArrayLiteral("SENTINEL");
    const QList<QList<QByteArray>> cmds{
        {sentinel, QByteArrayLiteral("MASTER"), name},
        {sentinel, QByteArrayLiteral("REPLICAS"), name},
        {sentinel, QByteArrayLiteral("SENTINELS"), name},
        {sentinel, QByteArrayLiteral("CKQUORUM"), name},
    };
    onSentinels(cmds, [this](int index, const QList<RedisReply> &replies) {
        SentinelTopology t;
        t.masterName = m_options.masterName;
        t.fetchedAt = QDateTime::currentDateTimeUtc();
        if (index < 0) {
            t.error = QStringLiteral("no Sentinel answered: %1").arg(replies.first().errorMessage());
            emit topologyUpdated(t);
            return;
        }
        t.sentinelHost = m_options.sentinels[index].host;
        t.sentinelPort = m_options.sentinels[index].port;
        const RedisReply &master = replies[0];
        if (master.isError()) {
            t.error = master.errorMessage();
        } else {
            const auto f = fieldsOf(master);
            t.masterHost = QString::fromUtf8(f.value("ip"));
            t.masterPort = f.value("port").toInt();
            t.masterFlags = QString::fromUtf8(f.value("flags"));
            t.quorum = f.value("quorum").toInt();
        }
        for (const RedisReply &r : replies[1].elements)
            t.replicas.append(nodeOf(r, true));
        for (const RedisReply &r : replies[2].elements)
            t.sentinels.append(nodeOf(r, false));
        t.quorumOk = !replies[3].isError();
        t.quorumMessage = replies[3].toString();
        emit topologyUpdated(t);
    });
}

void SentinelClient::failover()
{
    const QList<QList<QByteArray>> cmd{{QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("FAILOVER"),
                                        m_options.masterName.toUtf8()}};
    onSentinels(cmd, [this](int index, const QList<RedisReply> &replies) {
        const RedisReply &r = replies.first();
        FailoverResult result;
        result.action = QStringLiteral("sentinel-failover");
        if (index < 0) {
            result.message = QStringLiteral("No Sentinel answered (%1). Without Sentinels, promote a replica manually.")
                                 .arg(r.errorMessage());
        } else if (r.isError()) {
            // INPROG, NOGOODSLAVE...: say which Sentinel refused and why.
            result.message = QStringLiteral("Sentinel %1:%2 refused the failover: %3")
                                 .arg(m_options.sentinels[index].host)
                                 .arg(m_options.sentinels[index].port)
                                 .arg(r.errorMessage());
        } else {
            result.ok = true;
            result.message = QStringLiteral("Sentinel %1:%2 started a failover of %3; the console follows the new primary "
                                            "when it is announced (+switch-master).")
                                 .arg(m_options.sentinels[index].host)
                                 .arg(m_options.sentinels[index].port)
                                 .arg(m_options.masterName);
        }
        emit failoverFinished(result);
    });
}

void SentinelClient::promoteManually(const Address &newPrimary, const QList<Address> &others)
{
    auto result = std::make_shared<FailoverResult>();
    result->action = QStringLiteral("manual-promotion");
    result->newPrimaryHost = newPrimary.host;
    result->newPrimaryPort = newPrimary.port;

    auto *promoted = new RedisConnection(serverOptions(newPrimary.host, newPrimary.port), this);
    promoted->open();
    promoted->command({QByteArrayLiteral("REPLICAOF"), QByteArrayLiteral("NO"), QByteArrayLiteral("ONE")}, this,
                      [this, promoted, newPrimary, others, result](const RedisReply &r) {
        promoted->deleteLater();
        if (r.isError()) {
            result->message = QStringLiteral("REPLICAOF NO ONE on %1:%2 failed: %3; nothing was changed.")
                                  .arg(newPrimary.host).arg(newPrimary.port).arg(r.errorMessage());
            emit failoverFinished(*result);
            return;
        }
        auto remaining = std::make_shared<int>(int(others.size()));
        auto failures = std::make_shared<QStringList>();
        auto finish = [this, newPrimary, result, failures] {
            result->ok = failures->isEmpty();
            result->message = failures->isEmpty()
                ? QStringLiteral("%1:%2 is now the primary; the other servers replicate from it.")
                      .arg(newPrimary.host).arg(newPrimary.port)
                : QStringLiteral("%1:%2 is now the primary, but re-pointing failed for: %3. Re-point those by hand.")
                      .arg(newPrimary.host).arg(newPrimary.port).arg(failures->join(QStringLiteral("; ")));
            setPrimary(newPrimary.host, newPrimary.port);
            emit failoverFinished(*result);
        };
        if (others.isEmpty()) {
            finish();
            return;
        }
        for (const Address &a : others) {
            auto *conn = new RedisConnection(serverOptions(a.host, a.port), this);
            conn->open();
            conn->command({QByteArrayLiteral("REPLICAOF"), newPrimary.host.toUtf8(), QByteArray::number(newPrimary.port)},
                          this, [conn, a, remaining, failures, finish](const RedisReply &rr) {
                conn->deleteLater();
                if (rr.isError())
                    failures->append(QStringLiteral("%1:%2 (%3)").arg(a.host).arg(a.port).arg(rr.errorMessage()));
                if (--*remaining == 0)
                    finish();
            });
        }
    });
}

} // namespace l0l3
