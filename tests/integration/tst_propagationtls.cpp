#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "core/localstack/demostack.h"
#include "core/localstack/redisnodeconfig.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/demopropagation.h"
#include "tests/integration/e2estack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcertificates.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;
using DemoPropagation::processGone;

namespace {

constexpr int kPropagationTimeoutMs = 10000;

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

} // namespace

// The local three-region stack with DemoOptions::tls (l0l3-console --demo
// --tls): every Redis node and Sentinel listens with TLS only, verified
// against the CA made for the run; the gateways read and propose over
// rediss://, so an approval made over TLS becomes a hit (L0, then L0.5) in
// every region. A plain-text client and a client trusting another CA are
// refused.
class TestPropagationTls : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void everyNodeIsTlsOnly();
    void plainTextClientIsRefused();
    void wrongCaIsRefusedWithAMessage();
    void sentinelsFindEachOtherOverTls();
    void approvalBecomesAHitInEveryRegion();
    void consoleRunsTheDemoOverTls();

private:
    HttpResult chat(const DemoRegion &region, const QString &prompt);
    RedisConnection::Options consoleOptions(quint16 port) const;

    std::unique_ptr<DemoStack> m_stack;
    DemoTopology m_topology;
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    RedisClient m_primary;
    HttpClient m_http;
    QString m_runId;
};

void TestPropagationTls::initTestCase()
{
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("redis-server")).isEmpty(), "redis-server not in PATH");
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("openssl")).isEmpty(), "openssl not in PATH");
    for (const QString &tool : {QStringLiteral("l0l3-gateway"), QStringLiteral("l0l3-stub-llm")})
        QVERIFY2(!DemoStack::findBinary(tool).isEmpty(),
                 qPrintable(tool + QStringLiteral(" not built in $L0L3_BIN_DIR")));

    DemoOptions options;
    options.tls = true;
    options.startTraffic = false;
    options.upstreamLatencyMs = 5;
    options.upstreamJitterMs = 5;
    options.stepTimeoutMs = TimeScale::ms(30000);
    m_stack = std::make_unique<DemoStack>(options);
    QSignalSpy ready(m_stack.get(), &DemoStack::ready);
    QSignalSpy failed(m_stack.get(), &DemoStack::failed);
    m_stack->start();
    QTRY_VERIFY_WITH_TIMEOUT(!ready.isEmpty() || !failed.isEmpty(), TimeScale::ms(120000));
    QVERIFY2(failed.isEmpty(), qPrintable(m_stack->lastError()));
    m_topology = m_stack->topology();
    QCOMPARE(m_topology.regions.size(), 3);
    QVERIFY(!m_topology.tlsCaFile.isEmpty());
    QVERIFY(m_topology.redisTls().enabled);

    m_connection = std::make_unique<RedisConnection>(consoleOptions(m_topology.primary.port));
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("e2e-propagation-tls"));
    m_connection->open();
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));

    RedisClient::Tls tls;
    tls.enabled = true;
    tls.caFile = m_topology.tlsCaFile;
    m_primary.setTls(tls);
    QVERIFY2(m_primary.connect(m_topology.host, m_topology.primary.port, QStringLiteral("console"),
                               m_topology.credentials.console, TimeScale::ms(5000)),
             qPrintable(m_primary.lastError()));
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
}

void TestPropagationTls::cleanupTestCase()
{
    m_approvals.reset();
    m_connection.reset();
    m_primary.disconnect();
    if (m_stack) {
        const QList<qint64> pids = m_stack->topology().pids();
        m_stack->stop();
        for (const DemoChildExit &exit : m_stack->uncleanExits())
            qWarning().noquote() << exit.describe();
        QVERIFY2(m_stack->uncleanExits().isEmpty(), "a process of the stack did not exit cleanly");
        m_stack.reset();
        for (qint64 pid : pids)
            QVERIFY2(processGone(pid), qPrintable(QStringLiteral("process %1 outlived the stack").arg(pid)));
    }
}

void TestPropagationTls::cleanup()
{
    if (QTest::currentTestFailed() && m_stack)
        qWarning().noquote() << "demo data under" << m_topology.dataDir;
}

RedisConnection::Options TestPropagationTls::consoleOptions(quint16 port) const
{
    RedisConnection::Options o;
    o.host = m_topology.host;
    o.port = port;
    o.user = QByteArrayLiteral("console");
    o.password = m_topology.credentials.console.toUtf8();
    o.tls = m_topology.redisTls();
    return o;
}

HttpResult TestPropagationTls::chat(const DemoRegion &region, const QString &prompt)
{
    QUrl url = region.gatewayUrl;
    url.setPath(QStringLiteral("/v1/chat/completions"));
    return m_http.post(url, ChatWire::chatBody(prompt), {}, TimeScale::ms(10000));
}

void TestPropagationTls::everyNodeIsTlsOnly()
{
    QList<DemoRedisNode> nodes{m_topology.primary};
    for (const DemoRegion &region : std::as_const(m_topology.regions))
        nodes.append(region.replica);
    nodes.append(m_topology.sentinels);
    for (const DemoRedisNode &node : std::as_const(nodes)) {
        const QString file = node.name.startsWith(QLatin1String("sentinel")) ? QStringLiteral("sentinel.conf")
                                                                             : QStringLiteral("redis.conf");
        const QByteArray config = readFile(m_topology.dataDir + u'/' + node.name + u'/' + file);
        QVERIFY2(config.contains("\nport 0\n"), qPrintable(node.name));
        QVERIFY2(config.contains(QByteArray("\ntls-port " + QByteArray::number(node.port) + '\n')),
                 qPrintable(node.name));
        QVERIFY2(config.contains("\ntls-replication yes\n"), qPrintable(node.name));
    }
    // The gateways were given rediss:// links and the run's CA.
    for (const DemoRegion &region : std::as_const(m_topology.regions)) {
        QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(region.gatewayPid));
        QVERIFY(cmdline.open(QIODevice::ReadOnly));
        const QList<QByteArray> args = cmdline.readAll().split('\0');
        QCOMPARE(args.value(args.indexOf("--redis-ca-file") + 1), m_topology.tlsCaFile.toUtf8());
        QVERIFY(args.value(args.indexOf("--replica") + 1).startsWith("rediss://"));
        QVERIFY(args.value(args.indexOf("--primary") + 1).startsWith("rediss://"));
        for (const QByteArray &sentinel : args.value(args.indexOf("--sentinel") + 1).split(','))
            QVERIFY2(sentinel.startsWith("rediss://"), sentinel.constData());
    }
}

void TestPropagationTls::plainTextClientIsRefused()
{
    RedisClient plain;
    const bool connected = plain.connect(m_topology.host, m_topology.primary.port, QStringLiteral("console"),
                                         m_topology.credentials.console, TimeScale::ms(3000));
    QVERIFY2(!connected || !plain.ping(), "a TLS-only primary answered a plain-text client");
}

void TestPropagationTls::wrongCaIsRefusedWithAMessage()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    TestCertificates other;
    QString error;
    QVERIFY2(other.create(dir.path(), &error), qPrintable(error));
    RedisConnection::Options options = consoleOptions(m_topology.regions.first().replica.port);
    options.tls.caFile = other.otherCaCert();
    options.autoReconnect = false;
    RedisConnection connection(options);
    QSignalSpy errors(&connection, &RedisConnection::error);
    connection.open();
    const QString expected = QStringLiteral("TLS certificate verification failed for 127.0.0.1:%1").arg(options.port);
    QTRY_VERIFY_WITH_TIMEOUT(connection.lastError().contains(expected), TimeScale::ms(10000));
    QVERIFY(!connection.isReady());
}

void TestPropagationTls::sentinelsFindEachOtherOverTls()
{
    // Sentinels learn of their peers from hello messages and talk to them over
    // TLS (tls-replication): each comes to know the two others.
    for (const DemoRedisNode &sentinel : std::as_const(m_topology.sentinels)) {
        RedisClient client;
        RedisClient::Tls tls;
        tls.enabled = true;
        tls.caFile = m_topology.tlsCaFile;
        client.setTls(tls);
        QVERIFY2(client.connect(m_topology.host, sentinel.port, QString::fromLatin1(RedisNodeConfig::kSentinelUser),
                                m_topology.credentials.sentinelAuth, TimeScale::ms(5000)),
                 qPrintable(sentinel.name + u' ' + client.lastError()));
        qsizetype peers = -1;
        QVERIFY2(Poll::until(
                     [&] {
                         const RedisValue reply = client.command({"SENTINEL", "sentinels", "l0l3"});
                         peers = reply.elements.size();
                         return peers == 2;
                     },
                     TimeScale::ms(30000)),
                 qPrintable(QStringLiteral("%1 knows %2 peers").arg(sentinel.name).arg(peers)));
    }
}

void TestPropagationTls::approvalBecomesAHitInEveryRegion()
{
    const QString prompt = QStringLiteral("How do I reset my password? (propagation over TLS %1)").arg(m_runId);
    const DemoPropagation::Chat chatIn = [this](const DemoRegion &region, const QString &p) { return chat(region, p); };
    QByteArray key;
    QString why;
    QVERIFY2(DemoPropagation::missEverywhere(m_topology.regions, chatIn, prompt, &key, &why), qPrintable(why));
    // The gateways propose over rediss:// to the primary; replicated over TLS
    // to every region's replica, read there over TLS.
    const QString approvedText =
        QStringLiteral("Approved over TLS: open Settings → Security → Reset password. %1").arg(m_runId);
    const auto approved = DemoPropagation::approveProposals(m_primary, *m_approvals, key, approvedText,
                                                            kPropagationTimeoutMs, &why);
    QVERIFY2(approved && approved->ok && approved->replicasAcked >= 1, qPrintable(why));
    QVERIFY2(DemoPropagation::hitThenHotEverywhere(m_topology.regions, chatIn, prompt, approvedText,
                                                   kPropagationTimeoutMs, &why),
             qPrintable(why));
}

// `l0l3-console --demo --tls` (headless): a second stack of its own, over TLS,
// with the console's links (the stand-in for the console, the autopilot) on
// the run's CA; it exits 0 only if every child of its stack exited cleanly.
// --tls without --demo is a usage error.
void TestPropagationTls::consoleRunsTheDemoOverTls()
{
    const QString console = DemoStack::findBinary(QStringLiteral("l0l3-console"));
    if (console.isEmpty())
        QSKIP("l0l3-console is not built");
    QProcess usage;
    usage.setProcessChannelMode(QProcess::MergedChannels);
    usage.start(console, {QStringLiteral("--tls")});
    QVERIFY(usage.waitForFinished(TimeScale::ms(30000)));
    QCOMPARE(usage.exitStatus(), QProcess::NormalExit);
    QCOMPARE(usage.exitCode(), 2);
    QVERIFY2(usage.readAll().contains("--tls needs --demo"), "no usage message");

    QProcess demo;
    demo.setProcessChannelMode(QProcess::MergedChannels);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    demo.setProcessEnvironment(env);
    demo.start(console,
               {QStringLiteral("--demo"), QStringLiteral("--headless"), QStringLiteral("--tls"),
                QStringLiteral("--quit-after"), QStringLiteral("2"), QStringLiteral("--auto-approve"),
                QStringLiteral("0.5")});
    QVERIFY2(demo.waitForStarted(TimeScale::ms(10000)), qPrintable(demo.errorString()));
    const bool finished = demo.waitForFinished(TimeScale::ms(120000));
    if (!finished) {
        demo.terminate();
        demo.waitForFinished(TimeScale::ms(10000));
    }
    const QByteArray output = demo.readAll();
    QVERIFY2(finished, output.right(3000).constData());
    QCOMPARE(demo.exitStatus(), QProcess::NormalExit);
    QVERIFY2(demo.exitCode() == 0, output.right(3000).constData());
    QVERIFY2(output.contains("demo ready"), output.right(3000).constData());
    QVERIFY2(!output.contains("TLS certificate verification failed"), output.right(3000).constData());
}

QTEST_GUILESS_MAIN(TestPropagationTls)
#include "tst_propagationtls.moc"
