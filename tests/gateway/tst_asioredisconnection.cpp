#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <hiredis/hiredis.h>

#include "core/common/redisschema.h"
#include "core/common/redisurl.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/tlscontext.h"
#include "tests/support/asioloop.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcertificates.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;
using Clock = std::chrono::steady_clock;

namespace {

// What one command's callback was given.
struct Answer
{
    bool called = false;
    bool hasReply = false;
    int type = 0;
    std::string text;  // string, status or error reply
    std::string error; // local error when there is no reply
    Clock::time_point at;
};

AsioRedisConnection::ReplyCallback into(Answer &answer)
{
    return [&answer](const redisReply *reply, std::string_view error) {
        answer.called = true;
        answer.at = Clock::now();
        answer.hasReply = reply != nullptr;
        if (reply) {
            answer.type = reply->type;
            if (reply->str)
                answer.text.assign(reply->str, reply->len);
        } else {
            answer.error = std::string(error);
        }
    };
}

RedisUrl gatewayUrl(const RedisServer &server)
{
    auto url = RedisUrl::parse(server.url(QStringLiteral("gateway")).toStdString());
    return url ? *url : RedisUrl{};
}

AsioRedisConnection::Options options(const RedisUrl &url, int commandTimeoutMs = 500)
{
    AsioRedisConnection::Options o;
    o.url = url;
    o.role = "test";
    o.commandTimeoutMs = commandTimeoutMs;
    o.connectTimeoutMs = 2000;
    o.maxBackoffMs = 100;
    return o;
}

long long connectionsReceived(RedisClient &admin)
{
    const QByteArray info = admin.command({"INFO", "stats"}).str;
    const qsizetype at = info.indexOf("total_connections_received:");
    if (at < 0)
        return -1;
    const qsizetype end = info.indexOf('\r', at);
    return info.mid(at + 27, end - at - 27).toLongLong();
}

} // namespace

// The gateway's Redis connection against a real redis-server with ACL users:
// AUTH, reconnecting after a restart, per-command deadlines and the sweep that
// drops a wedged link, and stop() as the end of every callback.
class TestAsioRedisConnection : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void connectsAuthenticatesAndAnswers();
    void wrongPasswordIsNeverReady();
    void reconnectsAfterRestart();
    void commandTimesOutAndWedgedLinkIsDropped();
    void stopEndsEveryCallback();
    void destructionEndsEveryCallback();
    void oversizedReplyDropsTheLink();
    void protocolErrorDropsTheLink();
    void tlsLinkAnswers();
    void tlsWithAnotherCaIsRefused();
    void tlsClientCertificate();

private:
    std::shared_ptr<boost::asio::ssl::context> tlsContext(const QString &caFile, const QString &certFile = {},
                                                          const QString &keyFile = {});
    bool startTlsServer(RedisServer &server, bool authClients);

    RedisServer m_redis;
    QTemporaryDir m_certDir;
    TestCertificates m_certificates;
};

void TestAsioRedisConnection::initTestCase()
{
    QString error;
    QVERIFY2(m_certificates.create(m_certDir.path(), &error), qPrintable(error));
    QVERIFY2(m_redis.start({}, &error), qPrintable(error));
    RedisClient console = m_redis.client(QStringLiteral("console"));
    QVERIFY(console.isConnected());
    QVERIFY(console.command({"SET", QByteArray(RedisSchema::kHeartbeat.data()), "1234"}).isStatus());
}

void TestAsioRedisConnection::cleanupTestCase()
{
    QVERIFY(m_redis.stop());
}

void TestAsioRedisConnection::connectsAuthenticatesAndAnswers()
{
    AsioLoop loop;
    AsioRedisConnection conn(loop.context, options(gatewayUrl(m_redis)));
    std::vector<bool> states;
    conn.setStateCallback([&](bool up) { states.push_back(up); });
    QVERIFY(!conn.isReady());
    conn.start();
    QVERIFY(loop.runUntil([&] { return conn.isReady(); }, 5000));
    QCOMPARE(states, std::vector<bool>{true});

    Answer get;
    conn.command({"GET", RedisSchema::kHeartbeat}, into(get));
    QVERIFY(loop.runUntil([&] { return get.called; }, 2000));
    QVERIFY(get.hasReply);
    QCOMPARE(get.type, REDIS_REPLY_STRING);
    QCOMPARE(get.text, std::string("1234"));

    // Authenticated as "gateway": what its ACL denies is a Redis error reply, not a local failure.
    Answer set;
    conn.command({"SET", RedisSchema::kFrozen, "1"}, into(set));
    QVERIFY(loop.runUntil([&] { return set.called; }, 2000));
    QVERIFY(set.hasReply);
    QCOMPARE(set.type, REDIS_REPLY_ERROR);
    QVERIFY2(set.text.find("NOPERM") != std::string::npos, set.text.c_str());
    conn.stop();
}

void TestAsioRedisConnection::wrongPasswordIsNeverReady()
{
    AsioLoop loop;
    RedisUrl url = gatewayUrl(m_redis);
    url.password = "not-the-password";
    AsioRedisConnection conn(loop.context, options(url));
    bool stateReported = false;
    conn.setStateCallback([&](bool) { stateReported = true; });
    RedisClient admin = m_redis.client(m_redis.adminUser());
    const long long before = connectionsReceived(admin);
    QVERIFY(before >= 0);
    conn.start();
    // It keeps retrying (with backoff) and is never usable.
    QVERIFY(loop.runUntil([&] { return conn.isReady() || connectionsReceived(admin) >= before + 3; }, 10000));
    QVERIFY(!conn.isReady());
    QVERIFY(!stateReported);
    conn.stop();
}

void TestAsioRedisConnection::reconnectsAfterRestart()
{
    AsioLoop loop;
    AsioRedisConnection conn(loop.context, options(gatewayUrl(m_redis)));
    std::vector<bool> states;
    conn.setStateCallback([&](bool up) { states.push_back(up); });
    conn.start();
    QVERIFY(loop.runUntil([&] { return conn.isReady(); }, 5000));

    QString error;
    QVERIFY2(m_redis.restart(&error), qPrintable(error));
    QVERIFY(loop.runUntil([&] { return states.size() >= 3; }, 10000));
    QCOMPARE(states, (std::vector<bool>{true, false, true}));
    QVERIFY(conn.isReady());
    Answer ping;
    conn.command({"PING"}, into(ping));
    QVERIFY(loop.runUntil([&] { return ping.called; }, 2000));
    QVERIFY(ping.hasReply);
    QCOMPARE(ping.text, std::string("PONG"));
    conn.stop();
}

void TestAsioRedisConnection::commandTimesOutAndWedgedLinkIsDropped()
{
    constexpr int kTimeoutMs = 200;
    AsioLoop loop;
    AsioRedisConnection conn(loop.context, options(gatewayUrl(m_redis), kTimeoutMs));
    std::vector<bool> states;
    conn.setStateCallback([&](bool up) { states.push_back(up); });
    conn.start();
    QVERIFY(loop.runUntil([&] { return conn.isReady(); }, 5000));

    m_redis.pause(); // accepts nothing, answers nothing, closes nothing
    struct Resume
    {
        RedisServer &server;
        ~Resume() { server.resume(); }
    } resume{m_redis};
    Answer late;
    const auto sent = Clock::now();
    conn.command({"GET", RedisSchema::kHeartbeat}, into(late));
    QVERIFY(loop.runUntil([&] { return late.called; }, 3000));
    QVERIFY(!late.hasReply);
    QCOMPARE(late.error, std::string("timeout"));
    QVERIFY(late.at - sent >= std::chrono::milliseconds(kTimeoutMs)); // not before its deadline

    // The oldest command far past its deadline: the link is dropped, then reconnected once the server answers.
    QVERIFY(loop.runUntil([&] { return states.size() >= 2; }, 5000));
    QCOMPARE(states, (std::vector<bool>{true, false}));
    QVERIFY(!conn.isReady());
    Answer whileDown;
    conn.command({"PING"}, into(whileDown));
    QVERIFY(loop.runUntil([&] { return whileDown.called; }, 2000));
    QVERIFY(!whileDown.hasReply);

    m_redis.resume();
    QVERIFY(loop.runUntil([&] { return conn.isReady(); }, 10000));
    QCOMPARE(states.back(), true);
    QVERIFY(!late.hasReply); // answered once only: the reply that finally came is not delivered
    conn.stop();
}

// After stop() no callback runs: not of commands in flight, not of failures already posted,
// not of the state callback. A command issued while stopped still fails ("not connected").
void TestAsioRedisConnection::stopEndsEveryCallback()
{
    constexpr int kTimeoutMs = 100;
    AsioLoop loop;
    AsioRedisConnection conn(loop.context, options(gatewayUrl(m_redis), kTimeoutMs));
    int calls = 0;
    auto count = [&](const redisReply *, std::string_view) { ++calls; };
    int stateCalls = 0;
    conn.setStateCallback([&](bool) { ++stateCalls; });

    // Posted before start: "not connected", dropped by stop().
    conn.command({"PING"}, count);
    conn.start();
    QVERIFY(loop.runUntil([&] { return conn.isReady(); }, 5000));
    QCOMPARE(stateCalls, 1);
    calls = 0;

    m_redis.pause();
    struct Resume
    {
        RedisServer &server;
        ~Resume() { server.resume(); }
    } resume{m_redis};
    conn.command({"GET", RedisSchema::kHeartbeat}, count); // in flight, never answered
    conn.command({"PING"}, count);
    conn.stop();
    QVERIFY(!conn.isReady());
    // Past every deadline and sweep the connection had.
    loop.runFor(TimeScale::ms(6 * kTimeoutMs));
    QCOMPARE(calls, 0);
    QCOMPARE(stateCalls, 1);

    Answer stopped;
    conn.command({"PING"}, into(stopped));
    QVERIFY(loop.runUntil([&] { return stopped.called; }, 2000));
    QCOMPARE(stopped.error, std::string("not connected"));

    // A failure posted while stopped is dropped by the next stop() as well.
    conn.command({"PING"}, count);
    conn.stop();
    loop.runFor(50);
    QCOMPARE(calls, 0);
}

// Destroying the connection is a stop(): a failure already posted must not call into its owner.
void TestAsioRedisConnection::destructionEndsEveryCallback()
{
    AsioLoop loop;
    int calls = 0;
    {
        AsioRedisConnection conn(loop.context, options(gatewayUrl(m_redis)));
        conn.command({"PING"}, [&](const redisReply *, std::string_view) { ++calls; });
    }
    loop.runFor(50);
    QCOMPARE(calls, 0);
}

// A reply past Options::maxReplyBytes: the link is dropped (the command fails
// "connection lost", the state goes down) and reconnected.
void TestAsioRedisConnection::oversizedReplyDropsTheLink()
{
    RedisClient console = m_redis.client(QStringLiteral("console"));
    const QByteArray key = "l0l3:v1:entry:oversized";
    QVERIFY(console.set(key, QByteArray(256 * 1024, 'x')));
    AsioLoop loop;
    AsioRedisConnection::Options o = options(gatewayUrl(m_redis));
    o.maxReplyBytes = 64 * 1024;
    AsioRedisConnection conn(loop.context, o);
    std::vector<bool> states;
    conn.setStateCallback([&](bool up) { states.push_back(up); });
    conn.start();
    QVERIFY(loop.runUntil([&] { return conn.isReady(); }, 5000));

    Answer small;
    conn.command({"GET", RedisSchema::kHeartbeat}, into(small));
    Answer big;
    conn.command({"GET", key.toStdString()}, into(big));
    QVERIFY(loop.runUntil([&] { return big.called; }, 5000));
    QVERIFY(small.hasReply); // answered in order before it
    QVERIFY(!big.hasReply);
    QCOMPARE(big.error, std::string("connection lost"));
    QCOMPARE(conn.lastError(), std::string("reply too large"));
    QVERIFY(loop.runUntil([&] { return states.size() >= 3; }, 10000));
    QCOMPARE(states, (std::vector<bool>{true, false, true}));
    console.command({"DEL", key});
    conn.stop();
}

// A server that answers with bytes that are not RESP: the link is dropped, not trusted.
void TestAsioRedisConnection::protocolErrorDropsTheLink()
{
    namespace net = boost::asio;
    using tcp = net::ip::tcp;
    AsioLoop loop;
    tcp::acceptor acceptor(loop.context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    std::vector<std::shared_ptr<tcp::socket>> accepted;
    std::function<void()> acceptNext = [&] {
        auto socket = std::make_shared<tcp::socket>(loop.context);
        acceptor.async_accept(*socket, [&, socket](boost::system::error_code ec) {
            if (ec)
                return;
            accepted.push_back(socket);
            static const std::string garbage = "!not RESP\r\n";
            net::async_write(*socket, net::buffer(garbage), [](boost::system::error_code, std::size_t) {});
            acceptNext();
        });
    };
    acceptNext();

    RedisUrl url;
    url.host = "127.0.0.1";
    url.port = acceptor.local_endpoint().port();
    AsioRedisConnection conn(loop.context, options(url));
    conn.start();
    // It reconnects after each drop, and is never ready.
    QVERIFY(loop.runUntil([&] { return accepted.size() >= 2; }, 10000));
    QVERIFY(!conn.isReady());
    QCOMPARE(conn.lastError(), std::string("protocol error"));
    conn.stop();
}

std::shared_ptr<boost::asio::ssl::context> TestAsioRedisConnection::tlsContext(const QString &caFile,
                                                                               const QString &certFile,
                                                                               const QString &keyFile)
{
    std::string why;
    auto context = TlsContext::client(caFile.toStdString(), certFile.toStdString(), keyFile.toStdString(), &why);
    if (!context)
        qWarning("TLS context: %s", why.c_str());
    return context;
}

bool TestAsioRedisConnection::startTlsServer(RedisServer &server, bool authClients)
{
    RedisServer::Options o;
    o.useTls(m_certificates, authClients);
    o.loadFunctions = false;
    QString error;
    if (!server.start(o, &error)) {
        qWarning("%s", qPrintable(error));
        return false;
    }
    return true;
}

void TestAsioRedisConnection::tlsLinkAnswers()
{
    RedisServer server;
    QVERIFY(startTlsServer(server, false));
    const RedisUrl url = gatewayUrl(server);
    QVERIFY(url.tls);
    AsioLoop loop;
    AsioRedisConnection::Options o = options(url);
    o.tls = tlsContext(m_certificates.caCert());
    QVERIFY(o.tls);
    AsioRedisConnection conn(loop.context, o);
    conn.start();
    QVERIFY2(loop.runUntil([&] { return conn.isReady(); }, 10000), conn.lastError().c_str());
    // Many commands at once, answered in order, one of them larger than a TLS record.
    RedisClient console = server.client(QStringLiteral("console"));
    QVERIFY(console.set("l0l3:v1:entry:tls-big", QByteArray(100 * 1024, 'y')));
    std::vector<Answer> answers(50);
    for (std::size_t i = 0; i < answers.size(); ++i) {
        if (i == 25)
            conn.command({"GET", "l0l3:v1:entry:tls-big"}, into(answers[i]));
        else
            conn.command({"PING"}, into(answers[i]));
    }
    QVERIFY(loop.runUntil([&] { return answers.back().called; }, 5000));
    for (std::size_t i = 0; i < answers.size(); ++i) {
        QVERIFY(answers[i].hasReply);
        QCOMPARE(answers[i].text.size(), i == 25 ? std::size_t(100 * 1024) : std::size_t(4));
    }
    conn.stop();
}

void TestAsioRedisConnection::tlsWithAnotherCaIsRefused()
{
    RedisServer server;
    QVERIFY(startTlsServer(server, false));
    AsioLoop loop;
    AsioRedisConnection::Options o = options(gatewayUrl(server));
    o.tls = tlsContext(m_certificates.otherCaCert());
    AsioRedisConnection conn(loop.context, o);
    conn.start();
    QVERIFY(loop.runUntil([&] { return !conn.lastError().empty(); }, 10000));
    QVERIFY(!conn.isReady());
    const std::string expected = "TLS certificate verification failed for 127.0.0.1:" + std::to_string(server.port())
        + ": ";
    QVERIFY2(conn.lastError().rfind(expected, 0) == 0, conn.lastError().c_str());
    conn.stop();
}

// tls-auth-clients: refused without a client certificate, answered with one.
void TestAsioRedisConnection::tlsClientCertificate()
{
    RedisServer server;
    QVERIFY(startTlsServer(server, true));
    AsioLoop loop;
    AsioRedisConnection::Options o = options(gatewayUrl(server));
    o.tls = tlsContext(m_certificates.caCert());
    {
        AsioRedisConnection anonymous(loop.context, o);
        anonymous.start();
        QVERIFY(loop.runUntil([&] { return !anonymous.lastError().empty(); }, 10000));
        QVERIFY(!anonymous.isReady());
        anonymous.stop();
    }
    o.tls = tlsContext(m_certificates.caCert(), m_certificates.clientCert(), m_certificates.clientKey());
    QVERIFY(o.tls);
    AsioRedisConnection conn(loop.context, o);
    conn.start();
    QVERIFY2(loop.runUntil([&] { return conn.isReady(); }, 10000), conn.lastError().c_str());
    conn.stop();
}

QTEST_GUILESS_MAIN(TestAsioRedisConnection)
#include "tst_asioredisconnection.moc"
