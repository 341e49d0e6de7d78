#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include "core/common/cachekey.h"
#include "core/common/embeddingsapi.h"
#include "core/common/entry.h"
#include "core/common/lexicalembedder.h"
#include "core/common/prometheusparser.h"
#include "core/common/redisschema.h"
#include "core/common/vectorrecord.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/l1approval.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcertificates.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kIndexTimeoutMs = 10000;
const std::string kModel = "stub-embed";

} // namespace

// L1 with an OpenAI-compatible embeddings endpoint (--embeddings): real redis-server
// primary and replica, l0l3-stub-llm serving POST /v1/embeddings (the lexical vectors,
// so the test computes the same ones) and four gateways on the same data: one whose
// endpoint works (a stub over HTTPS, its CA given with --embeddings-ca-file), one whose
// endpoint answers too late (a stub with --embeddings-latency-ms), one whose endpoint
// answers 503 (--embeddings-fail-rate 1) and one whose endpoint is down. Vector records are written as
// the console writes them, with the endpoint's model id.
class TestL1Embeddings : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void servesAParaphraseWithTheEndpointsVector();
    void aSlowEndpointIsAMissWithinTheBudget();
    void anErrorStatusIsAMiss();
    void aDownEndpointOpensItsCircuit();

private:
    QByteArray approve(const QString &prompt, const QString &response);
    HttpResult chat(int port, const QString &prompt);
    std::vector<PromSample> metrics(int port);
    QStringList embeddingsArgs(int port, int budgetMs) const;
    std::unique_ptr<ManagedProcess> launch(const QStringList &args);
    bool waitForIndex(int port);
    qint64 stubStat(const QString &base, const char *name);
    QString tlsStubBase() const { return QStringLiteral("https://127.0.0.1:%1").arg(m_tlsStubPort); }

    QTemporaryDir m_dir;
    TestCertificates m_certificates;
    GatewayStack m_stack;
    ManagedProcess m_tlsStub;
    int m_tlsStubPort = -1;
    ManagedProcess m_slowStub;
    ManagedProcess m_failingStub;
    int m_failingStubPort = -1;
    std::unique_ptr<ManagedProcess> m_failing;
    int m_slowStubPort = -1;
    int m_slowLatencyMs = 0;
    std::unique_ptr<ManagedProcess> m_serving;
    std::unique_ptr<ManagedProcess> m_slow;
    std::unique_ptr<ManagedProcess> m_down;
    HttpClient m_http;
    LexicalEmbedder m_embedder; // the stub's default: 256 dimensions
};

QStringList TestL1Embeddings::embeddingsArgs(int port, int budgetMs) const
{
    return {QStringLiteral("--semantic"),
            QStringLiteral("serve"),
            QStringLiteral("--embeddings"),
            QStringLiteral("%1://127.0.0.1:%2/v1").arg(port == m_tlsStubPort ? u"https" : u"http").arg(port),
            QStringLiteral("--embeddings-model"),
            QString::fromStdString(kModel),
            QStringLiteral("--embeddings-budget-ms"),
            QString::number(budgetMs)};
}

std::unique_ptr<ManagedProcess> TestL1Embeddings::launch(const QStringList &args)
{
    QString error;
    auto gateway = m_stack.launchGateway(args, &error);
    if (!gateway)
        qWarning().noquote() << error;
    return gateway;
}

void TestL1Embeddings::initTestCase()
{
    GatewayStack::Options options;
    options.startGateway = false;
    QString error;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));

    QVERIFY(m_dir.isValid());
    QVERIFY2(m_certificates.create(m_dir.path(), &error), qPrintable(error));
    // The test's own client reads the HTTPS stub's /stats.
    QSslConfiguration ssl = QSslConfiguration::defaultConfiguration();
    ssl.addCaCertificates(QSslCertificate::fromPath(m_certificates.caCert()));
    QSslConfiguration::setDefaultConfiguration(ssl);
    QVERIFY2(m_tlsStub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                             {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--tls-cert"),
                              m_certificates.goodCert(), QStringLiteral("--tls-key"), m_certificates.goodKey()},
                             QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    m_tlsStubPort = m_tlsStub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_tlsStubPort > 0, qPrintable(m_tlsStub.describe()));

    // An endpoint that answers, but long after the budget.
    m_slowLatencyMs = TimeScale::ms(1500);
    QVERIFY2(m_slowStub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                              {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                               QStringLiteral("--embeddings-latency-ms"), QString::number(m_slowLatencyMs)},
                              QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    m_slowStubPort = m_slowStub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_slowStubPort > 0, qPrintable(m_slowStub.describe()));

    // An endpoint that answers every embeddings request with 503.
    QVERIFY2(m_failingStub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                                 {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                                  QStringLiteral("--embeddings-fail-rate"), QStringLiteral("1"),
                                  QStringLiteral("--fail-status"), QStringLiteral("503")},
                                 QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    m_failingStubPort = m_failingStub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_failingStubPort > 0, qPrintable(m_failingStub.describe()));

    // A port nobody listens on: connections are refused.
    int downPort = 0;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        downPort = probe.serverPort();
    }

    // Generous where the answer must come in time (a loaded sanitizer build), small where it must not.
    m_serving = launch(embeddingsArgs(m_tlsStubPort, TimeScale::ms(5000))
                       + QStringList{QStringLiteral("--embeddings-ca-file"), m_certificates.caCert()});
    QVERIFY(m_serving);
    // Its call may take longer than the budget: the answer arrives, late.
    m_slow = launch(embeddingsArgs(m_slowStubPort, 100)
                    + QStringList{QStringLiteral("--embeddings-timeout-ms"), QString::number(10 * m_slowLatencyMs)});
    QVERIFY(m_slow);
    m_down = launch(embeddingsArgs(downPort, 100));
    QVERIFY(m_down);
    m_failing = launch(embeddingsArgs(m_failingStubPort, TimeScale::ms(5000)));
    QVERIFY(m_failing);

    // The index is built from the records: without one the endpoint is never asked.
    QVERIFY(!approve(QStringLiteral("How do I reset the password of my account?"),
                     QStringLiteral("Open Settings, then Security, then Reset password."))
                 .isEmpty());
    for (ManagedProcess *g : {m_serving.get(), m_slow.get(), m_down.get(), m_failing.get()})
        QVERIFY2(waitForIndex(g->listenPort()), qPrintable(g->describe()));
}

void TestL1Embeddings::cleanupTestCase()
{
    for (auto *g : {&m_serving, &m_slow, &m_down, &m_failing})
        if (*g)
            QVERIFY((*g)->stop());
    if (m_slowStubPort > 0)
        QVERIFY(m_slowStub.stop());
    if (m_tlsStubPort > 0)
        QVERIFY(m_tlsStub.stop());
    if (m_failingStubPort > 0)
        QVERIFY(m_failingStub.stop());
    m_stack.stop();
}

void TestL1Embeddings::cleanup()
{
    m_stack.printLogsIfFailed(
        {m_serving.get(), m_slow.get(), m_down.get(), m_failing.get(), &m_slowStub, &m_tlsStub, &m_failingStub});
    for (auto *g : {m_serving.get(), m_slow.get(), m_down.get(), m_failing.get()})
        QVERIFY2(g && g->isRunning(), "a gateway died");
}

QByteArray TestL1Embeddings::approve(const QString &prompt, const QString &response)
{
    const std::string user = prompt.toStdString();
    const Entry entry = L1Approval::entry(user, response.toStdString());
    // The model id the control plane stores for this endpoint.
    return L1Approval::store(m_stack.primaryClient(), entry,
                             L1Approval::record(entry, EmbeddingsApi::modelId(kModel), 0.92f, m_embedder.embed(user)));
}

HttpResult TestL1Embeddings::chat(int port, const QString &prompt)
{
    return m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port)),
                       ChatWire::chatBody(prompt), {}, 10000);
}

std::vector<PromSample> TestL1Embeddings::metrics(int port)
{
    const HttpResult r = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(port)));
    return PrometheusParser::parse(r.body.toStdString());
}

bool TestL1Embeddings::waitForIndex(int port)
{
    // And every worker's replica link: a lookup without it is skipped, the endpoint not called.
    return Poll::until(
        [&] {
            const auto samples = metrics(port);
            return ChatWire::sum(samples, "l0l3_l1_index_entries") >= 1
                && ChatWire::sum(samples, "l0l3_redis_connected", {{"role", "replica"}}) == 1;
        },
        kIndexTimeoutMs);
}

qint64 TestL1Embeddings::stubStat(const QString &base, const char *name)
{
    const HttpResult stats = m_http.get(QUrl(base + QStringLiteral("/stats")));
    const QJsonValue v = QJsonDocument::fromJson(stats.body).object().value(QLatin1String(name));
    return v.isDouble() ? static_cast<qint64>(v.toDouble()) : -1;
}

void TestL1Embeddings::servesAParaphraseWithTheEndpointsVector()
{
    const int port = m_serving->listenPort();
    const QByteArray key = QByteArray::fromStdString(
        CacheKey::derive({"default", "", "How do I reset the password of my account?", ChatWire::kModel, "", "", ""}));
    const qint64 embeddedBefore = stubStat(tlsStubBase(), "embeddings_requests");
    QVERIFY(embeddedBefore >= 0);
    const qint64 upstreamBefore = m_stack.stubRequests();
    const HttpResult r = chat(port, QStringLiteral("How can I reset the password of my account?"));
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L1"));
    QCOMPARE(r.header("x-l0l3-entry"), key);
    bool ok = false;
    const double similarity = r.header("x-l0l3-similarity").toDouble(&ok);
    QVERIFY2(ok && similarity >= 0.92 && similarity <= 1.0, r.header("x-l0l3-similarity").constData());
    QCOMPARE(ChatWire::completionContent(r.body), QStringLiteral("Open Settings, then Security, then Reset password."));
    QCOMPARE(m_stack.stubRequests(), upstreamBefore);
    // The prompt's vector came from the endpoint, over HTTPS, one input per call.
    QCOMPARE(stubStat(tlsStubBase(), "embeddings_requests"), embeddedBefore + 1);
    QCOMPARE(stubStat(tlsStubBase(), "embeddings_inputs"), embeddedBefore + 1);

    // A prompt that means something else is a miss answered upstream.
    const HttpResult other = chat(port, QStringLiteral("What are the opening hours of the Berlin office?"));
    QVERIFY2(other.status == 200, qPrintable(other.describe()));
    QVERIFY(other.header("x-l0l3-tier") != "L1");
    QCOMPARE(m_stack.stubRequests(), upstreamBefore + 1);

    const auto samples = metrics(port);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_requests_total", {{"result", "ok"}}), 2.0);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_duration_seconds_count"), 2.0);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_circuit_state"), 0.0);
    QVERIFY(ChatWire::sum(samples, "l0l3_l1_lookups_total", {{"result", "hit"}}) >= 1);
}

void TestL1Embeddings::aSlowEndpointIsAMissWithinTheBudget()
{
    const int port = m_slow->listenPort();
    // The paraphrase would be an L1 hit; its vector comes after the request was answered.
    for (int i = 0; i < 2; ++i) {
        QElapsedTimer timer;
        timer.start();
        const HttpResult r = chat(port, QStringLiteral("How can I reset the password of my account, %1?").arg(i));
        const qint64 elapsed = timer.elapsed();
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QVERIFY(r.header("x-l0l3-tier") != "L1");
        QVERIFY2(elapsed < m_slowLatencyMs, qPrintable(QStringLiteral("answered after %1 ms").arg(elapsed)));
    }
    const auto samples = metrics(port);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_requests_total", {{"result", "timeout"}}), 2.0);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_lookups_total", {{"result", "unavailable"}}), 2.0);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_requests_total", {{"result", "ok"}}), 0.0);
    // The answers still come, after their requests were answered: received and dropped.
    QVERIFY2(
        Poll::until([&] { return ChatWire::sum(metrics(port), "l0l3_l1_embeddings_duration_seconds_count") == 2.0; },
                    kIndexTimeoutMs),
        "the late answers did not arrive");
    QCOMPARE(ChatWire::sum(metrics(port), "l0l3_l1_embeddings_requests_total", {{"result", "ok"}}), 0.0);
}

void TestL1Embeddings::anErrorStatusIsAMiss()
{
    const int port = m_failing->listenPort();
    const HttpResult r = chat(port, QStringLiteral("How can I reset the password of my account?"));
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QVERIFY(r.header("x-l0l3-tier") != "L1");
    QCOMPARE(stubStat(QStringLiteral("http://127.0.0.1:%1").arg(m_failingStubPort), "embeddings_requests"), 1);
    const auto samples = metrics(port);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_requests_total", {{"result", "error"}}), 1.0);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_lookups_total", {{"result", "unavailable"}}), 1.0);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_circuit_state"), 0.0); // one failure: still closed
}

void TestL1Embeddings::aDownEndpointOpensItsCircuit()
{
    const int port = m_down->listenPort();
    // Five failures in a row open the circuit; from then on the endpoint is not called at all.
    for (int i = 0; i < 7; ++i) {
        const HttpResult r = chat(port, QStringLiteral("How do I reset the password of my account? (%1)").arg(i));
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QVERIFY(r.header("x-l0l3-tier") != "L1");
    }
    const auto samples = metrics(port);
    const double failed = ChatWire::sum(samples, "l0l3_l1_embeddings_requests_total", {{"result", "error"}})
        + ChatWire::sum(samples, "l0l3_l1_embeddings_requests_total", {{"result", "timeout"}});
    const double refused = ChatWire::sum(samples, "l0l3_l1_embeddings_requests_total", {{"result", "refused"}});
    // 5 and 2, or 6 and 1 when a machine slower than the breaker's cool-down let a probe through.
    QVERIFY2(failed >= 5 && refused >= 1 && failed + refused == 7,
             qPrintable(QStringLiteral("%1 failed, %2 refused").arg(failed).arg(refused)));
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_embeddings_circuit_state"), 2.0);
    QCOMPARE(ChatWire::sum(samples, "l0l3_l1_lookups_total", {{"result", "unavailable"}}), 7.0);
    QVERIFY2(Poll::until(
                 [&] {
                     return m_down->stdoutText().contains("embeddings circuit closed -> open")
                         || m_down->stderrText().contains("embeddings circuit closed -> open");
                 },
                 kIndexTimeoutMs),
             qPrintable(m_down->describe()));
}

QTEST_MAIN(TestL1Embeddings)
#include "tst_l1embeddings.moc"
