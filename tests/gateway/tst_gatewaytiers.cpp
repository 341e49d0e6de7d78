#include <QTest>

#include <thread>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/redisschema.h"
#include "core/gateway/gateway.h"
#include "core/gateway/gatewayconfig.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/poll.h"
#include "tests/support/redisserver.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

QByteArray chatBody(const QByteArray &prompt)
{
    return R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":")" + prompt + R"("}]})";
}

QString why(const HttpResult &r)
{
    return QStringLiteral("status %1 %2 cache=%3 tier=%4\n%5")
        .arg(r.status)
        .arg(r.error, QString::fromUtf8(r.header("x-l0l3-cache")), QString::fromUtf8(r.header("x-l0l3-tier")),
             QString::fromUtf8(r.body.left(500)));
}

} // namespace

// One gateway in process, a real redis-server (replica and primary at once)
// and the stub LLM: a request goes L0.5, then L0, then L3; a missed key is
// proposed once however often it misses; an upstream failure is never proposed.
class TestGatewayTiers : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void tiersInOrderAndOneProposal();
    void failedUpstreamIsNotProposed();

private:
    HttpResult chat(const QByteArray &prompt);
    // Misses of key counted by the proposal function in this region (seen:KEY).
    qint64 seen(const QByteArray &key);
    qint64 inboxLength();
    bool setFailRate(const char *rate);

    RedisServer m_redis;
    ManagedProcess m_stub;
    int m_stubPort = -1;
    std::unique_ptr<Gateway> m_gateway;
    std::thread m_runner;
    RedisClient m_console;
    HttpClient m_http;
};

void TestGatewayTiers::initTestCase()
{
    QString error;
    QVERIFY2(m_redis.start({}, &error), qPrintable(error));
    m_console = m_redis.client(QStringLiteral("console"));
    QVERIFY(m_console.isConnected());
    QVERIFY2(m_stub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                          {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")},
                          QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    m_stubPort = m_stub.listenPort();
    QVERIFY(m_stubPort > 0);

    const std::string redisUrl = m_redis.url(QStringLiteral("gateway")).toStdString();
    const std::string upstream = "http://127.0.0.1:" + std::to_string(m_stubPort) + "/v1";
    const char *argv[] = {
        "l0l3-gateway", "--listen",       "127.0.0.1:0", "--region",       "nyc",       "--replica", redisUrl.c_str(),
        "--primary",    redisUrl.c_str(), "--upstream",  upstream.c_str(), "--threads", "1"};
    GatewayConfig config;
    std::string why;
    QCOMPARE(GatewayConfig::parse(static_cast<int>(std::size(argv)), argv, &config, &why,
                                  [](const char *) { return nullptr; }),
             GatewayConfig::Action::Run);
    m_gateway = std::make_unique<Gateway>(config);
    QVERIFY2(m_gateway->start(&why), why.c_str());
    m_runner = std::thread([this] { m_gateway->run(); });
    // Ready once it reads the replica: a miss answered by the stub says L0 was asked.
    QVERIFY(Poll::until(
        [&] {
            return m_gateway->metrics().redisUp(GatewayMetrics::RedisRole::Replica)
                && m_gateway->metrics().redisUp(GatewayMetrics::RedisRole::Primary);
        },
        5000));
}

void TestGatewayTiers::cleanupTestCase()
{
    if (m_gateway) {
        m_gateway->requestStop();
        if (m_runner.joinable())
            m_runner.join();
        m_gateway.reset();
    }
    QVERIFY(m_stub.stop());
    QVERIFY(m_redis.stop());
}

HttpResult TestGatewayTiers::chat(const QByteArray &prompt)
{
    return m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(m_gateway->port())),
                       chatBody(prompt), {}, 10000);
}

qint64 TestGatewayTiers::seen(const QByteArray &key)
{
    return m_console.command({"HGET", bytes(RedisSchema::seenKey(key.toStdString())), "nyc"}).str.toLongLong();
}

qint64 TestGatewayTiers::inboxLength()
{
    return m_console.command({"LLEN", bytes(RedisSchema::kProposalInbox)}).integer;
}

bool TestGatewayTiers::setFailRate(const char *rate)
{
    return m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/admin/fail-rate").arg(m_stubPort)), rate).status == 200;
}

void TestGatewayTiers::tiersInOrderAndOneProposal()
{
    const QByteArray prompt = "What is the refund policy, tiers?";
    const qint64 inboxBefore = inboxLength();

    // Nothing approved: L3, three times; the key is proposed on its first miss only.
    QByteArray key;
    for (int i = 1; i <= 3; ++i) {
        const HttpResult miss = chat(prompt);
        QVERIFY2(miss.status == 200, qPrintable(why(miss)));
        QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
        QCOMPARE(miss.header("x-l0l3-tier"), QByteArray("L3"));
        key = miss.header("x-l0l3-key");
        QVERIFY(Poll::until([&] { return seen(key) == i; }, 5000)); // this miss reached the proposal function
    }
    QCOMPARE(inboxLength(), inboxBefore + 1);

    // Approved: L0, then L0.5.
    Entry e;
    e.key = key.toStdString();
    e.ns = "default";
    e.prompt = prompt.toStdString();
    e.model = "gpt-4o-mini";
    e.response = "Refunds within 30 days.";
    e.approvedBy = "tst_gatewaytiers";
    QVERIFY(m_console.command({"SET", bytes(RedisSchema::entryKey(e.key)), bytes(EntryCodec::encode(e))}).isStatus());
    const HttpResult l0 = chat(prompt);
    QVERIFY2(l0.status == 200, qPrintable(why(l0)));
    QCOMPARE(l0.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(l0.header("x-l0l3-tier"), QByteArray("L0"));
    QVERIFY(l0.body.contains("Refunds within 30 days."));
    const HttpResult hot = chat(prompt);
    QCOMPARE(hot.header("x-l0l3-tier"), QByteArray("L0.5"));
    QCOMPARE(seen(key), qint64(3)); // hits are not misses
    QCOMPARE(inboxLength(), inboxBefore + 1);
}

void TestGatewayTiers::failedUpstreamIsNotProposed()
{
    QVERIFY(setFailRate("1"));
    const QByteArray failing = "Which answer fails upstream?";
    const HttpResult failed = chat(failing);
    QVERIFY2(failed.status == 500, qPrintable(why(failed))); // the stub's failure, passed through
    const QByteArray failedKey = failed.header("x-l0l3-key");
    QVERIFY(CacheKey::isValid(failedKey.toStdString()));

    // A miss after it that is proposed: proposals go out in order on the primary connection,
    // so once this one has landed, one for the failure would have too.
    QVERIFY(setFailRate("0"));
    const HttpResult barrier = chat("A question after the failure");
    QVERIFY2(barrier.status == 200, qPrintable(why(barrier)));
    const QByteArray barrierKey = barrier.header("x-l0l3-key");
    QVERIFY(Poll::until([&] { return seen(barrierKey) == 1; }, 5000));
    QCOMPARE(seen(failedKey), qint64(0));
}

QTEST_GUILESS_MAIN(TestGatewayTiers)
#include "tst_gatewaytiers.moc"
