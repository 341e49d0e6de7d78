#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <fstream>
#include <map>
#include <vector>

#include "core/gateway/gatewayconfig.h"
#include "tests/support/testcertificates.h"

using namespace l0l3;

namespace {

struct Args
{
    std::vector<std::string> storage;
    std::vector<const char *> argv;
    explicit Args(const QStringList &list)
    {
        storage.push_back("l0l3-gateway");
        for (const QString &s : list)
            storage.push_back(s.toStdString());
        for (const auto &s : storage)
            argv.push_back(s.c_str());
    }
};

GatewayConfig::Environment envOf(std::map<std::string, std::string> vars)
{
    auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
    return [shared](const char *name) -> const char * {
        auto it = shared->find(name);
        return it == shared->end() ? nullptr : it->second.c_str();
    };
}

QStringList required()
{
    return {QStringLiteral("--listen"),   QStringLiteral("127.0.0.1:0"),
            QStringLiteral("--region"),   QStringLiteral("nyc"),
            QStringLiteral("--replica"),  QStringLiteral("redis://127.0.0.1:6380"),
            QStringLiteral("--primary"),  QStringLiteral("redis://127.0.0.1:6379"),
            QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:8000/v1")};
}

} // namespace

class TestGatewayConfig : public QObject
{
    Q_OBJECT

private slots:
    void minimal();
    void rejects_data();
    void rejects();
    void options();
    void embeddingsEndpoint();
    void connectionLimits();
    void resilienceOptions();
    void resilienceDefaults();
    void environmentCredentials();
    void sentinels();
    void redisTls();
    void configFile();
    void helpAndVersion();
    void checkConfig();
    void anonymousListen_data();
    void anonymousListen();
    void passwordOnCommandLineWarns();
    void usageListsEveryOption();
    void unknownOptions_data();
    void unknownOptions();
};

void TestGatewayConfig::minimal()
{
    Args a(required());
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QCOMPARE(QByteArray::fromStdString(c.listenHost), QByteArray("127.0.0.1"));
    QCOMPARE(c.listenPort, std::uint16_t(0));
    QCOMPARE(c.replica.port, 6380);
    QCOMPARE(QByteArray::fromStdString(c.upstream.host), QByteArray("127.0.0.1"));
    QCOMPARE(c.upstream.port, std::uint16_t(8000));
    QCOMPARE(QByteArray::fromStdString(c.upstream.basePath), QByteArray("/v1"));
    QCOMPARE(c.hotCacheEntries, std::size_t(100000));
    QCOMPARE(c.hotCacheBytes, std::size_t(256u << 20));
    QCOMPARE(c.hotCacheTtlSeconds, std::int64_t(60));
    QCOMPARE(c.maxBodyBytes, std::size_t(1u << 20));
    QCOMPARE(c.upstream.timeoutMs, 30000);
    QCOMPARE(c.upstream.connectTimeoutMs, 2000);
    QCOMPARE(QByteArray::fromStdString(c.namespaceDefault), QByteArray("default"));
    QVERIFY(c.hotCacheEnabled);
    QVERIFY(c.threads >= 1 && c.threads <= 4);
    // The fleet registry: defaults settled at start (host name, bound port).
    QVERIFY(c.instanceId.empty());
    QVERIFY(c.advertiseUrl.empty());
    QCOMPARE(c.announceIntervalMs, 5000);

    Args fleet(required() << QStringLiteral("--instance-id") << QStringLiteral("edge-1.nyc:8080")
                          << QStringLiteral("--advertise-url") << QStringLiteral("https://edge-1.example:8443")
                          << QStringLiteral("--announce-interval-ms") << QStringLiteral("2000"));
    GatewayConfig f;
    QCOMPARE(GatewayConfig::parse(int(fleet.argv.size()), fleet.argv.data(), &f, &error, envOf({})),
             GatewayConfig::Action::Run);
    QCOMPARE(QByteArray::fromStdString(f.instanceId), QByteArray("edge-1.nyc:8080"));
    QCOMPARE(QByteArray::fromStdString(f.advertiseUrl), QByteArray("https://edge-1.example:8443"));
    QCOMPARE(f.announceIntervalMs, 2000);
    // A refused id is echoed escaped.
    Args bad(required() << QStringLiteral("--instance-id") << QStringLiteral("gw\x1b]0;x\x07"));
    QCOMPARE(GatewayConfig::parse(int(bad.argv.size()), bad.argv.data(), &f, &error, envOf({})),
             GatewayConfig::Action::Error);
    QVERIFY2(error.find('\x1b') == std::string::npos && error.find('\x07') == std::string::npos, error.c_str());
}

void TestGatewayConfig::rejects_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("mentions");
    auto with = [](std::initializer_list<const char *> extra) {
        QStringList l = required();
        for (const char *e : extra)
            l << QString::fromUtf8(e);
        return l;
    };
    QTest::newRow("unknown flag") << with({"--bogus"}) << QStringLiteral("--bogus");
    QTest::newRow("missing value") << with({"--threads"}) << QStringLiteral("--threads");
    QTest::newRow("threads zero") << with({"--threads", "0"}) << QStringLiteral("--threads");
    QTest::newRow("threads text") << with({"--threads", "many"}) << QStringLiteral("--threads");
    QTest::newRow("bad listen") << with({"--listen", "nowhere"}) << QStringLiteral("--listen");
    QTest::newRow("listen port too big") << with({"--listen", "127.0.0.1:70000"}) << QStringLiteral("--listen");
    QTest::newRow("bad region") << with({"--region", "new york"}) << QStringLiteral("--region");
    QTest::newRow("bad replica") << with({"--replica", "http://x"}) << QStringLiteral("--replica");
    QTest::newRow("ftp upstream") << with({"--upstream", "ftp://api.example/v1"}) << QStringLiteral("--upstream");
    QTest::newRow("bad upstream port") << with({"--upstream", "http://h:0/v1"}) << QStringLiteral("port");
    QTest::newRow("negative ttl") << with({"--hot-cache-ttl-seconds", "-1"}) << QStringLiteral("ttl");
    QTest::newRow("positional") << with({"extra"}) << QStringLiteral("extra");
    QTest::newRow("error rate over 1") << with({"--breaker-error-rate", "1.5"})
                                       << QStringLiteral("--breaker-error-rate");
    QTest::newRow("breaker failures 0") << with({"--breaker-failures", "0"}) << QStringLiteral("--breaker-failures");
    QTest::newRow("negative rate") << with({"--rate-limit", "-1"}) << QStringLiteral("--rate-limit");
    QTest::newRow("rate text") << with({"--rate-limit", "fast"}) << QStringLiteral("--rate-limit");
    QTest::newRow("burst below 1") << with({"--rate-burst", "0.5"}) << QStringLiteral("--rate-burst");
    QTest::newRow("tiny header limit") << with({"--max-header-bytes", "10"}) << QStringLiteral("--max-header-bytes");
    QTest::newRow("zero messages") << with({"--max-messages", "0"}) << QStringLiteral("--max-messages");
    QTest::newRow("ftp secondary") << with({"--secondary-upstream", "ftp://x/v1"})
                                   << QStringLiteral("--secondary-upstream");
    QTest::newRow("bad fallback replica")
        << with({"--fallback-replica", "http://x"}) << QStringLiteral("--fallback-replica");
    QTest::newRow("sentinel without port") << with({"--sentinel", "127.0.0.1"}) << QStringLiteral("--sentinel");
    QTest::newRow("instance id with a space") << with({"--instance-id", "gw 1"}) << QStringLiteral("--instance-id");
    QTest::newRow("instance id with an escape")
        << with({"--instance-id", "gw\x1b[2J"}) << QStringLiteral("--instance-id");
    QTest::newRow("empty instance id") << with({"--instance-id", ""}) << QStringLiteral("--instance-id");
    QTest::newRow("ftp advertise url") << with({"--advertise-url", "ftp://h:1"}) << QStringLiteral("--advertise-url");
    QTest::newRow("advertise url with user info")
        << with({"--advertise-url", "http://u:p@h:1"}) << QStringLiteral("--advertise-url");
    QTest::newRow("advertise url with a space")
        << with({"--advertise-url", "http://h:1/a b"}) << QStringLiteral("--advertise-url");
    QTest::newRow("announce interval too short")
        << with({"--announce-interval-ms", "10"}) << QStringLiteral("--announce-interval-ms");
    QTest::newRow("sentinel port 0") << with({"--sentinel", "127.0.0.1:0"}) << QStringLiteral("--sentinel");
    QTest::newRow("sentinel empty entry")
        << with({"--sentinel", "127.0.0.1:26379,,127.0.0.1:26380"}) << QStringLiteral("--sentinel");
    QTest::newRow("sentinel bad url") << with({"--sentinel", "http://127.0.0.1:26379"}) << QStringLiteral("--sentinel");
    QTest::newRow("sentinel with db") << with({"--sentinel", "redis://127.0.0.1:26379/2"})
                                      << QStringLiteral("--sentinel");
    QTest::newRow("bad redis hosts") << with({"--redis-hosts", "10.0.0.5"}) << QStringLiteral("--redis-hosts");
    QTest::newRow("redis hosts port 0") << with({"--redis-hosts", "10.0.0.5:6379,10.0.0.6:0"})
                                        << QStringLiteral("'10.0.0.6:0' is not HOST:PORT");
    QTest::newRow("redis hosts empty entry")
        << with({"--redis-hosts", "10.0.0.5:6379,,10.0.0.6:6379"}) << QStringLiteral("--redis-hosts");
    QTest::newRow("missing sentinel password file")
        << with({"--sentinel", "127.0.0.1:26379", "--sentinel-password-file", "/nonexistent/pw"})
        << QStringLiteral("--sentinel-password-file");
    QTest::newRow("empty master name") << with({"--sentinel", "127.0.0.1:26379", "--master-name", ""})
                                       << QStringLiteral("--master-name");
    QTest::newRow("missing api keys file")
        << with({"--api-keys-file", "/nonexistent/keys"}) << QStringLiteral("--api-keys-file");
    QTest::newRow("missing config file") << with({"--config", "/nonexistent/l0l3.conf"}) << QStringLiteral("--config");
    QTest::newRow("missing region") << QStringList{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:1")}
                                    << QStringLiteral("--region");
    QTest::newRow("embeddings without model")
        << with({"--embeddings", "http://127.0.0.1:8001/v1"}) << QStringLiteral("--embeddings-model");
    QTest::newRow("embeddings model alone") << with({"--embeddings-model", "m"}) << QStringLiteral("--embeddings");
    QTest::newRow("embeddings model with a space")
        << with({"--embeddings", "http://127.0.0.1:8001/v1", "--embeddings-model", "a b"})
        << QStringLiteral("--embeddings-model");
    QTest::newRow("embeddings bad url") << with({"--embeddings", "ftp://x/v1", "--embeddings-model", "m"})
                                        << QStringLiteral("--embeddings");
    QTest::newRow("embeddings ca file for http") << with(
        {"--embeddings", "http://127.0.0.1:8001/v1", "--embeddings-model", "m", "--embeddings-ca-file", "/etc/hosts"})
                                                 << QStringLiteral("--embeddings-ca-file");
}

void TestGatewayConfig::rejects()
{
    QFETCH(QStringList, args);
    QFETCH(QString, mentions);
    Args a(args);
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Error);
    QVERIFY2(QString::fromStdString(error).contains(mentions), error.c_str());
    QVERIFY(error.find('\n') == std::string::npos);
}

void TestGatewayConfig::options()
{
    QStringList l = required();
    l << QStringLiteral("--threads=3") << QStringLiteral("--hot-cache-entries") << QStringLiteral("10")
      << QStringLiteral("--hot-cache-bytes") << QStringLiteral("4096") << QStringLiteral("--hot-cache-ttl-seconds")
      << QStringLiteral("5") << QStringLiteral("--no-hot-cache") << QStringLiteral("--max-body-bytes")
      << QStringLiteral("100") << QStringLiteral("--upstream-timeout-ms") << QStringLiteral("1500")
      << QStringLiteral("--upstream-connect-timeout-ms") << QStringLiteral("300")
      << QStringLiteral("--namespace-default") << QStringLiteral("acme");
    Args a(l);
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QCOMPARE(c.threads, 3);
    QCOMPARE(c.hotCacheEntries, std::size_t(10));
    QCOMPARE(c.hotCacheBytes, std::size_t(4096));
    QCOMPARE(c.hotCacheTtlSeconds, std::int64_t(5));
    QVERIFY(!c.hotCacheEnabled);
    QCOMPARE(c.maxBodyBytes, std::size_t(100));
    QCOMPARE(c.upstream.timeoutMs, 1500);
    QCOMPARE(c.upstream.connectTimeoutMs, 300);
    QCOMPARE(QByteArray::fromStdString(c.namespaceDefault), QByteArray("acme"));
}

void TestGatewayConfig::embeddingsEndpoint()
{
    Args plain(required());
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(plain.argv.size()), plain.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QVERIFY(c.embeddingsUrl.empty()); // the lexical provider
    QCOMPARE(c.embeddingsBudgetMs, 50);

    QStringList l = required();
    l << QStringLiteral("--embeddings") << QStringLiteral("http://10.0.0.7:8080/openai/v1")
      << QStringLiteral("--embeddings-model") << QStringLiteral("text-embedding-3-small")
      << QStringLiteral("--embeddings-budget-ms") << QStringLiteral("80") << QStringLiteral("--embeddings-timeout-ms")
      << QStringLiteral("900");
    Args a(l);
    GatewayConfig e;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &e, &error,
                                  envOf({{"L0L3_EMBEDDINGS_API_KEY", "sk-embed"}})),
             GatewayConfig::Action::Run);
    QCOMPARE(QByteArray::fromStdString(e.embeddings.host), QByteArray("10.0.0.7"));
    QCOMPARE(e.embeddings.port, std::uint16_t(8080));
    QCOMPARE(QByteArray::fromStdString(e.embeddings.basePath + e.embeddings.endpoint),
             QByteArray("/openai/v1/embeddings"));
    QCOMPARE(QByteArray::fromStdString(e.embeddingsModel), QByteArray("text-embedding-3-small"));
    QCOMPARE(QByteArray::fromStdString(e.embeddingsApiKey), QByteArray("sk-embed"));
    QCOMPARE(e.embeddingsBudgetMs, 80);
    QCOMPARE(e.embeddings.timeoutMs, 900);
    QCOMPARE(e.embeddings.connectTimeoutMs, 1000);
    QCOMPARE(e.upstream.timeoutMs, 30000); // the upstream's own
}

void TestGatewayConfig::connectionLimits()
{
    GatewayConfig c;
    std::string error;
    {
        Args a(required());
        QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
                 GatewayConfig::Action::Run);
        QCOMPARE(c.firstRequestTimeoutMs, 5000);
        QCOMPARE(c.maxConnectionsPerClient, std::size_t(256));
        QCOMPARE(c.maxBufferedBytes, std::size_t(256) << 20);
    }
    QStringList l = required();
    l << QStringLiteral("--first-request-timeout-ms") << QStringLiteral("700")
      << QStringLiteral("--max-connections-per-client") << QStringLiteral("8") << QStringLiteral("--max-buffered-bytes")
      << QStringLiteral("1048576") << QStringLiteral("--max-header-bytes") << QStringLiteral("200000");
    Args a(l);
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QCOMPARE(c.firstRequestTimeoutMs, 700);
    QCOMPARE(c.maxConnectionsPerClient, std::size_t(8));
    QCOMPARE(c.maxBufferedBytes, std::size_t(1048576));
    // Beast holds a header field's size in 16 bits: larger limits are clamped, not refused.
    QCOMPARE(c.maxHeaderBytes, std::size_t(65535));
    for (const char *bad :
         {"--first-request-timeout-ms=0", "--max-connections-per-client=0", "--max-buffered-bytes=100"}) {
        QStringList b = required();
        b << QString::fromLatin1(bad);
        Args ab(b);
        QCOMPARE(GatewayConfig::parse(int(ab.argv.size()), ab.argv.data(), &c, &error, envOf({})),
                 GatewayConfig::Action::Error);
        QVERIFY2(error.find(std::string(bad).substr(0, std::string(bad).find('='))) != std::string::npos,
                 error.c_str());
    }
}

void TestGatewayConfig::resilienceOptions()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QFile keys(dir.filePath(QStringLiteral("keys")));
    QVERIFY(keys.open(QIODevice::WriteOnly));
    keys.write(QByteArray(64, 'a') + " tenant-a\n" + QByteArray(64, 'b') + " tenant-b\n");
    keys.close();
    QFile upstreamKey(dir.filePath(QStringLiteral("upstream-key")));
    QVERIFY(upstreamKey.open(QIODevice::WriteOnly));
    upstreamKey.write("sk-upstream\n");
    upstreamKey.close();

    QStringList l = required();
    l << QStringLiteral("--breaker-failures") << QStringLiteral("7") << QStringLiteral("--breaker-successes")
      << QStringLiteral("2") << QStringLiteral("--breaker-cooldown-ms") << QStringLiteral("1500")
      << QStringLiteral("--breaker-error-rate") << QStringLiteral("0.25") << QStringLiteral("--breaker-window-ms")
      << QStringLiteral("5000") << QStringLiteral("--secondary-upstream") << QStringLiteral("http://127.0.0.1:9/v2")
      << QStringLiteral("--slo-p99-ms") << QStringLiteral("250") << QStringLiteral("--upstream-slo-p99-ms")
      << QStringLiteral("1200") << QStringLiteral("--fallback-replica")
      << QStringLiteral("redis://gateway:pw@127.0.0.1:7000") << QStringLiteral("--rate-limit") << QStringLiteral("2.5")
      << QStringLiteral("--rate-burst") << QStringLiteral("10") << QStringLiteral("--max-header-bytes")
      << QStringLiteral("4096") << QStringLiteral("--max-messages") << QStringLiteral("8")
      << QStringLiteral("--max-prompt-chars") << QStringLiteral("1000") << QStringLiteral("--idle-timeout-ms")
      << QStringLiteral("3000") << QStringLiteral("--read-timeout-ms") << QStringLiteral("700")
      << QStringLiteral("--max-connections") << QStringLiteral("50") << QStringLiteral("--api-keys-file")
      << keys.fileName() << QStringLiteral("--upstream-api-key-file") << upstreamKey.fileName()
      << QStringLiteral("--upstream-timeout-ms") << QStringLiteral("1234");
    Args a(l);
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QCOMPARE(c.breaker.failureThreshold, 7);
    QCOMPARE(c.breaker.successThreshold, 2);
    QCOMPARE(c.breaker.cooldownMs, std::int64_t(1500));
    QCOMPARE(c.breaker.errorRate, 0.25);
    QCOMPARE(c.breaker.windowMs, std::int64_t(5000));
    QCOMPARE(c.secondaryUpstream.port, std::uint16_t(9));
    QCOMPARE(QByteArray::fromStdString(c.secondaryUpstream.basePath), QByteArray("/v2"));
    QCOMPARE(c.secondaryUpstream.timeoutMs, 1234); // same timeouts as the primary upstream
    QCOMPARE(c.sloP99Ms, 250);
    QCOMPARE(c.upstreamSloP99Ms, 1200);
    QVERIFY(c.fallbackReplica);
    QCOMPARE(c.fallbackReplica->port, 7000);
    QCOMPARE(c.rateLimit, 2.5);
    QCOMPARE(c.rateBurst, 10.0);
    QCOMPARE(c.maxHeaderBytes, std::size_t(4096));
    QCOMPARE(c.maxMessages, std::size_t(8));
    QCOMPARE(c.maxPromptChars, std::size_t(1000));
    QCOMPARE(c.idleTimeoutMs, 3000);
    QCOMPARE(c.readTimeoutMs, 700);
    QCOMPARE(c.maxConnections, std::size_t(50));
    QVERIFY(c.apiKeys);
    QCOMPARE(c.apiKeys->size(), std::size_t(2));
    QCOMPARE(QByteArray::fromStdString(c.upstreamApiKey), QByteArray("sk-upstream"));
}

void TestGatewayConfig::resilienceDefaults()
{
    Args a(required());
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QCOMPARE(c.breaker.failureThreshold, 5);
    QCOMPARE(c.breaker.successThreshold, 3);
    QCOMPARE(c.breaker.cooldownMs, std::int64_t(30000));
    QCOMPARE(c.sloP99Ms, 500);
    QCOMPARE(c.upstreamSloP99Ms, 0); // off
    QCOMPARE(c.rateLimit, 0.0);      // off
    QVERIFY(!c.apiKeys);
    QVERIFY(!c.fallbackReplica);
    QVERIFY(c.secondaryUpstreamUrl.empty());
    QVERIFY(c.upstreamApiKey.empty());
}

void TestGatewayConfig::environmentCredentials()
{
    const QStringList l{QStringLiteral("--listen"),   QStringLiteral("127.0.0.1:0"),
                        QStringLiteral("--region"),   QStringLiteral("eu"),
                        QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:1/v1"),
                        QStringLiteral("--primary"),  QStringLiteral("redis://gateway:inline@127.0.0.1:6379")};
    Args a(l);
    GatewayConfig c;
    std::string error;
    const auto env = envOf(
        {{"L0L3_REPLICA_URL", "redis://gateway@127.0.0.1:6390/2"}, {"L0L3_REDIS_PASSWORD", "s3cret"}});
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, env), GatewayConfig::Action::Run);
    QCOMPARE(c.replica.port, 6390);
    QCOMPARE(c.replica.db, 2);
    QCOMPARE(QByteArray::fromStdString(c.replica.password), QByteArray("s3cret"));
    QCOMPARE(QByteArray::fromStdString(c.primary.password), QByteArray("inline")); // the URL's own password wins
    QVERIFY(c.replica.redacted().find("s3cret") == std::string::npos);

    QTemporaryDir dir;
    const std::string file = QString(dir.path() + QStringLiteral("/pw")).toStdString();
    std::ofstream(file) << "from-file\n";
    QStringList l2 = l;
    l2 << QStringLiteral("--redis-password-file") << QString::fromStdString(file);
    Args b(l2);
    QCOMPARE(GatewayConfig::parse(int(b.argv.size()), b.argv.data(), &c, &error, env), GatewayConfig::Action::Run);
    QCOMPARE(QByteArray::fromStdString(c.replica.password), QByteArray("from-file"));
}

// rediss:// on any link builds one client context from --redis-ca-file and
// the optional client certificate; the files are checked at parse time.
void TestGatewayConfig::redisTls()
{
    QTemporaryDir dir;
    l0l3::test::TestCertificates certificates;
    QString certError;
    QVERIFY2(certificates.create(dir.path(), &certError), qPrintable(certError));
    const auto parse = [](const QStringList &args, GatewayConfig *c, std::string *error) {
        Args a(args);
        return GatewayConfig::parse(int(a.argv.size()), a.argv.data(), c, error, envOf({}));
    };
    QStringList tls = required();
    tls[tls.indexOf(QStringLiteral("--replica")) + 1] = QStringLiteral("rediss://127.0.0.1:6380");
    tls[tls.indexOf(QStringLiteral("--primary")) + 1] = QStringLiteral("rediss://10.0.0.1:6379");
    GatewayConfig c;
    std::string error;
    QCOMPARE(parse(tls, &c, &error), GatewayConfig::Action::Run);
    QVERIFY(c.replica.tls && c.primary.tls);
    QVERIFY(c.redisTls); // the system store
    c = {};
    QCOMPARE(parse(tls
                       + QStringList{QStringLiteral("--redis-ca-file"), certificates.caCert(),
                                     QStringLiteral("--redis-cert-file"), certificates.clientCert(),
                                     QStringLiteral("--redis-key-file"), certificates.clientKey(),
                                     QStringLiteral("--sentinel"), QStringLiteral("rediss://10.0.0.9:26379"),
                                     QStringLiteral("--allow-anonymous-sentinel")},
                   &c, &error),
             GatewayConfig::Action::Run);
    QVERIFY(c.redisTls);
    QCOMPARE(c.sentinels.size(), std::size_t(1));
    QVERIFY(c.sentinels[0].tls);
    QCOMPARE(QByteArray::fromStdString(c.sentinels[0].redacted()), QByteArray("rediss://10.0.0.9:26379"));

    // Plain links only: the TLS files are a mistake, not ignored.
    c = {};
    QCOMPARE(parse(required() + QStringList{QStringLiteral("--redis-ca-file"), certificates.caCert()}, &c, &error),
             GatewayConfig::Action::Error);
    QVERIFY2(error.find("rediss://") != std::string::npos, error.c_str());
    // Only TLS Sentinels: a context all the same.
    c = {};
    QCOMPARE(parse(required()
                       + QStringList{QStringLiteral("--sentinel"), QStringLiteral("rediss://10.0.0.9:26379"),
                                     QStringLiteral("--allow-anonymous-sentinel"), QStringLiteral("--redis-ca-file"),
                                     certificates.caCert()},
                   &c, &error),
             GatewayConfig::Action::Run);
    QVERIFY(c.redisTls);
    // Files that cannot be used stop the start (and --check-config).
    c = {};
    QCOMPARE(parse(tls + QStringList{QStringLiteral("--redis-ca-file"), dir.filePath(QStringLiteral("none.pem"))}, &c,
                   &error),
             GatewayConfig::Action::Error);
    QVERIFY2(error.find("none.pem") != std::string::npos, error.c_str());
    c = {};
    QCOMPARE(parse(tls + QStringList{QStringLiteral("--redis-cert-file"), certificates.clientCert()}, &c, &error),
             GatewayConfig::Action::Error);
    QVERIFY2(error.find("--redis-key-file") != std::string::npos, error.c_str());
    c = {};
    QCOMPARE(parse(tls
                       + QStringList{QStringLiteral("--redis-cert-file"), certificates.clientCert(),
                                     QStringLiteral("--redis-key-file"), certificates.goodKey()},
                   &c, &error),
             GatewayConfig::Action::Error);
    QVERIFY2(error.find("good.key") != std::string::npos, error.c_str());
}

void TestGatewayConfig::sentinels()
{
    Args none(required());
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(none.argv.size()), none.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QVERIFY(c.sentinels.empty());
    QCOMPARE(QByteArray::fromStdString(c.masterName), QByteArray("l0l3")); // the demo's and packaging's name

    QStringList l = required();
    l << QStringLiteral("--sentinel")
      << QStringLiteral("127.0.0.1:26379, [::1]:26380,redis://watcher@10.0.0.3:26381,redis://:inline@10.0.0.4:26382")
      << QStringLiteral("--master-name") << QStringLiteral("cache-eu") << QStringLiteral("--sentinel-user")
      << QStringLiteral("l0l3-sentinel") << QStringLiteral("--redis-hosts")
      << QStringLiteral("10.0.0.5:6379, [::1]:6380");
    Args a(l);
    QCOMPARE(
        GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error,
                             envOf({{"L0L3_REDIS_PASSWORD", "s3cret"}, {"L0L3_SENTINEL_AUTH_PASSWORD", "watchword"}})),
        GatewayConfig::Action::Run);
    QCOMPARE(c.sentinels.size(), std::size_t(4));
    QCOMPARE(QByteArray::fromStdString(c.sentinels[0].host), QByteArray("127.0.0.1"));
    QCOMPARE(c.sentinels[0].port, 26379);
    QCOMPARE(QByteArray::fromStdString(c.sentinels[0].user), QByteArray("l0l3-sentinel"));
    QCOMPARE(QByteArray::fromStdString(c.sentinels[0].password), QByteArray("watchword"));
    QCOMPARE(QByteArray::fromStdString(c.sentinels[1].host), QByteArray("::1"));
    QCOMPARE(c.sentinels[1].port, 26380);
    // A user of its own, and never the Redis password: that one is for the data nodes only.
    QCOMPARE(QByteArray::fromStdString(c.sentinels[2].user), QByteArray("watcher"));
    QCOMPARE(QByteArray::fromStdString(c.sentinels[2].password), QByteArray("watchword"));
    QCOMPARE(QByteArray::fromStdString(c.sentinels[3].password), QByteArray("inline"));
    QCOMPARE(QByteArray::fromStdString(c.masterName), QByteArray("cache-eu"));
    QVERIFY(!c.allowAnonymousSentinel);
    QCOMPARE(c.redisHosts.size(), std::size_t(2));
    QCOMPARE(QByteArray::fromStdString(c.redisHosts.hosts()[0].host), QByteArray("10.0.0.5"));
    QCOMPARE(c.redisHosts.hosts()[0].port, 6379);
    QCOMPARE(QByteArray::fromStdString(c.redisHosts.hosts()[1].host), QByteArray("::1"));
    QCOMPARE(c.redisHosts.hosts()[1].port, 6380);

    // A Sentinel without a password is refused at start, unless anonymous Sentinels are allowed.
    QStringList bare = required();
    bare << QStringLiteral("--sentinel") << QStringLiteral("127.0.0.1:26379");
    Args b(bare);
    QCOMPARE(GatewayConfig::parse(int(b.argv.size()), b.argv.data(), &c, &error,
                                  envOf({{"L0L3_REDIS_PASSWORD", "s3cret"}})),
             GatewayConfig::Action::Error);
    QVERIFY2(QString::fromStdString(error).contains(QStringLiteral("--allow-anonymous-sentinel")), error.c_str());
    Args allowed(bare << QStringLiteral("--allow-anonymous-sentinel"));
    QCOMPARE(GatewayConfig::parse(int(allowed.argv.size()), allowed.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QVERIFY(c.allowAnonymousSentinel);
    QVERIFY(c.sentinels[0].password.empty());
    QVERIFY(GatewayConfig::usage().find("--sentinel-password-file") != std::string::npos);
    QVERIFY(GatewayConfig::usage().find("--redis-hosts") != std::string::npos);
    QVERIFY(GatewayConfig::usage().find("--sentinel") != std::string::npos);
    QVERIFY(GatewayConfig::usage().find("--master-name") != std::string::npos);
}

void TestGatewayConfig::configFile()
{
    QTemporaryDir dir;
    const std::string file = QString(dir.path() + QStringLiteral("/gw.conf")).toStdString();
    std::ofstream(file) << "# comment\n"
                           "listen = 127.0.0.1:9000\n"
                           "region = tokyo\n"
                           "replica = redis://127.0.0.1:6381\n"
                           "primary = redis://127.0.0.1:6379\n"
                           "upstream = http://127.0.0.1:8000/v1\n"
                           "threads = 2\n"
                           "no-hot-cache = true\n"
                           "sentinel = 127.0.0.1:26379,127.0.0.1:26380\n"
                           "allow-anonymous-sentinel = true\n";
    QStringList l{QStringLiteral("--config"), QString::fromStdString(file), QStringLiteral("--threads"),
                  QStringLiteral("1")};
    Args a(l);
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QCOMPARE(c.listenPort, std::uint16_t(9000));
    QCOMPARE(QByteArray::fromStdString(c.region), QByteArray("tokyo"));
    QCOMPARE(c.threads, 1); // the flag wins over the file
    QVERIFY(!c.hotCacheEnabled);
    QCOMPARE(c.sentinels.size(), std::size_t(2));

    std::ofstream(file, std::ios::app) << "colour = blue\n";
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Error);
    QVERIFY(QString::fromStdString(error).contains(QStringLiteral("colour")));
}

void TestGatewayConfig::helpAndVersion()
{
    Args h({QStringLiteral("--help")});
    Args v({QStringLiteral("--version")});
    GatewayConfig c;
    QCOMPARE(GatewayConfig::parse(int(h.argv.size()), h.argv.data(), &c, nullptr, envOf({})),
             GatewayConfig::Action::Help);
    QCOMPARE(GatewayConfig::parse(int(v.argv.size()), v.argv.data(), &c, nullptr, envOf({})),
             GatewayConfig::Action::Version);
    QVERIFY(GatewayConfig::usage().find("--hot-cache-entries") != std::string::npos);
}

// --check-config runs every check of a real start (files included) and is a
// command-line switch only: a config file cannot turn a service into a check.
void TestGatewayConfig::checkConfig()
{
    QStringList l = required();
    l << QStringLiteral("--check-config");
    Args a(l);
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QVERIFY(c.checkConfig);

    Args plain(required());
    QCOMPARE(GatewayConfig::parse(int(plain.argv.size()), plain.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QVERIFY(!c.checkConfig);

    QStringList missingFile = l;
    missingFile << QStringLiteral("--api-keys-file") << QStringLiteral("/nonexistent/l0l3-api-keys");
    Args m(missingFile);
    QCOMPARE(GatewayConfig::parse(int(m.argv.size()), m.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Error);

    QTemporaryDir dir;
    const std::string file = QString(dir.path() + QStringLiteral("/gw.conf")).toStdString();
    std::ofstream(file) << "check-config = true\n";
    QStringList fromFile = required();
    fromFile << QStringLiteral("--config") << QString::fromStdString(file);
    Args f(fromFile);
    QCOMPARE(GatewayConfig::parse(int(f.argv.size()), f.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Error);
    QVERIFY(QString::fromStdString(error).contains(QStringLiteral("command line only")));
}

// Without API keys any client names any tenant's namespace and spends the
// upstream's key: only loopback, unless --allow-anonymous says so.
void TestGatewayConfig::anonymousListen_data()
{
    QTest::addColumn<QString>("listen");
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<bool>("accepted");
    const QStringList none;
    const QStringList allow{QStringLiteral("--allow-anonymous")};
    QTest::newRow("127.0.0.1") << QStringLiteral("127.0.0.1:0") << none << true;
    QTest::newRow("127.1.2.3") << QStringLiteral("127.1.2.3:0") << none << true;
    QTest::newRow("[::1]") << QStringLiteral("[::1]:0") << none << true;
    QTest::newRow("[::ffff:127.0.0.1]") << QStringLiteral("[::ffff:127.0.0.1]:0") << none << true;
    QTest::newRow("localhost") << QStringLiteral("localhost:0") << none << true;
    QTest::newRow("0.0.0.0") << QStringLiteral("0.0.0.0:8080") << none << false;
    QTest::newRow("[::]") << QStringLiteral("[::]:8080") << none << false;
    QTest::newRow("10.0.0.5") << QStringLiteral("10.0.0.5:8080") << none << false;
    QTest::newRow("a host name") << QStringLiteral("gateway.internal:8080") << none << false;
    QTest::newRow("0.0.0.0 --allow-anonymous") << QStringLiteral("0.0.0.0:8080") << allow << true;
    QTest::newRow("[::] --allow-anonymous") << QStringLiteral("[::]:8080") << allow << true;
    QTest::newRow("0.0.0.0 --allow-anonymous=false")
        << QStringLiteral("0.0.0.0:8080") << QStringList{QStringLiteral("--allow-anonymous=false")} << false;
}

void TestGatewayConfig::anonymousListen()
{
    QFETCH(QString, listen);
    QFETCH(QStringList, extra);
    QFETCH(bool, accepted);
    QStringList l = required();
    l[1] = listen;
    Args a(l + extra);
    GatewayConfig c;
    std::string error;
    const auto action = GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({}));
    if (accepted) {
        QVERIFY2(action == GatewayConfig::Action::Run, error.c_str());
        return;
    }
    QCOMPARE(action, GatewayConfig::Action::Error);
    QVERIFY2(error.find("--api-keys-file") != std::string::npos, error.c_str());
    QVERIFY2(error.find("--allow-anonymous") != std::string::npos, error.c_str());
    QVERIFY(error.find('\n') == std::string::npos);

    // With keys, the namespace comes from the key: any address is fine.
    QTemporaryDir dir;
    const std::string keys = QString(dir.path() + QStringLiteral("/keys")).toStdString();
    std::ofstream(keys) << std::string(64, 'a') << " tenant-a\n";
    Args withKeys(l + extra + QStringList{QStringLiteral("--api-keys-file"), QString::fromStdString(keys)});
    QCOMPARE(GatewayConfig::parse(int(withKeys.argv.size()), withKeys.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
}

// argv is world-readable (ps, /proc/PID/cmdline): a password there is
// accepted but drawn attention to; the same URL from the environment or a
// config file is not.
void TestGatewayConfig::passwordOnCommandLineWarns()
{
    GatewayConfig c;
    std::string error;
    Args clean(required());
    QCOMPARE(GatewayConfig::parse(int(clean.argv.size()), clean.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QVERIFY(c.warnings.empty());

    const QStringList flags[] = {
        {QStringLiteral("--replica"), QStringLiteral("redis://gateway:hunter2@127.0.0.1:6380")},
        {QStringLiteral("--primary"), QStringLiteral("redis://:hunter2@127.0.0.1:6379")},
        {QStringLiteral("--fallback-replica"), QStringLiteral("redis://gateway:hunter2@127.0.0.1:6381")},
        {QStringLiteral("--sentinel"), QStringLiteral("127.0.0.1:26379,redis://w:hunter2@127.0.0.1:26380"),
         QStringLiteral("--allow-anonymous-sentinel")},
    };
    for (const QStringList &flag : flags) {
        Args a(required() + flag);
        QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
                 GatewayConfig::Action::Run);
        QCOMPARE(c.warnings.size(), std::size_t(1));
        const QString warning = QString::fromStdString(c.warnings.front());
        QVERIFY2(warning.contains(flag.front()), qPrintable(warning));
        QVERIFY2(warning.contains(QStringLiteral("--redis-password-file")), qPrintable(warning));
        QVERIFY2(!warning.contains(QStringLiteral("hunter2")), qPrintable(warning));
    }

    // The environment and a config file are not visible to other users.
    const QStringList noReplica{QStringLiteral("--listen"),   QStringLiteral("127.0.0.1:0"),
                                QStringLiteral("--region"),   QStringLiteral("eu"),
                                QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:1/v1"),
                                QStringLiteral("--primary"),  QStringLiteral("redis://127.0.0.1:6379")};
    Args fromEnv(noReplica);
    QCOMPARE(GatewayConfig::parse(int(fromEnv.argv.size()), fromEnv.argv.data(), &c, &error,
                                  envOf({{"L0L3_REPLICA_URL", "redis://gateway:hunter2@127.0.0.1:6390"}})),
             GatewayConfig::Action::Run);
    QVERIFY(c.warnings.empty());
    QTemporaryDir dir;
    const std::string file = QString(dir.path() + QStringLiteral("/gw.conf")).toStdString();
    std::ofstream(file) << "replica = redis://gateway:hunter2@127.0.0.1:6390\n";
    Args fromFile(noReplica + QStringList{QStringLiteral("--config"), QString::fromStdString(file)});
    QCOMPARE(GatewayConfig::parse(int(fromFile.argv.size()), fromFile.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Run);
    QVERIFY(c.warnings.empty());
}

// The usage is generated from the option table: every option is in it, once,
// and every option it lists is accepted.
void TestGatewayConfig::usageListsEveryOption()
{
    const std::string usage = GatewayConfig::usage();
    const std::string options = usage.substr(usage.find("\n\n")); // after the synopsis
    const std::vector<std::string> names = GatewayConfig::optionNames();
    QVERIFY(names.size() >= 50);
    for (const std::string &name : names) {
        // At a line's start (continuation lines are indented further), followed by its argument or help.
        int lines = 0;
        for (const char *after : {" ", "\n"}) {
            const std::string flag = "\n  --" + name + after;
            for (auto at = options.find(flag); at != std::string::npos; at = options.find(flag, at + 1))
                ++lines;
        }
        QVERIFY2(lines == 1, name.c_str());

        // Known: whatever the value, never "unknown option".
        Args a(required() << QStringLiteral("--%1=x").arg(QString::fromStdString(name)));
        GatewayConfig c;
        std::string error;
        GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({}));
        QVERIFY2(error.find("unknown option") == std::string::npos, error.c_str());
    }
    for (const char *required : {"--listen", "--region", "--replica", "--primary", "--upstream"})
        QVERIFY2(usage.substr(0, usage.find("\n\n")).find(required) != std::string::npos, required);
    QVERIFY(usage.find("(env L0L3_REPLICA_URL)") != std::string::npos);
    for (std::size_t start = 0; start < usage.size();) {
        const auto end = usage.find('\n', start);
        QVERIFY2(end - start <= 110, usage.substr(start, end - start).c_str());
        start = end + 1;
    }
}

void TestGatewayConfig::unknownOptions_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("config");
    QTest::addColumn<QString>("expected");
    QTest::newRow("flag") << QStringList{QStringLiteral("--colour"), QStringLiteral("blue")} << QString()
                          << QStringLiteral("unknown option --colour (see --help)");
    QTest::newRow("flag with value") << QStringList{QStringLiteral("--colour=blue")} << QString()
                                     << QStringLiteral("unknown option --colour (see --help)");
    QTest::newRow("near miss") << QStringList{QStringLiteral("--thread=2")} << QString()
                               << QStringLiteral("unknown option --thread (see --help)");
    QTest::newRow("single dash") << QStringList{QStringLiteral("-threads")} << QString()
                                 << QStringLiteral("unexpected argument '-threads' (see --help)");
    QTest::newRow("config key") << QStringList() << QStringLiteral("colour = blue")
                                << QStringLiteral(":1: unknown option 'colour'");
    QTest::newRow("config includes config") << QStringList() << QStringLiteral("config = other.conf")
                                            << QStringLiteral(":1: unknown option 'config' (command line only)");
    QTest::newRow("help in config") << QStringList() << QStringLiteral("help")
                                    << QStringLiteral(":1: unknown option 'help'");
    QTest::newRow("heading is no option")
        << QStringList() << QStringLiteral("= 1") << QStringLiteral(":1: unknown option ''");
}

void TestGatewayConfig::unknownOptions()
{
    QFETCH(QStringList, args);
    QFETCH(QString, config);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    QStringList l = required() + args;
    if (!config.isEmpty()) {
        const QString file = dir.filePath(QStringLiteral("gw.conf"));
        std::ofstream(file.toStdString()) << config.toStdString() << "\n";
        l << QStringLiteral("--config") << file;
    }
    Args a(l);
    GatewayConfig c;
    std::string error;
    QCOMPARE(GatewayConfig::parse(int(a.argv.size()), a.argv.data(), &c, &error, envOf({})),
             GatewayConfig::Action::Error);
    QVERIFY2(QString::fromStdString(error).contains(expected), error.c_str());
    QVERIFY(error.find('\n') == std::string::npos);
}

QTEST_GUILESS_MAIN(TestGatewayConfig)
#include "tst_gatewayconfig.moc"
