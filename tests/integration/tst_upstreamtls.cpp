#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslSocket>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QUuid>

#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcertificates.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kListenTimeoutMs = 15000;
constexpr int kProposalTimeoutMs = 5000;
constexpr int kLogTimeoutMs = 5000;

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

} // namespace

// HTTPS to the upstream and on the gateway's own listener, against real
// processes on loopback: l0l3-stub-llm serving TLS with certificates made at
// run time by the openssl CLI (a CA, a good server certificate for
// 127.0.0.1/localhost, an expired one, one for another name, and an unrelated
// second CA), redis primary and replica, and gateways started per case.
// Every refusal must come from certificate verification: with verification
// off these tests fail.
class TestUpstreamTls : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();

    void httpsMissIsAnsweredAndProposed();
    void httpsStreamedMissIsRelayed();
    void streamedMissToUntrustedUpstreamIsRefused();
    void untrustedCertificateIsRefused_data();
    void untrustedCertificateIsRefused();
    void secondaryUpstreamOverTls_data();
    void secondaryUpstreamOverTls();
    void tlsListenerServesChatHealthAndMetrics();
    void stalledHandshakeIsClosedByFirstRequestDeadline();
    void badTlsOptionsStopTheGateway_data();
    void badTlsOptionsStopTheGateway();
    void stubRefusesHalfTlsOptions();

private:
    QString path(const QString &file) const { return m_dir.filePath(file); }
    bool startStub(ManagedProcess &stub, const QString &leaf, int *port, QString *error);
    std::unique_ptr<ManagedProcess> launchGateway(const QString &upstream, const QStringList &extra, QString *error);
    QStringList gatewayArgs(const QString &upstream, const QStringList &extra) const;
    qint64 stubRequests(int port);
    QString uniquePrompt();
    static QString why(const HttpResult &result);

    QTemporaryDir m_dir;
    GatewayStack m_stack;
    HttpClient m_http;
    RedisClient m_primary;
    ManagedProcess m_goodStub;
    ManagedProcess m_expiredStub;
    ManagedProcess m_wrongNameStub;
    int m_goodPort = -1;
    int m_expiredPort = -1;
    int m_wrongNamePort = -1;
    QString m_runId;
    int m_counter = 0;
};

bool TestUpstreamTls::startStub(ManagedProcess &stub, const QString &leaf, int *port, QString *error)
{
    if (!stub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                    {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--tls-cert"),
                     path(leaf + QStringLiteral(".pem")), QStringLiteral("--tls-key"),
                     path(leaf + QStringLiteral(".key"))},
                    QProcessEnvironment::systemEnvironment(), error))
        return false;
    *port = stub.listenPort(kListenTimeoutMs);
    if (*port <= 0) {
        *error = QStringLiteral("the TLS stub did not report its port\n") + stub.describe();
        return false;
    }
    return true;
}

QStringList TestUpstreamTls::gatewayArgs(const QString &upstream, const QStringList &extra) const
{
    QStringList args = m_stack.standardGatewayArgs(m_stack.region());
    const qsizetype at = args.indexOf(QStringLiteral("--upstream"));
    Q_ASSERT(at >= 0 && at + 1 < args.size());
    args[at + 1] = upstream;
    return args + extra;
}

std::unique_ptr<ManagedProcess> TestUpstreamTls::launchGateway(const QString &upstream, const QStringList &extra,
                                                               QString *error)
{
    auto gateway = std::make_unique<ManagedProcess>();
    if (!gateway->start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), gatewayArgs(upstream, extra),
                        QProcessEnvironment::systemEnvironment(), error))
        return nullptr;
    if (gateway->listenPort(kListenTimeoutMs) <= 0) {
        *error = QStringLiteral("the gateway did not report its port\n") + gateway->describe();
        return nullptr;
    }
    return gateway;
}

qint64 TestUpstreamTls::stubRequests(int port)
{
    const HttpResult stats = m_http.get(QUrl(QStringLiteral("https://127.0.0.1:%1/stats").arg(port)));
    const QJsonValue requests = QJsonDocument::fromJson(stats.body).object().value(u"requests");
    return stats.status == 200 && requests.isDouble() ? static_cast<qint64>(requests.toDouble()) : -1;
}

QString TestUpstreamTls::uniquePrompt()
{
    return QStringLiteral("TLS question %1 number %2 of %3")
        .arg(QString::fromLatin1(QTest::currentTestFunction()))
        .arg(++m_counter)
        .arg(m_runId);
}

QString TestUpstreamTls::why(const HttpResult &result)
{
    return QStringLiteral("status %1 %2\n%3")
        .arg(result.status)
        .arg(result.error, QString::fromUtf8(result.body.left(1000)));
}

void TestUpstreamTls::initTestCase()
{
    for (const char *name : {"l0l3-gateway", "l0l3-stub-llm"}) {
        const QString binary = ManagedProcess::binary(QString::fromLatin1(name));
        if (!QFileInfo::exists(binary))
            QFAIL(qPrintable(QStringLiteral("%1 is not built").arg(binary)));
    }
    QVERIFY2(QSslSocket::supportsSsl(), "Qt has no TLS backend: the test's own HTTPS client cannot run");
    QVERIFY(m_dir.isValid());
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);

    QString error;
    QVERIFY2(TestCertificates().create(m_dir.path(), &error), qPrintable(error));

    // The test's own client trusts the test CA (stub /stats, the gateway's TLS listener).
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(path(QStringLiteral("ca.pem"))));
    QVERIFY(!tls.caCertificates().isEmpty());
    QSslConfiguration::setDefaultConfiguration(tls);

    GatewayStack::Options options;
    options.startGateway = false; // gateways are started per case, against the TLS stubs
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
    m_primary = m_stack.primary().client(QStringLiteral("console"));
    QVERIFY2(m_primary.isConnected(), qPrintable(m_primary.lastError()));

    QVERIFY2(startStub(m_goodStub, QStringLiteral("good"), &m_goodPort, &error), qPrintable(error));
    QVERIFY2(startStub(m_expiredStub, QStringLiteral("expired"), &m_expiredPort, &error), qPrintable(error));
    QVERIFY2(startStub(m_wrongNameStub, QStringLiteral("wrong-name"), &m_wrongNamePort, &error), qPrintable(error));
}

void TestUpstreamTls::cleanupTestCase()
{
    m_goodStub.stop();
    m_expiredStub.stop();
    m_wrongNameStub.stop();
    m_stack.stop();
}

void TestUpstreamTls::httpsMissIsAnsweredAndProposed()
{
    QString error;
    const QString upstream = QStringLiteral("https://127.0.0.1:%1/v1").arg(m_goodPort);
    auto gateway = launchGateway(upstream, {QStringLiteral("--upstream-ca-file"), path(QStringLiteral("ca.pem"))},
                                 &error);
    QVERIFY2(gateway, qPrintable(error));
    const int port = gateway->listenPort();

    const qint64 before = stubRequests(m_goodPort);
    QVERIFY(before >= 0);
    const QString prompt = uniquePrompt();
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port));
    const HttpResult result = m_http.post(url, ChatWire::chatBody(prompt));
    QVERIFY2(result.status == 200, qPrintable(why(result) + gateway->describe()));
    QCOMPARE(result.header("x-l0l3-cache"), QByteArray("miss"));
    QVERIFY2(!ChatWire::completionContent(result.body).isEmpty(), qPrintable(why(result)));
    QCOMPARE(stubRequests(m_goodPort), before + 1);

    // A second miss reuses the pooled TLS connection (or opens a new one): it is answered too.
    const HttpResult again = m_http.post(url, ChatWire::chatBody(uniquePrompt()));
    QVERIFY2(again.status == 200, qPrintable(why(again) + gateway->describe()));
    QCOMPARE(stubRequests(m_goodPort), before + 2);

    const QByteArray key = result.header("x-l0l3-key");
    QVERIFY(!key.isEmpty());
    const bool proposed = Poll::until(
        [&] {
            // Gateways propose into the inbox; the console moves proposals into the stream.
            m_primary.command(
                {"FCALL", bytes(ProposalFunction::kDrainName), "0", QByteArray::number(ProposalFunction::kDrainMax)});
            const RedisValue reply = m_primary.command({"XRANGE", bytes(RedisSchema::kProposals), "-", "+"});
            for (const Proposal &p : ChatWire::proposals(reply)) {
                if (p.key == key.toStdString())
                    return true;
            }
            return false;
        },
        kProposalTimeoutMs);
    QVERIFY2(proposed, qPrintable(gateway->describe()));
    QVERIFY(gateway->stop());
}

// A stream: true miss over TLS: the stub streams (its count of completed streams grows) and the client
// gets the events, their content whole.
void TestUpstreamTls::httpsStreamedMissIsRelayed()
{
    QString error;
    const QString upstream = QStringLiteral("https://127.0.0.1:%1/v1").arg(m_goodPort);
    auto gateway = launchGateway(upstream, {QStringLiteral("--upstream-ca-file"), path(QStringLiteral("ca.pem"))},
                                 &error);
    QVERIFY2(gateway, qPrintable(error));
    auto streamsCompleted = [&] {
        const HttpResult stats = m_http.get(QUrl(QStringLiteral("https://127.0.0.1:%1/stats").arg(m_goodPort)));
        return QJsonDocument::fromJson(stats.body).object().value(u"streams_completed").toInteger(-1);
    };
    const qint64 before = streamsCompleted();
    QVERIFY(before >= 0);
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(gateway->listenPort()));
    const HttpResult result = m_http.post(url, ChatWire::chatBody(uniquePrompt(), {{QStringLiteral("stream"), true}}));
    QVERIFY2(result.status == 200, qPrintable(why(result) + gateway->describe()));
    QCOMPARE(result.header("x-l0l3-cache"), QByteArray("miss"));
    QVERIFY2(result.header("content-type").startsWith("text/event-stream"), qPrintable(why(result)));
    QString reason;
    QVERIFY2(!ChatWire::sseContent(result.body, &reason).isEmpty(), qPrintable(reason + u'\n' + why(result)));
    QCOMPARE(streamsCompleted(), before + 1);
    QVERIFY(gateway->stop());
}

// Certificate checks hold for streams: an expired upstream certificate gets the same 502.
void TestUpstreamTls::streamedMissToUntrustedUpstreamIsRefused()
{
    QString error;
    const QString upstream = QStringLiteral("https://127.0.0.1:%1/v1").arg(m_expiredPort);
    auto gateway = launchGateway(upstream, {QStringLiteral("--upstream-ca-file"), path(QStringLiteral("ca.pem"))},
                                 &error);
    QVERIFY2(gateway, qPrintable(error));
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(gateway->listenPort()));
    const HttpResult result = m_http.post(url, ChatWire::chatBody(uniquePrompt(), {{QStringLiteral("stream"), true}}));
    QVERIFY2(result.status == 502, qPrintable(why(result) + gateway->describe()));
    QVERIFY2(result.body.contains("certificate could not be verified"), qPrintable(why(result)));
    QVERIFY(gateway->stop());
}

void TestUpstreamTls::untrustedCertificateIsRefused_data()
{
    QTest::addColumn<QString>("host");
    QTest::addColumn<QString>("stub");
    QTest::addColumn<QString>("caFile");
    QTest::addColumn<QString>("reason"); // X509_verify_cert_error_string

    QTest::newRow("unrelated CA") << "127.0.0.1"
                                  << "good"
                                  << "other-ca.pem"
                                  << "unable to get local issuer certificate";
    QTest::newRow("system store only") << "127.0.0.1"
                                       << "good" << QString() << "unable to get local issuer certificate";
    QTest::newRow("expired") << "127.0.0.1"
                             << "expired"
                             << "ca.pem"
                             << "certificate has expired";
    QTest::newRow("wrong address") << "127.0.0.1"
                                   << "wrong-name"
                                   << "ca.pem"
                                   << "IP address mismatch";
    QTest::newRow("wrong host name") << "localhost"
                                     << "wrong-name"
                                     << "ca.pem"
                                     << "hostname mismatch";
}

void TestUpstreamTls::untrustedCertificateIsRefused()
{
    QFETCH(QString, host);
    QFETCH(QString, stub);
    QFETCH(QString, caFile);
    QFETCH(QString, reason);
    const int stubPort = stub == u"good" ? m_goodPort : stub == u"expired" ? m_expiredPort : m_wrongNamePort;
    const QString upstream = QStringLiteral("https://%1:%2/v1").arg(host).arg(stubPort);
    QStringList extra;
    if (!caFile.isEmpty())
        extra << QStringLiteral("--upstream-ca-file") << path(caFile);
    QString error;
    auto gateway = launchGateway(upstream, extra, &error);
    QVERIFY2(gateway, qPrintable(error));

    const qint64 before = stubRequests(m_goodPort);
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(gateway->listenPort()));
    const HttpResult result = m_http.post(url, ChatWire::chatBody(uniquePrompt()));
    QVERIFY2(result.status == 502, qPrintable(why(result) + gateway->describe()));
    QString notError;
    QVERIFY2(ChatWire::isOpenAiError(result.body, &notError), qPrintable(notError));
    const QString message =
        QJsonDocument::fromJson(result.body).object().value(u"error").toObject().value(u"message").toString();
    QVERIFY2(message.contains(u"the upstream certificate could not be verified"), qPrintable(message));
    QVERIFY2(message.contains(reason), qPrintable(message));
    // The request never reached the stub: the gateway gave up during the handshake.
    if (stub == u"good")
        QCOMPARE(stubRequests(m_goodPort), before);

    // The operator's log names the upstream and OpenSSL's reason.
    const QString expected =
        QStringLiteral("upstream %1:%2: TLS certificate could not be verified: %3").arg(host).arg(stubPort).arg(reason);
    QVERIFY2(Poll::until([&] { return QString::fromUtf8(gateway->stderrText()).contains(expected); }, kLogTimeoutMs),
             qPrintable(expected + u'\n' + gateway->describe()));
    QVERIFY(gateway->stop());
}

void TestUpstreamTls::secondaryUpstreamOverTls_data()
{
    QTest::addColumn<QString>("caFile");
    QTest::addColumn<int>("status");
    QTest::newRow("trusted") << "ca.pem" << 200;
    // Its own trust: the primary's CA file (given) is not inherited.
    QTest::newRow("own CA file missing") << QString() << 502;
    QTest::newRow("unrelated CA") << "other-ca.pem" << 502;
}

void TestUpstreamTls::secondaryUpstreamOverTls()
{
    QFETCH(QString, caFile);
    QFETCH(int, status);
    // The primary refuses connections (port 1) and one failure opens its circuit: misses go to the secondary.
    QStringList extra{
        QStringLiteral("--upstream-ca-file"),    path(QStringLiteral("ca.pem")),
        QStringLiteral("--breaker-failures"),    QStringLiteral("1"),
        QStringLiteral("--breaker-cooldown-ms"), QStringLiteral("600000"),
        QStringLiteral("--secondary-upstream"),  QStringLiteral("https://localhost:%1/v1").arg(m_goodPort)};
    if (!caFile.isEmpty())
        extra << QStringLiteral("--secondary-upstream-ca-file") << path(caFile);
    QString error;
    auto gateway = launchGateway(QStringLiteral("https://127.0.0.1:1/v1"), extra, &error);
    QVERIFY2(gateway, qPrintable(error));
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(gateway->listenPort()));

    const HttpResult first = m_http.post(url, ChatWire::chatBody(uniquePrompt()));
    QVERIFY2(first.status == 502, qPrintable(why(first) + gateway->describe()));
    const qint64 before = stubRequests(m_goodPort);
    const HttpResult second = m_http.post(url, ChatWire::chatBody(uniquePrompt()));
    QVERIFY2(second.status == status, qPrintable(why(second) + gateway->describe()));
    QCOMPARE(stubRequests(m_goodPort), before + (status == 200 ? 1 : 0));
    if (status != 200)
        QVERIFY2(second.body.contains("the upstream certificate could not be verified"), qPrintable(why(second)));
    QVERIFY(gateway->stop());
}

void TestUpstreamTls::tlsListenerServesChatHealthAndMetrics()
{
    QString error;
    const QString upstream = QStringLiteral("https://localhost:%1/v1").arg(m_goodPort);
    auto gateway = launchGateway(upstream,
                                 {QStringLiteral("--upstream-ca-file"), path(QStringLiteral("ca.pem")),
                                  QStringLiteral("--tls-cert"), path(QStringLiteral("good.pem")),
                                  QStringLiteral("--tls-key"), path(QStringLiteral("good.key"))},
                                 &error);
    QVERIFY2(gateway, qPrintable(error));
    const int port = gateway->listenPort();

    const QString base = QStringLiteral("https://127.0.0.1:%1").arg(port);
    const bool healthy = Poll::until([&] { return m_http.get(QUrl(base + QStringLiteral("/healthz"))).status == 200; },
                                     10000, 50);
    QVERIFY2(healthy, qPrintable(gateway->describe()));
    const HttpResult metrics = m_http.get(QUrl(base + QStringLiteral("/metrics")));
    QVERIFY2(metrics.status == 200 && metrics.body.contains("l0l3_"), qPrintable(why(metrics)));

    const HttpResult result = m_http.post(QUrl(base + QStringLiteral("/v1/chat/completions")),
                                          ChatWire::chatBody(uniquePrompt()));
    QVERIFY2(result.status == 200, qPrintable(why(result) + gateway->describe()));
    QVERIFY2(!ChatWire::completionContent(result.body).isEmpty(), qPrintable(why(result)));

    // Plain HTTP on the TLS port gets no HTTP answer.
    const HttpResult plain = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/healthz").arg(port)), {}, 3000);
    QVERIFY2(plain.status == 0, qPrintable(why(plain)));
    // Still serving after that.
    QCOMPARE(m_http.get(QUrl(base + QStringLiteral("/healthz"))).status, 200);
    QVERIFY(gateway->stop());
}

void TestUpstreamTls::stalledHandshakeIsClosedByFirstRequestDeadline()
{
    // The idle timeout is far longer: only the first-request deadline, which covers the handshake, can close these.
    QString error;
    auto gateway = launchGateway(QStringLiteral("https://127.0.0.1:%1/v1").arg(m_goodPort),
                                 {QStringLiteral("--upstream-ca-file"), path(QStringLiteral("ca.pem")),
                                  QStringLiteral("--tls-cert"), path(QStringLiteral("good.pem")),
                                  QStringLiteral("--tls-key"), path(QStringLiteral("good.key")),
                                  QStringLiteral("--first-request-timeout-ms"), QStringLiteral("500"),
                                  QStringLiteral("--idle-timeout-ms"), QStringLiteral("600000")},
                                 &error);
    QVERIFY2(gateway, qPrintable(error));
    const int port = gateway->listenPort();
    // Silent, and stalled inside a ClientHello (a record header announcing 512 bytes, then nothing).
    for (const QByteArray &sent : {QByteArray(), QByteArray("\x16\x03\x01\x02\x00", 5)}) {
        QTcpSocket socket;
        socket.connectToHost(QStringLiteral("127.0.0.1"), static_cast<quint16>(port));
        QVERIFY2(socket.waitForConnected(TimeScale::ms(5000)), qPrintable(socket.errorString()));
        if (!sent.isEmpty()) {
            socket.write(sent);
            QVERIFY(socket.waitForBytesWritten(TimeScale::ms(5000)));
        }
        QElapsedTimer timer;
        timer.start();
        const bool closed = Poll::until(
            [&] {
                socket.waitForReadyRead(10);
                socket.readAll();
                return socket.state() == QAbstractSocket::UnconnectedState;
            },
            10000);
        QVERIFY2(closed, "a stalled TLS handshake kept its connection");
        QVERIFY2(timer.elapsed() >= 300, qPrintable(QString::number(timer.elapsed())));
    }
    // And a real client still gets through.
    const QUrl health(QStringLiteral("https://127.0.0.1:%1/healthz").arg(port));
    QVERIFY2(Poll::until([&] { return m_http.get(health).status == 200; }, 10000, 50), qPrintable(gateway->describe()));
    QVERIFY(gateway->stop());
}

void TestUpstreamTls::badTlsOptionsStopTheGateway_data()
{
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<QString>("message");
    const QString good = path(QStringLiteral("good.pem"));
    const QString goodKey = path(QStringLiteral("good.key"));
    QTest::newRow("cert without key") << QStringList{QStringLiteral("--tls-cert"), good} << "--tls-key";
    QTest::newRow("key without cert") << QStringList{QStringLiteral("--tls-key"), goodKey} << "--tls-cert";
    QTest::newRow("key of another cert") << QStringList{QStringLiteral("--tls-cert"), good, QStringLiteral("--tls-key"),
                                                        path(QStringLiteral("expired.key"))}
                                         << "key values mismatch";
    QTest::newRow("missing CA file") << QStringList{QStringLiteral("--upstream-ca-file"),
                                                    path(QStringLiteral("absent.pem"))}
                                     << "absent.pem";
    QTest::newRow("CA file for a plain upstream")
        << QStringList{QStringLiteral("--upstream-ca-file"), path(QStringLiteral("ca.pem"))} << "https";
}

void TestUpstreamTls::badTlsOptionsStopTheGateway()
{
    QFETCH(QStringList, extra);
    QFETCH(QString, message);
    // The last row names a plain upstream; the others a TLS one.
    const bool plain = QByteArray(QTest::currentDataTag()) == "CA file for a plain upstream";
    const QString upstream = plain ? QStringLiteral("http://127.0.0.1:%1/v1").arg(m_stack.stubPort())
                                   : QStringLiteral("https://127.0.0.1:%1/v1").arg(m_goodPort);
    ManagedProcess gateway;
    QString error;
    QVERIFY2(gateway.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), gatewayArgs(upstream, extra),
                           QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    QVERIFY2(gateway.waitForFinished(10000), qPrintable(gateway.describe()));
    QVERIFY2(gateway.exitCode() != 0, qPrintable(gateway.describe()));
    QVERIFY2(QString::fromUtf8(gateway.stderrText()).contains(message), qPrintable(gateway.describe()));
}

void TestUpstreamTls::stubRefusesHalfTlsOptions()
{
    ManagedProcess stub;
    QString error;
    QVERIFY2(stub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                        {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--tls-cert"),
                         path(QStringLiteral("good.pem"))},
                        QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    QVERIFY2(stub.waitForFinished(10000), qPrintable(stub.describe()));
    QCOMPARE(stub.exitCode(), 2);
    QVERIFY2(stub.stderrText().contains("--tls-key"), qPrintable(stub.describe()));
}

QTEST_GUILESS_MAIN(TestUpstreamTls)
#include "tst_upstreamtls.moc"
