#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

#include <cerrno>
#include <csignal>

#include <sys/types.h>

#include "core/common/redisschema.h"
#include "core/localstack/demoheadlessrunner.h"
#include "core/localstack/demostack.h"
#include "core/localstack/redisnodeconfig.h"
#include "core/localstack/trafficgenerator.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"

using namespace l0l3;

namespace {

// Gone, or a zombie nobody reaped yet (an orphan re-parented to a PID 1 that
// does not reap): either way the program is no longer running.
bool processGone(qint64 pid)
{
    if (::kill(pid_t(pid), 0) == -1 && errno == ESRCH)
        return true;
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return true;
    const QByteArray text = stat.readAll();
    const qsizetype close = text.lastIndexOf(')');
    return close > 0 && text.size() > close + 2 && text.at(close + 2) == 'Z';
}

QStringList alive(const QList<qint64> &pids)
{
    QStringList out;
    for (qint64 pid : pids)
        if (!processGone(pid))
            out.append(QString::number(pid));
    return out;
}

// SENTINEL MASTER's flat field/value array as a map.
QHash<QByteArray, QByteArray> sentinelMaster(const DemoTopology &topology, quint16 port)
{
    test::RedisClient client;
    QHash<QByteArray, QByteArray> fields;
    if (!client.connect(topology.host, port, QString::fromLatin1(RedisNodeConfig::kSentinelUser),
                        topology.credentials.sentinelAuth))
        return fields;
    const test::RedisValue reply = client.command({"SENTINEL", "MASTER", topology.masterName.toUtf8()});
    for (qsizetype i = 0; i + 1 < reply.elements.size(); i += 2)
        fields.insert(reply.elements.at(i).str, reply.elements.at(i + 1).str);
    return fields;
}

QByteArray proposalsKey()
{
    return QByteArray(RedisSchema::kProposals.data(), qsizetype(RedisSchema::kProposals.size()));
}

} // namespace

class TestDemoStack : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void startsServesAndStopsEverything();
    void missingBinaryFailsClearly();
    void crashedAndHungChildrenAreReported();
    void childrenDieWithTheLauncher_data();
    void childrenDieWithTheLauncher();
};

void TestDemoStack::initTestCase()
{
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("redis-server")).isEmpty(), "redis-server not in PATH");
    for (const QString &tool :
         {QStringLiteral("l0l3-gateway"), QStringLiteral("l0l3-stub-llm"), QStringLiteral("l0l3-demo")})
        QVERIFY2(!DemoStack::findBinary(tool).isEmpty(),
                 qPrintable(tool + QStringLiteral(" not built in $L0L3_BIN_DIR")));
}

void TestDemoStack::startsServesAndStopsEverything()
{
    DemoOptions options;
    options.trafficRate = 15;
    options.upstreamLatencyMs = 50; // keep the test quick; the demo default is 350
    options.upstreamJitterMs = 50;
    DemoStack stack(options);
    QSignalSpy progress(&stack, &DemoStack::progress);
    QSignalSpy ready(&stack, &DemoStack::ready);
    QSignalSpy failed(&stack, &DemoStack::failed);
    stack.start();
    QTRY_VERIFY_WITH_TIMEOUT(!ready.isEmpty() || !failed.isEmpty(), l0l3::test::TimeScale::ms(90000));
    QVERIFY2(failed.isEmpty(), qPrintable(stack.lastError()));
    QCOMPARE(stack.state(), DemoStack::State::Ready);
    QCOMPARE(progress.size(), DemoStack::stepCount());
    QCOMPARE(progress.last().at(0).toInt(), DemoStack::stepCount());

    const DemoTopology topology = stack.topology();
    QCOMPARE(topology.regions.size(), 3);
    QCOMPARE(topology.sentinels.size(), 3);
    QCOMPARE(topology.pids().size(), 1 + 3 + 3 + 1 + 3);
    QVERIFY(QDir(topology.dataDir).exists());

    // Every Redis answers the console user; the gateway user may not write entries.
    QList<quint16> dataPorts{topology.primary.port};
    for (const DemoRegion &region : topology.regions)
        dataPorts.append(region.replica.port);
    for (quint16 port : dataPorts) {
        test::RedisClient console;
        QVERIFY2(console.connect(topology.host, port, QStringLiteral("console"), topology.credentials.console),
                 qPrintable(console.lastError()));
        QVERIFY(console.ping());
    }
    {
        test::RedisClient gateway;
        QVERIFY(gateway.connect(topology.host, topology.primary.port, QStringLiteral("gateway"),
                                topology.credentials.gateway));
        const test::RedisValue denied = gateway.command({"SET", "l0l3:v1:entry:x", "y"});
        QVERIFY2(denied.isError(), "the gateway ACL user must not write entries");
        test::RedisClient wrong;
        QVERIFY(!wrong.connect(topology.host, topology.primary.port, QStringLiteral("console"),
                               QStringLiteral("not-the-password")));
    }
    // The console logs in as the demo's admin operator, on every node, recorded as an operator.
    for (quint16 port : dataPorts) {
        test::RedisClient op;
        QVERIFY2(op.connect(topology.host, port, QStringLiteral("op-") + topology.credentials.operatorName,
                            topology.credentials.operatorPassword),
                 qPrintable(op.lastError()));
        QCOMPARE(op.command({"ACL", "WHOAMI"}).str, "op-" + topology.credentials.operatorName.toUtf8());
        if (port == topology.primary.port) {
            const test::RedisValue record = op.command(
                {"HGET", "l0l3:v1:operators", topology.credentials.operatorName.toUtf8()});
            QVERIFY2(record.str.contains("\"role\":\"admin\""), record.str.constData());
        }
    }
    for (const DemoRedisNode &sentinel : topology.sentinels) {
        // The Sentinels' own port takes their ACL user only: nobody can re-point them anonymously.
        test::RedisClient anonymous;
        QVERIFY2(anonymous.connect(topology.host, sentinel.port), qPrintable(anonymous.lastError()));
        QVERIFY(anonymous.command({"SENTINEL", "get-master-addr-by-name", "l0l3"}).isError());
        test::RedisClient client;
        QVERIFY2(client.connect(topology.host, sentinel.port, QString::fromLatin1(RedisNodeConfig::kSentinelUser),
                                topology.credentials.sentinelAuth),
                 qPrintable(client.lastError()));
        const test::RedisValue master = client.command({"SENTINEL", "get-master-addr-by-name", "l0l3"});
        QCOMPARE(master.elements.size(), 2);
        QCOMPARE(master.elements.at(1).str, QByteArray::number(topology.primary.port));
    }

    // The Sentinels log in as the "sentinel" ACL user: they see the primary up,
    // find its three replicas and each other (hello messages every 2 s), and
    // can authorise a failover.
    for (const DemoRedisNode &sentinel : topology.sentinels) {
        QTRY_VERIFY2_WITH_TIMEOUT(sentinelMaster(topology, sentinel.port).value("num-other-sentinels") == "2",
                                  qPrintable(sentinel.name), l0l3::test::TimeScale::ms(15000));
        const auto master = sentinelMaster(topology, sentinel.port);
        QCOMPARE(master.value("flags"), QByteArray("master"));
        QCOMPARE(master.value("num-slaves"), QByteArray("3"));
        QCOMPARE(master.value("quorum"), QByteArray("2"));
        QCOMPARE(master.value("down-after-milliseconds"), QByteArray("2000"));
        test::RedisClient client;
        QVERIFY(client.connect(topology.host, sentinel.port, QString::fromLatin1(RedisNodeConfig::kSentinelUser),
                               topology.credentials.sentinelAuth));
        const test::RedisValue quorum = client.command({"SENTINEL", "CKQUORUM", topology.masterName.toUtf8()});
        QVERIFY2(quorum.isStatus() && quorum.str.startsWith("OK"), qPrintable(quorum.toString()));
    }

    test::HttpClient http;
    for (const DemoRegion &region : topology.regions) {
        QUrl url = region.gatewayUrl;
        url.setPath(QStringLiteral("/healthz"));
        const test::HttpResult health = http.get(url, {}, 5000);
        QVERIFY2(health.status == 200, qPrintable(region.name + QStringLiteral(": ") + health.error));
    }

    // Traffic flows: misses in every region turn into proposals on the primary (in the inbox until
    // a console, here the headless runner, moves them into the stream).
    QVERIFY(stack.traffic());
    test::RedisClient primary;
    QVERIFY(
        primary.connect(topology.host, topology.primary.port, QStringLiteral("console"), topology.credentials.console));
    const QByteArray inbox(RedisSchema::kProposalInbox.data(), qsizetype(RedisSchema::kProposalInbox.size()));
    QTRY_VERIFY_WITH_TIMEOUT(
        primary.command({"XLEN", proposalsKey()}).integer + primary.command({"LLEN", inbox}).integer > 0,
        l0l3::test::TimeScale::ms(30000));
    QTRY_VERIFY_WITH_TIMEOUT(stack.traffic()->summary().ok >= 10, l0l3::test::TimeScale::ms(30000));

    // The headless status line scrapes every gateway and reads the stream length.
    DemoHeadlessRunner runner(&stack);
    runner.setPrinting(false);
    QSignalSpy lines(&runner, &DemoHeadlessRunner::statusLine);
    runner.start(500);
    QTRY_VERIFY_WITH_TIMEOUT(lines.size() >= 3, l0l3::test::TimeScale::ms(15000));
    const QString line = lines.last().at(0).toString();
    for (const DemoRegion &region : topology.regions)
        QVERIFY2(line.contains(region.name + QStringLiteral(": "))
                     && !line.contains(region.name + QStringLiteral(": no metrics")),
                 qPrintable(line));
    QVERIFY2(QRegularExpression(QStringLiteral("proposals [1-9]\\d*$")).match(line).hasMatch(), qPrintable(line));
    QVERIFY(runner.proposals() > 0);
    runner.stop();

    const QList<qint64> pids = topology.pids();
    QCOMPARE(alive(pids).size(), pids.size());
    stack.stop();
    QCOMPARE(stack.state(), DemoStack::State::Stopped);
    // stop() waited for every child: nothing may be left, not even for a moment.
    QVERIFY2(alive(pids).isEmpty(), qPrintable(QStringLiteral("still running: ") + alive(pids).join(QLatin1Char(' '))));
    QVERIFY(!QDir(topology.dataDir).exists());
    // Every child ended with code 0 on SIGTERM: no crash, no hang, nothing on its own.
    const QList<DemoChildExit> exits = stack.childExits();
    QCOMPARE(exits.size(), pids.size());
    for (const DemoChildExit &exit : exits) {
        QVERIFY2(exit.clean() && !exit.exitedOnItsOwn, qPrintable(exit.describe()));
        QVERIFY2(pids.contains(exit.pid), qPrintable(exit.describe()));
    }
    QVERIFY(stack.uncleanExits().isEmpty());
}

void TestDemoStack::missingBinaryFailsClearly()
{
    DemoOptions options;
    options.binDir = QDir::temp().filePath(QStringLiteral("l0l3-no-such-dir"));
    DemoStack stack(options);
    QSignalSpy failed(&stack, &DemoStack::failed);
    stack.start();
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, l0l3::test::TimeScale::ms(5000));
    const QString error = failed.first().at(0).toString();
    QVERIFY2(error.contains(QStringLiteral("l0l3-gateway not found")), qPrintable(error));
    QCOMPARE(stack.state(), DemoStack::State::Failed);
    QVERIFY(stack.topology().pids().isEmpty());
}

void TestDemoStack::crashedAndHungChildrenAreReported()
{
    DemoOptions options;
    options.startTraffic = false;
    options.upstreamLatencyMs = 1;
    options.upstreamJitterMs = 0;
    DemoStack stack(options);
    QSignalSpy ready(&stack, &DemoStack::ready);
    QSignalSpy failed(&stack, &DemoStack::failed);
    QSignalSpy exited(&stack, &DemoStack::processExited);
    stack.start();
    QTRY_VERIFY_WITH_TIMEOUT(!ready.isEmpty() || !failed.isEmpty(), l0l3::test::TimeScale::ms(90000));
    QVERIFY2(failed.isEmpty(), qPrintable(stack.lastError()));
    const DemoTopology topology = stack.topology();

    // A gateway dies by a signal while the stack runs; the stub LLM stops
    // answering signals at all, so SIGTERM cannot end it.
    const qint64 gatewayPid = topology.regions.at(1).gatewayPid;
    QCOMPARE(::kill(pid_t(gatewayPid), SIGKILL), 0);
    QTRY_COMPARE_WITH_TIMEOUT(exited.size(), 1, l0l3::test::TimeScale::ms(10000));
    QCOMPARE(exited.first().at(0).toString(), QStringLiteral("gateway-") + topology.regions.at(1).name);
    QCOMPARE(::kill(pid_t(topology.upstreamPid), SIGSTOP), 0);
    stack.stop();

    const QList<DemoChildExit> exits = stack.childExits();
    QCOMPARE(exits.size(), topology.pids().size());
    const QList<DemoChildExit> unclean = stack.uncleanExits();
    QCOMPARE(unclean.size(), 2);
    for (const DemoChildExit &exit : exits) {
        if (exit.pid == gatewayPid) {
            QVERIFY2(exit.crashed && exit.exitCode == SIGKILL && exit.exitedOnItsOwn && !exit.clean(),
                     qPrintable(exit.describe()));
            QVERIFY2(exit.describe().contains(QStringLiteral("signal 9 while the stack was running")),
                     qPrintable(exit.describe()));
        } else if (exit.pid == topology.upstreamPid) {
            QCOMPARE(exit.name, QStringLiteral("stub-llm"));
            QVERIFY2(exit.hungOnStop && !exit.exitedOnItsOwn && !exit.clean(), qPrintable(exit.describe()));
        } else {
            QVERIFY2(exit.clean(), qPrintable(exit.describe()));
        }
    }
    QVERIFY(alive(topology.pids()).isEmpty());
}

void TestDemoStack::childrenDieWithTheLauncher_data()
{
    QTest::addColumn<int>("signalNumber");
    QTest::addColumn<bool>("gatewayCrashes");
    // SIGKILL gives l0l3-demo no chance to clean up: only PR_SET_PDEATHSIG
    // can stop its children. SIGINT/SIGTERM go through its signal handler
    // and DemoStack::stop(), which also fails the run for a crashed child.
    QTest::newRow("SIGKILL (crash)") << SIGKILL << false;
    QTest::newRow("SIGINT (Ctrl+C)") << SIGINT << false;
    QTest::newRow("SIGTERM") << SIGTERM << false;
    QTest::newRow("SIGTERM after a gateway crashed") << SIGTERM << true;
}

void TestDemoStack::childrenDieWithTheLauncher()
{
    QFETCH(int, signalNumber);
    QFETCH(bool, gatewayCrashes);
    test::ManagedProcess demo;
    QString error;
    QVERIFY2(demo.start(test::ManagedProcess::binary(QStringLiteral("l0l3-demo")),
                        {QStringLiteral("--no-traffic"), QStringLiteral("--quiet")},
                        QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    QVERIFY2(demo.waitForLine(QRegularExpression(QStringLiteral("^demo ready")), 90000), qPrintable(demo.describe()));

    QList<qint64> pids;
    QStringList kinds;
    const QRegularExpression line(QStringLiteral("^(primary|replica|sentinel|upstream|gateway) .* pid=(\\d+)$"),
                                  QRegularExpression::MultilineOption);
    for (auto it = line.globalMatch(QString::fromUtf8(demo.stdoutText())); it.hasNext();) {
        const QRegularExpressionMatch m = it.next();
        kinds.append(m.captured(1));
        pids.append(m.captured(2).toLongLong());
    }
    QCOMPARE(pids.size(), 11);
    QVERIFY(kinds.contains(QStringLiteral("gateway")) && kinds.contains(QStringLiteral("primary")));
    QCOMPARE(alive(pids).size(), pids.size());

    if (gatewayCrashes) {
        const qint64 gateway = pids.at(kinds.indexOf(QStringLiteral("gateway")));
        QCOMPARE(::kill(pid_t(gateway), SIGKILL), 0);
        pids.removeOne(gateway);
        QTRY_VERIFY_WITH_TIMEOUT(demo.stderrText().contains("exited with code"), l0l3::test::TimeScale::ms(10000));
    }
    QCOMPARE(::kill(pid_t(demo.pid()), signalNumber), 0);
    QVERIFY2(demo.waitForFinished(15000), qPrintable(demo.describe()));
    if (signalNumber != SIGKILL) {
        QCOMPARE(demo.exitStatus(), QProcess::NormalExit);
        // Every child must have exited with code 0 on SIGTERM, unless one crashed before.
        QVERIFY2(demo.exitCode() == (gatewayCrashes ? 1 : 0), qPrintable(demo.describe()));
        if (gatewayCrashes)
            QVERIFY2(demo.stderrText().contains("was killed by signal 9 while the stack was running"),
                     qPrintable(demo.describe()));
        // A clean stop waits for every child before exiting.
        QVERIFY2(alive(pids).isEmpty(),
                 qPrintable(QStringLiteral("left running: ") + alive(pids).join(QLatin1Char(' '))));
    }
    QTRY_VERIFY2_WITH_TIMEOUT(alive(pids).isEmpty(),
                              qPrintable(QStringLiteral("outlived the launcher: ")
                                         + alive(pids).join(QLatin1Char(' '))),
                              l0l3::test::TimeScale::ms(10000));
}

QTEST_GUILESS_MAIN(TestDemoStack)
#include "tst_demostack.moc"
