#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <memory>

#include "core/common/prometheusparser.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

// The monitoring shipped in packaging/ against a real gateway: every metric,
// label and fixed label value that the Prometheus rules and the Grafana
// dashboard ask for is in what l0l3-gateway serves on /metrics
// (packaging/prometheus/check-metric-names.py decides), the dashboard's
// PromQL parses (promtool), and the proposal backlog the alerts watch
// (l0l3_proposal_inbox_length) follows the inbox on the primary.
class TestMonitoringNames : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void rulesAndDashboardUseExportedMetrics();
    // Last: it stops the primary.
    void inboxLengthFollowsThePrimary();

private:
    QByteArray metricsText();
    double inboxGauge();
    qint64 inboxLength();

    GatewayStack m_stack;
    std::unique_ptr<ManagedProcess> m_gateway;
    QUrl m_gatewayUrl;
    HttpClient m_http;
};

void TestMonitoringNames::initTestCase()
{
    GatewayStack::Options options;
    options.startGateway = false;
    QString error;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
    // Every optional family on: a secondary upstream and a fallback replica have series of their own.
    m_gateway = m_stack.launchGateway(
        {QStringLiteral("--secondary-upstream"), m_stack.stubUrl(QStringLiteral("/v1")).toString(),
         QStringLiteral("--fallback-replica"), m_stack.replica().url(QStringLiteral("gateway"))},
        &error);
    QVERIFY2(m_gateway, qPrintable(error));
    const int port = m_gateway->listenPort();
    QVERIFY(port > 0);
    m_gatewayUrl = QUrl(QStringLiteral("http://127.0.0.1:%1").arg(port));
}

void TestMonitoringNames::cleanupTestCase()
{
    if (m_gateway)
        QVERIFY(m_gateway->stop());
    m_stack.stop();
}

void TestMonitoringNames::cleanup()
{
    m_stack.printLogsIfFailed({m_gateway.get()});
    QVERIFY2(m_gateway && m_gateway->isRunning(), "the gateway died");
}

QByteArray TestMonitoringNames::metricsText()
{
    const HttpResult result = m_http.get(m_gatewayUrl.resolved(QUrl(QStringLiteral("/metrics"))));
    if (result.status != 200)
        qWarning("GET /metrics: %s", qPrintable(result.describe()));
    return result.status == 200 ? result.body : QByteArray();
}

double TestMonitoringNames::inboxGauge()
{
    const std::vector<PromSample> samples = PrometheusParser::parse(metricsText().toStdString());
    for (const PromSample &s : samples) {
        if (s.name == "l0l3_proposal_inbox_length")
            return s.value;
    }
    return -1; // not exported
}

qint64 TestMonitoringNames::inboxLength()
{
    const QByteArray inbox(RedisSchema::kProposalInbox.data(), qsizetype(RedisSchema::kProposalInbox.size()));
    const RedisValue reply = m_stack.primaryClient().command({"LLEN", inbox});
    return reply.isInteger() ? reply.integer : -1;
}

void TestMonitoringNames::inboxLengthFollowsThePrimary()
{
    QCOMPARE(inboxLength(), 0);
    const QUrl chat = m_gatewayUrl.resolved(QUrl(QStringLiteral("/v1/chat/completions")));
    constexpr int kMisses = 3;
    for (int i = 0; i < kMisses; ++i) {
        const HttpResult r = m_http.post(chat, ChatWire::chatBody(QStringLiteral("monitoring backlog %1").arg(i)));
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
    }
    // Each first miss is proposed after its answer: wait for the inbox, then for the gauge.
    QVERIFY2(Poll::until([&] { return inboxLength() == kMisses; }, 10000),
             qPrintable(QStringLiteral("inbox length %1").arg(inboxLength())));
    double gauge = -1;
    QVERIFY2(Poll::until([&] { return (gauge = inboxGauge()) == kMisses; }, 10000),
             qPrintable(QStringLiteral("l0l3_proposal_inbox_length is %1, the inbox holds %2 (-1: not exported)")
                            .arg(gauge)
                            .arg(kMisses)));

    // The console drains it (here: the console user empties the list): the gauge follows.
    const QByteArray inbox(RedisSchema::kProposalInbox.data(), qsizetype(RedisSchema::kProposalInbox.size()));
    const RedisValue del = m_stack.primaryClient().command({"DEL", inbox});
    QVERIFY2(del.isInteger() && del.integer == 1, "DEL of the inbox as the console user");
    QVERIFY2(Poll::until([&] { return (gauge = inboxGauge()) == 0; }, 10000),
             qPrintable(QStringLiteral("l0l3_proposal_inbox_length is %1 after the inbox was emptied").arg(gauge)));

    // The primary gone: unknown (NaN), never a stale figure.
    m_stack.primary().stop();
    QVERIFY2(Poll::until([&] { return std::isnan(gauge = inboxGauge()); }, 10000),
             qPrintable(QStringLiteral("l0l3_proposal_inbox_length is %1 with the primary stopped").arg(gauge)));
}

void TestMonitoringNames::rulesAndDashboardUseExportedMetrics()
{
    // One error answer, so that l0l3_errors_total has samples with its labels.
    const HttpResult bad = m_http.post(m_gatewayUrl.resolved(QUrl(QStringLiteral("/v1/chat/completions"))),
                                       QByteArray("{\"model\":"));
    QCOMPARE(bad.status, 400);

    const QByteArray text = metricsText();
    QVERIFY(text.contains("l0l3_requests_total"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString exposition = dir.filePath(QStringLiteral("metrics.txt"));
    QFile out(exposition);
    QVERIFY(out.open(QIODevice::WriteOnly));
    out.write(text);
    out.close();

    const QString python = QStandardPaths::findExecutable(QStringLiteral("python3"));
    QVERIFY2(!python.isEmpty(), "python3 is not installed (scripts/install-deps.sh)");
    const QDir source(qEnvironmentVariable("L0L3_SOURCE_DIR"));
    QVERIFY2(source.exists(QStringLiteral("packaging/prometheus")), "L0L3_SOURCE_DIR is not the source tree");
    const QString prom = source.filePath(QStringLiteral("packaging/prometheus"));
    QStringList args{source.filePath(QStringLiteral("packaging/prometheus/check-metric-names.py")),
                     QStringLiteral("--exposition"), exposition, QStringLiteral("--rules")};
    for (const QString &f : QDir(prom + QStringLiteral("/rules")).entryList({QStringLiteral("*.yml")}, QDir::Files))
        args << prom + QStringLiteral("/rules/") + f;
    args << QStringLiteral("--rule-tests");
    for (const QString &f : QDir(prom + QStringLiteral("/tests")).entryList({QStringLiteral("*.yml")}, QDir::Files))
        args << prom + QStringLiteral("/tests/") + f;
    args << QStringLiteral("--dashboard");
    const QString grafana = source.filePath(QStringLiteral("packaging/grafana"));
    for (const QString &f : QDir(grafana).entryList({QStringLiteral("*.json")}, QDir::Files))
        args << grafana + QLatin1Char('/') + f;
    // Each alert's runbook_url anchor is a heading of the operations guide.
    args << QStringLiteral("--runbook-doc") << source.filePath(QStringLiteral("docs/OPERATIONS.md"));
    const QString promtool = QStandardPaths::findExecutable(QStringLiteral("promtool"));
    if (promtool.isEmpty())
        qWarning("promtool is not installed: the dashboard's PromQL syntax is not checked");
    else
        args << QStringLiteral("--promtool") << promtool;

    QProcess check;
    check.start(python, args);
    QVERIFY2(check.waitForStarted(TimeScale::ms(10000)), qPrintable(check.errorString()));
    QVERIFY2(check.waitForFinished(TimeScale::ms(60000)), "check-metric-names.py did not finish");
    const QByteArray output = check.readAllStandardOutput() + check.readAllStandardError();
    qInfo("%s", output.trimmed().constData());
    QVERIFY2(check.exitStatus() == QProcess::NormalExit && check.exitCode() == 0, output.constData());
}

QTEST_GUILESS_MAIN(TestMonitoringNames)
#include "tst_monitoringnames.moc"
