#include "core/control/sentinelclient.h"

#include <QDateTime>
#include <QHash>
#include <QPointer>
#include <QSslSocket>
#include <QTimer>

#include <algorithm>
#include <memory>

#include "core/common/redishostlist.h"
#include "core/control/redissubscriber.h"

namespace l0l3 {

namespace {

const QByteArray kSwitchMaster = QByteArrayLiteral("+switch-master");

// The Sentinel events after which the topology view (flags, quorum, peers,
// replicas, a failover's progress) is worth asking again. Their own link: a
// Sentinel whose ACL predates them refuses this SUBSCRIBE, never the one for
// +switch-master.
const QList<QByteArray> kTopologyEvents{
    QByteArrayLiteral("+sdown"),
    QByteArrayLiteral("-sdown"),
    QByteArrayLiteral("+odown"),
    QByteArrayLiteral("-odown"),
    QByteArrayLiteral("+sentinel"),
    QByteArrayLiteral("-dup-sentinel"),
    QByteArrayLiteral("+slave"),
    QByteArrayLiteral("+convert-to-slave"),
    QByteArrayLiteral("+role-change"),
    QByteArrayLiteral("-role-change"),
    QByteArrayLiteral("+reboot"),
    QByteArrayLiteral("+reset-master"),
    QByteArrayLiteral("+tilt"),
    QByteArrayLiteral("-tilt"),
    QByteArrayLiteral("+try-failover"),
    QByteArrayLiteral("+failover-state-select-slave"),
    QByteArrayLiteral("+failover-state-send-slaveof-noone"),
    QByteArrayLiteral("+failover-state-wait-promotion"),
    QByteArrayLiteral("+failover-state-reconf-slaves"),
    QByteArrayLiteral("+promoted-slave"),
    QByteArrayLiteral("+slave-reconf-done"),
    QByteArrayLiteral("+failover-end"),
    QByteArrayLiteral("+failover-end-for-timeout"),
    QByteArrayLiteral("-failover-abort-no-good-slave"),
    QByteArrayLiteral("-failover-abort-not-elected"),
};

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

QList<SentinelClient::Address> hostList(const QString &text)
{
    std::vector<std::string> rejected;
    const RedisHostList hosts = RedisHostList::parse(text.toStdString(), &rejected);
    for (const std::string &entry : rejected) {
        if (!entry.empty()) // a trailing comma
            qWarning("l0l3: ignoring '%s' in L0L3_REDIS_HOSTS: not HOST:PORT", entry.substr(0, 300).c_str());
    }
    QList<SentinelClient::Address> out;
    for (const RedisHostList::Host &h : hosts.hosts())
        out.append({QString::fromStdString(h.host), h.port});
    return out;
}

enum class Probe { AsksForAuth, Anonymous, Unreachable };

// Sends PING on a fresh connection, before any AUTH: a Sentinel that requires
// AUTH answers -NOAUTH; any other answer means it serves anonymous clients.
void askPingBeforeAuth(QObject *context, const QString &host, int port, const RedisTls &tls, int timeoutMs,
                       std::function<void(Probe, const QString &)> cb)
{
    auto *socket = new QSslSocket(context);
    auto finished = std::make_shared<bool>(false);
    auto finish = [socket, finished, cb](Probe verdict, const QString &detail) {
        if (*finished)
            return;
        *finished = true;
        socket->abort();
        socket->deleteLater();
        cb(verdict, detail);
    };
    QString tlsFailure;
    if (tls.enabled && !tls.configure(*socket, &tlsFailure)) {
        QMetaObject::invokeMethod(
            socket, [finish, tlsFailure] { finish(Probe::Unreachable, tlsFailure); }, Qt::QueuedConnection);
        return;
    }
    QObject::connect(socket, tls.enabled ? &QSslSocket::encrypted : &QSslSocket::connected, socket,
                     [socket] { socket->write("*1\r\n$4\r\nPING\r\n"); });
    auto verification = std::make_shared<QString>();
    QObject::connect(socket, &QSslSocket::sslErrors, socket, [verification, host, port](const QList<QSslError> &e) {
        *verification = RedisTls::verificationFailure(host, port, e);
    });
    QObject::connect(socket, &QSslSocket::readyRead, socket, [socket, finish] {
        if (!socket->canReadLine()) {
            if (socket->bytesAvailable() > 4096)
                finish(Probe::Anonymous, QStringLiteral("an oversized answer to PING"));
            return;
        }
        const QByteArray line = socket->readLine(4096).trimmed();
        if (line.startsWith("-NOAUTH"))
            finish(Probe::AsksForAuth, {});
        else
            finish(Probe::Anonymous, QStringLiteral("PING before AUTH got '%1'").arg(QString::fromUtf8(line.left(64))));
    });
    QObject::connect(socket, &QSslSocket::errorOccurred, socket, [socket, finish, verification] {
        finish(Probe::Unreachable, verification->isEmpty() ? socket->errorString() : *verification);
    });
    QTimer::singleShot(timeoutMs, socket, [finish] { finish(Probe::Unreachable, QStringLiteral("timeout")); });
    if (tls.enabled)
        socket->connectToHostEncrypted(host, quint16(port));
    else
        socket->connectToHost(host, quint16(port));
}

} // namespace

SentinelClient::SentinelClient(const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
{
    if (m_options.sentinelUser.isEmpty() && m_options.sentinelPassword.isEmpty()) {
        m_options.sentinelUser = qgetenv("L0L3_SENTINEL_AUTH_USER");
        m_options.sentinelPassword = qgetenv("L0L3_SENTINEL_AUTH_PASSWORD");
    }
    if (!m_options.allowAnonymousSentinel)
        m_options.allowAnonymousSentinel = qEnvironmentVariable("L0L3_ALLOW_ANONYMOUS_SENTINEL") == u"1";
    if (m_options.serverHosts.isEmpty())
        m_options.serverHosts = hostList(qEnvironmentVariable("L0L3_REDIS_HOSTS"));

    for (const Address &a : std::as_const(m_options.sentinels)) {
        RedisConnection::Options o;
        o.host = a.host;
        o.port = a.port;
        o.user = m_options.sentinelUser;
        o.password = m_options.sentinelPassword;
        o.commandTimeoutMs = m_options.commandTimeoutMs;
        o.connectTimeoutMs = m_options.commandTimeoutMs;
        o.reconnectMaxMs = 2000;
        o.tls = m_options.tls;
        m_sentinels.append(new RedisConnection(o, this));
        m_admission.append(Admission::Probing);

        RedisSubscriber::Options so;
        so.host = a.host;
        so.port = a.port;
        so.user = m_options.sentinelUser;
        so.password = m_options.sentinelPassword;
        so.reconnectMaxMs = 2000;
        so.tls = m_options.tls;
        auto *sub = new RedisSubscriber(so, {kSwitchMaster}, this);
        connect(sub, &RedisSubscriber::message, this, [this](const QByteArray &channel, const QByteArray &payload) {
            if (channel == kSwitchMaster)
                onSwitchMessage(payload);
            emit sentinelEvent(channel.left(64), payload.left(1024));
        });
        // A switch may have happened while this link was down.
        connect(sub, &RedisSubscriber::subscribed, this, [this] {
            if (hasPrimary())
                discover();
        });
        m_subscribers.append(sub);

        RedisSubscriber::Options eo = so;
        eo.reconnectMaxMs = 10000; // a refused SUBSCRIBE is retried slowly
        auto *events = new RedisSubscriber(eo, kTopologyEvents, this);
        connect(events, &RedisSubscriber::message, this, [this](const QByteArray &channel, const QByteArray &payload) {
            emit sentinelEvent(channel.left(64), payload.left(1024));
        });
        m_eventSubscribers.append(events);
    }
}

QList<QByteArray> SentinelClient::topologyEventChannels()
{
    return kTopologyEvents;
}

SentinelClient::~SentinelClient() = default;

void SentinelClient::start()
{
    m_running = true;
    for (int i = 0; i < m_sentinels.size(); ++i) {
        if (m_options.allowAnonymousSentinel)
            admit(i);
        else
            probe(i);
    }
    // Discovery runs as Sentinels connect; this reports it if none does in time.
    QTimer::singleShot(m_options.allowAnonymousSentinel ? 0 : m_options.commandTimeoutMs, this, [this] {
        if (m_running && !hasPrimary())
            discover();
    });
}

void SentinelClient::stop()
{
    m_running = false;
    for (RedisConnection *c : std::as_const(m_sentinels))
        c->close();
    for (RedisSubscriber *s : std::as_const(m_subscribers))
        s->close();
    for (RedisSubscriber *s : std::as_const(m_eventSubscribers))
        s->close();
}

void SentinelClient::probe(int index)
{
    const Address a = m_options.sentinels[index];
    askPingBeforeAuth(
        this, a.host, a.port, m_options.tls, m_options.commandTimeoutMs,
        [this, index, a](Probe verdict, const QString &detail) {
            if (!m_running)
                return;
            switch (verdict) {
            case Probe::AsksForAuth: admit(index); return;
            case Probe::Anonymous: {
                m_admission[index] = Admission::Refused;
                const QString why = QStringLiteral(
                                        "Sentinel %1:%2 answers without AUTH (%3): refused, no credentials sent. "
                                        "Give it an ACL user (see packaging/redis/sentinel.conf) or allow "
                                        "anonymous Sentinels explicitly.")
                                        .arg(a.host)
                                        .arg(a.port)
                                        .arg(detail);
                qWarning("l0l3: %s", qUtf8Printable(why));
                emit sentinelRefused(a.host, a.port, why);
                if (!hasPrimary())
                    discover();
                return;
            }
            case Probe::Unreachable:
                // Down for now: ask again; it counts as a missing vote meanwhile.
                QTimer::singleShot(1000, this, [this, index] {
                    if (m_running)
                        probe(index);
                });
                return;
            }
        });
}

void SentinelClient::admit(int index)
{
    m_admission[index] = Admission::Accepted;
    m_sentinels[index]->open();
    m_subscribers[index]->open();
    m_eventSubscribers[index]->open();
    connect(m_sentinels[index], &RedisConnection::connected, this, [this] {
        // One more Sentinel up may complete a majority.
        if (!hasPrimary())
            discover();
    });
}

RedisConnection::Options SentinelClient::serverOptions(const QString &host, int port) const
{
    RedisConnection::Options o;
    o.host = host;
    o.port = port;
    o.user = m_options.serverUser;
    o.password = m_options.serverPassword;
    o.tls = m_options.tls;
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
        QMetaObject::invokeMethod(
            this, [done, none] { done(-1, none); }, Qt::QueuedConnection);
        return;
    }
    if (m_admission[from] != Admission::Accepted) {
        onSentinels(commands, done, from + 1);
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
                why = r.isError()
                    ? r.errorMessage()
                    : QStringLiteral("ROLE on %1:%2 says %3")
                          .arg(host)
                          .arg(port)
                          .arg(r.elements.isEmpty() ? QStringLiteral("?") : r.elements.first().toString());
            cb(isMaster, why);
            return;
        }
        QTimer::singleShot(200, this, [this, host, port, tries, cb] { checkRole(host, port, tries - 1, cb); });
    });
}

bool SentinelClient::mayReceiveCredentials(const QString &host, int port) const
{
    RedisHostList allowed;
    for (const Address &a : m_options.serverHosts)
        allowed.add(a.host.toStdString(), a.port);
    return allowed.mayReceiveCredentials(host.toStdString(), port, !m_options.serverPassword.isEmpty());
}

bool SentinelClient::mayPromote(const QString &host, int port) const
{
    return m_options.serverHosts.isEmpty() || mayReceiveCredentials(host, port);
}

void SentinelClient::majorityRound(RoundResult done)
{
    const QList<QByteArray> cmd{QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("get-master-addr-by-name"),
                                m_options.masterName.toUtf8()};
    const int count = int(m_sentinels.size());
    auto answers = std::make_shared<QList<RedisReply>>(count, RedisReply::localError("not asked"));
    auto remaining = std::make_shared<int>(count);
    auto collect = [this, answers, remaining, done](int i, const RedisReply &r) {
        (*answers)[i] = r;
        if (--*remaining == 0)
            onRoundAnswers(*answers, done);
    };
    for (int i = 0; i < count; ++i) {
        if (m_admission[i] != Admission::Accepted) {
            const RedisReply why = RedisReply::localError(
                m_admission[i] == Admission::Refused ? "refused: answers without AUTH" : "not checked yet");
            QMetaObject::invokeMethod(
                this, [collect, i, why] { collect(i, why); }, Qt::QueuedConnection);
            continue;
        }
        m_sentinels[i]->command(cmd, this, [collect, i](const RedisReply &r) { collect(i, r); });
    }
}

void SentinelClient::onRoundAnswers(const QList<RedisReply> &answers, RoundResult done)
{
    QHash<QString, int> votes;
    QStringList problems;
    for (int i = 0; i < answers.size(); ++i) {
        const RedisReply &r = answers[i];
        const int port = r.isArray() && r.elements.size() == 2 ? int(r.elements[1].toInteger()) : 0;
        const QString host = port > 0 ? r.elements[0].toString() : QString();
        if (host.isEmpty() || host.size() > 255 || port > 65535) {
            problems << QStringLiteral("%1:%2 %3")
                            .arg(m_options.sentinels[i].host)
                            .arg(m_options.sentinels[i].port)
                            .arg(r.isError() ? r.errorMessage().left(200)
                                             : QStringLiteral("does not know %1").arg(m_options.masterName));
            continue;
        }
        ++votes[QStringLiteral("%1:%2").arg(host).arg(port)];
    }
    QString best;
    int bestVotes = 0;
    for (auto it = votes.cbegin(); it != votes.cend(); ++it) {
        if (it.value() > bestVotes) {
            best = it.key();
            bestVotes = it.value();
        }
    }
    const int configured = int(m_options.sentinels.size());
    if (bestVotes * 2 <= configured) {
        done(false, {}, 0,
             QStringLiteral("no majority of the %1 Sentinels names a primary (at most %2 agree%3)")
                 .arg(configured)
                 .arg(bestVotes)
                 .arg(problems.isEmpty() ? QString() : QStringLiteral("; ") + problems.join(QStringLiteral("; "))));
        return;
    }
    const qsizetype colon = best.lastIndexOf(u':');
    const QString host = best.left(colon);
    const int port = best.mid(colon + 1).toInt();
    if (!mayReceiveCredentials(host, port)) {
        done(false, host, port,
             QStringLiteral("%1 of %2 Sentinels name %3, which is not one of the Redis hosts the "
                            "console may authenticate to (serverHosts / L0L3_REDIS_HOSTS); "
                            "no credentials sent")
                 .arg(bestVotes)
                 .arg(configured)
                 .arg(best));
        return;
    }
    checkRole(host, port, 1,
              [done, host, port](bool isMaster, const QString &why) { done(isMaster, host, port, why); });
}

void SentinelClient::discover()
{
    if (m_sentinels.isEmpty()) {
        emit discoveryFailed(QStringLiteral("no Sentinel configured"));
        return;
    }
    if (m_discovering) {
        m_discoverAgain = true;
        return;
    }
    m_discovering = true;
    majorityRound([this](bool ok, const QString &host, int port, const QString &why) {
        m_discovering = false;
        if (ok)
            setPrimary(host, port);
        else
            emit discoveryFailed(why);
        if (m_discoverAgain) {
            m_discoverAgain = false;
            discover();
        }
    });
}

void SentinelClient::onSwitchMessage(const QByteArray &payload)
{
    // "<master name> <old ip> <old port> <new ip> <new port>": a claim, not the primary.
    const QList<QByteArray> parts = payload.left(1024).split(' ');
    if (parts.size() != 5 || parts[0] != m_options.masterName.toUtf8())
        return;
    const QString oldHost = QString::fromUtf8(parts[1]);
    const int oldPort = parts[2].toInt();
    const QString host = QString::fromUtf8(parts[3]);
    const int port = parts[4].toInt();
    emit switchMasterObserved(oldHost, oldPort, host, port);
    if (host == m_primaryHost && port == m_primaryPort)
        return; // another Sentinel announcing the same switch
    m_switchHost = host;
    m_switchPort = port;
    m_switchDeadlineMs = QDateTime::currentMSecsSinceEpoch() + m_options.switchConfirmTimeoutMs;
    if (!m_confirming) {
        m_confirming = true;
        confirmSwitch();
    }
}

// The other Sentinels learn of a failover from hello messages a few seconds
// after the one that announced it: rounds repeat until a majority names a
// primary other than the current one, or the deadline passes.
void SentinelClient::confirmSwitch()
{
    majorityRound([this](bool ok, const QString &host, int port, const QString &why) {
        if (!m_running) {
            m_confirming = false;
            return;
        }
        if (ok && (host != m_primaryHost || port != m_primaryPort)) {
            m_confirming = false;
            setPrimary(host, port);
            return;
        }
        if (QDateTime::currentMSecsSinceEpoch() >= m_switchDeadlineMs) {
            m_confirming = false;
            const QString reason = ok ? QStringLiteral("the Sentinels' majority still names %1:%2").arg(host).arg(port)
                                      : why;
            qWarning("l0l3: +switch-master to %s:%d not confirmed (%s); keeping %s:%d", qUtf8Printable(m_switchHost),
                     m_switchPort, qUtf8Printable(reason), qUtf8Printable(m_primaryHost), m_primaryPort);
            emit switchRejected(m_switchHost, m_switchPort, reason);
            return;
        }
        QTimer::singleShot(100, this, [this] { confirmSwitch(); });
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
    const QList<QList<QByteArray>> cmd{
        {QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("FAILOVER"), m_options.masterName.toUtf8()}};
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
            result.message = QStringLiteral(
                                 "Sentinel %1:%2 started a failover of %3; the console follows the new primary "
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
    const QString target = QStringLiteral("%1:%2").arg(newPrimary.host).arg(newPrimary.port);
    const QString notAllowed = QStringLiteral("not one of the Redis hosts the console may authenticate to "
                                              "(the profile's data nodes / L0L3_REDIS_HOSTS): nothing sent");

    PromotionStep first{newPrimary.host, newPrimary.port, QStringLiteral("REPLICAOF NO ONE"), false, {}};
    if (!mayPromote(newPrimary.host, newPrimary.port)) {
        first.detail = notAllowed;
        result->steps.append(first);
        result->message = QStringLiteral("%1 was not promoted: %2.").arg(target, notAllowed);
        QMetaObject::invokeMethod(
            this, [this, result] { emit failoverFinished(*result); }, Qt::QueuedConnection);
        return;
    }

    auto *promoted = new RedisConnection(serverOptions(newPrimary.host, newPrimary.port), this);
    promoted->open();
    promoted->command(
        {QByteArrayLiteral("REPLICAOF"), QByteArrayLiteral("NO"), QByteArrayLiteral("ONE")}, this,
        [this, promoted, newPrimary, others, result, target, first, notAllowed](const RedisReply &r) mutable {
            promoted->deleteLater();
            if (r.isError()) {
                first.detail = r.errorMessage().left(300);
                result->steps.append(first);
                result->message =
                    QStringLiteral("REPLICAOF NO ONE on %1 failed: %2; nothing was changed.").arg(target, first.detail);
                emit failoverFinished(*result);
                return;
            }
            first.ok = true;
            result->steps.append(first);
            // Each node once, never the new primary itself.
            QList<Address> nodes;
            for (const Address &a : others) {
                if (a.port <= 0 || (a.host == newPrimary.host && a.port == newPrimary.port))
                    continue;
                if (std::none_of(nodes.cbegin(), nodes.cend(),
                                 [&a](const Address &b) { return a.host == b.host && a.port == b.port; }))
                    nodes.append(a);
            }
            const QString command = QStringLiteral("REPLICAOF %1").arg(target);
            auto remaining = std::make_shared<int>(int(nodes.size()));
            auto finish = [this, newPrimary, result, target] {
                QStringList failures;
                int repointed = 0;
                for (const PromotionStep &step : std::as_const(result->steps).mid(1)) {
                    if (step.ok)
                        ++repointed;
                    else
                        failures.append(QStringLiteral("%1:%2 (%3)").arg(step.host).arg(step.port).arg(step.detail));
                }
                result->ok = failures.isEmpty();
                result->message = failures.isEmpty()
                    ? QStringLiteral("%1 is now the primary; %2 other server(s) re-pointed to it.")
                          .arg(target)
                          .arg(repointed)
                    : QStringLiteral("%1 is now the primary; %2 re-pointed, failed for: %3. Re-point those by hand.")
                          .arg(target)
                          .arg(repointed)
                          .arg(failures.join(QStringLiteral("; ")));
                setPrimary(newPrimary.host, newPrimary.port);
                emit failoverFinished(*result);
            };
            if (nodes.isEmpty()) {
                finish();
                return;
            }
            for (const Address &a : std::as_const(nodes)) {
                const qsizetype index = result->steps.size();
                result->steps.append({a.host, a.port, command, false, {}});
                if (!mayPromote(a.host, a.port)) {
                    result->steps[index].detail = notAllowed;
                    QMetaObject::invokeMethod(
                        this,
                        [remaining, finish] {
                            if (--*remaining == 0)
                                finish();
                        },
                        Qt::QueuedConnection);
                    continue;
                }
                auto *conn = new RedisConnection(serverOptions(a.host, a.port), this);
                conn->open();
                conn->command({QByteArrayLiteral("REPLICAOF"), newPrimary.host.toUtf8(),
                               QByteArray::number(newPrimary.port)},
                              this, [conn, index, result, remaining, finish](const RedisReply &rr) {
                                  conn->deleteLater();
                                  PromotionStep &step = result->steps[index];
                                  step.ok = !rr.isError();
                                  if (rr.isError())
                                      step.detail = rr.errorMessage().left(300);
                                  if (--*remaining == 0)
                                      finish();
                              });
            }
        });
}

} // namespace l0l3
