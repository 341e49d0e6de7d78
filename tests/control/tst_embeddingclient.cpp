#include <QDeadlineTimer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <optional>

#include "core/common/lexicalembedder.h"
#include "core/control/embeddingclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/rawhttpserver.h"
#include "tests/support/testcertificates.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QByteArray httpResponse(const QByteArray &status, const QByteArray &body, const QByteArray &extraHeaders = {})
{
    return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: "
        + QByteArray::number(body.size()) + "\r\n" + extraHeaders + "\r\n" + body;
}

} // namespace

// EmbeddingClient against endpoints that misbehave (raw answers, a silent
// server) and the real stub LLM over HTTPS: every reply is bounded and parsed
// strictly, every failure is a clear error, never a vector.
class TestEmbeddingClient : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void settingsCheck_data();
    void settingsCheck();
    void endpoint_data();
    void endpoint();
    void refusedReplies_data();
    void refusedReplies();
    void silentServerTimesOut();
    void sendsTheKeyAndTheModel();
    void batchesOverHttpsWithTheCaFile();
    void httpsWithoutTheCaIsRefused();

private:
    EmbeddingClient::Result embed(const EmbeddingSettings &settings, const QStringList &texts);

    QTemporaryDir m_dir;
    TestCertificates m_certs;
    ManagedProcess m_tlsStub;
    int m_tlsPort = -1;
};

void TestEmbeddingClient::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString why;
    QVERIFY2(m_certs.create(m_dir.path(), &why), qPrintable(why));
    QVERIFY2(m_tlsStub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                             {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--tls-cert"),
                              m_certs.goodCert(), QStringLiteral("--tls-key"), m_certs.goodKey()},
                             QProcessEnvironment::systemEnvironment(), &why),
             qPrintable(why));
    m_tlsPort = m_tlsStub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_tlsPort > 0, qPrintable(m_tlsStub.describe()));
}

void TestEmbeddingClient::cleanupTestCase()
{
    m_tlsStub.stop();
}

EmbeddingClient::Result TestEmbeddingClient::embed(const EmbeddingSettings &settings, const QStringList &texts)
{
    EmbeddingClient client(settings);
    std::optional<EmbeddingClient::Result> result;
    client.embed(texts, [&result](const EmbeddingClient::Result &r) { result = r; });
    // Never synchronously inside the call.
    if (result)
        return {false, QStringLiteral("answered inside embed()"), {}};
    QDeadlineTimer deadline(TimeScale::ms(30000));
    while (!result && !deadline.hasExpired())
        QTest::qWait(5);
    return result.value_or(EmbeddingClient::Result{false, QStringLiteral("no callback in time"), {}});
}

void TestEmbeddingClient::settingsCheck_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("caFile");
    QTest::addColumn<bool>("valid");
    QTest::newRow("lexical") << QString() << QString() << QString() << true;
    QTest::newRow("http") << "http://127.0.0.1:1"
                          << "m" << QString() << true;
    QTest::newRow("https") << "https://embed.example/v1"
                           << "text-embedding-3-small" << QString() << true;
    QTest::newRow("ftp") << "ftp://127.0.0.1/"
                         << "m" << QString() << false;
    QTest::newRow("no host") << "http:///v1"
                             << "m" << QString() << false;
    QTest::newRow("no model") << "http://127.0.0.1:1" << QString() << QString() << false;
    QTest::newRow("model with a space") << "http://127.0.0.1:1"
                                        << "a b" << QString() << false;
    QTest::newRow("model without url") << QString() << "m" << QString() << false;
    QTest::newRow("ca over http") << "http://127.0.0.1:1"
                                  << "m" << m_certs.caCert() << false;
    QTest::newRow("unreadable ca") << "https://127.0.0.1:1"
                                   << "m"
                                   << "/nonexistent/ca.pem" << false;
    QTest::newRow("ca") << "https://127.0.0.1:1"
                        << "m" << m_certs.caCert() << true;
}

void TestEmbeddingClient::settingsCheck()
{
    QFETCH(QString, url);
    QFETCH(QString, model);
    QFETCH(QString, caFile);
    QFETCH(bool, valid);
    EmbeddingSettings s;
    s.url = url;
    s.model = model;
    s.caFile = caFile;
    QCOMPARE(s.check().isEmpty(), valid);
}

void TestEmbeddingClient::endpoint_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("endpoint");
    QTest::newRow("base") << "http://h:1"
                          << "http://h:1/v1/embeddings";
    QTest::newRow("base slash") << "http://h:1/"
                                << "http://h:1/v1/embeddings";
    QTest::newRow("v1") << "http://h:1/v1"
                        << "http://h:1/v1/embeddings";
    QTest::newRow("full") << "https://h/v1/embeddings"
                          << "https://h/v1/embeddings";
    QTest::newRow("prefix") << "http://h:1/openai/v1/"
                            << "http://h:1/openai/v1/embeddings";
}

void TestEmbeddingClient::endpoint()
{
    QFETCH(QString, url);
    QFETCH(QString, endpoint);
    EmbeddingSettings s;
    s.url = url;
    s.model = QStringLiteral("m");
    QCOMPARE(s.endpoint(), endpoint);
}

void TestEmbeddingClient::refusedReplies_data()
{
    QTest::addColumn<QByteArray>("response");
    QTest::addColumn<QString>("error");
    const QByteArray one = R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}]})";
    QTest::newRow("not json") << httpResponse("200 OK", "<html>") << "malformed reply";
    QTest::newRow("two for one") << httpResponse("200 OK",
                                                 R"({"data":[{"index":0,"embedding":[1]},)"
                                                 R"({"index":1,"embedding":[1]}]})")
                                 << "malformed reply";
    QTest::newRow("string number") << httpResponse("200 OK", R"({"data":[{"index":0,"embedding":["1"]}]})")
                                   << "malformed reply";
    QTest::newRow("server error") << httpResponse("503 Service Unavailable", R"({"error":{"message":"busy"}})")
                                  << "HTTP 503";
    QTest::newRow("redirect") << httpResponse("302 Found", "", "Location: http://127.0.0.1:1/v1/embeddings\r\n")
                              << "HTTP 302";
    QTest::newRow("announced too large") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 40000000\r\n\r\n") + one
                                         << "larger than";
}

void TestEmbeddingClient::refusedReplies()
{
    QFETCH(QByteArray, response);
    QFETCH(QString, error);
    RawHttpServer server(response);
    EmbeddingSettings s;
    s.url = QStringLiteral("http://127.0.0.1:%1").arg(server.port());
    s.model = QStringLiteral("m");
    const EmbeddingClient::Result r = embed(s, {QStringLiteral("hello")});
    QVERIFY(!r.ok);
    QVERIFY(r.vectors.empty());
    QVERIFY2(r.error.contains(error), qPrintable(r.error));
}

void TestEmbeddingClient::silentServerTimesOut()
{
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost, 0));
    EmbeddingSettings s;
    s.url = QStringLiteral("http://127.0.0.1:%1").arg(silent.serverPort());
    s.model = QStringLiteral("m");
    s.timeoutMs = 200;
    const EmbeddingClient::Result r = embed(s, {QStringLiteral("hello")});
    QVERIFY(!r.ok);
    QVERIFY2(r.error.contains(QLatin1String("no answer within 200 ms")), qPrintable(r.error));
}

// The request as an OpenAI endpoint expects it: POST to the endpoint, the key as a bearer
// token, the model and the inputs in the JSON body.
void TestEmbeddingClient::sendsTheKeyAndTheModel()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QByteArray request;
    const QByteArray body = R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[3,4]}]})";
    connect(&server, &QTcpServer::newConnection, this, [&] {
        QTcpSocket *socket = server.nextPendingConnection();
        connect(socket, &QTcpSocket::readyRead, socket, [&, socket] {
            request += socket->readAll();
            const qsizetype head = request.indexOf("\r\n\r\n");
            if (head < 0)
                return;
            const qsizetype at = request.toLower().indexOf("content-length:");
            const qsizetype eol = request.indexOf("\r\n", at);
            const qsizetype length = at >= 0 ? request.mid(at + 15, eol - at - 15).trimmed().toLongLong() : 0;
            if (request.size() >= head + 4 + length)
                socket->write(httpResponse("200 OK", body));
        });
    });
    EmbeddingSettings s;
    s.url = QStringLiteral("http://127.0.0.1:%1/v1/embeddings").arg(server.serverPort());
    s.model = QStringLiteral("text-embedding-3-small");
    s.apiKey = "sk-test";
    const EmbeddingClient::Result r = embed(s, {QStringLiteral("hello")});
    QVERIFY2(r.ok, qPrintable(r.error + u' ' + QString::fromUtf8(request)));
    QVERIFY2(request.startsWith("POST /v1/embeddings "), request.constData());
    QVERIFY2(request.contains("\r\nAuthorization: Bearer sk-test\r\n"), request.constData());
    QVERIFY2(request.contains(R"("model":"text-embedding-3-small")"), request.constData());
    // Normalised here: (3, 4) / 5.
    QCOMPARE(r.vectors.size(), std::size_t(1));
    QVERIFY(std::abs(r.vectors[0][0] - 0.6f) < 1e-6f && std::abs(r.vectors[0][1] - 0.8f) < 1e-6f);
}

// Seven inputs in batches of three: three requests, the vectors in input order, each the
// stub's (its lexical embedder at its default dimension).
void TestEmbeddingClient::batchesOverHttpsWithTheCaFile()
{
    EmbeddingSettings s;
    s.url = QStringLiteral("https://localhost:%1/v1").arg(m_tlsPort);
    s.model = QStringLiteral("stub");
    s.caFile = m_certs.caCert();
    s.batchSize = 3;
    QStringList texts;
    for (int i = 0; i < 7; ++i)
        texts << QStringLiteral("question number %1 about passwords").arg(i);
    const EmbeddingClient::Result r = embed(s, texts);
    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.vectors.size(), std::size_t(7));
    const LexicalEmbedder lexical;
    for (int i = 0; i < 7; ++i) {
        const std::vector<float> expected = lexical.embed(texts[i].toStdString());
        QCOMPARE(r.vectors[std::size_t(i)].size(), expected.size());
        for (std::size_t k = 0; k < expected.size(); ++k)
            QVERIFY(std::abs(r.vectors[std::size_t(i)][k] - expected[k]) < 1e-5f);
    }
}

void TestEmbeddingClient::httpsWithoutTheCaIsRefused()
{
    EmbeddingSettings s;
    s.url = QStringLiteral("https://localhost:%1").arg(m_tlsPort);
    s.model = QStringLiteral("stub");
    s.caFile = m_certs.otherCaCert();
    const EmbeddingClient::Result r = embed(s, {QStringLiteral("hello")});
    QVERIFY(!r.ok);
    QVERIFY(r.vectors.empty());
    QVERIFY2(r.error.contains(QLatin1String("failed")), qPrintable(r.error));
}

QTEST_GUILESS_MAIN(TestEmbeddingClient)
#include "tst_embeddingclient.moc"
