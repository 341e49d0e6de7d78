// `l0l3-console --demo --screenshot FILE --quit-after 8`: the whole demo
// stack starts, traffic runs, the window is rendered to a PNG of the window's
// size that is not blank, the console exits 0 and leaves no process behind.
#include <QImage>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <signal.h>

class TestConsoleScreenshot : public QObject
{
    Q_OBJECT
private slots:
    void demoScreenshot()
    {
        const QString bin = qEnvironmentVariable("L0L3_BIN_DIR");
        const QString console = bin + QStringLiteral("/l0l3-console");
        if (!QFile::exists(console))
            QFAIL("l0l3-console not built next to this test");
        for (const char *needed : {"l0l3-gateway", "l0l3-stub-llm"}) {
            if (!QFile::exists(bin + u'/' + QString::fromLatin1(needed)))
                QSKIP(qPrintable(QStringLiteral("%1 not built in %2").arg(QString::fromLatin1(needed), bin)));
        }
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString png = dir.filePath(QStringLiteral("console.png"));

        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        env.insert(QStringLiteral("L0L3_BIN_DIR"), bin);
        // Keep the keychain out of it: the demo's credentials are in memory.
        env.insert(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"), QStringLiteral("unix:path=/nonexistent/l0l3-no-bus"));
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.filePath(QStringLiteral("config")));
        p.setProcessEnvironment(env);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(console, {QStringLiteral("--demo"), QStringLiteral("--screenshot"), png, QStringLiteral("--quit-after"), QStringLiteral("8")});
        QVERIFY2(p.waitForStarted(10000), qPrintable(p.errorString()));
        const bool finished = p.waitForFinished(180000);
        const QByteArray output = p.readAll();
        if (!finished) {
            ::kill(pid_t(p.processId()), SIGTERM);
            p.waitForFinished(10000);
            QFAIL(qPrintable(QStringLiteral("console did not exit:\n") + QString::fromUtf8(output.right(3000))));
        }
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0,
                 qPrintable(QStringLiteral("exit %1:\n%2").arg(p.exitCode()).arg(QString::fromUtf8(output.right(3000)))));
        QVERIFY2(output.contains("demo ready"), output.right(2000).constData());

        QImage image(png);
        QVERIFY2(!image.isNull(), "no PNG written");
        QCOMPARE(image.size(), QSize(1280, 800));
        // Not blank: many distinct colours, and not one colour dominating everything.
        QHash<QRgb, int> colours;
        for (int y = 0; y < image.height(); y += 4)
            for (int x = 0; x < image.width(); x += 4)
                ++colours[image.pixel(x, y)];
        int dominant = 0;
        for (int n : std::as_const(colours))
            dominant = std::max(dominant, n);
        const int samples = (image.width() / 4) * (image.height() / 4);
        QVERIFY2(colours.size() > 50, qPrintable(QStringLiteral("%1 colours").arg(colours.size())));
        QVERIFY2(dominant < samples * 95 / 100, "one colour covers the whole window");
    }
};

QTEST_GUILESS_MAIN(TestConsoleScreenshot)
#include "tst_consolescreenshot.moc"
