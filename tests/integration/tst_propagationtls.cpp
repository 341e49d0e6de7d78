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
#include "tests/integration/e2estack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcertificates.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kPropagationTimeoutMs = 10000;

QString describe(const HttpResult &r)
{
    return QStringLiteral("status %1 cache=%2 tier=%3 region=%4 %5 %6")
        .arg(r.status)
        .arg(QString::fromLatin1(r.header("x-l0l3-cache")), QString::fromLatin1(r.header("x-l0l3-tier")),
             QString::fromLatin1(r.header("x-l0l3-region")), r.error, QString::fromUtf8(r.body.left(300)));
}

// Gone, or a zombie nobody reaped yet (empty cmdline).
bool processGone(qint64 pid)
{
    QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(pid));
    return !cmdline.open(QIODevice::ReadOnly) || cmdline.readAll().isEmpty();
}

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
    QByteArray key;
    for (const DemoRegion &region : std::as_const(m_topology.regions)) {
        const HttpResult miss = chat(region, prompt);
        QVERIFY2(miss.status == 200, qPrintable(describe(miss)));
        QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
        QCOMPARE(miss.header("x-l0l3-region"), region.name.toUtf8());
        if (key.isEmpty())
            key = miss.header("x-l0l3-key");
        QCOMPARE(miss.header("x-l0l3-key"), key);
    }

    // The gateways propose over rediss:// to the primary.
    std::vector<Proposal> proposals;
    QVERIFY2(Poll::until(
                 [&] {
                     proposals = E2eStack::proposalsFor(m_primary, key);
                     return !proposals.empty();
                 },
                 kPropagationTimeoutMs),
             "no proposal reached the primary");
    ApprovalRequest request;
    request.proposalId = QString::fromStdString(proposals.front().id);
    for (std::size_t i = 1; i < proposals.size(); ++i)
        request.duplicateIds.append(QString::fromStdString(proposals[i].id));
    const QString edited =
        QStringLiteral("Approved over TLS: open Settings → Security → Reset password. %1").arg(m_runId);
    request.response = edited;
    const auto approved = E2eStack::await(
        [&](ApprovalService::ResultCallback cb) { m_approvals->approve(request, cb); });
    QVERIFY2(approved.has_value(), "approve() never answered");
    QVERIFY2(approved->ok, qPrintable(approved->message));
    QVERIFY2(approved->replicasAcked >= 1, qPrintable(approved->message));

    // Replicated over TLS to every region's replica, read there over TLS.
    for (const DemoRegion &region : std::as_const(m_topology.regions)) {
        HttpResult first;
        QVERIFY2(Poll::until(
                     [&] {
                         first = chat(region, prompt);
                         return first.header("x-l0l3-cache") == "hit";
                     },
                     kPropagationTimeoutMs),
                 qPrintable(region.name + u' ' + describe(first)));
        QCOMPARE(first.header("x-l0l3-region"), region.name.toUtf8());
        QCOMPARE(ChatWire::completionContent(first.body), edited);
        // L0 first, then the hot cache (L0.5); an invalidation landing between
        // two reads may send one more read to L0. Every answer is the approved one.
        HttpResult hot;
        bool stayedHit = true;
        QVERIFY2(Poll::until(
                     [&] {
                         hot = chat(region, prompt);
                         stayedHit = stayedHit && hot.header("x-l0l3-cache") == "hit"
                             && ChatWire::completionContent(hot.body) == edited;
                         return !stayedHit || hot.header("x-l0l3-tier") == "L0.5";
                     },
                     kPropagationTimeoutMs),
                 qPrintable(region.name + u' ' + describe(hot)));
        QVERIFY2(stayedHit, qPrintable(region.name + u' ' + describe(hot)));
    }
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
