#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include "core/gateway/gatewayconfig.h"
#include "core/gateway/httpserver.h"
#include "core/gateway/tlscontext.h"
#include "core/gateway/upstreamclient.h"
#include "tests/support/testcertificates.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using l0l3::test::TestCertificates;
using l0l3::test::TimeScale;
namespace net = boost::asio;

// TlsContext (the options every TLS context of the gateway gets) and the
// upstream client over TLS against an in-process HTTPS server: verification,
// host names, the handshake timeout and the response byte budget.
class TestTlsContext : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    void parseBaseUrl_data();
    void parseBaseUrl();
    void clientContextOptions();
    void clientContextRejectsBadCaFile();
    void serverContextOptions();
    void serverContextRejectsBadFiles();
    void expectPeerSetsSniOnlyForNames();

    void configTlsOptions();
    void configTlsErrors_data();
    void configTlsErrors();
    void upstreamOverTls();
    void upstreamKeepsTlsConnectionAlive();
    void upstreamRequestTimesOutOverTls();
    void upstreamCertificateRefused_data();
    void upstreamCertificateRefused();
    void upstreamHandshakeTimesOut();
    void upstreamResponseBudgetHoldsOverTls();

private:
    std::string path(const std::string &file) const
    {
        return m_dir.filePath(QString::fromStdString(file)).toStdString();
    }
    // One POST through a fresh client on its own io_context; the result once it arrives.
    std::optional<UpstreamClient::Result> post(UpstreamClient::Options options, int timeoutMs = 10000);
    GatewayConfig::Action parse(const std::vector<std::string> &extra, GatewayConfig *config, std::string *error);

    QTemporaryDir m_dir;
};

void TestTlsContext::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    QVERIFY2(TestCertificates().create(m_dir.path(), &error), qPrintable(error));
    QFile junk(m_dir.filePath(QStringLiteral("junk.pem")));
    QVERIFY(junk.open(QIODevice::WriteOnly));
    junk.write("not a certificate\n");
}

void TestTlsContext::parseBaseUrl_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<bool>("tls");
    QTest::addColumn<QString>("basePath");

    QTest::newRow("http") << "http://127.0.0.1:8000/v1" << true << "127.0.0.1" << 8000 << false << "/v1";
    QTest::newRow("http default port") << "http://h/v1" << true << "h" << 80 << false << "/v1";
    QTest::newRow("https default port") << "https://api.openai.com/v1" << true << "api.openai.com" << 443 << true
                                        << "/v1";
    QTest::newRow("https port") << "https://h:8443/v1/" << true << "h" << 8443 << true << "/v1";
    QTest::newRow("https ipv6") << "https://[::1]:8443/v1" << true << "::1" << 8443 << true << "/v1";
    QTest::newRow("no scheme") << "api.openai.com/v1" << false << "" << 0 << false << "";
    QTest::newRow("ftp") << "ftp://h/v1" << false << "" << 0 << false << "";
    QTest::newRow("https no host") << "https:///v1" << false << "" << 0 << false << "";
    QTest::newRow("https user info") << "https://u@h/v1" << false << "" << 0 << false << "";
    QTest::newRow("https bad port") << "https://h:0/v1" << false << "" << 0 << false << "";
}

void TestTlsContext::parseBaseUrl()
{
    QFETCH(QString, url);
    QFETCH(bool, ok);
    UpstreamClient::Options options;
    options.tls = !ok; // overwritten on success
    std::string error;
    QCOMPARE(UpstreamClient::parseBaseUrl(url.toStdString(), &options, &error), ok);
    if (!ok) {
        QVERIFY(!error.empty());
        return;
    }
    QFETCH(QString, host);
    QFETCH(int, port);
    QFETCH(bool, tls);
    QFETCH(QString, basePath);
    QCOMPARE(QString::fromStdString(options.host), host);
    QCOMPARE(int(options.port), port);
    QCOMPARE(options.tls, tls);
    QCOMPARE(QString::fromStdString(options.basePath), basePath);
}

void TestTlsContext::clientContextOptions()
{
    for (const std::string &ca : {std::string(), path("ca.pem")}) {
        std::string error;
        auto context = TlsContext::client(ca, &error);
        QVERIFY2(context, error.c_str());
        SSL_CTX *ctx = context->native_handle();
        QCOMPARE(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
        QVERIFY(SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER);
    }
}

void TestTlsContext::clientContextRejectsBadCaFile()
{
    for (const std::string &ca : {path("absent.pem"), path("junk.pem")}) {
        std::string error;
        QVERIFY(!TlsContext::client(ca, &error));
        QVERIFY2(error.find(ca) != std::string::npos, error.c_str());
    }
}

void TestTlsContext::serverContextOptions()
{
    std::string error;
    auto context = TlsContext::server(path("good.pem"), path("good.key"), &error);
    QVERIFY2(context, error.c_str());
    QCOMPARE(SSL_CTX_get_min_proto_version(context->native_handle()), TLS1_2_VERSION);
}

void TestTlsContext::serverContextRejectsBadFiles()
{
    std::string error;
    QVERIFY(!TlsContext::server(path("absent.pem"), path("good.key"), &error));
    QVERIFY2(error.find("certificate") != std::string::npos, error.c_str());
    QVERIFY(!TlsContext::server(path("good.pem"), path("absent.key"), &error));
    QVERIFY2(error.find("key") != std::string::npos, error.c_str());
    QVERIFY(!TlsContext::server(path("good.pem"), path("expired.key"), &error));
    QVERIFY2(error.find("key values mismatch") != std::string::npos, error.c_str());
}

void TestTlsContext::expectPeerSetsSniOnlyForNames()
{
    std::string error;
    auto context = TlsContext::client({}, &error);
    QVERIFY(context);
    SSL *name = SSL_new(context->native_handle());
    QVERIFY(TlsContext::expectPeer(name, "api.example.com", &error));
    QCOMPARE(QByteArray(SSL_get_servername(name, TLSEXT_NAMETYPE_host_name)), QByteArray("api.example.com"));
    SSL_free(name);
    SSL *ip = SSL_new(context->native_handle());
    QVERIFY(TlsContext::expectPeer(ip, "127.0.0.1", &error));
    QCOMPARE(SSL_get_servername(ip, TLSEXT_NAMETYPE_host_name), nullptr);
    SSL_free(ip);
}

GatewayConfig::Action TestTlsContext::parse(const std::vector<std::string> &extra, GatewayConfig *config,
                                            std::string *error)
{
    std::vector<std::string> args = {
        "l0l3-gateway",           "--listen",  "127.0.0.1:0",           "--region", "nyc", "--replica",
        "redis://127.0.0.1:6380", "--primary", "redis://127.0.0.1:6379"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<const char *> argv;
    for (const std::string &a : args)
        argv.push_back(a.c_str());
    return GatewayConfig::parse(static_cast<int>(argv.size()), argv.data(), config, error,
                                [](const char *) -> const char * { return nullptr; });
}

void TestTlsContext::configTlsOptions()
{
    GatewayConfig c;
    std::string error;
    QCOMPARE(parse({"--upstream", "https://api.example.com/v1", "--upstream-ca-file", path("ca.pem"),
                    "--secondary-upstream", "https://backup.example.com:8443/v1", "--secondary-upstream-ca-file",
                    path("other-ca.pem"), "--tls-cert", path("good.pem"), "--tls-key", path("good.key")},
                   &c, &error),
             GatewayConfig::Action::Run);
    QVERIFY2(error.empty(), error.c_str());
    QVERIFY(c.upstream.tls);
    QCOMPARE(c.upstream.port, std::uint16_t(443));
    QCOMPARE(c.upstream.caFile, path("ca.pem"));
    QVERIFY(c.upstream.tlsContext);
    QVERIFY(c.secondaryUpstream.tls);
    QCOMPARE(c.secondaryUpstream.port, std::uint16_t(8443));
    QCOMPARE(c.secondaryUpstream.caFile, path("other-ca.pem"));
    QVERIFY(c.secondaryUpstream.tlsContext);
    QVERIFY(c.secondaryUpstream.tlsContext != c.upstream.tlsContext);
    QVERIFY(c.listenTls);

    // The secondary does not inherit the upstream's CA file: the system store unless it names one.
    GatewayConfig d;
    QCOMPARE(parse({"--upstream", "https://a.example/v1", "--upstream-ca-file", path("ca.pem"), "--secondary-upstream",
                    "https://b.example/v1"},
                   &d, &error),
             GatewayConfig::Action::Run);
    QVERIFY(d.secondaryUpstream.caFile.empty());
    QVERIFY(d.secondaryUpstream.tlsContext);
    QVERIFY(!d.listenTls);

    // Plain stays plain: no context at all.
    GatewayConfig e;
    QCOMPARE(parse({"--upstream", "http://127.0.0.1:8000/v1"}, &e, &error), GatewayConfig::Action::Run);
    QVERIFY(!e.upstream.tls);
    QVERIFY(!e.upstream.tlsContext);
    QVERIFY(!e.listenTls);
}

void TestTlsContext::configTlsErrors_data()
{
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<QString>("message");
    const QString https = QStringLiteral("https://a.example/v1");
    const QString up = QStringLiteral("--upstream");
    QTest::newRow("ca file, plain upstream")
        << QStringList{up, QStringLiteral("http://a/v1"), QStringLiteral("--upstream-ca-file"),
                       QString::fromStdString(path("ca.pem"))}
        << "--upstream-ca-file is for an https:// --upstream";
    QTest::newRow("secondary ca file, no secondary")
        << QStringList{up, https, QStringLiteral("--secondary-upstream-ca-file"),
                       QString::fromStdString(path("ca.pem"))}
        << "needs --secondary-upstream";
    QTest::newRow("secondary ca file, plain secondary")
        << QStringList{up,
                       https,
                       QStringLiteral("--secondary-upstream"),
                       QStringLiteral("http://b/v1"),
                       QStringLiteral("--secondary-upstream-ca-file"),
                       QString::fromStdString(path("ca.pem"))}
        << "--secondary-upstream-ca-file is for an https:// --secondary-upstream";
    QTest::newRow("unreadable ca file") << QStringList{up, https, QStringLiteral("--upstream-ca-file"),
                                                       QString::fromStdString(path("absent.pem"))}
                                        << "cannot read CA file";
    QTest::newRow("junk ca file") << QStringList{up, https, QStringLiteral("--upstream-ca-file"),
                                                 QString::fromStdString(path("junk.pem"))}
                                  << "cannot load CA file";
    QTest::newRow("cert only") << QStringList{up, https, QStringLiteral("--tls-cert"),
                                              QString::fromStdString(path("good.pem"))}
                               << "--tls-cert needs --tls-key";
    QTest::newRow("key only") << QStringList{up, https, QStringLiteral("--tls-key"),
                                             QString::fromStdString(path("good.key"))}
                              << "--tls-key needs --tls-cert";
    QTest::newRow("empty ca file name") << QStringList{
        up,
        https,
        QStringLiteral("--upstream-ca-file="),
    } << "--upstream-ca-file";
}

void TestTlsContext::configTlsErrors()
{
    QFETCH(QStringList, extra);
    QFETCH(QString, message);
    std::vector<std::string> args;
    for (const QString &a : extra)
        args.push_back(a.toStdString());
    GatewayConfig c;
    std::string error;
    QCOMPARE(parse(args, &c, &error), GatewayConfig::Action::Error);
    QVERIFY2(QString::fromStdString(error).contains(message), error.c_str());
}

namespace {

// An HTTPS server on its own thread answering every request with body (none when silent).
class TlsServer
{
public:
    TlsServer(const std::string &cert, const std::string &key, std::string body, bool silent = false)
        : m_body(std::move(body))
    {
        HttpServer::Options options;
        std::string error;
        options.tls = TlsContext::server(cert, key, &error);
        m_server = std::make_unique<HttpServer>(options, [this, silent](HttpExchange exchange) {
            if (silent)
                m_held.push_back(std::move(exchange)); // the connection stays open, unanswered
            else
                exchange.respond(200, "application/json", m_body);
        });
        m_ok = options.tls && m_server->listen(&error);
        if (m_ok)
            m_thread = std::thread([this] { m_server->run(); });
    }
    ~TlsServer()
    {
        m_server->stop();
        if (m_thread.joinable())
            m_thread.join();
        m_held.clear(); // before the server their sessions belong to
    }
    bool ok() const { return m_ok; }
    std::uint16_t port() const { return m_server->port(); }
    HttpServer::ConnectionStats stats() const { return m_server->connectionStats(); }

private:
    std::string m_body;
    std::vector<HttpExchange> m_held; // touched by the server's thread only, until it is joined
    std::unique_ptr<HttpServer> m_server;
    std::thread m_thread;
    bool m_ok = false;
};

const std::string kCompletion =
    R"({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]})";

} // namespace

std::optional<UpstreamClient::Result> TestTlsContext::post(UpstreamClient::Options options, int timeoutMs)
{
    net::io_context context;
    std::optional<UpstreamClient::Result> result;
    UpstreamClient client(context, std::move(options));
    client.postChatCompletion("{}", {}, [&](UpstreamClient::Result r) { result = std::move(r); });
    context.run_for(std::chrono::milliseconds(TimeScale::ms(timeoutMs)));
    return result;
}

void TestTlsContext::upstreamOverTls()
{
    TlsServer server(path("good.pem"), path("good.key"), kCompletion);
    QVERIFY(server.ok());
    for (const char *host : {"127.0.0.1", "localhost"}) {
        UpstreamClient::Options options;
        std::string error;
        QVERIFY(UpstreamClient::parseBaseUrl(
            "https://" + std::string(host) + ":" + std::to_string(server.port()) + "/v1", &options, &error));
        options.caFile = path("ca.pem");
        const auto result = post(options);
        QVERIFY(result);
        QVERIFY2(result->failure == UpstreamClient::Failure::None, result->error.c_str());
        QCOMPARE(result->status, 200);
        QCOMPARE(result->body, kCompletion);
    }
}

void TestTlsContext::upstreamKeepsTlsConnectionAlive()
{
    TlsServer server(path("good.pem"), path("good.key"), kCompletion);
    QVERIFY(server.ok());
    UpstreamClient::Options options;
    std::string error;
    QVERIFY(
        UpstreamClient::parseBaseUrl("https://localhost:" + std::to_string(server.port()) + "/v1", &options, &error));
    options.caFile = path("ca.pem");
    net::io_context context;
    UpstreamClient client(context, options);
    for (int i = 0; i < 3; ++i) {
        std::optional<UpstreamClient::Result> result;
        client.postChatCompletion("{}", {}, [&](UpstreamClient::Result r) { result = std::move(r); });
        QElapsedTimer timer;
        timer.start();
        while (!result && timer.elapsed() < TimeScale::ms(10000)) {
            context.restart(); // run_for() stops the context whenever it runs out of work
            context.run_for(std::chrono::milliseconds(10));
        }
        QVERIFY(result);
        QVERIFY2(result->failure == UpstreamClient::Failure::None, result->error.c_str());
        QCOMPARE(result->status, 200);
    }
    // One pooled connection carried all three.
    QCOMPARE(server.stats().open, std::size_t(1));
}

void TestTlsContext::upstreamRequestTimesOutOverTls()
{
    TlsServer server(path("good.pem"), path("good.key"), kCompletion, true);
    QVERIFY(server.ok());
    UpstreamClient::Options options;
    std::string error;
    QVERIFY(
        UpstreamClient::parseBaseUrl("https://127.0.0.1:" + std::to_string(server.port()) + "/v1", &options, &error));
    options.caFile = path("ca.pem");
    options.timeoutMs = 300;
    const auto result = post(options);
    QVERIFY(result);
    QVERIFY2(result->failure == UpstreamClient::Failure::Timeout, result->error.c_str());
}

void TestTlsContext::upstreamCertificateRefused_data()
{
    QTest::addColumn<QString>("cert");
    QTest::addColumn<QString>("caFile");
    QTest::addColumn<QString>("host");
    QTest::addColumn<QString>("reason");
    QTest::newRow("unrelated CA") << "good"
                                  << "other-ca.pem"
                                  << "127.0.0.1"
                                  << "unable to get local issuer certificate";
    QTest::newRow("system store") << "good"
                                  << ""
                                  << "127.0.0.1"
                                  << "unable to get local issuer certificate";
    QTest::newRow("expired") << "expired"
                             << "ca.pem"
                             << "127.0.0.1"
                             << "certificate has expired";
    QTest::newRow("wrong address") << "wrong-name"
                                   << "ca.pem"
                                   << "127.0.0.1"
                                   << "IP address mismatch";
    QTest::newRow("wrong name") << "wrong-name"
                                << "ca.pem"
                                << "localhost"
                                << "hostname mismatch";
}

void TestTlsContext::upstreamCertificateRefused()
{
    QFETCH(QString, cert);
    QFETCH(QString, caFile);
    QFETCH(QString, host);
    QFETCH(QString, reason);
    TlsServer server(path(cert.toStdString() + ".pem"), path(cert.toStdString() + ".key"), kCompletion);
    QVERIFY(server.ok());
    UpstreamClient::Options options;
    std::string error;
    QVERIFY(UpstreamClient::parseBaseUrl(QStringLiteral("https://%1:%2/v1").arg(host).arg(server.port()).toStdString(),
                                         &options, &error));
    if (!caFile.isEmpty())
        options.caFile = path(caFile.toStdString());
    const auto result = post(options);
    QVERIFY(result);
    QVERIFY2(result->failure == UpstreamClient::Failure::Certificate, result->error.c_str());
    QVERIFY2(QString::fromStdString(result->error).contains(reason), result->error.c_str());
}

void TestTlsContext::upstreamHandshakeTimesOut()
{
    // Accepts, never answers the ClientHello.
    net::io_context context;
    net::ip::tcp::acceptor acceptor(context, net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    net::ip::tcp::socket peer(context);
    acceptor.async_accept(peer, [](boost::system::error_code) {});
    UpstreamClient::Options options;
    std::string error;
    QVERIFY(UpstreamClient::parseBaseUrl(
        "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/v1", &options, &error));
    options.caFile = path("ca.pem");
    options.connectTimeoutMs = 200;
    std::optional<UpstreamClient::Result> result;
    UpstreamClient client(context, options);
    client.postChatCompletion("{}", {}, [&](UpstreamClient::Result r) { result = std::move(r); });
    QElapsedTimer timer;
    timer.start();
    while (!result && timer.elapsed() < TimeScale::ms(5000))
        context.run_for(std::chrono::milliseconds(20));
    QVERIFY(result);
    QVERIFY2(result->failure == UpstreamClient::Failure::Timeout, result->error.c_str());
    QVERIFY2(result->error.find("TLS handshake") != std::string::npos, result->error.c_str());
}

void TestTlsContext::upstreamResponseBudgetHoldsOverTls()
{
    TlsServer server(path("good.pem"), path("good.key"), std::string(256 * 1024, 'x'));
    QVERIFY(server.ok());
    UpstreamClient::Options options;
    std::string error;
    QVERIFY(
        UpstreamClient::parseBaseUrl("https://127.0.0.1:" + std::to_string(server.port()) + "/v1", &options, &error));
    options.caFile = path("ca.pem");
    options.maxResponseBytes = 64 * 1024;
    const auto result = post(options);
    QVERIFY(result);
    QVERIFY2(result->failure == UpstreamClient::Failure::Protocol, result->error.c_str());
}

QTEST_GUILESS_MAIN(TestTlsContext)
#include "tst_tlscontext.moc"
