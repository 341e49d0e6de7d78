#include <QFile>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "core/gateway/gateway.h"
#include "core/gateway/gatewayconfig.h"
#include "core/gateway/sha256.h"
#include "tests/support/httpclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

// Sends fd 2 (where Log writes) to a file until destroyed.
class StderrCapture
{
public:
    explicit StderrCapture(const QString &path)
    {
        ::fflush(stderr);
        m_saved = ::dup(STDERR_FILENO);
        const int fd = ::open(path.toLocal8Bit().constData(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
    }
    ~StderrCapture() { restore(); }
    void restore()
    {
        if (m_saved < 0)
            return;
        ::fflush(stderr);
        ::dup2(m_saved, STDERR_FILENO);
        ::close(m_saved);
        m_saved = -1;
    }

private:
    int m_saved = -1;
};

int closedLoopbackPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

QByteArray chatBody(const QByteArray &prompt)
{
    return R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":")" + prompt + R"("}]})";
}

} // namespace

// Request logs never carry API keys or Redis passwords: a gateway handles
// requests with keys (valid, wrong, in the query string) against a Redis
// reached with a password (and one with a wrong password), and its whole log
// output is searched for the secrets.
class TestGatewaySecrets : public QObject
{
    Q_OBJECT

private slots:
    void logsNeverContainSecrets();
};

void TestGatewaySecrets::logsNeverContainSecrets()
{
    RedisServer redis;
    QString error;
    QVERIFY2(redis.start({}, &error), qPrintable(error));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());

    const QByteArray goodKey = "sk-l0l3-GOODKEY-7f3a9c";
    const QByteArray wrongKey = "sk-l0l3-WRONGKEY-55e1b0";
    const QByteArray queryKey = "sk-l0l3-QUERYKEY-0b9d2e";
    const QByteArray wrongPassword = "WRONGPASSWORD-c4d1";
    const QString password = TestCredentials::get().gateway;
    QVERIFY(password.size() >= 8);

    QFile keys(dir.filePath(QStringLiteral("keys.txt")));
    QVERIFY(keys.open(QIODevice::WriteOnly));
    keys.write(QByteArray::fromStdString(Sha256::hex(Sha256::digest(goodKey.toStdString()))) + " tenant-a\n");
    keys.close();

    const std::string redisUrl = redis.url(QStringLiteral("gateway")).toStdString();
    QVERIFY(redisUrl.find(password.toStdString()) != std::string::npos);
    const std::string fallbackUrl = "redis://gateway:" + wrongPassword.toStdString()
        + "@127.0.0.1:" + std::to_string(redis.port());
    const std::string upstream = "http://127.0.0.1:" + std::to_string(closedLoopbackPort()) + "/v1";
    const std::string keysPath = keys.fileName().toStdString();
    const char *argv[] = {"l0l3-gateway",
                          "--listen",
                          "127.0.0.1:0",
                          "--region",
                          "nyc",
                          "--replica",
                          redisUrl.c_str(),
                          "--primary",
                          redisUrl.c_str(),
                          "--fallback-replica",
                          fallbackUrl.c_str(),
                          "--upstream",
                          upstream.c_str(),
                          "--api-keys-file",
                          keysPath.c_str(),
                          "--threads",
                          "1",
                          "--upstream-connect-timeout-ms",
                          "500"};
    GatewayConfig config;
    std::string why;
    QCOMPARE(GatewayConfig::parse(static_cast<int>(std::size(argv)), argv, &config, &why,
                                  [](const char *) { return nullptr; }),
             GatewayConfig::Action::Run);

    const QString logPath = dir.filePath(QStringLiteral("gateway.log"));
    {
        StderrCapture capture(logPath);
        Gateway gateway(config);
        QVERIFY(gateway.start(&why));
        std::thread runner([&] { gateway.run(); });
        struct Joiner
        {
            Gateway &g;
            std::thread &t;
            ~Joiner()
            {
                g.requestStop();
                if (t.joinable())
                    t.join();
            }
        } joiner{gateway, runner};

        HttpClient http;
        const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(gateway.port()));
        const QUrl withQuery(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions?api_key=%2")
                                 .arg(gateway.port())
                                 .arg(QString::fromLatin1(queryKey)));
        QCOMPARE(http.post(url, chatBody("hello"), {{"Authorization", "Bearer " + wrongKey}}).status, 401);
        QCOMPARE(http.post(url, chatBody("hello")).status, 401);
        QCOMPARE(http.post(withQuery, chatBody("hello"), {{"Authorization", "Bearer " + wrongKey}}).status, 401);
        QCOMPARE(http.post(withQuery, "{not json", {{"Authorization", "Bearer " + goodKey}}).status, 400);
        // A miss: the upstream is unreachable, so the gateway logs a failure for this request.
        const HttpResult miss = http.post(url, chatBody("what is the refund policy"),
                                          {{"Authorization", "Bearer " + goodKey}});
        QCOMPARE(miss.status, 502);
        QCOMPARE(http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/nope?password=%2")
                                   .arg(gateway.port())
                                   .arg(QString::fromLatin1(wrongPassword))),
                          {{"Authorization", "Bearer " + goodKey}})
                     .status,
                 404);
        // The fallback connection fails to authenticate and says so in the log (without the password).
        QTRY_VERIFY_WITH_TIMEOUT(
            QFile(logPath).size() > 0 &&
                [&] {
                    QFile f(logPath);
                    return f.open(QIODevice::ReadOnly) && f.readAll().contains("fallback_replica");
                }(),
            TimeScale::ms(10000));
    }

    QFile log(logPath);
    QVERIFY(log.open(QIODevice::ReadOnly));
    const QByteArray text = log.readAll();
    // The log did capture the events, so the absence checks below mean something.
    QVERIFY2(text.contains("HTTP 401 invalid_api_key"), text.constData());
    QVERIFY2(text.contains("HTTP 502 upstream_unavailable"), text.constData());
    QVERIFY2(text.contains("HTTP 404 not_found GET /nope:"), text.constData());
    const QByteArray redisAddress = QByteArray("127.0.0.1:") + QByteArray::number(redis.port());
    QVERIFY2(text.contains(redisAddress), text.constData());
    for (const QByteArray &secret : {goodKey, wrongKey, queryKey, wrongPassword, password.toUtf8()})
        QVERIFY2(!text.contains(secret),
                 qPrintable(QStringLiteral("the log contains a secret:\n") + QString::fromUtf8(text)));
}

QTEST_GUILESS_MAIN(TestGatewaySecrets)
#include "tst_gatewaysecrets.moc"
