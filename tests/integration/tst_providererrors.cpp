#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "core/common/prometheusparser.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/rawhttpserver.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"
#include "tests/support/uniqueprompts.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

QJsonObject errorObject(const QByteArray &body)
{
    return QJsonDocument::fromJson(body).object().value(u"error").toObject();
}

QByteArray rawResponse(const QByteArray &statusLine, const QByteArray &retryAfter, const QByteArray &body)
{
    QByteArray out = "HTTP/1.1 " + statusLine + "\r\nContent-Type: application/json\r\nConnection: close\r\n";
    if (!retryAfter.isNull())
        out += "Retry-After: " + retryAfter + "\r\n";
    return out + "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
}

} // namespace

// An upstream that answers 429 or 5xx, end to end: real redis-server primary
// and replica, one or two l0l3-stub-llm processes (--fail-status,
// --retry-after, --latency-ms) and l0l3-gateway on loopback. The client gets
// the upstream's status, its Retry-After and its error body; the breaker
// counts it as overload and later misses go to the secondary upstream; an
// upstream over its latency SLO trips the breaker too; no error is proposed.
class TestProviderErrors : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void errorPassesThrough_data();
    void errorPassesThrough();
    void untrustedPartsAreReplaced_data();
    void untrustedPartsAreReplaced();
    void breakerSendsMissesToTheSecondary_data();
    void breakerSendsMissesToTheSecondary();
    void retryAfterHoldsThePrimary_data();
    void retryAfterHoldsThePrimary();
    void latencySloTripsToTheSecondary_data();
    void latencySloTripsToTheSecondary();

private:
    // The stack with its stub started with stubArgs; a second stub as --secondary-upstream when
    // withSecondary; then the gateway (one thread: proposals leave in request order) with gatewayArgs.
    bool startStack(const QStringList &gatewayArgs, const QStringList &stubArgs, bool withSecondary);
    HttpResult chat(const QString &prompt, const QJsonObject &extra = {});
    double metric(const std::string &name, const std::map<std::string, std::string> &labels = {});
    qint64 requestsAt(int stubPort);
    qint64 primaryStubRequests() { return requestsAt(m_stack->stubPort()); }
    qint64 secondaryStubRequests() { return requestsAt(m_secondPort); }
    bool setPrimaryFailRate(double rate);
    // Misses of key the proposal function counted in this region (seen:KEY): 0 when never proposed.
    qint64 seen(const QByteArray &key);
    // Waits until the proposal of barrierKey (a miss answered after every error of keys) has landed,
    // then checks that none of keys was proposed: proposals go out in order on one connection.
    bool noneProposed(const QList<QByteArray> &keys, const QByteArray &barrierKey, QString *why);

    std::unique_ptr<GatewayStack> m_stack;
    std::unique_ptr<ManagedProcess> m_gateway;
    std::unique_ptr<ManagedProcess> m_secondStub;
    int m_gatewayPort = -1;
    int m_secondPort = -1;
    HttpClient m_http;
    RedisClient m_primary;
    QTemporaryDir m_dir;
    UniquePrompts m_prompts{QStringLiteral("Provider error question")};
};

void TestProviderErrors::init()
{
    m_stack = std::make_unique<GatewayStack>();
}

void TestProviderErrors::cleanup()
{
    if (QTest::currentTestFailed()) {
        if (m_gateway)
            qWarning().noquote() << m_gateway->describe(60);
        if (m_secondStub)
            qWarning().noquote() << m_secondStub->describe();
        if (m_stack)
            qWarning().noquote() << m_stack->describe();
    }
    const bool gatewayDied = m_gateway && !m_gateway->isRunning();
    m_gateway.reset();
    m_secondStub.reset();
    m_secondPort = -1;
    m_primary.disconnect();
    if (m_stack)
        m_stack->stop();
    m_stack.reset();
    QVERIFY2(!gatewayDied, "the gateway died during the test");
}

bool TestProviderErrors::startStack(const QStringList &gatewayArgs, const QStringList &stubArgs, bool withSecondary)
{
    GatewayStack::Options options;
    options.startGateway = false;
    options.stubArgs = stubArgs;
    QString error;
    if (!m_stack->start(options, &error)) {
        qWarning().noquote() << error;
        return false;
    }
    QStringList args{QStringLiteral("--threads"), QStringLiteral("1")};
    if (withSecondary) {
        m_secondStub = std::make_unique<ManagedProcess>();
        if (!m_secondStub->start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                                 {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")},
                                 QProcessEnvironment::systemEnvironment(), &error)) {
            qWarning().noquote() << error;
            return false;
        }
        m_secondPort = m_secondStub->listenPort();
        if (m_secondPort <= 0)
            return false;
        args << QStringLiteral("--secondary-upstream") << QStringLiteral("http://127.0.0.1:%1/v1").arg(m_secondPort);
    }
    m_gateway = m_stack->launchGateway(args + gatewayArgs, &error);
    if (!m_gateway) {
        qWarning().noquote() << error;
        return false;
    }
    m_gatewayPort = m_gateway->listenPort();
    m_primary = m_stack->primary().client(QStringLiteral("console"));
    return m_primary.isConnected();
}

HttpResult TestProviderErrors::chat(const QString &prompt, const QJsonObject &extra)
{
    return m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(m_gatewayPort)),
                       ChatWire::chatBody(prompt, extra), {}, 10000);
}

double TestProviderErrors::metric(const std::string &name, const std::map<std::string, std::string> &labels)
{
    const HttpResult result = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(m_gatewayPort)), {},
                                         5000);
    int malformed = 0;
    const auto samples = PrometheusParser::parse(result.body.toStdString(), &malformed);
    if (result.status != 200 || malformed != 0)
        return -1;
    return ChatWire::sum(samples, name, labels);
}

qint64 TestProviderErrors::requestsAt(int stubPort)
{
    const HttpResult stats = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/stats").arg(stubPort)), {}, 5000);
    const QJsonValue requests = QJsonDocument::fromJson(stats.body).object().value(u"requests");
    return requests.isDouble() ? static_cast<qint64>(requests.toDouble()) : -1;
}

bool TestProviderErrors::setPrimaryFailRate(double rate)
{
    return m_http
               .post(m_stack->stubUrl(QStringLiteral("/admin/fail-rate")), QByteArray::number(rate),
                     {{"Content-Type", "text/plain"}}, 5000)
               .status
        == 200;
}

qint64 TestProviderErrors::seen(const QByteArray &key)
{
    return m_primary.command({"HGET", bytes(RedisSchema::seenKey(key.toStdString())), "nyc"}).str.toLongLong();
}

bool TestProviderErrors::noneProposed(const QList<QByteArray> &keys, const QByteArray &barrierKey, QString *why)
{
    if (!Poll::until([&] { return seen(barrierKey) == 1; }, 5000)) {
        *why = QStringLiteral("the barrier miss was never proposed");
        return false;
    }
    for (const QByteArray &key : keys) {
        if (key.isEmpty() || seen(key) != 0) {
            *why = QStringLiteral("an error was proposed (or had no key): ") + QString::fromLatin1(key);
            return false;
        }
    }
    return true;
}

void TestProviderErrors::errorPassesThrough_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("retryAfter"); // the stub's; empty: none
    QTest::addColumn<QString>("errorClass");
    QTest::addColumn<bool>("streamed"); // "stream": true: the error comes before any event
    QTest::newRow("429 with Retry-After") << 429 << QByteArray("7") << QStringLiteral("4xx") << false;
    QTest::newRow("503 with Retry-After") << 503 << QByteArray("2") << QStringLiteral("5xx") << false;
    QTest::newRow("500") << 500 << QByteArray() << QStringLiteral("5xx") << false;
    QTest::newRow("502 from the upstream") << 502 << QByteArray() << QStringLiteral("5xx") << false;
    QTest::newRow("streamed 429 with Retry-After") << 429 << QByteArray("7") << QStringLiteral("4xx") << true;
    QTest::newRow("streamed 503 with Retry-After") << 503 << QByteArray("2") << QStringLiteral("5xx") << true;
}

void TestProviderErrors::errorPassesThrough()
{
    QFETCH(int, status);
    QFETCH(QByteArray, retryAfter);
    QFETCH(QString, errorClass);
    QFETCH(bool, streamed);
    QStringList stubArgs{QStringLiteral("--fail-rate"), QStringLiteral("1"), QStringLiteral("--fail-status"),
                         QString::number(status)};
    if (!retryAfter.isEmpty())
        stubArgs << QStringLiteral("--retry-after") << QString::fromLatin1(retryAfter);
    // The breaker never opens on its thresholds here (a 503's Retry-After still holds it open).
    QVERIFY(startStack({QStringLiteral("--breaker-failures"), QStringLiteral("1000"),
                        QStringLiteral("--breaker-error-rate"), QStringLiteral("0")},
                       stubArgs, false));

    const HttpResult r = chat(m_prompts.next(),
                              streamed ? QJsonObject{{QStringLiteral("stream"), true}} : QJsonObject{});
    QVERIFY2(r.status == status, qPrintable(r.describe(600)));
    QCOMPARE(r.header("retry-after"), retryAfter);
    QCOMPARE(r.header("content-type"), QByteArray("application/json"));
    QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L3"));
    QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
    const QByteArray errorKey = r.header("x-l0l3-key");
    QVERIFY(!errorKey.isEmpty());
    // The stub's own OpenAI-shaped body, passed through.
    QString why;
    QVERIFY2(ChatWire::isOpenAiError(r.body, &why), qPrintable(why + r.describe(600)));
    const QJsonObject error = errorObject(r.body);
    QCOMPARE(error.value(u"code").toString(), QStringLiteral("stub_failure"));
    QCOMPARE(error.value(u"message").toString(), QStringLiteral("Stub failure (configured --fail-rate)."));
    QCOMPARE(primaryStubRequests(), qint64(1));
    QCOMPARE(metric("l0l3_upstream_errors_total", {{"class", errorClass.toStdString()}}), 1.0);
    QCOMPARE(metric("l0l3_upstream_failures_total"), 1.0);
    QCOMPARE(metric("l0l3_requests_total", {{"tier", "L3"}, {"outcome", "error"}}), 1.0);

    // No proposal: the barrier is the first miss answered once the stub recovers (after a 503's hold).
    QVERIFY(setPrimaryFailRate(0));
    QByteArray barrierKey;
    QVERIFY2(Poll::until(
                 [&] {
                     const HttpResult ok = chat(m_prompts.next());
                     if (ok.status == 200)
                         barrierKey = ok.header("x-l0l3-key");
                     return ok.status == 200;
                 },
                 15000, 100),
             qPrintable(m_gateway->describe()));
    QVERIFY2(noneProposed({errorKey}, barrierKey, &why), qPrintable(why));
    QCOMPARE(metric("l0l3_proposals_total"), 1.0);
}

void TestProviderErrors::untrustedPartsAreReplaced_data()
{
    QTest::addColumn<QByteArray>("response");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("retryAfter"); // relayed; empty: dropped
    QTest::addColumn<QString>("code");          // error.code the client gets
    const QByteArray valid = R"({"error":{"message":"Overloaded","type":"server_error","code":"overloaded"}})";
    QTest::newRow("HTML body, Retry-After not a delay or date")
        << rawResponse("503 Service Unavailable", "soon", "<html><body>down</body></html>") << 503 << QByteArray()
        << QStringLiteral("upstream_error");
    QTest::newRow("JSON without an error object, Retry-After a date")
        << rawResponse("429 Too Many Requests", "Sun, 06 Nov 1994 08:49:37 GMT", R"({"detail":"slow down"})") << 429
        << QByteArray("Sun, 06 Nov 1994 08:49:37 GMT") << QStringLiteral("upstream_rate_limited");
    QTest::newRow("two error members") << rawResponse("500 Internal Server Error", QByteArray(),
                                                      R"({"error":{"message":"a"},"error":{"message":"b"}})")
                                       << 500 << QByteArray() << QStringLiteral("upstream_error");
    QTest::newRow("Retry-After too long") << rawResponse("503 Service Unavailable", QByteArray(100, '1'), valid) << 503
                                          << QByteArray() << QStringLiteral("overloaded");
    QTest::newRow("Retry-After with two values")
        << rawResponse("503 Service Unavailable", "5, 6", valid) << 503 << QByteArray() << QStringLiteral("overloaded");
}

void TestProviderErrors::untrustedPartsAreReplaced()
{
    QFETCH(QByteArray, response);
    QFETCH(int, status);
    QFETCH(QByteArray, retryAfter);
    QFETCH(QString, code);
    RawHttpServer upstream(response, {.closeAfterResponse = true});
    QVERIFY(startStack({QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:%1/v1").arg(upstream.port())},
                       {}, false));
    const HttpResult r = chat(m_prompts.next());
    QVERIFY2(r.status == status, qPrintable(r.describe(600)));
    QCOMPARE(r.header("retry-after"), retryAfter);
    QString why;
    QVERIFY2(ChatWire::isOpenAiError(r.body, &why), qPrintable(why + r.describe(600)));
    const QJsonObject error = errorObject(r.body);
    QCOMPARE(error.value(u"code").toString(), code);
    if (code.startsWith(u"upstream_"))
        QCOMPARE(error.value(u"message").toString(), QStringLiteral("The upstream model answered %1.").arg(status));
    QVERIFY(!r.body.contains("<html>"));
}

void TestProviderErrors::breakerSendsMissesToTheSecondary_data()
{
    QTest::addColumn<QStringList>("stubArgs");
    QTest::addColumn<int>("status");
    QTest::newRow("500") << QStringList{QStringLiteral("--fail-status"), QStringLiteral("500")} << 500;
    QTest::newRow("429, clients' keys") << QStringList{QStringLiteral("--fail-status"), QStringLiteral("429")} << 429;
    QTest::newRow("503 without Retry-After")
        << QStringList{QStringLiteral("--fail-status"), QStringLiteral("503")} << 503;
}

void TestProviderErrors::breakerSendsMissesToTheSecondary()
{
    QFETCH(QStringList, stubArgs);
    QFETCH(int, status);
    QVERIFY(startStack({QStringLiteral("--breaker-failures"), QStringLiteral("3"),
                        QStringLiteral("--breaker-cooldown-ms"), QStringLiteral("600000")},
                       QStringList{QStringLiteral("--fail-rate"), QStringLiteral("1")} + stubArgs, true));

    QList<QByteArray> errorKeys;
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(metric("l0l3_upstream_circuit_state"), 0.0); // closed until the third failure
        const HttpResult r = chat(m_prompts.next());
        QVERIFY2(r.status == status, qPrintable(r.describe(600)));
        QVERIFY(ChatWire::isOpenAiError(r.body));
        errorKeys << r.header("x-l0l3-key");
    }
    QCOMPARE(metric("l0l3_upstream_circuit_state"), 2.0);
    QTRY_VERIFY_WITH_TIMEOUT(m_gateway->stderrText().contains("upstream circuit closed -> open: 3 consecutive"),
                             TimeScale::ms(3000));

    QByteArray lastKey;
    for (int i = 0; i < 4; ++i) {
        const HttpResult r = chat(m_prompts.next());
        QVERIFY2(r.status == 200, qPrintable(r.describe(600)));
        QVERIFY(!ChatWire::completionContent(r.body).isEmpty());
        lastKey = r.header("x-l0l3-key");
    }
    QCOMPARE(primaryStubRequests(), qint64(3));
    QCOMPARE(secondaryStubRequests(), qint64(4));
    QCOMPARE(metric("l0l3_secondary_upstream_calls_total"), 4.0);
    QString why;
    QVERIFY2(noneProposed(errorKeys, lastKey, &why), qPrintable(why));
}

void TestProviderErrors::retryAfterHoldsThePrimary_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<bool>("gatewayKey"); // --upstream-api-key-file: the gateway's own key upstream
    QTest::addColumn<bool>("holds");
    QTest::newRow("429 on the gateway's key") << 429 << true << true;
    QTest::newRow("503, clients' keys") << 503 << false << true;
    QTest::newRow("429 on a client's key") << 429 << false << false;
}

void TestProviderErrors::retryAfterHoldsThePrimary()
{
    QFETCH(int, status);
    QFETCH(bool, gatewayKey);
    QFETCH(bool, holds);
    // Thresholds that never open it and a cool-down far longer than the test: only the
    // upstream's Retry-After (2 s) can open the circuit and let it close again.
    QStringList gatewayArgs{QStringLiteral("--breaker-failures"),    QStringLiteral("1000"),
                            QStringLiteral("--breaker-error-rate"),  QStringLiteral("0"),
                            QStringLiteral("--breaker-cooldown-ms"), QStringLiteral("600000"),
                            QStringLiteral("--breaker-successes"),   QStringLiteral("2")};
    if (gatewayKey) {
        QVERIFY(m_dir.isValid());
        QFile key(m_dir.filePath(QStringLiteral("upstream.api-key")));
        QVERIFY(key.open(QIODevice::WriteOnly));
        key.write("sk-provider-errors-test\n");
        key.close();
        gatewayArgs << QStringLiteral("--upstream-api-key-file") << key.fileName();
    }
    QVERIFY(startStack(gatewayArgs,
                       {QStringLiteral("--fail-rate"), QStringLiteral("1"), QStringLiteral("--fail-status"),
                        QString::number(status), QStringLiteral("--retry-after"), QStringLiteral("2")},
                       true));

    const HttpResult first = chat(m_prompts.next());
    QVERIFY2(first.status == status, qPrintable(first.describe(600)));
    QCOMPARE(first.header("retry-after"), QByteArray("2"));
    const QList<QByteArray> errorKeys{first.header("x-l0l3-key")};
    if (!holds) {
        // One client's limit: counted, but the next miss still goes to the primary.
        QCOMPARE(metric("l0l3_upstream_circuit_state"), 0.0);
        QCOMPARE(chat(m_prompts.next()).status, status);
        QCOMPARE(primaryStubRequests(), qint64(2));
        QCOMPARE(secondaryStubRequests(), qint64(0));
        return;
    }
    QCOMPARE(metric("l0l3_upstream_circuit_state"), 2.0);
    const QByteArray opened = QByteArray("upstream circuit closed -> open: upstream answered ")
        + QByteArray::number(status) + QByteArray(" with Retry-After 2");
    QTRY_VERIFY_WITH_TIMEOUT(m_gateway->stderrText().contains(opened), TimeScale::ms(3000));
    const HttpResult viaSecondary = chat(m_prompts.next());
    QVERIFY2(viaSecondary.status == 200, qPrintable(viaSecondary.describe(600)));
    QCOMPARE(primaryStubRequests(), qint64(1));
    QCOMPARE(secondaryStubRequests(), qint64(1));

    // The primary recovers; after the 2 s (not the 600 s cool-down) two probes close the circuit.
    QVERIFY(setPrimaryFailRate(0));
    QByteArray lastKey;
    QVERIFY2(Poll::until(
                 [&] {
                     const HttpResult r = chat(m_prompts.next());
                     lastKey = r.header("x-l0l3-key");
                     return r.status == 200 && metric("l0l3_upstream_circuit_state") == 0.0;
                 },
                 10000, 100),
             qPrintable(m_gateway->describe()));
    QVERIFY(primaryStubRequests() >= 3);
    QString why;
    QVERIFY2(noneProposed(errorKeys, lastKey, &why), qPrintable(why));
}

void TestProviderErrors::latencySloTripsToTheSecondary_data()
{
    QTest::addColumn<bool>("slo");
    QTest::newRow("SLO 60 ms") << true;
    QTest::newRow("no SLO (the default)") << false;
}

void TestProviderErrors::latencySloTripsToTheSecondary()
{
    QFETCH(bool, slo);
    // Every primary answer takes 150 ms; the gateway's own SLO (elevated) stays at its 500 ms default.
    QStringList gatewayArgs{QStringLiteral("--breaker-cooldown-ms"), QStringLiteral("600000"),
                            QStringLiteral("--slo-window-ms"), QStringLiteral("10000")};
    if (slo)
        gatewayArgs << QStringLiteral("--upstream-slo-p99-ms") << QStringLiteral("60");
    QVERIFY(startStack(gatewayArgs, {QStringLiteral("--latency-ms"), QStringLiteral("150")}, true));

    // The window needs 20 calls and the ticker samples it once a second: about 4 s of slow misses.
    int misses = 0;
    HttpResult failed;
    const bool done = Poll::until(
        [&] {
            const HttpResult r = chat(m_prompts.next());
            if (r.status != 200) {
                failed = r;
                return true;
            }
            ++misses;
            return misses >= 40 || metric("l0l3_upstream_circuit_state") == 2.0;
        },
        30000, 0);
    QVERIFY2(failed.status == 0, qPrintable(failed.describe(600)));
    QVERIFY(done);
    // The ticker may trip the circuit between two misses of the loop; the miss
    // after that goes to the secondary before the loop reads the metric. Every
    // miss went to exactly one upstream, and at most that last one to the secondary.
    const qint64 atPrimary = primaryStubRequests();
    const qint64 atSecondary = secondaryStubRequests();
    QCOMPARE(atPrimary + atSecondary, qint64(misses));
    if (!slo) {
        QCOMPARE(atSecondary, qint64(0));
        QCOMPARE(misses, 40);
        QCOMPARE(metric("l0l3_upstream_circuit_state"), 0.0);
        return;
    }
    QVERIFY2(atSecondary <= 1, qPrintable(QString::number(atSecondary)));
    QVERIFY2(misses >= 20 && misses < 40, qPrintable(QString::number(misses)));
    QTRY_VERIFY_WITH_TIMEOUT(m_gateway->stderrText().contains("above the upstream SLO of 60 ms"), TimeScale::ms(3000));
    for (int i = 0; i < 3; ++i) {
        const HttpResult r = chat(m_prompts.next());
        QVERIFY2(r.status == 200, qPrintable(r.describe(600)));
        QVERIFY(!ChatWire::completionContent(r.body).isEmpty());
    }
    QCOMPARE(primaryStubRequests(), atPrimary);
    QCOMPARE(secondaryStubRequests(), atSecondary + 3);
    QTRY_COMPARE_WITH_TIMEOUT(metric("l0l3_degradation_state", {{"state", "degraded"}}), 1.0, TimeScale::ms(3000));
}

QTEST_GUILESS_MAIN(TestProviderErrors)
#include "tst_providererrors.moc"
