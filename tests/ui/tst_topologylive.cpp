// The Topology page follows the Sentinels' own events, not a poll: a console
// that read "NO QUORUM" while one Sentinel was alone shows the quorum once a
// second Sentinel is found (+sentinel), with the fallback poll set far beyond
// the test's bounds.
#include <QElapsedTimer>
#include <QLabel>
#include <QTest>

#include <memory>

#include "core/control/sentinelclient.h"
#include "core/localstack/redisnodeconfig.h"
#include "tests/support/poll.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "ui/topology/topologypage.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/monitorclient.h"
#include "ui/workers/monitorconfig.h"

using namespace l0l3;
using namespace l0l3::test;

class TestTopologyLive : public QObject
{
    Q_OBJECT
private slots:
    void cleanup();
    void sentinelAclAllowsTheEvents();
    void quorumShownWhenSentinelsFindEachOther();

private:
    QString quorumText() const;
    int knownPeers(const RedisServer &sentinel) const;

    std::unique_ptr<RedisServer> m_primary;
    std::vector<std::unique_ptr<RedisServer>> m_sentinels;
    std::unique_ptr<ControlClient> m_control;
    std::unique_ptr<MonitorClient> m_monitor;
    std::unique_ptr<TopologyPage> m_page;
};

void TestTopologyLive::cleanup()
{
    if (QTest::currentTestFailed()) {
        for (const auto &s : m_sentinels)
            qWarning().noquote() << "sentinel" << s->port() << '\n' << s->logTail(20);
    }
    m_page.reset();
    m_monitor.reset();
    m_control.reset();
    for (auto &s : m_sentinels)
        QVERIFY2(s->stop(), qPrintable(s->logTail()));
    m_sentinels.clear();
    if (m_primary)
        QVERIFY2(m_primary->stop(), qPrintable(m_primary->logTail()));
    m_primary.reset();
}

QString TestTopologyLive::quorumText() const
{
    return m_page->findChild<QLabel *>(QStringLiteral("sentinelStatus"))->text();
}

int TestTopologyLive::knownPeers(const RedisServer &sentinel) const
{
    RedisClient c = sentinel.client(sentinel.adminUser());
    if (!c.isConnected())
        return -1;
    const RedisValue peers = c.command({"SENTINEL", "SENTINELS", "l0l3"});
    return peers.isArray() ? int(peers.elements.size()) : -1;
}

// The Sentinels' ACL user (tests and localstack; packaging's sentinel.conf is
// compared with it by tst_redisfixture) may read every channel the console
// subscribes to, and a Sentinel accepts those subscriptions.
void TestTopologyLive::sentinelAclAllowsTheEvents()
{
    const QString permissions = RedisNodeConfig::sentinelUserPermissions();
    const QStringList words = permissions.split(u' ');
    QVERIFY(words.contains(QStringLiteral("&+switch-master")));
    for (const QByteArray &channel : SentinelClient::topologyEventChannels())
        QVERIFY2(words.contains(u'&' + QString::fromLatin1(channel)), channel.constData());

    QString error;
    m_primary = std::make_unique<RedisServer>();
    QVERIFY2(m_primary->start({}, &error), qPrintable(error));
    RedisServer::Options so;
    so.sentinel = true;
    so.monitorPort = m_primary->port();
    m_sentinels.push_back(std::make_unique<RedisServer>());
    QVERIFY2(m_sentinels.back()->start(so, &error), qPrintable(error));
    RedisClient c = m_sentinels.back()->client(m_sentinels.back()->adminUser());
    QVERIFY2(c.isConnected(), qPrintable(c.lastError()));
    QList<QByteArray> argv{"SUBSCRIBE"};
    argv.append(SentinelClient::topologyEventChannels());
    const RedisValue reply = c.command(argv);
    QVERIFY2(!reply.isError(), reply.str.constData());
    // A channel off the list stays refused.
    RedisClient other = m_sentinels.back()->client(m_sentinels.back()->adminUser());
    QVERIFY(other.command({"SUBSCRIBE", "l0l3:not-a-sentinel-channel"}).isError());
}

void TestTopologyLive::quorumShownWhenSentinelsFindEachOther()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    QVERIFY2(m_primary->start({}, &error), qPrintable(error));
    RedisServer::Options so;
    so.sentinel = true;
    so.monitorPort = m_primary->port();
    so.quorum = 2;
    m_sentinels.push_back(std::make_unique<RedisServer>());
    QVERIFY2(m_sentinels.back()->start(so, &error), qPrintable(error));
    const RedisServer &first = *m_sentinels.front();

    qputenv("L0L3_SENTINEL_AUTH_USER", first.adminUser().toUtf8());
    qputenv("L0L3_SENTINEL_AUTH_PASSWORD", TestCredentials::get().sentinelAuth.toUtf8());
    qputenv("L0L3_REDIS_HOSTS", QStringLiteral("%1:%2").arg(m_primary->host()).arg(m_primary->port()).toUtf8());

    MonitorConfig config;
    config.hasPrimary = true;
    config.primary.host = m_primary->host();
    config.primary.port = m_primary->port();
    config.primary.user = QByteArrayLiteral("console");
    config.primary.password = TestCredentials::get().console.toUtf8();
    config.sentinels.append({first.host(), first.port()});
    // The fallback poll cannot be what updates the page within this test.
    config.topologyIntervalMs = 600000;

    m_control = std::make_unique<ControlClient>();
    m_monitor = std::make_unique<MonitorClient>();
    m_page = std::make_unique<TopologyPage>(m_control.get(), m_monitor.get());
    m_page->setConfig(config);
    m_monitor->configure(config);

    // Alone, with quorum 2: the Sentinel answers CKQUORUM with NOQUORUM.
    QTRY_VERIFY2_WITH_TIMEOUT(quorumText().contains(QLatin1String("NO QUORUM")), qPrintable(quorumText()),
                              TimeScale::ms(15000));
    QCOMPARE(knownPeers(first), 0);

    m_sentinels.push_back(std::make_unique<RedisServer>());
    QVERIFY2(m_sentinels.back()->start(so, &error), qPrintable(error));

    // The moment the first Sentinel knows its peer (its +sentinel event), polled
    // from here; then the page, without a poll, must say the quorum holds.
    QVERIFY2(Poll::until([&] { return knownPeers(first) == 1; }, 30000, 20), qPrintable(first.logTail()));
    QElapsedTimer sinceFound;
    sinceFound.start();
    QTRY_VERIFY2_WITH_TIMEOUT(quorumText().contains(QLatin1String("CKQUORUM OK")), qPrintable(quorumText()),
                              TimeScale::ms(5000));
    qInfo("the page showed the quorum %lld ms after the Sentinel found its peer", sinceFound.elapsed());
}

QTEST_MAIN(TestTopologyLive)
#include "tst_topologylive.moc"
