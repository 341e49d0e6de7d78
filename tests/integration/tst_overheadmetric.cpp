#include <QElapsedTimer>
#include <QProcess>
#include <QStandardPaths>
#include <QTest>

#include "core/common/prometheusparser.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kStubLatencyMs = 200;
constexpr int kStubTtftMs = 100; // streams only: the first event after it, the rest over kStubLatencyMs
constexpr int kMisses = 8;
constexpr int kStreamedMisses = 4;

} // namespace

// l0l3_gateway_overhead_seconds: one observation per miss answered by the
// upstream, and the upstream's own time is not in it. The stub answers after
// kStubLatencyMs, so a histogram that included the upstream call would sum to
// at least kStubLatencyMs per miss. A streamed miss counts too, without the
// upstream's waits before and between its events (about kStubTtftMs + kStubLatencyMs).
class TestOverheadMetric : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void missesExcludeUpstreamTime();
    void streamedMissesExcludeUpstreamTime();
    void promtoolAcceptsMetrics();

private:
    QByteArray metricsText();

    GatewayStack m_stack;
    HttpClient m_http;
};

void TestOverheadMetric::initTestCase()
{
    GatewayStack::Options options;
    options.stubArgs = {QStringLiteral("--latency-ms"), QString::number(kStubLatencyMs), QStringLiteral("--ttft-ms"),
                        QString::number(kStubTtftMs)};
    QString error;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
}

void TestOverheadMetric::cleanupTestCase()
{
    m_stack.stop();
}

void TestOverheadMetric::cleanup()
{
    m_stack.printLogsIfFailed();
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
}

QByteArray TestOverheadMetric::metricsText()
{
    const HttpResult result = m_http.get(m_stack.gatewayUrl(QStringLiteral("/metrics")));
    if (result.status != 200)
        qWarning("GET /metrics: %s", qPrintable(result.describe()));
    return result.status == 200 ? result.body : QByteArray();
}

void TestOverheadMetric::missesExcludeUpstreamTime()
{
    const std::map<std::string, std::string> region{{"region", m_stack.region().toStdString()}};
    std::vector<PromSample> before = PrometheusParser::parse(metricsText().toStdString());
    QCOMPARE(ChatWire::sum(before, "l0l3_gateway_overhead_seconds_count", region), 0.0);

    // A request refused before any upstream call is not a miss answered by the upstream.
    const HttpResult bad = m_http.post(m_stack.gatewayUrl(), QByteArray("{\"model\":"));
    QCOMPARE(bad.status, 400);

    double clientSeconds = 0;
    for (int i = 0; i < kMisses; ++i) {
        QElapsedTimer timer;
        timer.start();
        const HttpResult r = m_http.post(m_stack.gatewayUrl(),
                                         ChatWire::chatBody(QStringLiteral("overhead metric question %1").arg(i)));
        clientSeconds += static_cast<double>(timer.nsecsElapsed()) / 1e9;
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
    }

    int malformed = 0;
    const std::vector<PromSample> after = PrometheusParser::parse(metricsText().toStdString(), &malformed);
    QCOMPARE(malformed, 0);
    QCOMPARE(ChatWire::sum(after, "l0l3_requests_total", {{"tier", "L3"}, {"outcome", "miss"}}), double(kMisses));
    QCOMPARE(ChatWire::sum(after, "l0l3_gateway_overhead_seconds_count", region), double(kMisses));
    auto inf = region;
    inf["le"] = "+Inf";
    QCOMPARE(ChatWire::sum(after, "l0l3_gateway_overhead_seconds_bucket", inf), double(kMisses));

    const double overheadSum = ChatWire::sum(after, "l0l3_gateway_overhead_seconds_sum", region);
    const double upstreamSeconds = kMisses * kStubLatencyMs / 1000.0;
    qInfo("client-observed %.3f s for %d misses, stub latency %.3f s in all, overhead sum %.6f s", clientSeconds,
          kMisses, upstreamSeconds, overheadSum);
    QVERIFY2(overheadSum > 0, "every miss takes some time in the gateway");
    // What the client saw minus what the stub was told to wait bounds the gateway's share from above.
    QVERIFY2(overheadSum <= clientSeconds - upstreamSeconds,
             qPrintable(QStringLiteral("overhead sum %1 s is more than client time %2 s minus upstream time %3 s")
                            .arg(overheadSum)
                            .arg(clientSeconds)
                            .arg(upstreamSeconds)));
    // Far below one stub latency per miss: the upstream call is not counted.
    QVERIFY2(overheadSum < upstreamSeconds / 4,
             qPrintable(QStringLiteral("overhead sum %1 s for %2 misses").arg(overheadSum).arg(kMisses)));
}

void TestOverheadMetric::streamedMissesExcludeUpstreamTime()
{
    const std::map<std::string, std::string> region{{"region", m_stack.region().toStdString()}};
    const std::vector<PromSample> before = PrometheusParser::parse(metricsText().toStdString());
    const double countBefore = ChatWire::sum(before, "l0l3_gateway_overhead_seconds_count", region);
    const double sumBefore = ChatWire::sum(before, "l0l3_gateway_overhead_seconds_sum", region);
    const double missesBefore = ChatWire::sum(before, "l0l3_requests_total", {{"tier", "L3"}, {"outcome", "miss"}});

    double clientSeconds = 0;
    for (int i = 0; i < kStreamedMisses; ++i) {
        QElapsedTimer timer;
        timer.start();
        const HttpResult r = m_http.post(m_stack.gatewayUrl(),
                                         ChatWire::chatBody(QStringLiteral("overhead metric stream %1").arg(i),
                                                            {{QStringLiteral("stream"), true}}));
        clientSeconds += static_cast<double>(timer.nsecsElapsed()) / 1e9;
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
        QVERIFY2(r.header("transfer-encoding").toLower() == "chunked", qPrintable(r.describe()));
        QVERIFY2(r.body.endsWith("data: [DONE]\n\n"), qPrintable(r.describe()));
    }

    const std::vector<PromSample> after = PrometheusParser::parse(metricsText().toStdString());
    QCOMPARE(ChatWire::sum(after, "l0l3_requests_total", {{"tier", "L3"}, {"outcome", "miss"}}) - missesBefore,
             double(kStreamedMisses));
    QCOMPARE(ChatWire::sum(after, "l0l3_gateway_overhead_seconds_count", region) - countBefore,
             double(kStreamedMisses));
    const double overheadSum = ChatWire::sum(after, "l0l3_gateway_overhead_seconds_sum", region) - sumBefore;
    // At least the wait for the first event and most of the spread (the stub rounds its interval down).
    const double upstreamSeconds = kStreamedMisses * (kStubTtftMs + kStubLatencyMs / 2) / 1000.0;
    qInfo("client-observed %.3f s for %d streamed misses, stub at least %.3f s in all, overhead sum %.6f s",
          clientSeconds, kStreamedMisses, upstreamSeconds, overheadSum);
    QVERIFY2(overheadSum > 0, "every streamed miss takes some time in the gateway");
    QVERIFY2(overheadSum <= clientSeconds - upstreamSeconds,
             qPrintable(QStringLiteral("overhead sum %1 s is more than client time %2 s minus upstream time %3 s")
                            .arg(overheadSum)
                            .arg(clientSeconds)
                            .arg(upstreamSeconds)));
    // Neither the wait for the first event nor the waits between events are counted.
    QVERIFY2(overheadSum < kStreamedMisses * kStubTtftMs / 1000.0 / 4,
             qPrintable(
                 QStringLiteral("overhead sum %1 s for %2 streamed misses").arg(overheadSum).arg(kStreamedMisses)));
}

void TestOverheadMetric::promtoolAcceptsMetrics()
{
    const QString promtool = QStandardPaths::findExecutable(QStringLiteral("promtool"));
    if (promtool.isEmpty())
        QSKIP("promtool is not installed");
    const QByteArray text = metricsText();
    QVERIFY(text.contains("# TYPE l0l3_gateway_overhead_seconds histogram"));
    QVERIFY(text.contains("# HELP l0l3_gateway_overhead_seconds "));

    QProcess check;
    check.start(promtool, {QStringLiteral("check"), QStringLiteral("metrics")});
    QVERIFY2(check.waitForStarted(TimeScale::ms(10000)), qPrintable(check.errorString()));
    check.write(text);
    check.closeWriteChannel();
    QVERIFY2(check.waitForFinished(TimeScale::ms(30000)), "promtool did not finish");
    const QByteArray output = check.readAllStandardOutput() + check.readAllStandardError();
    QVERIFY2(check.exitStatus() == QProcess::NormalExit, output.constData());
    // promtool exits non-zero for lint findings on any family; none may concern this one.
    QVERIFY2(!output.contains("l0l3_gateway_overhead_seconds"), output.constData());
    QVERIFY2(check.exitCode() == 0 || !output.contains("error while linting"), output.constData());
}

QTEST_GUILESS_MAIN(TestOverheadMetric)
#include "tst_overheadmetric.moc"
