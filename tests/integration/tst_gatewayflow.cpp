#include <QDateTime>
#include <QDeadlineTimer>
#include <QJsonArray>
#include <QJsonObject>
#include <QTest>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"
#include "tests/support/uniqueprompts.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kReplicationTimeoutMs = 5000;
constexpr int kProposalTimeoutMs = 5000;

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

} // namespace

// End to end over HTTP against real processes: primary + replica redis-server
// with ACL users, l0l3-stub-llm, l0l3-gateway. One stack for the
// whole class; every test uses prompts of its own.
class TestGatewayFlow : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void missIsProposedButNeverServed();
    void approvedEntryIsServedFromL0ThenL05();
    void largeEntryIsServedWhole();
    void invalidationDropsHotEntry();
    void flushAllInvalidation();
    void rejectedKeyIsNotProposed();
    void noStoreIsNotProposed();
    void noCacheSkipsLookup();
    void keyDerivation_data();
    void keyDerivation();
    void multiTurnBypasses();
    void streaming_data();
    void streaming();
    void missingFunctionIsReportedAndHitsStillServed();
    void stoppingGatewaySendsItsWaitingProposals();

private:
    HttpResult chat(const QString &prompt, const HttpHeaders &headers = {}, const QJsonObject &extra = {});
    HttpResult chatBody(const QByteArray &body, const HttpHeaders &headers = {});
    std::vector<Proposal> proposals(const QByteArray &key = {});
    qint64 seen(const QByteArray &key, const QByteArray &field);
    bool approve(const QByteArray &key, const QString &prompt, const QString &response, qint64 version = 1);
    bool replicaHasEntry(const QByteArray &key, const QString &response);
    bool proposeBarrier();

    GatewayStack m_stack;
    HttpClient m_http;
    RedisClient &m_primary = m_stack.primaryClient();
    RedisClient &m_replica = m_stack.replicaClient();
    UniquePrompts m_prompts{QStringLiteral("Integration question")};
};

void TestGatewayFlow::initTestCase()
{
    QString error;
    GatewayStack::Options options;
    // Far longer than the test, so only an invalidation message can drop an L0.5 entry.
    options.gatewayArgs = QStringList{QStringLiteral("--hot-cache-ttl-seconds"), QStringLiteral("600")};
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
}

void TestGatewayFlow::cleanupTestCase()
{
    m_stack.stop();
}

void TestGatewayFlow::cleanup()
{
    m_stack.printLogsIfFailed();
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
}

HttpResult TestGatewayFlow::chat(const QString &prompt, const HttpHeaders &headers, const QJsonObject &extra)
{
    return chatBody(ChatWire::chatBody(prompt, extra), headers);
}

HttpResult TestGatewayFlow::chatBody(const QByteArray &body, const HttpHeaders &headers)
{
    return m_http.post(m_stack.gatewayUrl(), body, headers, 10000);
}

std::vector<Proposal> TestGatewayFlow::proposals(const QByteArray &key)
{
    // Gateways propose into the inbox; the console moves proposals into the stream.
    m_primary.command(
        {"FCALL", bytes(ProposalFunction::kDrainName), "0", QByteArray::number(ProposalFunction::kDrainMax)});
    const RedisValue reply = m_primary.command({"XRANGE", bytes(RedisSchema::kProposals), "-", "+"});
    std::vector<Proposal> all = ChatWire::proposals(reply);
    if (key.isEmpty())
        return all;
    std::vector<Proposal> matching;
    for (Proposal &p : all) {
        if (p.key == key.toStdString())
            matching.push_back(std::move(p));
    }
    return matching;
}

qint64 TestGatewayFlow::seen(const QByteArray &key, const QByteArray &field)
{
    const RedisValue reply = m_primary.command({"HGET", bytes(RedisSchema::seenKey(key.toStdString())), field});
    return reply.isString() ? reply.str.toLongLong() : 0;
}

bool TestGatewayFlow::approve(const QByteArray &key, const QString &prompt, const QString &response, qint64 version)
{
    // What ApprovalService writes, minus the audit record: the gateway only reads the entry.
    Entry entry;
    entry.key = key.toStdString();
    entry.ns = "default"; // the gateway's namespace for a request that names none
    entry.response = response.toStdString();
    entry.prompt = prompt.toStdString();
    entry.model = ChatWire::kModel;
    entry.version = version;
    entry.approvedBy = "testkit";
    entry.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
    return m_primary.set(bytes(RedisSchema::entryKey(entry.key)), bytes(EntryCodec::encode(entry)));
}

bool TestGatewayFlow::replicaHasEntry(const QByteArray &key, const QString &response)
{
    const QByteArray json = m_replica.get(bytes(RedisSchema::entryKey(key.toStdString())));
    const auto entry = EntryCodec::decode(json.toStdString());
    return entry && entry->response == response.toStdString();
}

// Proposals are written asynchronously; absence is only meaningful once a
// later proposal has landed.
bool TestGatewayFlow::proposeBarrier()
{
    const HttpResult result = chat(m_prompts.next());
    const QByteArray key = result.header("x-l0l3-key");
    if (result.status != 200 || key.isEmpty())
        return false;
    QDeadlineTimer deadline(kProposalTimeoutMs);
    while (!deadline.hasExpired()) {
        if (!proposals(key).empty())
            return true;
        QTest::qWait(20);
    }
    return false;
}

void TestGatewayFlow::missIsProposedButNeverServed()
{
    const QString prompt = m_prompts.next();
    const HttpResult first = chat(prompt);
    QVERIFY2(first.status == 200, qPrintable(first.describe()));
    QCOMPARE(first.header("x-l0l3-cache"), QByteArray("miss"));
    QCOMPARE(first.header("x-l0l3-tier"), QByteArray("L3"));
    QCOMPARE(first.header("x-l0l3-region"), QByteArray("nyc"));
    const QByteArray key = first.header("x-l0l3-key");
    QVERIFY2(CacheKey::isValid(key.toStdString()), key.constData());
    QString reason;
    const QString answer = ChatWire::completionContent(first.body, &reason);
    QVERIFY2(!answer.isEmpty(), qPrintable(reason));

    QTRY_COMPARE_WITH_TIMEOUT(proposals(key).size(), size_t(1), TimeScale::ms(kProposalTimeoutMs));
    const Proposal proposal = proposals(key).front();
    QCOMPARE(QByteArray::fromStdString(proposal.key), key);
    QCOMPARE(QString::fromStdString(proposal.region), QStringLiteral("nyc"));
    QCOMPARE(QString::fromStdString(proposal.prompt), prompt);
    QCOMPARE(QString::fromStdString(proposal.response), answer);
    QCOMPARE(QString::fromStdString(proposal.model), QString::fromLatin1(ChatWire::kModel));
    QVERIFY(proposal.tsMs > 0);
    QTRY_COMPARE_WITH_TIMEOUT(seen(key, bytes(RedisSchema::kSeenTotalField)), 1, TimeScale::ms(kProposalTimeoutMs));
    QCOMPARE(seen(key, "nyc"), 1);

    // Unapproved: the same request goes upstream again and is not proposed twice.
    const HttpResult second = chat(prompt);
    QVERIFY2(second.status == 200, qPrintable(second.describe()));
    QCOMPARE(second.header("x-l0l3-cache"), QByteArray("miss"));
    QCOMPARE(second.header("x-l0l3-tier"), QByteArray("L3"));
    QCOMPARE(second.header("x-l0l3-key"), key);
    QCOMPARE(ChatWire::completionContent(second.body), answer);
    QTRY_COMPARE_WITH_TIMEOUT(seen(key, bytes(RedisSchema::kSeenTotalField)), 2, TimeScale::ms(kProposalTimeoutMs));
    QCOMPARE(seen(key, "nyc"), 2);
    QCOMPARE(proposals(key).size(), size_t(1));
    // The gateway never writes an entry itself.
    QVERIFY(m_primary.command({"EXISTS", bytes(RedisSchema::entryKey(key.toStdString()))}).integer == 0);
}

void TestGatewayFlow::approvedEntryIsServedFromL0ThenL05()
{
    const QString prompt = m_prompts.next();
    const HttpResult miss = chat(prompt);
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    const QByteArray key = miss.header("x-l0l3-key");
    const QString approved = QStringLiteral("Approved answer: \"quoted\", ünïcödé ✓ 東京\nsecond line\t& <tags>");
    QVERIFY(approve(key, prompt, approved));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, approved), TimeScale::ms(kReplicationTimeoutMs));

    const qint64 upstreamBefore = m_stack.stubRequests();
    QVERIFY(upstreamBefore > 0);
    const HttpResult l0 = chat(prompt);
    QVERIFY2(l0.status == 200, qPrintable(l0.describe()));
    QCOMPARE(l0.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(l0.header("x-l0l3-tier"), QByteArray("L0"));
    QCOMPARE(l0.header("x-l0l3-key"), key);
    QCOMPARE(l0.header("x-l0l3-region"), QByteArray("nyc"));
    QCOMPARE(ChatWire::completionContent(l0.body), approved);

    const HttpResult hot = chat(prompt);
    QVERIFY2(hot.status == 200, qPrintable(hot.describe()));
    QCOMPARE(hot.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(hot.header("x-l0l3-tier"), QByteArray("L0.5"));
    QCOMPARE(ChatWire::completionContent(hot.body), approved);
    QCOMPARE(m_stack.stubRequests(), upstreamBefore);
}

// An entry far larger than what the gateway reads from Redis at once (64 KiB): the reply
// arrives in many reads and must be fed to the reply parser whole and in order.
void TestGatewayFlow::largeEntryIsServedWhole()
{
    const QString prompt = m_prompts.next();
    const HttpResult miss = chat(prompt);
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    const QByteArray key = miss.header("x-l0l3-key");
    QString approved;
    for (int line = 0; approved.size() < 5 * 1024 * 1024; ++line)
        approved += QStringLiteral("line %1 of a long approved answer, ünïcödé ✓\n").arg(line);
    QVERIFY(approve(key, prompt, approved));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, approved), TimeScale::ms(kReplicationTimeoutMs));

    const HttpResult l0 = chat(prompt);
    QVERIFY2(l0.status == 200, qPrintable(l0.describe()));
    QCOMPARE(l0.header("x-l0l3-tier"), QByteArray("L0"));
    QVERIFY(ChatWire::completionContent(l0.body) == approved); // not QCOMPARE: 5 MB in a failure message

    // The connection is still in step: a small entry right after it.
    const QString smallPrompt = m_prompts.next();
    const HttpResult smallMiss = chat(smallPrompt);
    QVERIFY2(smallMiss.status == 200, qPrintable(smallMiss.describe()));
    const QByteArray smallKey = smallMiss.header("x-l0l3-key");
    QVERIFY(approve(smallKey, smallPrompt, QStringLiteral("small")));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(smallKey, QStringLiteral("small")), TimeScale::ms(kReplicationTimeoutMs));
    const HttpResult small = chat(smallPrompt);
    QVERIFY2(small.status == 200, qPrintable(small.describe()));
    QCOMPARE(small.header("x-l0l3-tier"), QByteArray("L0"));
    QCOMPARE(ChatWire::completionContent(small.body), QStringLiteral("small"));
}

void TestGatewayFlow::invalidationDropsHotEntry()
{
    const QString prompt = m_prompts.next();
    const QByteArray key = chat(prompt).header("x-l0l3-key");
    QVERIFY(!key.isEmpty());
    const QString v1 = QStringLiteral("first approved version");
    QVERIFY(approve(key, prompt, v1, 1));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, v1), TimeScale::ms(kReplicationTimeoutMs));
    QCOMPARE(chat(prompt).header("x-l0l3-tier"), QByteArray("L0"));
    QCOMPARE(chat(prompt).header("x-l0l3-tier"), QByteArray("L0.5"));

    // An edit without an invalidation message: L0.5 keeps the old text (TTL
    // 600 s), which is what makes the next step mean something.
    const QString v2 = QStringLiteral("second approved version");
    QVERIFY(approve(key, prompt, v2, 2));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, v2), TimeScale::ms(kReplicationTimeoutMs));
    const HttpResult stale = chat(prompt);
    QCOMPARE(stale.header("x-l0l3-tier"), QByteArray("L0.5"));
    QCOMPARE(ChatWire::completionContent(stale.body), v1);

    const RedisValue published = m_primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), key});
    QVERIFY2(published.isInteger(), qPrintable(published.toString()));
    HttpResult after;
    QVERIFY2(Poll::until(
                 [&] {
                     after = chat(prompt);
                     return ChatWire::completionContent(after.body) == v2;
                 },
                 5000),
             qPrintable(after.describe()));
    QCOMPARE(after.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(after.header("x-l0l3-tier"), QByteArray("L0"));
    // The invalidation also arrives through the fallback subscription (the
    // primary), possibly after this L0 read: that copy may drop or refuse the
    // fresh L0.5 entry once more, so the new text is back in L0.5 within a few
    // reads, not necessarily the next one.
    HttpResult hot;
    QVERIFY2(Poll::until(
                 [&] {
                     hot = chat(prompt);
                     return hot.header("x-l0l3-tier") == "L0.5";
                 },
                 5000),
             qPrintable(hot.describe()));
    QCOMPARE(ChatWire::completionContent(hot.body), v2);

    // Revoke: DEL + invalidation -> a miss again, at once rather than after the TTL.
    QCOMPARE(m_primary.command({"DEL", bytes(RedisSchema::entryKey(key.toStdString()))}).integer, 1);
    QTRY_VERIFY_WITH_TIMEOUT(m_replica.get(bytes(RedisSchema::entryKey(key.toStdString()))).isNull(),
                             TimeScale::ms(kReplicationTimeoutMs));
    QVERIFY(m_primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), key}).isInteger());
    HttpResult revoked;
    QVERIFY2(Poll::until(
                 [&] {
                     revoked = chat(prompt);
                     return revoked.header("x-l0l3-cache") == "miss";
                 },
                 5000),
             qPrintable(revoked.describe()));
    QCOMPARE(revoked.header("x-l0l3-tier"), QByteArray("L3"));
}

void TestGatewayFlow::flushAllInvalidation()
{
    const QString prompt = m_prompts.next();
    const QByteArray key = chat(prompt).header("x-l0l3-key");
    QVERIFY(!key.isEmpty());
    QVERIFY(approve(key, prompt, QStringLiteral("flush me")));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, QStringLiteral("flush me")), TimeScale::ms(kReplicationTimeoutMs));
    QCOMPARE(chat(prompt).header("x-l0l3-tier"), QByteArray("L0"));
    QCOMPARE(chat(prompt).header("x-l0l3-tier"), QByteArray("L0.5"));
    QVERIFY(m_primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), bytes(RedisSchema::kInvalidateAll)})
                .isInteger());
    HttpResult after;
    QVERIFY2(Poll::until(
                 [&] {
                     after = chat(prompt);
                     return after.header("x-l0l3-tier") != "L0.5";
                 },
                 5000),
             qPrintable(after.describe()));
    QCOMPARE(after.header("x-l0l3-tier"), QByteArray("L0"));
    QCOMPARE(ChatWire::completionContent(after.body), QStringLiteral("flush me"));
}

void TestGatewayFlow::rejectedKeyIsNotProposed()
{
    const QString prompt = m_prompts.next();
    const HttpResult probe = chat(prompt, {{"Cache-Control", "no-store"}});
    QVERIFY2(probe.status == 200, qPrintable(probe.describe()));
    const QByteArray key = probe.header("x-l0l3-key");
    QVERIFY(!key.isEmpty());
    const QByteArray until = QByteArray::number(QDateTime::currentMSecsSinceEpoch() + 24LL * 3600 * 1000);
    QCOMPARE(m_primary.command({"ZADD", bytes(RedisSchema::kRejected), until, key}).integer, 1);
    QTRY_VERIFY_WITH_TIMEOUT(!m_replica.command({"ZSCORE", bytes(RedisSchema::kRejected), key}).isNil(),
                             TimeScale::ms(kReplicationTimeoutMs));

    const HttpResult miss = chat(prompt);
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
    QVERIFY(!ChatWire::completionContent(miss.body).isEmpty());
    QVERIFY(proposeBarrier());
    QCOMPARE(proposals(key).size(), size_t(0));
}

void TestGatewayFlow::noStoreIsNotProposed()
{
    const QString prompt = m_prompts.next();
    const HttpResult miss = chat(prompt, {{"Cache-Control", "no-store"}});
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
    const QByteArray key = miss.header("x-l0l3-key");
    QVERIFY(!key.isEmpty());
    QVERIFY(proposeBarrier());
    QCOMPARE(proposals(key).size(), size_t(0));
}

void TestGatewayFlow::noCacheSkipsLookup()
{
    const QString prompt = m_prompts.next();
    const HttpResult miss = chat(prompt);
    const QByteArray key = miss.header("x-l0l3-key");
    QVERIFY2(!key.isEmpty(), qPrintable(miss.describe()));
    const QString upstreamAnswer = ChatWire::completionContent(miss.body);
    QVERIFY(approve(key, prompt, QStringLiteral("approved, but the client wants a fresh one")));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, QStringLiteral("approved, but the client wants a fresh one")),
                             TimeScale::ms(kReplicationTimeoutMs));
    QCOMPARE(chat(prompt).header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(chat(prompt).header("x-l0l3-tier"), QByteArray("L0.5"));

    const qint64 upstreamBefore = m_stack.stubRequests();
    const HttpResult fresh = chat(prompt, {{"Cache-Control", "no-cache"}});
    QVERIFY2(fresh.status == 200, qPrintable(fresh.describe()));
    QVERIFY2(fresh.header("x-l0l3-cache") != "hit", qPrintable(fresh.describe()));
    QCOMPARE(fresh.header("x-l0l3-tier"), QByteArray("L3"));
    QCOMPARE(ChatWire::completionContent(fresh.body), upstreamAnswer);
    QCOMPARE(m_stack.stubRequests(), upstreamBefore + 1);
}

void TestGatewayFlow::keyDerivation_data()
{
    QTest::addColumn<QJsonObject>("extraA");
    QTest::addColumn<QByteArray>("namespaceA");
    QTest::addColumn<QString>("promptA");
    QTest::addColumn<QJsonObject>("extraB");
    QTest::addColumn<QByteArray>("namespaceB");
    QTest::addColumn<QString>("promptB");
    QTest::addColumn<bool>("sameKey");

    const QString base = QStringLiteral("What is the capital of France");
    const auto model = [](const char *m) { return QJsonObject{{QStringLiteral("model"), QString::fromLatin1(m)}}; };
    QTest::newRow("namespace differs") << QJsonObject{} << QByteArray("tenant-a") << base << QJsonObject{}
                                       << QByteArray("tenant-b") << base << false;
    QTest::newRow("namespace absent vs set")
        << QJsonObject{} << QByteArray() << base << QJsonObject{} << QByteArray("tenant-a") << base << false;
    QTest::newRow("same namespace") << QJsonObject{} << QByteArray("tenant-a") << base << QJsonObject{}
                                    << QByteArray("tenant-a") << base << true;
    QTest::newRow("temperature ignored") << QJsonObject{{QStringLiteral("temperature"), 0.1}} << QByteArray() << base
                                         << QJsonObject{{QStringLiteral("temperature"), 1.5}} << QByteArray() << base
                                         << true;
    QTest::newRow("user field ignored") << QJsonObject{{QStringLiteral("user"), QStringLiteral("alice")}}
                                        << QByteArray() << base
                                        << QJsonObject{{QStringLiteral("user"), QStringLiteral("bob")}} << QByteArray()
                                        << base << true;
    QTest::newRow("case, spaces, trailing punctuation")
        << QJsonObject{} << QByteArray() << base << QJsonObject{} << QByteArray()
        << QStringLiteral("  what IS the   capital of france?!  ") << true;
    QTest::newRow("model snapshot") << model("gpt-4o-mini-2024-07-18") << QByteArray() << base << model("gpt-4o-mini")
                                    << QByteArray() << base << true;
    QTest::newRow("model family") << model("gpt-4o") << QByteArray() << base << model("gpt-4o-mini") << QByteArray()
                                  << base << false;
    QTest::newRow("response_format") << QJsonObject{{QStringLiteral("response_format"),
                                                     QJsonObject{
                                                         {QStringLiteral("type"), QStringLiteral("json_object")}}}}
                                     << QByteArray() << base << QJsonObject{} << QByteArray() << base << false;
    QTest::newRow("different prompt") << QJsonObject{} << QByteArray() << base << QJsonObject{} << QByteArray()
                                      << QStringLiteral("What is the capital of Spain") << false;
}

void TestGatewayFlow::keyDerivation()
{
    QFETCH(QJsonObject, extraA);
    QFETCH(QByteArray, namespaceA);
    QFETCH(QString, promptA);
    QFETCH(QJsonObject, extraB);
    QFETCH(QByteArray, namespaceB);
    QFETCH(QString, promptB);
    QFETCH(bool, sameKey);
    const auto headersFor = [](const QByteArray &ns) {
        HttpHeaders headers{{"Cache-Control", "no-store"}};
        if (!ns.isEmpty())
            headers.append({"x-l0l3-namespace", ns});
        return headers;
    };
    // The run id goes in front so that trailing punctuation stays trailing.
    const HttpResult a = chat(m_prompts.runId() + u' ' + promptA, headersFor(namespaceA), extraA);
    const HttpResult b = chat(m_prompts.runId() + u' ' + promptB, headersFor(namespaceB), extraB);
    QVERIFY2(a.status == 200, qPrintable(a.describe()));
    QVERIFY2(b.status == 200, qPrintable(b.describe()));
    QVERIFY(CacheKey::isValid(a.header("x-l0l3-key").toStdString()));
    QVERIFY(CacheKey::isValid(b.header("x-l0l3-key").toStdString()));
    QCOMPARE(a.header("x-l0l3-key") == b.header("x-l0l3-key"), sameKey);
}

void TestGatewayFlow::multiTurnBypasses()
{
    const size_t before = proposals().size();
    const QJsonArray messages{
        QJsonObject{{QStringLiteral("role"), QStringLiteral("user")}, {QStringLiteral("content"), m_prompts.next()}},
        QJsonObject{{QStringLiteral("role"), QStringLiteral("assistant")},
                    {QStringLiteral("content"), QStringLiteral("An earlier answer")}},
        QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                    {QStringLiteral("content"), QStringLiteral("And a follow-up")}},
    };
    const HttpResult result = chat(QString(), {}, {{QStringLiteral("messages"), messages}});
    QVERIFY2(result.status == 200, qPrintable(result.describe()));
    QCOMPARE(result.header("x-l0l3-cache"), QByteArray("bypass"));
    QVERIFY(!ChatWire::completionContent(result.body).isEmpty());
    QVERIFY(proposeBarrier());
    QCOMPARE(proposals().size(), before + 1); // only the barrier's
}

void TestGatewayFlow::streaming_data()
{
    QTest::addColumn<bool>("approved");
    QTest::newRow("miss") << false;
    QTest::newRow("hit") << true;
}

void TestGatewayFlow::streaming()
{
    QFETCH(bool, approved);
    const QString prompt = m_prompts.next();
    const HttpResult plain = chat(prompt);
    QVERIFY2(plain.status == 200, qPrintable(plain.describe()));
    const QByteArray key = plain.header("x-l0l3-key");
    QString expected = ChatWire::completionContent(plain.body);
    if (approved) {
        // Long enough to be split into several chunks, with characters that need escaping.
        expected = QStringLiteral("Paris is the capital of France. \"Quoted\" words, ünïcödé ✓, a newline\nand "
                                  "a tab\tare all preserved across every chunk of the stream.");
        QVERIFY(approve(key, prompt, expected));
        QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, expected), TimeScale::ms(kReplicationTimeoutMs));
    }

    const HttpResult streamed = chat(prompt, {}, {{QStringLiteral("stream"), true}});
    QVERIFY2(streamed.status == 200, qPrintable(streamed.describe()));
    QVERIFY2(streamed.header("content-type").startsWith("text/event-stream"), qPrintable(streamed.describe()));
    QCOMPARE(streamed.header("x-l0l3-cache"), approved ? QByteArray("hit") : QByteArray("miss"));
    QCOMPARE(streamed.header("x-l0l3-key"), key);
    QString reason;
    const QString content = ChatWire::sseContent(streamed.body, &reason);
    QVERIFY2(!content.isNull(), qPrintable(reason));
    QCOMPARE(content, expected);

    if (approved) {
        // Once more from L0.5, still a valid stream.
        const HttpResult hot = chat(prompt, {}, {{QStringLiteral("stream"), true}});
        QCOMPARE(hot.header("x-l0l3-tier"), QByteArray("L0.5"));
        QCOMPARE(ChatWire::sseContent(hot.body, &reason), expected);
    }
}

// Gateways propose through the function the console loads. Without it a miss
// is still answered, the proposal is dropped with a line saying why, and
// approved entries are still served.
void TestGatewayFlow::missingFunctionIsReportedAndHitsStillServed()
{
    const QString hitPrompt = m_prompts.next();
    const HttpResult first = chat(hitPrompt);
    QVERIFY2(first.status == 200, qPrintable(first.describe()));
    const QByteArray hitKey = first.header("x-l0l3-key");
    QVERIFY(approve(hitKey, hitPrompt, QStringLiteral("Still served.")));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(hitKey, QStringLiteral("Still served.")), TimeScale::ms(5000));

    // A library "l0l3" without l0l3_propose replaces the real one.
    const RedisValue replaced = m_primary.command(
        {"FUNCTION", "LOAD", "REPLACE",
         "#!lua name=l0l3\nredis.register_function('l0l3_placeholder', function() return 1 end)"});
    QVERIFY2(!replaced.isError(), qPrintable(replaced.toString()));
    const HttpResult miss = chat(m_prompts.next());
    QVERIFY2(miss.status == 200, qPrintable(miss.describe()));
    QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
    const QByteArray key = miss.header("x-l0l3-key");
    const QByteArray expected = "proposal for " + key
        + " dropped: the Redis function l0l3_propose is not loaded on the primary";
    QTRY_VERIFY_WITH_TIMEOUT(m_stack.gateway().stderrText().contains(expected), TimeScale::ms(kProposalTimeoutMs));
    QVERIFY(proposals(key).empty());
    const HttpResult hit = chat(hitPrompt);
    QVERIFY2(hit.status == 200, qPrintable(hit.describe()));
    QCOMPARE(hit.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(ChatWire::completionContent(hit.body), QStringLiteral("Still served."));

    const std::string_view library = ProposalFunction::kLibrary;
    QVERIFY(!m_primary.command({"FUNCTION", "LOAD", "REPLACE", QByteArray(library.data(), qsizetype(library.size()))})
                 .isError());
    QVERIFY(proposeBarrier());
}

// Proposals wait a few milliseconds to go to the primary in one batch (Proposer). A gateway
// stopped (SIGTERM) right after answering misses still sends them before it exits, and exits 0.
void TestGatewayFlow::stoppingGatewaySendsItsWaitingProposals()
{
    QString error;
    std::unique_ptr<ManagedProcess> gateway = m_stack.launchGateway({}, &error);
    QVERIFY2(gateway, qPrintable(error));
    const int port = gateway->listenPort();
    QVERIFY2(port > 0, qPrintable(gateway->describe()));
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port));
    QList<QByteArray> keys;
    for (int i = 0; i < 3; ++i) {
        const HttpResult r = m_http.post(url, ChatWire::chatBody(m_prompts.next()), {}, 10000);
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
        keys.append(r.header("x-l0l3-key"));
    }
    // At once: the last proposal is still waiting for its batch.
    QVERIFY2(gateway->stop(), qPrintable(gateway->describe()));
    QCOMPARE(gateway->exitCode(), 0);
    for (const QByteArray &key : std::as_const(keys)) {
        QVERIFY2(proposals(key).size() == 1,
                 qPrintable(
                     QStringLiteral("no proposal for %1\n%2").arg(QString::fromLatin1(key), gateway->describe())));
    }
}

QTEST_GUILESS_MAIN(TestGatewayFlow)
#include "tst_gatewayflow.moc"
