// `l0l3-console --demo --screenshot FILE --quit-after 8`: the whole demo
// stack starts, traffic runs, the window is rendered to a PNG of the window's
// size that is not blank, the console exits 0 and leaves no process behind.
// `--demo --headless --auto-approve S`: the demo autopilot approves proposals
// and the status lines show hits afterwards.
#include <QImage>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include "tests/support/managedprocess.h"
#include "tests/support/screenshotcheck.h"

using l0l3::test::blankScreenshotProblem;
using l0l3::test::ManagedProcess;

class TestConsoleScreenshot : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase()
    {
        if (!QFile::exists(binDir() + QStringLiteral("/l0l3-console")))
            QFAIL("l0l3-console not built next to this test");
        for (const char *needed : {"l0l3-gateway", "l0l3-stub-llm"}) {
            if (!QFile::exists(binDir() + u'/' + QString::fromLatin1(needed)))
                QSKIP(qPrintable(QStringLiteral("%1 not built in %2").arg(QString::fromLatin1(needed), binDir())));
        }
    }

    void demoScreenshot()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString png = dir.filePath(QStringLiteral("console.png"));
        QByteArray output;
        const QString error = runConsole({QStringLiteral("--demo"), QStringLiteral("--screenshot"), png,
                                          QStringLiteral("--quit-after"), QStringLiteral("8")},
                                         dir, &output);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY2(output.contains("demo ready"), output.right(2000).constData());

        QImage image(png);
        QVERIFY2(!image.isNull(), "no PNG written");
        QCOMPARE(image.size(), QSize(1280, 800));
        const QString blank = blankScreenshotProblem(image);
        QVERIFY2(blank.isEmpty(), qPrintable(blank));
    }

    void headlessAutopilotMakesHits()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        QByteArray output;
        const QString error = runConsole({QStringLiteral("--demo"), QStringLiteral("--headless"),
                                          QStringLiteral("--auto-approve"), QStringLiteral("0.5"),
                                          QStringLiteral("--quit-after"), QStringLiteral("15")},
                                         dir, &output);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QString text = QString::fromUtf8(output);
        const qsizetype firstApproval = text.indexOf(QStringLiteral("autopilot approved"));
        QVERIFY2(firstApproval >= 0, qPrintable(text.right(3000)));
        // Status lines after the first approval: some region serves hits.
        static const QRegularExpression hitRate(QStringLiteral(R"(hit (\d+)%)"));
        int bestHitRate = 0;
        for (auto it = hitRate.globalMatch(text, firstApproval); it.hasNext();)
            bestHitRate = std::max(bestHitRate, it.next().captured(1).toInt());
        QVERIFY2(bestHitRate > 0, qPrintable(text.right(3000)));
    }

    void autoApproveNeedsTheDemo()
    {
        ManagedProcess p;
        QVERIFY(p.start(binDir() + QStringLiteral("/l0l3-console"),
                        {QStringLiteral("--platform"), QStringLiteral("offscreen"), QStringLiteral("--auto-approve"),
                         QStringLiteral("1")}));
        QVERIFY2(p.waitForFinished(30000), qPrintable(p.describe()));
        QCOMPARE(p.exitCode(), 2);
        const QByteArray output = p.stdoutText() + p.stderrText();
        QVERIFY2(output.contains("--auto-approve needs --demo"), "no clear usage error");
    }

private:
    static QString binDir() { return qEnvironmentVariable("L0L3_BIN_DIR"); }

    // Runs l0l3-console offscreen with args until it exits. Empty when it
    // exited 0; otherwise what went wrong, with the end of its output. A
    // crash or a sanitizer report also fails the test (ManagedProcess).
    static QString runConsole(const QStringList &args, const QTemporaryDir &dir, QByteArray *output)
    {
        ManagedProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        env.insert(QStringLiteral("L0L3_BIN_DIR"), binDir());
        // Keep the keychain out of it: the demo's credentials are in memory.
        env.insert(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"), QStringLiteral("unix:path=/nonexistent/l0l3-no-bus"));
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.filePath(QStringLiteral("config")));
        QString error;
        if (!p.start(binDir() + QStringLiteral("/l0l3-console"), args, env, &error))
            return error;
        const bool finished = p.waitForFinished(180000);
        *output = p.stdoutText() + p.stderrText();
        if (!finished) {
            p.stop(10000);
            return QStringLiteral("console did not exit:\n") + p.describe();
        }
        if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
            return QStringLiteral("exit %1:\n%2").arg(p.exitCode()).arg(QString::fromUtf8(output->right(3000)));
        return {};
    }
};

QTEST_GUILESS_MAIN(TestConsoleScreenshot)
#include "tst_consolescreenshot.moc"
