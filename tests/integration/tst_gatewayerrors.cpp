#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpServer>
#include <QTest>

#include "core/common/prometheusparser.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

int closedLoopbackPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort(); // closed again when probe goes out of scope
}

QStringList withFlag(QStringList args, const QString &flag, const QString &value)
{
    const qsizetype at = args.indexOf(flag);
    if (at >= 0 && at + 1 < args.size())
        args[at + 1] = value;
    else
        args << flag << value;
    return args;
}

QStringList withoutFlag(QStringList args, const QString &flag)
{
    const qsizetype at = args.indexOf(flag);
    if (at >= 0)
        args.remove(at, qMin<qsizetype>(2, args.size() - at));
    return args;
}

} // namespace

// The gateway's failure surface: bad HTTP input, health and metrics
// endpoints, bad command lines, unreachable Redis, and the ACL it runs under.
class TestGatewayErrors : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void badRequest_data();
    void badRequest();
    void bodyOverLimit();
    void healthAndMetrics();
    void badCommandLine_data();
    void badCommandLine();
    void helpExitsZero();
    void gatewayUserIsDenied_data();
    void gatewayUserIsDenied();

private:
    std::vector<PromSample> scrape(int port, QString *why = nullptr);

    GatewayStack m_stack;
    HttpClient m_http;
};

void TestGatewayErrors::initTestCase()
{
    QString error;
    QVERIFY2(m_stack.start({}, &error), qPrintable(error));
}

void TestGatewayErrors::cleanupTestCase()
{
    m_stack.stop();
}

void TestGatewayErrors::cleanup()
{
    m_stack.printLogsIfFailed();
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
}

std::vector<PromSample> TestGatewayErrors::scrape(int port, QString *why)
{
    const HttpResult result = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(port)));
    int malformed = 0;
    std::vector<PromSample> samples = PrometheusParser::parse(result.body.toStdString(), &malformed);
    if (why) {
        *why = QStringLiteral("status %1, %2 malformed lines, %3 samples, content-type %4")
                   .arg(result.status)
                   .arg(malformed)
                   .arg(samples.size())
                   .arg(QString::fromUtf8(result.header("content-type")));
    }
    if (result.status != 200 || malformed != 0)
        return {};
    return samples;
}

void TestGatewayErrors::badRequest_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");

    const QString chat = QStringLiteral("/v1/chat/completions");
    const QByteArray json = "application/json";
    const QByteArray good = ChatWire::chatBody(QStringLiteral("hello"));
    QTest::newRow("invalid JSON") << QByteArray("POST") << chat << json << QByteArray(R"({"messages": [)") << 400;
    QTest::newRow("not JSON at all") << QByteArray("POST") << chat << json << QByteArray("hello") << 400;
    QTest::newRow("empty body") << QByteArray("POST") << chat << json << QByteArray() << 400;
    QTest::newRow("array, not object") << QByteArray("POST") << chat << json << QByteArray(R"([1,2])") << 400;
    QTest::newRow("messages missing") << QByteArray("POST") << chat << json << QByteArray(R"({"model":"gpt-4o-mini"})")
                                      << 400;
    QTest::newRow("messages empty") << QByteArray("POST") << chat << json
                                    << QByteArray(R"({"model":"gpt-4o-mini","messages":[]})") << 400;
    QTest::newRow("messages not array") << QByteArray("POST") << chat << json << QByteArray(R"({"messages":"hi"})")
                                        << 400;
    QTest::newRow("message not object") << QByteArray("POST") << chat << json << QByteArray(R"({"messages":["hi"]})")
                                        << 400;
    QTest::newRow("role missing") << QByteArray("POST") << chat << json
                                  << QByteArray(R"({"messages":[{"content":"hi"}]})") << 400;
    QTest::newRow("role unknown") << QByteArray("POST") << chat << json
                                  << QByteArray(R"({"messages":[{"role":"wizard","content":"hi"}]})") << 400;
    QTest::newRow("content empty") << QByteArray("POST") << chat << json
                                   << QByteArray(R"({"messages":[{"role":"user","content":""}]})") << 400;
    QTest::newRow("content number") << QByteArray("POST") << chat << json
                                    << QByteArray(R"({"messages":[{"role":"user","content":42}]})") << 400;
    QTest::newRow("model number") << QByteArray("POST") << chat << json
                                  << QByteArray(R"({"model":5,"messages":[{"role":"user","content":"hi"}]})") << 400;
    QTest::newRow("stream string") << QByteArray("POST") << chat << json
                                   << QByteArray(R"({"stream":"yes","messages":[{"role":"user","content":"hi"}]})")
                                   << 400;
    QTest::newRow("text/plain") << QByteArray("POST") << chat << QByteArray("text/plain") << good << 415;
    QTest::newRow("form encoded") << QByteArray("POST") << chat << QByteArray("application/x-www-form-urlencoded")
                                  << good << 415;
    QTest::newRow("unknown path") << QByteArray("POST") << QStringLiteral("/v1/completions/nope") << json << good
                                  << 404;
    QTest::newRow("unknown GET path") << QByteArray("GET") << QStringLiteral("/nothing/here") << QByteArray()
                                      << QByteArray() << 404;
    QTest::newRow("GET on chat") << QByteArray("GET") << chat << QByteArray() << QByteArray() << 405;
    QTest::newRow("PUT on chat") << QByteArray("PUT") << chat << json << good << 405;
    QTest::newRow("DELETE on chat") << QByteArray("DELETE") << chat << QByteArray() << QByteArray() << 405;
    QTest::newRow("POST on healthz") << QByteArray("POST") << QStringLiteral("/healthz") << json << good << 405;
}

void TestGatewayErrors::badRequest()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    QFETCH(QByteArray, contentType);
    QFETCH(QByteArray, body);
    QFETCH(int, status);

    QString why;
    const std::vector<PromSample> before = scrape(m_stack.gatewayPort(), &why);
    QVERIFY2(!before.empty(), qPrintable(why));

    HttpHeaders headers;
    if (!contentType.isEmpty())
        headers.append({"Content-Type", contentType});
    const HttpResult result = m_http.request(method, m_stack.gatewayUrl(path), body, headers);
    QVERIFY2(result.status == status,
             qPrintable(
                 QStringLiteral("got %1 %2 %3").arg(result.status).arg(result.error, QString::fromUtf8(result.body))));
    QVERIFY2(result.header("content-type").startsWith("application/json"), result.header("content-type").constData());
    QVERIFY2(ChatWire::isOpenAiError(result.body, &why), qPrintable(why));

    const std::vector<PromSample> after = scrape(m_stack.gatewayPort(), &why);
    QVERIFY2(!after.empty(), qPrintable(why));
    // Counted either per status (l0l3_errors_total) or as an error outcome of l0l3_requests_total.
    const std::map<std::string, std::string> byStatus{{"status", std::to_string(status)}};
    const double statusBefore = ChatWire::sum(before, "l0l3_errors_total", byStatus);
    const double statusAfter = ChatWire::sum(after, "l0l3_errors_total", byStatus);
    QVERIFY2(statusAfter >= statusBefore + 1 || ChatWire::errorRequests(after) >= ChatWire::errorRequests(before) + 1,
             qPrintable(QStringLiteral("errors{status=%1} %2 -> %3, error requests %4 -> %5")
                            .arg(status)
                            .arg(statusBefore)
                            .arg(statusAfter)
                            .arg(ChatWire::errorRequests(before))
                            .arg(ChatWire::errorRequests(after))));
}

void TestGatewayErrors::bodyOverLimit()
{
    QString error;
    auto small = m_stack.launchGateway({QStringLiteral("--max-body-bytes"), QStringLiteral("2048")}, &error);
    QVERIFY2(small, qPrintable(error));
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(small->listenPort()));

    const HttpResult fits = m_http.post(url, ChatWire::chatBody(QString(1000, u'a'), {}),
                                        {{"Cache-Control", "no-store"}});
    QVERIFY2(fits.status == 200, qPrintable(QString::fromUtf8(fits.body) + small->describe()));

    const std::map<std::string, std::string> status413{{"status", "413"}};
    const auto errors413 = [&] {
        const std::vector<PromSample> samples = scrape(small->listenPort());
        return ChatWire::sum(samples, "l0l3_errors_total", status413) + ChatWire::errorRequests(samples);
    };
    const double errorsBefore = errors413();
    const HttpResult tooBig = m_http.post(url, ChatWire::chatBody(QString(4096, u'a'), {}));
    QVERIFY2(tooBig.status == 413,
             qPrintable(QStringLiteral("got %1 %2").arg(tooBig.status).arg(QString::fromUtf8(tooBig.body))));
    QVERIFY2(ChatWire::isOpenAiError(tooBig.body, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(errors413() >= errorsBefore + 1, TimeScale::ms(3000));
    QVERIFY(small->isRunning());
}

void TestGatewayErrors::healthAndMetrics()
{
    const HttpResult healthz = m_http.get(m_stack.gatewayUrl(QStringLiteral("/healthz")));
    QCOMPARE(healthz.status, 200);
    const HttpResult readyz = m_http.get(m_stack.gatewayUrl(QStringLiteral("/readyz")));
    QCOMPARE(readyz.status, 200);

    // One miss and one metrics scrape afterwards.
    const HttpResult miss = m_http.post(m_stack.gatewayUrl(), ChatWire::chatBody(QStringLiteral("metrics probe")));
    QCOMPARE(miss.status, 200);
    const HttpResult metrics = m_http.get(m_stack.gatewayUrl(QStringLiteral("/metrics")));
    QCOMPARE(metrics.status, 200);
    QVERIFY2(metrics.header("content-type").startsWith("text/plain"), metrics.header("content-type").constData());
    int malformed = -1;
    const std::vector<PromSample> samples = PrometheusParser::parse(metrics.body.toStdString(), &malformed);
    QCOMPARE(malformed, 0);
    QVERIFY2(ChatWire::sum(samples, "l0l3_requests_total", {{"region", "nyc"}, {"outcome", "miss"}}) >= 1,
             metrics.body.constData());
    QVERIFY2(ChatWire::sum(samples, "l0l3_request_duration_seconds_count", {{"region", "nyc"}}) >= 1,
             metrics.body.constData());
    QVERIFY2(ChatWire::sum(samples, "l0l3_request_duration_seconds_bucket", {{"le", "+Inf"}}) >= 1,
             metrics.body.constData());
    // Buckets fine enough for sub-millisecond hits.
    bool subMillisecondBucket = false;
    for (const PromSample &s : samples) {
        if (s.name == "l0l3_request_duration_seconds_bucket" && s.labels.count("le") && s.labels.at("le") != "+Inf")
            subMillisecondBucket = subMillisecondBucket || std::stod(s.labels.at("le")) < 0.001;
    }
    QVERIFY2(subMillisecondBucket, metrics.body.constData());
    QVERIFY2(metrics.body.contains("l0l3_proposals_total"), metrics.body.constData());
}

void TestGatewayErrors::badCommandLine_data()
{
    QTest::addColumn<QStringList>("args");
    const QStringList good = m_stack.standardGatewayArgs(QStringLiteral("nyc"));
    const QString wrongPassword =
        QStringLiteral("redis://gateway:wrong-password@127.0.0.1:%1").arg(m_stack.replica().port());
    QTest::newRow("unknown flag") << (good + QStringList{QStringLiteral("--bogus")});
    QTest::newRow("flag without value") << (good + QStringList{QStringLiteral("--threads")});
    QTest::newRow("listen not host:port") << withFlag(good, QStringLiteral("--listen"), QStringLiteral("nonsense"));
    QTest::newRow("listen port out of range")
        << withFlag(good, QStringLiteral("--listen"), QStringLiteral("127.0.0.1:70000"));
    QTest::newRow("threads zero") << withFlag(good, QStringLiteral("--threads"), QStringLiteral("0"));
    QTest::newRow("threads not a number") << withFlag(good, QStringLiteral("--threads"), QStringLiteral("many"));
    QTest::newRow("replica not a redis url")
        << withFlag(good, QStringLiteral("--replica"), QStringLiteral("http://127.0.0.1:1"));
    QTest::newRow("upstream not http") << withFlag(good, QStringLiteral("--upstream"),
                                                   QStringLiteral("ftp://127.0.0.1/v1"));
    QTest::newRow("region missing") << withoutFlag(good, QStringLiteral("--region"));
    QTest::newRow("replica unreachable") << withFlag(good, QStringLiteral("--replica"),
                                                     QStringLiteral("redis://gateway:%1@127.0.0.1:%2")
                                                         .arg(TestCredentials::get().gateway)
                                                         .arg(closedLoopbackPort()));
    QTest::newRow("primary unreachable") << withFlag(good, QStringLiteral("--primary"),
                                                     QStringLiteral("redis://gateway:%1@127.0.0.1:%2")
                                                         .arg(TestCredentials::get().gateway)
                                                         .arg(closedLoopbackPort()));
    QTest::newRow("replica wrong password") << withFlag(good, QStringLiteral("--replica"), wrongPassword);
    QTest::newRow("config file missing") << (good
                                             + QStringList{QStringLiteral("--config"),
                                                           QStringLiteral("/nonexistent/l0l3.conf")});
}

void TestGatewayErrors::badCommandLine()
{
    QFETCH(QStringList, args);
    ManagedProcess gateway;
    QVERIFY(gateway.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), args));
    QVERIFY2(gateway.waitForFinished(15000), qPrintable(gateway.describe()));
    QCOMPARE(gateway.exitStatus(), QProcess::NormalExit);
    QVERIFY2(gateway.exitCode() != 0, qPrintable(gateway.describe()));
    QVERIFY2(!gateway.stdoutText().contains("listening on"), qPrintable(gateway.describe()));
    // One line for the error; warnings (this fixture's URLs carry passwords on argv) come before it.
    QList<QByteArray> lines = gateway.stderrText().trimmed().split('\n');
    lines.removeIf([](const QByteArray &line) { return line.startsWith("l0l3-gateway: warning: "); });
    QVERIFY2(lines.size() == 1 && !lines.front().isEmpty(), qPrintable(gateway.describe()));
    // The password never reaches the terminal.
    QVERIFY(!gateway.stderrText().contains(TestCredentials::get().gateway.toUtf8()));
    QVERIFY(!gateway.stderrText().contains("wrong-password"));
}

void TestGatewayErrors::helpExitsZero()
{
    ManagedProcess gateway;
    QVERIFY(gateway.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), {QStringLiteral("--help")}));
    QVERIFY(gateway.waitForFinished(10000));
    QCOMPARE(gateway.exitCode(), 0);
    const QByteArray help = gateway.stdoutText();
    for (const char *flag : {"--listen", "--region", "--replica", "--primary", "--upstream", "--threads"})
        QVERIFY2(help.contains(flag), flag);
}

void TestGatewayErrors::gatewayUserIsDenied_data()
{
    QTest::addColumn<bool>("onReplica");
    QTest::addColumn<QList<QByteArray>>("argv");
    const QByteArray entry = bytes(RedisSchema::entryKey("0123456789abcdef0123456789abcdef"));
    QTest::newRow("SET entry") << false << QList<QByteArray>{"SET", entry, "{}"};
    QTest::newRow("DEL entry") << false << QList<QByteArray>{"DEL", entry};
    QTest::newRow("XRANGE audit") << false << QList<QByteArray>{"XRANGE", bytes(RedisSchema::kAudit), "-", "+"};
    QTest::newRow("XADD audit") << false
                                << QList<QByteArray>{"XADD", bytes(RedisSchema::kAudit), "*", "action", "approve"};
    QTest::newRow("ZADD rejected") << false << QList<QByteArray>{"ZADD", bytes(RedisSchema::kRejected), "1", "k"};
    QTest::newRow("PUBLISH invalidate") << false
                                        << QList<QByteArray>{"PUBLISH", bytes(RedisSchema::kInvalidateChannel), "*"};
    QTest::newRow("SET entry on replica") << true << QList<QByteArray>{"SET", entry, "{}"};
}

void TestGatewayErrors::gatewayUserIsDenied()
{
    QFETCH(bool, onReplica);
    QFETCH(QList<QByteArray>, argv);
    RedisClient gateway = (onReplica ? m_stack.replica() : m_stack.primary()).client(QStringLiteral("gateway"));
    QVERIFY2(gateway.isConnected(), qPrintable(gateway.lastError()));
    const RedisValue reply = gateway.command(argv);
    QVERIFY2(reply.isError() && reply.str.startsWith("NOPERM"), qPrintable(reply.toString()));
}

QTEST_GUILESS_MAIN(TestGatewayErrors)
#include "tst_gatewayerrors.moc"
