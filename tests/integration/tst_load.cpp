#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTest>

#include <csignal>

#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;

namespace {

QString datasetPath()
{
    return test::TestCredentials::sourceDir() + QStringLiteral("/resources/demo/dataset.json");
}

struct LoadRun
{
    int exitCode = -1;
    QString out;
    QString err;
};

LoadRun runLoad(const QStringList &args, int timeoutMs = 30000)
{
    test::ManagedProcess load;
    LoadRun run;
    QString error;
    if (!load.start(test::ManagedProcess::binary(QStringLiteral("l0l3-load")), args,
                    QProcessEnvironment::systemEnvironment(), &error)) {
        run.err = error;
        return run;
    }
    if (!load.waitForFinished(timeoutMs)) {
        run.err = QStringLiteral("timed out: ") + load.describe();
        return run;
    }
    run.exitCode = load.exitStatus() == QProcess::NormalExit ? load.exitCode() : -1;
    run.out = QString::fromUtf8(load.stdoutText());
    run.err = QString::fromUtf8(load.stderrText());
    return run;
}

// "key a=1 b=2" -> {a: 1, b: 2} for the summary line starting with key.
QHash<QString, QString> fields(const QString &summary, const QString &key)
{
    QHash<QString, QString> out;
    const QRegularExpression line(QStringLiteral("^") + QRegularExpression::escape(key) + QStringLiteral(" (.*)$"),
                                  QRegularExpression::MultilineOption);
    const QRegularExpressionMatch m = line.match(summary);
    if (!m.hasMatch())
        return out;
    for (const QString &pair : m.captured(1).split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        const qsizetype eq = pair.indexOf(QLatin1Char('='));
        if (eq > 0)
            out.insert(pair.left(eq), pair.mid(eq + 1));
        else
            out.insert(QString(), pair);
    }
    return out;
}

} // namespace

class TestLoad : public QObject
{
    Q_OBJECT

private slots:
    void badFlagsExit2_data();
    void badFlagsExit2();
    void summaryAgainstTheStub();
    void tiersAgainstAGateway();
    void durationZeroRunsUntilSignal_data();
    void durationZeroRunsUntilSignal();
};

void TestLoad::badFlagsExit2_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("mentions");
    const QString ds = datasetPath();
    const QString t = QStringLiteral("http://127.0.0.1:9");
    QTest::newRow("no flags") << QStringList{} << QStringLiteral("--target");
    QTest::newRow("unknown flag") << QStringList{QStringLiteral("--frobnicate")} << QStringLiteral("frobnicate");
    QTest::newRow("missing duration") << QStringList{QStringLiteral("--target"),  t,
                                                     QStringLiteral("--rate"),    QStringLiteral("5"),
                                                     QStringLiteral("--dataset"), ds}
                                      << QStringLiteral("--duration");
    QTest::newRow("rate zero") << QStringList{QStringLiteral("--target"),   t,
                                              QStringLiteral("--rate"),     QStringLiteral("0"),
                                              QStringLiteral("--duration"), QStringLiteral("1"),
                                              QStringLiteral("--dataset"),  ds}
                               << QStringLiteral("--rate");
    QTest::newRow("rate text") << QStringList{QStringLiteral("--target"),   t,
                                              QStringLiteral("--rate"),     QStringLiteral("fast"),
                                              QStringLiteral("--duration"), QStringLiteral("1"),
                                              QStringLiteral("--dataset"),  ds}
                               << QStringLiteral("--rate");
    QTest::newRow("negative duration") << QStringList{QStringLiteral("--target"),   t,
                                                      QStringLiteral("--rate"),     QStringLiteral("5"),
                                                      QStringLiteral("--duration"), QStringLiteral("-1"),
                                                      QStringLiteral("--dataset"),  ds}
                                       << QStringLiteral("--duration");
    QTest::newRow("not http") << QStringList{QStringLiteral("--target"),   QStringLiteral("ftp://127.0.0.1/"),
                                             QStringLiteral("--rate"),     QStringLiteral("5"),
                                             QStringLiteral("--duration"), QStringLiteral("1"),
                                             QStringLiteral("--dataset"),  ds}
                              << QStringLiteral("--target");
    QTest::newRow("concurrency zero") << QStringList{QStringLiteral("--target"),      t,
                                                     QStringLiteral("--rate"),        QStringLiteral("5"),
                                                     QStringLiteral("--duration"),    QStringLiteral("1"),
                                                     QStringLiteral("--dataset"),     ds,
                                                     QStringLiteral("--concurrency"), QStringLiteral("0")}
                                      << QStringLiteral("--concurrency");
    QTest::newRow("stream fraction > 1") << QStringList{QStringLiteral("--target"),
                                                        t,
                                                        QStringLiteral("--rate"),
                                                        QStringLiteral("5"),
                                                        QStringLiteral("--duration"),
                                                        QStringLiteral("1"),
                                                        QStringLiteral("--dataset"),
                                                        ds,
                                                        QStringLiteral("--stream-fraction"),
                                                        QStringLiteral("1.5")}
                                         << QStringLiteral("--stream-fraction");
    QTest::newRow("regions mismatch") << QStringList{QStringLiteral("--target"),
                                                     t + QStringLiteral(",") + t,
                                                     QStringLiteral("--rate"),
                                                     QStringLiteral("5"),
                                                     QStringLiteral("--duration"),
                                                     QStringLiteral("1"),
                                                     QStringLiteral("--dataset"),
                                                     ds,
                                                     QStringLiteral("--region-of-target"),
                                                     QStringLiteral("nyc")}
                                      << QStringLiteral("--region-of-target");
    QTest::newRow("dataset missing")
        << QStringList{QStringLiteral("--target"),   t,
                       QStringLiteral("--rate"),     QStringLiteral("5"),
                       QStringLiteral("--duration"), QStringLiteral("1"),
                       QStringLiteral("--dataset"),  QStringLiteral("/nonexistent/dataset.json")}
        << QStringLiteral("/nonexistent/dataset.json");
}

void TestLoad::badFlagsExit2()
{
    QFETCH(QStringList, args);
    QFETCH(QString, mentions);
    const LoadRun run = runLoad(args, 10000);
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.out.isEmpty(), qPrintable(run.out));
    const QStringList lines = run.err.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 1);
    QVERIFY2(lines.first().startsWith(QStringLiteral("l0l3-load: ")) && lines.first().contains(mentions),
             qPrintable(run.err));
}

void TestLoad::summaryAgainstTheStub()
{
    test::ManagedProcess stub;
    QString error;
    QVERIFY2(stub.start(test::ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                        {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--latency-ms"),
                         QStringLiteral("20")},
                        QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int port = stub.listenPort();
    QVERIFY2(port > 0, qPrintable(stub.describe()));

    const LoadRun run = runLoad({QStringLiteral("--target"), QStringLiteral("http://127.0.0.1:%1/v1").arg(port),
                                 QStringLiteral("--rate"), QStringLiteral("20"), QStringLiteral("--duration"),
                                 QStringLiteral("2"), QStringLiteral("--dataset"), datasetPath(),
                                 QStringLiteral("--seed"), QStringLiteral("7"), QStringLiteral("--stream-fraction"),
                                 QStringLiteral("0.3"), QStringLiteral("--quiet")});
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QVERIFY2(run.out.startsWith(QStringLiteral("l0l3-load summary\n")), qPrintable(run.out));

    const auto requests = fields(run.out, QStringLiteral("requests"));
    const int sent = requests.value(QStringLiteral("sent")).toInt();
    // Poisson arrivals at 20/s for 2 s: 40 expected; 15..80 is far outside any plausible draw.
    QVERIFY2(sent >= 15 && sent <= 80, qPrintable(run.out));
    QCOMPARE(requests.value(QStringLiteral("completed")).toInt(), sent);
    QCOMPARE(requests.value(QStringLiteral("ok")).toInt(), sent);
    QCOMPARE(requests.value(QStringLiteral("errors")).toInt(), 0);
    QCOMPARE(fields(run.out, QStringLiteral("status")).value(QStringLiteral("200")).toInt(), sent);
    QVERIFY(fields(run.out, QStringLiteral("throughput_rps")).value(QString()).toDouble() > 5);
    QCOMPARE(fields(run.out, QStringLiteral("hits")).value(QStringLiteral("total")), QStringLiteral("0"));

    const auto all = fields(run.out, QStringLiteral("latency_ms all"));
    QCOMPARE(all.value(QStringLiteral("n")).toInt(), sent);
    const double p50 = all.value(QStringLiteral("p50")).toDouble();
    const double p99 = all.value(QStringLiteral("p99")).toDouble();
    QVERIFY2(p50 >= 15 && p50 <= p99 && p99 < 5000, qPrintable(run.out));
    // The stub sends no x-l0l3-tier.
    QCOMPARE(fields(run.out, QStringLiteral("latency_ms none")).value(QStringLiteral("n")).toInt(), sent);
}

void TestLoad::tiersAgainstAGateway()
{
    test::GatewayStack stack;
    test::GatewayStack::Options options;
    options.stubArgs = {QStringLiteral("--latency-ms"), QStringLiteral("10")};
    QString error;
    QVERIFY2(stack.start(options, &error), qPrintable(error));

    QUrl base = stack.gatewayUrl();
    base.setPath(QString());
    const LoadRun run = runLoad({QStringLiteral("--target"), base.toString(), QStringLiteral("--region-of-target"),
                                 stack.region(), QStringLiteral("--rate"), QStringLiteral("20"),
                                 QStringLiteral("--duration"), QStringLiteral("2"), QStringLiteral("--dataset"),
                                 datasetPath(), QStringLiteral("--quiet")});
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    const auto requests = fields(run.out, QStringLiteral("requests"));
    const int ok = requests.value(QStringLiteral("ok")).toInt();
    QVERIFY2(ok >= 15, qPrintable(run.out + stack.describe()));
    // Nothing is approved: every answer comes from upstream (L3) through the gateway.
    const auto l3 = fields(run.out, QStringLiteral("latency_ms L3"));
    QVERIFY2(l3.value(QStringLiteral("n")).toInt() == ok, qPrintable(run.out));
    QVERIFY(l3.value(QStringLiteral("p50")).toDouble() > 0);
}

void TestLoad::durationZeroRunsUntilSignal_data()
{
    QTest::addColumn<int>("signalNumber");
    QTest::newRow("SIGINT") << SIGINT;
    QTest::newRow("SIGTERM") << SIGTERM;
}

void TestLoad::durationZeroRunsUntilSignal()
{
    QFETCH(int, signalNumber);
    test::ManagedProcess stub;
    QString error;
    QVERIFY2(stub.start(test::ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                        {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--latency-ms"),
                         QStringLiteral("5")},
                        QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int port = stub.listenPort();
    QVERIFY2(port > 0, qPrintable(stub.describe()));

    test::ManagedProcess load;
    QVERIFY2(load.start(test::ManagedProcess::binary(QStringLiteral("l0l3-load")),
                        {QStringLiteral("--target"), QStringLiteral("http://127.0.0.1:%1").arg(port),
                         QStringLiteral("--rate"), QStringLiteral("20"), QStringLiteral("--duration"),
                         QStringLiteral("0"), QStringLiteral("--dataset"), datasetPath(), QStringLiteral("--quiet")},
                        QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    // Traffic is flowing once the stub has counted some requests.
    test::HttpClient http;
    const QUrl stats(QStringLiteral("http://127.0.0.1:%1/stats").arg(port));
    QTRY_VERIFY_WITH_TIMEOUT(
        QJsonDocument::fromJson(http.get(stats, {}, 2000).body).object().value(QStringLiteral("requests")).toInt() >= 5,
        l0l3::test::TimeScale::ms(10000));
    QVERIFY2(load.isRunning(), qPrintable(load.describe()));

    QCOMPARE(::kill(pid_t(load.pid()), signalNumber), 0);
    QVERIFY2(load.waitForFinished(15000), qPrintable(load.describe()));
    QCOMPARE(load.exitStatus(), QProcess::NormalExit);
    QCOMPARE(load.exitCode(), 0);
    const QString out = QString::fromUtf8(load.stdoutText());
    const auto requests = fields(out, QStringLiteral("requests"));
    QVERIFY2(requests.value(QStringLiteral("ok")).toInt() >= 5, qPrintable(out));
    QCOMPARE(requests.value(QStringLiteral("completed")), requests.value(QStringLiteral("sent")));
}

QTEST_GUILESS_MAIN(TestLoad)
#include "tst_load.moc"
