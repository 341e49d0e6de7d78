#include <QElapsedTimer>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "core/control/replicationmonitor.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

// A user-space TCP proxy in the replication path (replica -> proxy ->
// primary), driven by the test's event loop. Partitioned, it drops every
// link and refuses new ones, as a network cut that both ends notice.
class TcpProxy
{
public:
    bool listen(int targetPort)
    {
        m_targetPort = quint16(targetPort);
        QObject::connect(&m_server, &QTcpServer::newConnection, &m_server, [this] { accept(); });
        return m_server.listen(QHostAddress::LocalHost, 0);
    }
    int port() const { return m_server.serverPort(); }
    int accepted() const { return m_accepted; }

    void setPartitioned(bool partitioned)
    {
        m_partitioned = partitioned;
        if (!partitioned)
            return;
        for (const Link &l : std::as_const(m_links)) {
            if (l.client)
                l.client->abort();
            if (l.upstream)
                l.upstream->abort();
        }
        m_links.clear();
    }

private:
    struct Link
    {
        QPointer<QTcpSocket> client;
        QPointer<QTcpSocket> upstream;
    };

    void accept()
    {
        while (QTcpSocket *client = m_server.nextPendingConnection()) {
            client->setParent(&m_server);
            if (m_partitioned) {
                client->abort();
                client->deleteLater();
                continue;
            }
            ++m_accepted;
            auto *upstream = new QTcpSocket(&m_server);
            auto pending = std::make_shared<QByteArray>();
            QObject::connect(client, &QTcpSocket::readyRead, upstream, [client, upstream, pending] {
                if (upstream->state() == QAbstractSocket::ConnectedState)
                    upstream->write(client->readAll());
                else
                    pending->append(client->readAll());
            });
            QObject::connect(upstream, &QTcpSocket::connected, upstream, [upstream, pending] {
                upstream->write(*pending);
                pending->clear();
            });
            QObject::connect(upstream, &QTcpSocket::readyRead, client,
                             [client, upstream] { client->write(upstream->readAll()); });
            auto closeBoth = [c = QPointer<QTcpSocket>(client), u = QPointer<QTcpSocket>(upstream)] {
                if (c) {
                    c->abort();
                    c->deleteLater();
                }
                if (u) {
                    u->abort();
                    u->deleteLater();
                }
            };
            QObject::connect(client, &QTcpSocket::disconnected, &m_server, closeBoth);
            QObject::connect(upstream, &QTcpSocket::disconnected, &m_server, closeBoth);
            QObject::connect(upstream, &QTcpSocket::errorOccurred, &m_server, closeBoth);
            upstream->connectToHost(QHostAddress::LocalHost, m_targetPort);
            m_links.append(Link{client, upstream});
        }
    }

    QTcpServer m_server;
    quint16 m_targetPort = 0;
    bool m_partitioned = false;
    int m_accepted = 0;
    QList<Link> m_links;
};

} // namespace

// The tokyo replica is cut from the primary (proxy in
// the replication link). The lag the monitor shows grows and the link shows
// down; an entry approved during the partition arrives after it heals; an
// entry revoked during the partition stops being served at the edge within
// the lag shown (plus the L0.5 invalidation), not after the hot-cache TTL.
class TestPartition : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void partitionedReplicaCatchesUp();

private:
    HttpResult chat(const QString &region, const QString &prompt);
    // A miss at region, proposed by its gateway, approved through ApprovalService.
    bool approve(const QString &region, const QString &prompt, const QString &answer, QByteArray *key, QString *error);

    TcpProxy m_proxy;
    E2eStack m_stack;
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    HttpClient m_http;
};

void TestPartition::initTestCase()
{
    E2eStack::Options options;
    options.regions = {QStringLiteral("nyc"), QStringLiteral("tokyo")};
    // Only an invalidation drops an L0.5 entry within the test.
    options.gatewayArgs = {QStringLiteral("--hot-cache-ttl-seconds"), QStringLiteral("600")};
    bool proxyListening = false;
    options.replicaOfPort = [&](const QString &region, int primaryPort) {
        if (region != QLatin1String("tokyo"))
            return primaryPort;
        proxyListening = m_proxy.listen(primaryPort);
        return m_proxy.port();
    };
    QString error;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error + u'\n' + m_stack.describe()));
    QVERIFY(proxyListening);
    QVERIFY(m_proxy.accepted() >= 1);

    m_connection = std::make_unique<RedisConnection>(E2eStack::consoleOptions(m_stack.primary().port()));
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("e2e-partition"));
    m_connection->open();
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));
}

void TestPartition::cleanupTestCase()
{
    if (QTest::currentTestFailed())
        qWarning().noquote() << m_stack.describe();
    m_approvals.reset();
    m_connection.reset();
    m_stack.stop();
}

HttpResult TestPartition::chat(const QString &region, const QString &prompt)
{
    return m_http.post(m_stack.gatewayUrl(region), ChatWire::chatBody(prompt), {}, 5000);
}

bool TestPartition::approve(const QString &region, const QString &prompt, const QString &answer, QByteArray *key,
                            QString *error)
{
    const HttpResult miss = chat(region, prompt);
    *key = miss.header("x-l0l3-key");
    if (miss.header("x-l0l3-cache") != "miss" || key->isEmpty()) {
        *error = QStringLiteral("expected a miss, got status %1 %2")
                     .arg(miss.status)
                     .arg(QString::fromLatin1(miss.header("x-l0l3-cache")));
        return false;
    }
    RedisClient primary = m_stack.primary().client();
    std::vector<Proposal> proposals;
    if (!Poll::until([&] { return !(proposals = E2eStack::proposalsFor(primary, *key)).empty(); }, 5000)) {
        *error = QStringLiteral("no proposal for %1").arg(QString::fromLatin1(*key));
        return false;
    }
    ApprovalRequest request;
    request.proposalId = QString::fromStdString(proposals.front().id);
    request.response = answer;
    const auto result = E2eStack::await([&](ApprovalService::ResultCallback cb) { m_approvals->approve(request, cb); });
    if (!result || !result->ok || result->replicasAcked < 1) {
        *error = result ? result->message : QStringLiteral("approve() never answered");
        return false;
    }
    return true;
}

void TestPartition::partitionedReplicaCatchesUp()
{
    const QString nyc = QStringLiteral("nyc");
    const QString tokyo = QStringLiteral("tokyo");
    const QString runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);

    RedisConnection::Options primaryOptions = E2eStack::consoleOptions(m_stack.primary().port());
    ReplicationMonitor monitor(primaryOptions,
                               {{nyc, E2eStack::consoleOptions(m_stack.replica(nyc).port())},
                                {tokyo, E2eStack::consoleOptions(m_stack.replica(tokyo).port())}});
    monitor.setIntervalMs(250);
    QHash<QString, RegionReplicationStatus> status;
    qint64 maxTokyoLagMs = -1;
    connect(&monitor, &ReplicationMonitor::statusUpdated, this, [&](const QList<RegionReplicationStatus> &regions) {
        for (const RegionReplicationStatus &s : regions)
            status.insert(s.region, s);
    });
    monitor.start();
    auto healthy = [&](const QString &region) {
        const RegionReplicationStatus s = status.value(region);
        return s.reachable && s.linkUp && s.lagMs >= 0 && s.lagMs < TimeScale::ms(1000);
    };
    QTRY_VERIFY_WITH_TIMEOUT(healthy(nyc) && healthy(tokyo), TimeScale::ms(10000));

    // Before: an approved entry served in tokyo from L0.5.
    const QString revokedPrompt = QStringLiteral("Revoked during the partition %1").arg(runId);
    const QString revokedAnswer = QStringLiteral("This answer is withdrawn later.");
    QByteArray revokedKey;
    QString error;
    QVERIFY2(approve(tokyo, revokedPrompt, revokedAnswer, &revokedKey, &error), qPrintable(error));
    HttpResult r;
    QVERIFY(Poll::until([&] { return (r = chat(tokyo, revokedPrompt)).header("x-l0l3-cache") == "hit"; }, 5000));
    // An approval's invalidation reaches a gateway twice (replica and primary
    // subscriber), in no fixed order with the first L0 read: when one lands
    // after that read, the next read is L0 once more. At most a few reads.
    const auto becomesHot = [&](const QString &region, const QString &prompt, const QString &answer) {
        for (int i = 0; i < 5; ++i) {
            const HttpResult h = chat(region, prompt);
            if (h.header("x-l0l3-cache") != "hit" || ChatWire::completionContent(h.body) != answer)
                return false;
            if (h.header("x-l0l3-tier") == "L0.5")
                return true;
        }
        return false;
    };
    QVERIFY(becomesHot(tokyo, revokedPrompt, revokedAnswer));

    QElapsedTimer clock;
    clock.start();
    m_proxy.setPartitioned(true);
    QTRY_VERIFY_WITH_TIMEOUT(!status.value(tokyo).linkUp, TimeScale::ms(10000));
    const qint64 linkDownShownMs = clock.elapsed();
    QTRY_VERIFY_WITH_TIMEOUT(status.value(tokyo).lagMs > 1500, TimeScale::ms(10000));
    QVERIFY(healthy(nyc));

    // During the partition: approve one entry, revoke the other.
    const QString newPrompt = QStringLiteral("Approved during the partition %1").arg(runId);
    const QString newAnswer = QStringLiteral("Arrives once the link heals.");
    QByteArray newKey;
    QVERIFY2(approve(tokyo, newPrompt, newAnswer, &newKey, &error), qPrintable(error));
    QVERIFY(Poll::until([&] { return chat(nyc, newPrompt).header("x-l0l3-cache") == "hit"; }, 5000));
    QCOMPARE(chat(tokyo, newPrompt).header("x-l0l3-cache"), QByteArray("miss"));

    const auto revoked = E2eStack::await([&](ApprovalService::ResultCallback cb) {
        m_approvals->revoke(QString::fromLatin1(revokedKey), QString(), cb);
    });
    QVERIFY2(revoked && revoked->ok, revoked ? qPrintable(revoked->message) : "no answer");
    const qint64 revokedAtMs = clock.elapsed();
    QVERIFY(Poll::until([&] { return chat(nyc, revokedPrompt).header("x-l0l3-cache") == "miss"; }, 5000));
    // Cut off, tokyo still serves it: that is what the partition costs.
    const HttpResult stale = chat(tokyo, revokedPrompt);
    QCOMPARE(stale.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(ChatWire::completionContent(stale.body), revokedAnswer);
    // The revoke stays cut off for a while; the lag shown keeps growing.
    const qint64 lagAtRevokeMs = status.value(tokyo).lagMs;
    QTRY_VERIFY_WITH_TIMEOUT(status.value(tokyo).lagMs >= revokedAtMs + 1000, TimeScale::ms(10000));
    QVERIFY(status.value(tokyo).lagMs > lagAtRevokeMs);
    QVERIFY(!status.value(tokyo).linkUp);

    const qint64 lagAtHealMs = status.value(tokyo).lagMs;
    maxTokyoLagMs = lagAtHealMs;
    const qint64 healAtMs = clock.elapsed();
    m_proxy.setPartitioned(false);

    qint64 goneAtMs = -1;
    qint64 arrivedAtMs = -1;
    QVERIFY2(Poll::until(
                 [&] {
                     if (goneAtMs < 0 && chat(tokyo, revokedPrompt).header("x-l0l3-cache") == "miss")
                         goneAtMs = clock.elapsed();
                     if (arrivedAtMs < 0) {
                         const HttpResult h = chat(tokyo, newPrompt);
                         if (h.header("x-l0l3-cache") == "hit" && ChatWire::completionContent(h.body) == newAnswer)
                             arrivedAtMs = clock.elapsed();
                     }
                     return goneAtMs >= 0 && arrivedAtMs >= 0;
                 },
                 20000, 10),
             qPrintable(
                 QStringLiteral("after the heal: revoked gone=%1 approved arrived=%2").arg(goneAtMs).arg(arrivedAtMs)));
    QTRY_VERIFY_WITH_TIMEOUT(healthy(tokyo), TimeScale::ms(10000));
    monitor.stop();

    const qint64 servedAfterRevokeMs = goneAtMs - revokedAtMs;
    qInfo("link down shown %lld ms after the cut; lag shown at heal %lld ms; after the heal the approved entry "
          "arrived in %lld ms and the revoked one was gone in %lld ms; the revoked entry was served %lld ms after "
          "the revoke",
          linkDownShownMs, lagAtHealMs, arrivedAtMs - healAtMs, goneAtMs - healAtMs, servedAfterRevokeMs);
    // Reconnect (replicationCron, 1 s) + partial resync + the replayed invalidation.
    constexpr qint64 kCatchUpMs = 3000;
    QVERIFY2(servedAfterRevokeMs <= maxTokyoLagMs + TimeScale::ms(kCatchUpMs),
             qPrintable(QStringLiteral("revoked entry served %1 ms after the revoke; lag shown %2 ms")
                            .arg(servedAfterRevokeMs)
                            .arg(maxTokyoLagMs)));
    // Both are served as the primary says, from L0 first and then L0.5.
    QVERIFY(becomesHot(tokyo, newPrompt, newAnswer));
    QCOMPARE(chat(tokyo, revokedPrompt).header("x-l0l3-cache"), QByteArray("miss"));
}

QTEST_GUILESS_MAIN(TestPartition)
#include "tst_partition.moc"
