// The harness's exit checks: a child that crashes, hangs on shutdown, leaks
// under LSan or prints a sanitizer report fails the test that started it, and
// its log is kept; a child ended cleanly or on purpose does not.
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QTest>

#include <csignal>
#include <memory>

#include "tests/support/childexitcheck.h"
#include "tests/support/managedprocess.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"

using namespace l0l3::test;

namespace {

// /bin/sh -c script, started; the script runs in the foreground of sh.
bool startShell(ManagedProcess &process, const QString &script)
{
    QString error;
    const bool started = process.start(QStringLiteral("/bin/sh"), {QStringLiteral("-c"), script},
                                       QProcessEnvironment::systemEnvironment(), &error);
    if (!started)
        qWarning("%s", qPrintable(error));
    return started;
}

// Waits in `wait` so that a trapped SIGTERM runs at once; the trap ends the sleeper.
QString serveUntilTerm(const QString &onTerm)
{
    return QStringLiteral("trap 'kill $!; %1' TERM; echo ready; sleep 60 & wait").arg(onTerm);
}

constexpr const char *kDeferredFunction = "childOwnedByTestObjectFailsAfterTheRun";

} // namespace

class TestChildExitCheck : public QObject
{
    Q_OBJECT

private slots:
    void verdict_data();
    void verdict();
    void timeScaleDefaultsToOne();

    void cleanExitAfterTermPasses();
    void killAndSentSignalArePurposeful();
    void crashOnItsOwnFails();
    void leakExitCodeAfterTermFails();
    void wrongExitCodeAfterTermFails();
    void expectedExitCodeIsAccepted();
    void hangOnStopFails();
    void sanitizerReportFails();
    void unwaitedExitWithCodeFails();
    void failedChildKeepsItsLog();

    void redisServerStopsCleanly();
    void crashedRedisServerFailsAndKeepsItsDirectory();

    void failureOutsideATestFunctionFailsTheProcess();
    // Only run as a child by the test above (argument kDeferredFunction).
    void childOwnedByTestObjectFailsAfterTheRun();

private:
    std::unique_ptr<ManagedProcess> m_ownedByTestObject;
};

void TestChildExitCheck::verdict_data()
{
    QTest::addColumn<int>("ending");
    QTest::addColumn<bool>("crashed");
    QTest::addColumn<int>("code");
    QTest::addColumn<int>("signalSent");
    QTest::addColumn<bool>("waited");
    QTest::addColumn<QByteArray>("output");
    QTest::addColumn<QString>("failure"); // empty: no failure; else a word of the reason

    using E = ChildExit::Ending;
    QTest::newRow("SIGTERM, exit 0") << int(E::Terminated) << false << 0 << 0 << false << QByteArray() << QString();
    QTest::newRow("SIGTERM, exit 1") << int(E::Terminated) << false << 1 << 0 << false << QByteArray()
                                     << QStringLiteral("code 1");
    QTest::newRow("SIGTERM, LSan exit 23")
        << int(E::Terminated) << false << 23 << 0 << false << QByteArray() << QStringLiteral("LeakSanitizer");
    QTest::newRow("SIGTERM, died of SIGTERM")
        << int(E::Terminated) << true << SIGTERM << 0 << false << QByteArray() << QStringLiteral("SIGTERM");
    QTest::newRow("SIGTERM, SIGSEGV") << int(E::Terminated) << true << SIGSEGV << 0 << false << QByteArray()
                                      << QStringLiteral("SIGSEGV");
    QTest::newRow("hung on stop") << int(E::HungOnStop) << true << SIGKILL << 0 << false << QByteArray()
                                  << QStringLiteral("hang");
    QTest::newRow("own SIGSEGV") << int(E::OnItsOwn) << true << SIGSEGV << 0 << true << QByteArray()
                                 << QStringLiteral("crashed");
    QTest::newRow("own SIGABRT") << int(E::OnItsOwn) << true << SIGABRT << 0 << false << QByteArray()
                                 << QStringLiteral("SIGABRT");
    QTest::newRow("own SIGKILL (sent by pid)")
        << int(E::OnItsOwn) << true << SIGKILL << 0 << false << QByteArray() << QString();
    QTest::newRow("own SIGABRT sent by the test")
        << int(E::OnItsOwn) << true << SIGABRT << SIGABRT << true << QByteArray() << QString();
    QTest::newRow("own exit 2, waited") << int(E::OnItsOwn) << false << 2 << 0 << true << QByteArray() << QString();
    QTest::newRow("own exit 2, not waited")
        << int(E::OnItsOwn) << false << 2 << 0 << false << QByteArray() << QStringLiteral("on its own");
    QTest::newRow("own exit 23, waited") << int(E::OnItsOwn) << false << 23 << 0 << true << QByteArray()
                                         << QStringLiteral("LeakSanitizer");
    QTest::newRow("killed by test") << int(E::KilledByTest) << true << SIGKILL << 0 << false << QByteArray()
                                    << QString();
    QTest::newRow("ASan report, exit 1 waited")
        << int(E::OnItsOwn) << false << 1 << 0 << true
        << QByteArray("==42==ERROR: AddressSanitizer: heap-use-after-free on address") << QStringLiteral("sanitizer");
    QTest::newRow("UBSan report, exit 0")
        << int(E::Terminated) << false << 0 << 0 << false
        << QByteArray("core/x.cpp:3:5: runtime error: signed integer overflow") << QStringLiteral("sanitizer");
    QTest::newRow("LSan report, exit 0") << int(E::Terminated) << false << 0 << 0 << false
                                         << QByteArray("==7==ERROR: LeakSanitizer: detected memory leaks")
                                         << QStringLiteral("sanitizer");
}

void TestChildExitCheck::verdict()
{
    QFETCH(int, ending);
    QFETCH(bool, crashed);
    QFETCH(int, code);
    QFETCH(int, signalSent);
    QFETCH(bool, waited);
    QFETCH(QByteArray, output);
    QFETCH(QString, failure);

    ChildExit exit;
    exit.name = QStringLiteral("child");
    exit.ending = ChildExit::Ending(ending);
    exit.status = crashed ? QProcess::CrashExit : QProcess::NormalExit;
    exit.code = code;
    exit.signalSentByTest = signalSent;
    exit.codeCheckedByTest = waited;
    exit.output = output;
    const QString why = ChildExitCheck::verdict(exit);
    if (failure.isEmpty())
        QVERIFY2(why.isEmpty(), qPrintable(why));
    else
        QVERIFY2(why.contains(failure), qPrintable(why));
}

void TestChildExitCheck::timeScaleDefaultsToOne()
{
    if (qEnvironmentVariableIsSet("L0L3_TIME_SCALE"))
        QCOMPARE(TimeScale::ms(1000), int(std::ceil(1000 * TimeScale::factor())));
    else
        QCOMPARE(TimeScale::ms(1000), 1000);
    QVERIFY(TimeScale::factor() >= 1.0);
}

void TestChildExitCheck::cleanExitAfterTermPasses()
{
    ManagedProcess p;
    QVERIFY(startShell(p, serveUntilTerm(QStringLiteral("exit 0"))));
    QVERIFY(p.waitForLine(QRegularExpression(QStringLiteral("^ready$")), 5000));
    QVERIFY(p.stop());
    QVERIFY(!p.failed());
}

void TestChildExitCheck::killAndSentSignalArePurposeful()
{
    ManagedProcess killed;
    QVERIFY(startShell(killed, serveUntilTerm(QStringLiteral("exit 0"))));
    killed.kill();
    QVERIFY(!killed.failed());

    ManagedProcess aborted;
    QVERIFY(startShell(aborted, QStringLiteral("echo ready; exec sleep 60")));
    QVERIFY(aborted.waitForLine(QRegularExpression(QStringLiteral("^ready$")), 5000));
    QVERIFY(aborted.sendSignal(SIGABRT));
    QVERIFY(aborted.waitForFinished(5000));
    QCOMPARE(aborted.exitStatus(), QProcess::CrashExit);
    QVERIFY(!aborted.failed());
}

void TestChildExitCheck::crashOnItsOwnFails()
{
    ManagedProcess p;
    QVERIFY(startShell(p, QStringLiteral("kill -SEGV $$")));
    QEXPECT_FAIL("", "the child crashes with SIGSEGV: the harness must fail the test", Continue);
    p.waitForFinished(5000);
    QVERIFY2(true, "an XPASS here: the harness did not report the failure");
    QVERIFY(p.failed());
    QFile::remove(p.logPath()); // kept for a real failure only
}

void TestChildExitCheck::leakExitCodeAfterTermFails()
{
    ManagedProcess p;
    QVERIFY(startShell(p, serveUntilTerm(QStringLiteral("exit 23"))));
    QVERIFY(p.waitForLine(QRegularExpression(QStringLiteral("^ready$")), 5000));
    QEXPECT_FAIL("", "the child exits 23 (LSan) after SIGTERM: the harness must fail the test", Continue);
    const bool clean = p.stop();
    QVERIFY2(true, "an XPASS here: the harness did not report the failure");
    QVERIFY(!clean);
    QVERIFY(p.failed());
    QFile::remove(p.logPath()); // kept for a real failure only
}

void TestChildExitCheck::wrongExitCodeAfterTermFails()
{
    ManagedProcess p;
    QVERIFY(startShell(p, serveUntilTerm(QStringLiteral("exit 3"))));
    QVERIFY(p.waitForLine(QRegularExpression(QStringLiteral("^ready$")), 5000));
    QEXPECT_FAIL("", "the child exits 3 after SIGTERM: the harness must fail the test", Continue);
    const bool clean = p.stop();
    QVERIFY2(true, "an XPASS here: the harness did not report the failure");
    QVERIFY(!clean);
    QVERIFY(p.failed());
    QFile::remove(p.logPath()); // kept for a real failure only
}

void TestChildExitCheck::expectedExitCodeIsAccepted()
{
    ManagedProcess p;
    p.setExpectedExitCodes({0, 3});
    QVERIFY(startShell(p, serveUntilTerm(QStringLiteral("exit 3"))));
    QVERIFY(p.waitForLine(QRegularExpression(QStringLiteral("^ready$")), 5000));
    QVERIFY(p.stop());
}

void TestChildExitCheck::hangOnStopFails()
{
    ManagedProcess p;
    // An ignored SIGTERM survives exec: sleep cannot be stopped politely.
    QVERIFY(startShell(p, QStringLiteral("trap '' TERM; echo ready; exec sleep 60")));
    QVERIFY(p.waitForLine(QRegularExpression(QStringLiteral("^ready$")), 5000));
    QEXPECT_FAIL("", "the child ignores SIGTERM: the harness must fail the test", Continue);
    const bool clean = p.stop(200);
    QVERIFY2(true, "an XPASS here: the harness did not report the failure");
    QVERIFY(!clean);
    QVERIFY(p.failed());
    QFile::remove(p.logPath()); // kept for a real failure only
}

void TestChildExitCheck::sanitizerReportFails()
{
    ManagedProcess p;
    QVERIFY(startShell(p, QStringLiteral("echo '==1==ERROR: LeakSanitizer: detected memory leaks' >&2; exit 0")));
    QEXPECT_FAIL("", "the child printed a LeakSanitizer report: the harness must fail the test", Continue);
    p.waitForFinished(5000);
    QVERIFY2(true, "an XPASS here: the harness did not report the failure");
    QVERIFY(p.failed());
    QFile::remove(p.logPath()); // kept for a real failure only
}

void TestChildExitCheck::unwaitedExitWithCodeFails()
{
    ManagedProcess p;
    QVERIFY(startShell(p, QStringLiteral("echo ready; exit 4")));
    QTRY_VERIFY_WITH_TIMEOUT(!p.isRunning(), TimeScale::ms(5000));
    QEXPECT_FAIL("", "the child died with code 4 while it should serve: the harness must fail the test", Continue);
    const bool clean = p.stop();
    QVERIFY2(true, "an XPASS here: the harness did not report the failure");
    QVERIFY(!clean);
    QVERIFY(p.failed());
    QFile::remove(p.logPath()); // kept for a real failure only
}

void TestChildExitCheck::failedChildKeepsItsLog()
{
    QString log;
    {
        ManagedProcess p;
        QVERIFY(startShell(p, QStringLiteral("echo last words >&2; kill -ABRT $$")));
        log = p.logPath();
        QEXPECT_FAIL("", "the child aborts: the harness must fail the test", Continue);
        p.waitForFinished(5000);
        QVERIFY2(true, "an XPASS here: the harness did not report the failure");
        QVERIFY(p.failed());
    }
    QVERIFY2(QFile::exists(log), qPrintable(log));
    QFile file(log);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.readAll().contains("[err] last words"));
    QFile::remove(log);

    QString cleanLog;
    {
        ManagedProcess p;
        QVERIFY(startShell(p, serveUntilTerm(QStringLiteral("exit 0"))));
        QVERIFY(p.waitForLine(QRegularExpression(QStringLiteral("^ready$")), 5000)); // the trap is set
        cleanLog = p.logPath();
    }
    if (!qEnvironmentVariableIsSet("L0L3_KEEP_TEST_DIRS"))
        QVERIFY2(!QFile::exists(cleanLog), qPrintable(cleanLog));
}

void TestChildExitCheck::redisServerStopsCleanly()
{
    RedisServer server;
    QString error;
    QVERIFY2(server.start({}, &error), qPrintable(error));
    QVERIFY2(server.stop(), qPrintable(server.logTail()));
    QVERIFY(!server.failed());
}

void TestChildExitCheck::crashedRedisServerFailsAndKeepsItsDirectory()
{
    QString dir;
    {
        RedisServer server;
        QString error;
        QVERIFY2(server.start({}, &error), qPrintable(error));
        dir = server.dir();
        QCOMPARE(::kill(static_cast<pid_t>(server.pid()), SIGSEGV), 0);
        QEXPECT_FAIL("", "redis-server crashed with SIGSEGV: the harness must fail the test", Continue);
        const bool clean = server.stop();
        QVERIFY2(true, "an XPASS here: the harness did not report the failure");
        QVERIFY(!clean);
        QVERIFY(server.failed());
    }
    QVERIFY2(QDir(dir).exists(QStringLiteral("redis.log")), qPrintable(dir));
    QDir(dir).removeRecursively();
}

void TestChildExitCheck::failureOutsideATestFunctionFailsTheProcess()
{
    // This executable again, running only the function below: its crashing
    // child is destroyed with the test object, after Qt Test has reported.
    ManagedProcess self;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("L0L3_CHILDEXIT_SELFTEST"), QStringLiteral("1"));
    QVERIFY(self.start(QCoreApplication::applicationFilePath(), {QString::fromLatin1(kDeferredFunction)}, env));
    QVERIFY2(self.waitForFinished(30000), qPrintable(self.describe()));
    QCOMPARE(self.exitStatus(), QProcess::NormalExit);
    QVERIFY2(self.exitCode() != 0, qPrintable(self.describe()));
    QVERIFY2(self.stdoutText().contains(" passed, 0 failed, 0 skipped"), qPrintable(self.describe()));
    QVERIFY2(self.stderrText().contains("FAIL!  : child process: sh crashed with SIGSEGV"),
             qPrintable(self.describe()));
    static const QRegularExpression kept(QStringLiteral("log kept at (\\S+\\.log)"));
    const QRegularExpressionMatch m = kept.match(QString::fromUtf8(self.stderrText()));
    if (m.hasMatch())
        QFile::remove(m.captured(1)); // kept for a real failure only
}

void TestChildExitCheck::childOwnedByTestObjectFailsAfterTheRun()
{
    if (!qEnvironmentVariableIsSet("L0L3_CHILDEXIT_SELFTEST"))
        QSKIP("runs only as the child of failureOutsideATestFunctionFailsTheProcess");
    m_ownedByTestObject = std::make_unique<ManagedProcess>();
    // Crashes now; nothing looks at it before the test object is destroyed.
    QVERIFY(startShell(*m_ownedByTestObject, QStringLiteral("kill -SEGV $$")));
    QTRY_VERIFY_WITH_TIMEOUT(!m_ownedByTestObject->isRunning(), TimeScale::ms(5000));
}

QTEST_GUILESS_MAIN(TestChildExitCheck)
#include "tst_childexitcheck.moc"
