#include <QDateTime>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include "core/common/entry.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/localstack/redisnodeconfig.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcertificates.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "tests/support/uniqueprompts.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kReplicationTimeoutMs = 5000;
constexpr int kProposalTimeoutMs = 10000;
constexpr int kLinkTimeoutMs = 15000;

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

// l0l3_redis_connected for role on the gateway at port; -1 when /metrics does not say.
int redisConnected(int port, const QString &region, const char *role)
{
    HttpClient http;
    const HttpResult metrics = http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(port)));
    const QRegularExpression line(QStringLiteral("^l0l3_redis_connected\\{region=\"%1\",role=\"%2\"\\} (\\d)$")
                                      .arg(QRegularExpression::escape(region), QString::fromLatin1(role)),
                                  QRegularExpression::MultilineOption);
    const QRegularExpressionMatch match = line.match(QString::fromUtf8(metrics.body));
    return match.hasMatch() ? match.captured(1).toInt() : -1;
}

bool copyFile(const QString &from, const QString &to)
{
    QFile::remove(to);
    return QFile::copy(from, to);
}

} // namespace

// Every Redis link of l0l3-gateway over TLS, against TLS-only redis-servers
// (no plain port): entries read from the replica, proposals written to the
// primary, Sentinels asked over TLS; certificates that fail verification are
// refused and said so.
class TestGatewayRedisTls : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void approvedEntryIsAnL0HitOverTls();
    void plainTextClientIsRefused();
    void wrongCaStopsTheStart();
    void replicaWithBadCertificateIsRefused();
    void sentinelOverTlsNamesThePrimary();

private:
    HttpResult chat(int port, const QString &prompt);
    std::vector<Proposal> proposals(const QByteArray &key);
    bool approve(const QByteArray &key, const QString &prompt, const QString &response);
    QStringList gatewayArgs(const RedisServer &replica, const QString &region);

    QTemporaryDir m_dir;
    TestCertificates m_certificates;
    GatewayStack m_stack;
    HttpClient m_http;
    UniquePrompts m_prompts{QStringLiteral("TLS question")};
    std::unique_ptr<ManagedProcess> m_extraGateway;
};

void TestGatewayRedisTls::initTestCase()
{
    QString error;
    QVERIFY2(m_certificates.create(m_dir.path(), &error), qPrintable(error));
    GatewayStack::Options options;
    options.redisTls = &m_certificates;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
    QVERIFY(m_stack.primary().url(QStringLiteral("gateway")).startsWith(QStringLiteral("rediss://")));
}

void TestGatewayRedisTls::cleanupTestCase()
{
    m_extraGateway.reset();
    m_stack.stop();
}

void TestGatewayRedisTls::cleanup()
{
    m_stack.printLogsIfFailed({m_extraGateway.get()});
    if (m_extraGateway) {
        QVERIFY(m_extraGateway->stop());
        m_extraGateway.reset();
    }
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
}

HttpResult TestGatewayRedisTls::chat(int port, const QString &prompt)
{
    return m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port)),
                       ChatWire::chatBody(prompt), {}, TimeScale::ms(10000));
}

std::vector<Proposal> TestGatewayRedisTls::proposals(const QByteArray &key)
{
    RedisClient &primary = m_stack.primaryClient();
    primary.command(
        {"FCALL", bytes(ProposalFunction::kDrainName), "0", QByteArray::number(ProposalFunction::kDrainMax)});
    std::vector<Proposal> matching;
    for (Proposal &p : ChatWire::proposals(primary.command({"XRANGE", bytes(RedisSchema::kProposals), "-", "+"}))) {
        if (p.key == key.toStdString())
            matching.push_back(std::move(p));
    }
    return matching;
}

bool TestGatewayRedisTls::approve(const QByteArray &key, const QString &prompt, const QString &response)
{
    Entry entry;
    entry.key = key.toStdString();
    entry.ns = "default";
    entry.response = response.toStdString();
    entry.prompt = prompt.toStdString();
    entry.model = ChatWire::kModel;
    entry.version = 1;
    entry.approvedBy = "testkit";
    entry.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
    return m_stack.primaryClient().set(bytes(RedisSchema::entryKey(entry.key)), bytes(EntryCodec::encode(entry)));
}

QStringList TestGatewayRedisTls::gatewayArgs(const RedisServer &replica, const QString &region)
{
    return {QStringLiteral("--listen"),        QStringLiteral("127.0.0.1:0"),
            QStringLiteral("--region"),        region,
            QStringLiteral("--replica"),       replica.url(QStringLiteral("gateway")),
            QStringLiteral("--primary"),       m_stack.primary().url(QStringLiteral("gateway")),
            QStringLiteral("--upstream"),      m_stack.stubUrl(QStringLiteral("/v1")).toString(),
            QStringLiteral("--redis-ca-file"), m_certificates.caCert()};
}

// The miss is proposed to the TLS primary; the approved entry, replicated over
// TLS, is served from the TLS replica (L0), then from memory.
void TestGatewayRedisTls::approvedEntryIsAnL0HitOverTls()
{
    const int port = m_stack.gatewayPort();
    const QString prompt = m_prompts.next();
    const HttpResult miss = chat(port, prompt);
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
    const QByteArray key = miss.header("x-l0l3-key");
    QVERIFY(!key.isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(proposals(key).size(), size_t(1), TimeScale::ms(kProposalTimeoutMs));

    const QString answer = QStringLiteral("Approved, and read over TLS.");
    QVERIFY(approve(key, prompt, answer));
    QTRY_VERIFY_WITH_TIMEOUT(!m_stack.replicaClient().get(bytes(RedisSchema::entryKey(key.toStdString()))).isEmpty(),
                             TimeScale::ms(kReplicationTimeoutMs));
    const HttpResult hit = chat(port, prompt);
    QVERIFY2(hit.status == 200, qPrintable(hit.describe()));
    QCOMPARE(hit.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(hit.header("x-l0l3-tier"), QByteArray("L0"));
    QCOMPARE(ChatWire::completionContent(hit.body), answer);
    QCOMPARE(redisConnected(port, m_stack.region(), "replica"), 1);
    QCOMPARE(redisConnected(port, m_stack.region(), "primary"), 1);
}

// The TLS-only node has no plain port: a plain-text client gets no answer,
// with or without credentials.
void TestGatewayRedisTls::plainTextClientIsRefused()
{
    RedisServer &primary = m_stack.primary();
    RedisClient plain;
    if (plain.connect(primary.host(), primary.port(), QStringLiteral("console"),
                      TestCredentials::get().password(QStringLiteral("console")), TimeScale::ms(2000))) {
        QVERIFY(!plain.ping());
    }
    QVERIFY(!plain.isConnected() || !plain.ping());
    QVERIFY(m_stack.primaryClient().ping()); // the TLS client next to it is answered
}

// Another CA than the servers': the start-up check refuses the replica and says why.
void TestGatewayRedisTls::wrongCaStopsTheStart()
{
    QStringList args = gatewayArgs(m_stack.replica(), QStringLiteral("lon"));
    args.last() = m_certificates.otherCaCert();
    m_extraGateway = std::make_unique<ManagedProcess>();
    QString error;
    QVERIFY2(m_extraGateway->start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), args,
                                   QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    QVERIFY2(m_extraGateway->waitForFinished(TimeScale::ms(20000)), qPrintable(m_extraGateway->describe()));
    QCOMPARE(m_extraGateway->exitCode(), 1);
    const QString expected =
        QStringLiteral("TLS certificate verification failed for 127.0.0.1:%1: ").arg(m_stack.replica().port());
    QVERIFY2(QString::fromUtf8(m_extraGateway->stderrText()).contains(expected),
             qPrintable(m_extraGateway->describe()));
}

// A replica that comes back with a certificate of another CA: the gateway
// refuses the link, logs why and reports the replica down.
void TestGatewayRedisTls::replicaWithBadCertificateIsRefused()
{
    // A replica of its own, with certificate files it can be given others of.
    // It (and the fixture's clients) trust both CAs; the gateway only ca.pem.
    const QString cert = m_dir.filePath(QStringLiteral("replica2.pem"));
    const QString key = m_dir.filePath(QStringLiteral("replica2.key"));
    const QString bothCas = m_dir.filePath(QStringLiteral("both-cas.pem"));
    QVERIFY(copyFile(m_certificates.goodCert(), cert));
    QVERIFY(copyFile(m_certificates.goodKey(), key));
    {
        QFile ca(m_certificates.caCert());
        QFile other(m_certificates.otherCaCert());
        QFile both(bothCas);
        QVERIFY(ca.open(QIODevice::ReadOnly) && other.open(QIODevice::ReadOnly) && both.open(QIODevice::WriteOnly));
        both.write(ca.readAll() + '\n' + other.readAll());
    }
    RedisServer::Options options;
    options.useTls(m_certificates);
    options.tlsCertFile = cert;
    options.tlsKeyFile = key;
    options.tlsCaFile = bothCas;
    options.replicaOfPort = m_stack.primary().port();
    RedisServer replica;
    QString error;
    QVERIFY2(replica.start(options, &error), qPrintable(error));

    m_extraGateway = std::make_unique<ManagedProcess>();
    const QString region = QStringLiteral("fra");
    QVERIFY2(m_extraGateway->start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), gatewayArgs(replica, region),
                                   QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int port = m_extraGateway->listenPort(TimeScale::ms(kLinkTimeoutMs));
    QVERIFY2(port > 0, qPrintable(m_extraGateway->describe()));
    QTRY_COMPARE_WITH_TIMEOUT(redisConnected(port, region, "replica"), 1, TimeScale::ms(kLinkTimeoutMs));

    // The same names, signed by the other CA.
    QVERIFY(replica.stop());
    QVERIFY(copyFile(m_certificates.otherGoodCert(), cert));
    QVERIFY(copyFile(m_certificates.otherGoodKey(), key));
    QVERIFY2(replica.restart(&error), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(redisConnected(port, region, "replica"), 0, TimeScale::ms(kLinkTimeoutMs));
    const QString expected =
        QStringLiteral("TLS certificate verification failed for 127.0.0.1:%1: ").arg(replica.port());
    QTRY_VERIFY2_WITH_TIMEOUT(QString::fromUtf8(m_extraGateway->stderrText()).contains(expected),
                              qPrintable(m_extraGateway->describe()), TimeScale::ms(kLinkTimeoutMs));
    QVERIFY(m_extraGateway->isRunning());
    QCOMPARE(redisConnected(port, region, "replica"), 0);
}

// --primary names the replica (out of date); the TLS Sentinel, asked over
// TLS with its ACL user, names the real primary, where proposals then land.
void TestGatewayRedisTls::sentinelOverTlsNamesThePrimary()
{
    RedisServer::Options options;
    options.useTls(m_certificates);
    options.sentinel = true;
    options.monitorPort = m_stack.primary().port();
    options.quorum = 1;
    RedisServer sentinel;
    QString error;
    QVERIFY2(sentinel.start(options, &error), qPrintable(error));
    const QString passwordFile = m_dir.filePath(QStringLiteral("sentinel-password"));
    {
        QFile file(passwordFile);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(TestCredentials::get().sentinelAuth.toUtf8());
    }

    const QString region = QStringLiteral("sgp");
    QStringList args = gatewayArgs(m_stack.replica(), region);
    args[args.indexOf(QStringLiteral("--primary")) + 1] = m_stack.replica().url(QStringLiteral("gateway"));
    args << QStringLiteral("--sentinel") << QStringLiteral("rediss://127.0.0.1:%1").arg(sentinel.port())
         << QStringLiteral("--sentinel-user") << QString::fromLatin1(RedisNodeConfig::kSentinelUser)
         << QStringLiteral("--sentinel-password-file") << passwordFile << QStringLiteral("--redis-hosts")
         << QStringLiteral("127.0.0.1:%1").arg(m_stack.primary().port());
    m_extraGateway = std::make_unique<ManagedProcess>();
    QVERIFY2(m_extraGateway->start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), args,
                                   QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int port = m_extraGateway->listenPort(TimeScale::ms(kLinkTimeoutMs));
    QVERIFY2(port > 0, qPrintable(m_extraGateway->describe()));
    const QString switched =
        QStringLiteral("-> rediss://gateway@127.0.0.1:%1 (sentinel)").arg(m_stack.primary().port());
    QTRY_VERIFY2_WITH_TIMEOUT(QString::fromUtf8(m_extraGateway->stderrText()).contains(switched),
                              qPrintable(m_extraGateway->describe()), TimeScale::ms(kLinkTimeoutMs));

    // Misses after the switch are proposed to the primary the Sentinel named.
    QTRY_COMPARE_WITH_TIMEOUT(redisConnected(port, region, "primary"), 1, TimeScale::ms(kLinkTimeoutMs));
    const HttpResult miss = chat(port, m_prompts.next());
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    const QByteArray key = miss.header("x-l0l3-key");
    QTRY_COMPARE_WITH_TIMEOUT(proposals(key).size(), size_t(1), TimeScale::ms(kProposalTimeoutMs));
}

QTEST_GUILESS_MAIN(TestGatewayRedisTls)
#include "tst_gatewayredistls.moc"
