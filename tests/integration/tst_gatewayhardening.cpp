#include <QDateTime>
#include <QFile>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTest>
#include <QUrl>

#include <memory>

#include "core/common/entry.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/tcpproxy.h"
#include "tests/support/testcredentials.h"
#include "tests/support/uniqueprompts.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kReplicationTimeoutMs = 5000;

// Resident memory of a process in KiB, -1 when unknown.
qint64 residentKiB(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

QUrl chatUrl(int port)
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port));
}

} // namespace

// Hardening of the gateway against its own clients and against timing, each
// against the real l0l3-gateway process: a late L0 reply after a revocation,
// anonymous service beyond loopback, rate limits dodged with fresh tokens,
// passwords on the command line.
class TestGatewayHardening : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void lateL0ReplyDoesNotRestoreRevokedAnswer();
    void anonymousNonLoopbackListenIsRefused();
    void freshTokensAreStillLimitedByAddress();
    void passwordOnCommandLineWarns();
    void outsizedAnswerBuffersAreGivenBack();

private:
    HttpResult chat(int port, const QString &prompt, const HttpHeaders &headers = {});
    bool approve(const QByteArray &key, const QString &prompt, const QString &response);
    bool replicaHas(const QByteArray &key, bool present);

    GatewayStack m_stack;
    HttpClient m_http;
    RedisClient &m_primary = m_stack.primaryClient();
    RedisClient &m_replica = m_stack.replicaClient();
    std::unique_ptr<ManagedProcess> m_gateway; // the test's own gateway, if any
    UniquePrompts m_prompts{QStringLiteral("Hardening question")};
};

void TestGatewayHardening::initTestCase()
{
    QString error;
    GatewayStack::Options options;
    options.startGateway = false; // each test starts the gateway it needs
    options.stubArgs = QStringList{QStringLiteral("--latency-ms"), QStringLiteral("1")};
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
}

void TestGatewayHardening::cleanupTestCase()
{
    m_stack.stop();
}

void TestGatewayHardening::cleanup()
{
    m_stack.printLogsIfFailed({m_gateway.get()});
    m_gateway.reset();
}

HttpResult TestGatewayHardening::chat(int port, const QString &prompt, const HttpHeaders &headers)
{
    return m_http.post(chatUrl(port), ChatWire::chatBody(prompt), headers, 15000);
}

bool TestGatewayHardening::approve(const QByteArray &key, const QString &prompt, const QString &response)
{
    Entry entry;
    entry.key = key.toStdString();
    entry.ns = "default"; // the gateway's namespace for a request that names none
    entry.response = response.toStdString();
    entry.prompt = prompt.toStdString();
    entry.model = ChatWire::kModel;
    entry.version = 1;
    entry.approvedBy = "testkit";
    entry.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
    return m_primary.set(bytes(RedisSchema::entryKey(entry.key)), bytes(EntryCodec::encode(entry)));
}

bool TestGatewayHardening::replicaHas(const QByteArray &key, bool present)
{
    return m_replica.get(bytes(RedisSchema::entryKey(key.toStdString()))).isNull() != present;
}

// The race: an L0 GET is on its way back from the replica when the entry is
// revoked (DEL + invalidation message). The invalidation finds nothing in
// L0.5; then the late reply arrives. It may answer its own request (it was
// asked before the revocation), but must not put the revoked answer into
// L0.5, where it would be served until the TTL (600 s here). A TCP proxy
// between the gateway and its replica holds the GET's reply back; the
// invalidation reaches the gateway on its own subscriber connections.
void TestGatewayHardening::lateL0ReplyDoesNotRestoreRevokedAnswer()
{
    TcpProxy proxy;
    QString error;
    QVERIFY2(proxy.start(m_stack.replica().host(), static_cast<quint16>(m_stack.replica().port()), &error),
             qPrintable(error));
    QUrl replicaUrl(m_stack.replica().url(QStringLiteral("gateway")));
    replicaUrl.setPort(proxy.port());
    m_gateway = m_stack.launchGateway({QStringLiteral("--replica"), replicaUrl.toString(), QStringLiteral("--threads"),
                                       QStringLiteral("1"), QStringLiteral("--hot-cache-ttl-seconds"),
                                       QStringLiteral("600"), QStringLiteral("--redis-timeout-ms"),
                                       QStringLiteral("20000")},
                                      &error);
    QVERIFY2(m_gateway, qPrintable(error));
    const int port = m_gateway->listenPort();

    const QString prompt = m_prompts.next();
    const HttpResult miss = chat(port, prompt);
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    const QByteArray key = miss.header("x-l0l3-key");
    QVERIFY(!key.isEmpty());
    const QString revoked = QStringLiteral("An answer about to be revoked.");
    QVERIFY(approve(key, prompt, revoked));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHas(key, true), kReplicationTimeoutMs);

    // The next lookup's GET goes out; its reply is held.
    proxy.holdRepliesAfter(key);
    QNetworkAccessManager manager;
    QNetworkRequest request(chatUrl(port));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    request.setTransferTimeout(30000);
    std::unique_ptr<QNetworkReply> inFlight(manager.post(request, ChatWire::chatBody(prompt)));
    QTRY_VERIFY_WITH_TIMEOUT(proxy.heldBytes() > 0, 10000);
    QVERIFY(!inFlight->isFinished());

    // Revoked meanwhile, as the console does it: the entry goes, then the message.
    QCOMPARE(m_primary.command({"DEL", bytes(RedisSchema::entryKey(key.toStdString()))}).integer, 1);
    QTRY_VERIFY_WITH_TIMEOUT(replicaHas(key, false), kReplicationTimeoutMs);
    QVERIFY(m_primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), key}).isInteger());
    const QByteArray logged = "invalidate " + key;
    QTRY_VERIFY_WITH_TIMEOUT(m_gateway->stderrText().contains(logged), 10000);

    proxy.release();
    QTRY_VERIFY_WITH_TIMEOUT(inFlight->isFinished(), 20000);
    QCOMPARE(inFlight->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);

    // The revoked answer is gone from every tier.
    const HttpResult after = chat(port, prompt);
    QVERIFY2(after.status == 200, qPrintable(after.describe()));
    QVERIFY2(after.header("x-l0l3-tier") != "L0.5", qPrintable(after.describe()));
    QCOMPARE(after.header("x-l0l3-cache"), QByteArray("miss"));
    QVERIFY(ChatWire::completionContent(after.body) != revoked);
}

// Without API keys, x-l0l3-namespace picks any tenant's entries and misses
// spend the upstream key: refused beyond loopback unless --allow-anonymous.
void TestGatewayHardening::anonymousNonLoopbackListenIsRefused()
{
    QStringList args = m_stack.standardGatewayArgs(m_stack.region());
    const qsizetype listen = args.indexOf(QStringLiteral("--listen"));
    QVERIFY(listen >= 0);
    args[listen + 1] = QStringLiteral("0.0.0.0:0");
    ManagedProcess gateway;
    QVERIFY(gateway.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), args));
    QVERIFY2(gateway.waitForFinished(15000), qPrintable(gateway.describe()));
    QCOMPARE(gateway.exitStatus(), QProcess::NormalExit);
    QCOMPARE(gateway.exitCode(), 2);
    QVERIFY2(!gateway.stdoutText().contains("listening on"), qPrintable(gateway.describe()));
    const QByteArray err = gateway.stderrText();
    QVERIFY2(err.contains("--api-keys-file") && err.contains("--allow-anonymous"), err.constData());
}

// Without --api-keys-file a bearer token is not checked: a client sending a
// new one with every request must not get a new bucket every time.
void TestGatewayHardening::freshTokensAreStillLimitedByAddress()
{
    QString error;
    m_gateway = m_stack.launchGateway({QStringLiteral("--rate-limit"), QStringLiteral("0.2"),
                                       QStringLiteral("--rate-burst"), QStringLiteral("2")},
                                      &error);
    QVERIFY2(m_gateway, qPrintable(error));
    const int port = m_gateway->listenPort();
    const QString prompt = m_prompts.next();
    int passed = 0;
    HttpResult limited;
    for (int i = 0; i < 5 && limited.status == 0; ++i) {
        const QByteArray token = "Bearer sk-fresh-" + QByteArray::number(i) + '-' + m_prompts.runId().toLatin1();
        const HttpResult r = chat(port, prompt, {{"Authorization", token}});
        if (r.status == 429)
            limited = r;
        else if (r.status == 200)
            ++passed;
        else
            QFAIL(qPrintable(r.describe()));
    }
    QCOMPARE(limited.status, 429);
    QVERIFY2(passed >= 2 && passed <= 3, qPrintable(QString::number(passed))); // the burst (+1 refilled at most)
    QVERIFY(!limited.header("retry-after").isEmpty());
}

// argv is readable by every local user: a Redis password there draws a
// warning pointing at the password file and the environment; the password
// itself is never repeated.
void TestGatewayHardening::passwordOnCommandLineWarns()
{
    QString error;
    m_gateway = m_stack.launchGateway({}, &error); // the fixture's URLs carry the password inline
    QVERIFY2(m_gateway, qPrintable(error));
    const QByteArray err = m_gateway->stderrText();
    QVERIFY2(err.contains("l0l3-gateway: warning: the password in --replica"), err.constData());
    QVERIFY2(err.contains("--redis-password-file"), err.constData());
    QVERIFY2(err.contains("L0L3_REDIS_PASSWORD"), err.constData());
    QVERIFY(!err.contains(TestCredentials::get().gateway.toUtf8()));

    // The same URL from the environment draws nothing.
    QStringList args = m_stack.standardGatewayArgs(m_stack.region());
    const qsizetype replica = args.indexOf(QStringLiteral("--replica"));
    const qsizetype primary = args.indexOf(QStringLiteral("--primary"));
    QVERIFY(replica >= 0 && primary >= 0);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("L0L3_REPLICA_URL"), args[replica + 1]);
    env.insert(QStringLiteral("L0L3_PRIMARY_URL"), args[primary + 1]);
    QStringList withoutUrls;
    for (qsizetype i = 0; i < args.size(); ++i) {
        if (i == replica || i == primary) {
            ++i;
            continue;
        }
        withoutUrls << args[i];
    }
    ManagedProcess quiet;
    QVERIFY(quiet.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), withoutUrls, env, &error));
    QVERIFY2(quiet.listenPort() > 0, qPrintable(quiet.describe()));
    QVERIFY2(!quiet.stderrText().contains("l0l3-gateway: warning"), quiet.stderrText().constData());
}

// An answer far larger than usual passes through buffers that are reused
// from one request to the next (the response body, the decoded entry, the
// connection's write buffer, the Redis reply buffer). Once it is served,
// they must give the memory back rather than keep it for the life of the
// worker or the connection. The gateway runs with glibc's mmap threshold
// fixed at 128 KiB, so every large buffer is its own mapping and resident
// memory shows exactly which of them are still held.
void TestGatewayHardening::outsizedAnswerBuffersAreGivenBack()
{
#if defined(__SANITIZE_ADDRESS__)
    QSKIP("ASan's allocator keeps freed memory in quarantine: resident size says nothing here");
#endif
    QStringList args = m_stack.standardGatewayArgs(m_stack.region());
    args << QStringLiteral("--threads") << QStringLiteral("1") << QStringLiteral("--no-hot-cache");
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("MALLOC_MMAP_THRESHOLD_"), QStringLiteral("131072"));
    m_gateway = std::make_unique<ManagedProcess>();
    QString error;
    QVERIFY2(m_gateway->start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")), args, env, &error),
             qPrintable(error));
    const int port = m_gateway->listenPort();
    QVERIFY2(port > 0, qPrintable(m_gateway->describe()));

    // Warm: the small buffers every request uses exist already.
    const QString small = m_prompts.next();
    const HttpResult smallMiss = chat(port, small);
    QVERIFY2(smallMiss.status == 200, qPrintable(smallMiss.describe()));
    QVERIFY(approve(smallMiss.header("x-l0l3-key"), small, QStringLiteral("A small answer.")));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHas(smallMiss.header("x-l0l3-key"), true), kReplicationTimeoutMs);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(chat(port, small).header("x-l0l3-tier"), QByteArray("L0"));
    const qint64 before = residentKiB(m_gateway->pid());
    QVERIFY(before > 0);

    const QString big = m_prompts.next();
    const HttpResult bigMiss = chat(port, big);
    QVERIFY2(bigMiss.status == 200, qPrintable(bigMiss.describe()));
    const QByteArray key = bigMiss.header("x-l0l3-key");
    QString answer;
    for (int line = 0; answer.size() < 8 * 1024 * 1024; ++line)
        answer += QStringLiteral("line %1 of an outsized approved answer\n").arg(line);
    QVERIFY(approve(key, big, answer));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHas(key, true), kReplicationTimeoutMs);
    for (const char *format : {"json", "sse"}) {
        QJsonObject extra;
        if (QByteArray(format) == "sse")
            extra.insert(QStringLiteral("stream"), true);
        const HttpResult hit = m_http.post(chatUrl(port), ChatWire::chatBody(big, extra), {}, 30000);
        QVERIFY2(hit.status == 200 && hit.header("x-l0l3-tier") == "L0", qPrintable(hit.describe()));
        QVERIFY2(hit.body.size() > answer.size(), format);
    }
    // The same requests again, small: served from buffers of a normal size.
    QCOMPARE(chat(port, small).header("x-l0l3-tier"), QByteArray("L0"));

    // Each buffer that kept a copy held about the answer's size (eight of them in all). hiredis gives
    // its reply buffer back only on a read that finds it empty (a heartbeat comes every second), so
    // at most about one copy may still be resident when this looks: less than one and a half.
    const qint64 answerKiB = answer.size() / 1024;
    qint64 after = -1;
    const bool released = Poll::until(
        [&] {
            after = residentKiB(m_gateway->pid());
            return after >= 0 && after < before + answerKiB * 3 / 2;
        },
        10000, 100);
    QVERIFY2(released,
             qPrintable(
                 QStringLiteral("resident %1 KiB before the 8 MiB answer, %2 KiB after").arg(before).arg(after)));
}

QTEST_GUILESS_MAIN(TestGatewayHardening)
#include "tst_gatewayhardening.moc"
