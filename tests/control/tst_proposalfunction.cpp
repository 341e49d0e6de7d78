// The Redis functions gateways propose through and the console drains the
// inbox with (ProposalFunction), run by the real "gateway" and "console" ACL
// users of packaging/redis/users.acl on a real redis-server.

#include <QTest>

#include <optional>

#include "core/common/proposal.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "tests/control/controltestsupport.h"

using namespace l0l3;
using namespace l0l3::test;

class TestProposalFunction : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void proposesOnceCountsDemandAndExpiresTheCounter();
    void refusesMalformedProposals_data();
    void refusesMalformedProposals();
    void rejectedKeyIsNotProposed();
    void floodKeepsTheStreamBounded();
    void trimsEntriesOlderThanMaxAge();
    void quietStreamForgetsOldProposals();
    void retentionDefaultsAreExplicitAndConfigurable();
    void rateLimitsNewProposalsPerNamespace();
    void proposalWaitsInTheInboxUntilDrained();
    void fullInboxRefusesNewProposals();
    void drainDropsMalformedElementsAndMovesTheRest();
    void drainIsBoundedPerCall();
    void l1ReviewSampleIsBounded();
    void servedCountsPerRegionAndHour();
    void servedRefusesMalformedCalls_data();
    void servedRefusesMalformedCalls();

private:
    // FCALL l0l3_propose as a gateway.
    RedisValue propose(const Proposal &p);
    RedisValue propose(const QByteArray &key, const QByteArray &packed);
    static QByteArray packed(const Proposal &p) { return qb(ProposalCodec::encode(p).at(1).second); }
    // A proposal whose key is the key of its fields.
    static Proposal proposal(const std::string &prompt, const std::string &ns = "default",
                             const std::string &region = "nyc");
    // FCALL l0l3_drain as the console: the reply [moved, left, dropped pairs].
    RedisValue drain(int count = ProposalFunction::kDrainMax);
    // The stream's length once the console drained the inbox.
    qint64 streamLength();
    qint64 inboxLength();
    // The first entry of an XRANGE reply, decoded.
    static std::optional<Proposal> decodeEntry(const RedisValue &range);
    void setLimits(const QList<QByteArray> &fieldsAndValues);

    RedisServer m_server;
    RedisClient m_console;
    RedisClient m_gateway;
};

void TestProposalFunction::initTestCase()
{
    QString error;
    QVERIFY2(m_server.start({}, &error), qPrintable(error));
    m_console = m_server.client(QStringLiteral("console"));
    m_gateway = m_server.client(QStringLiteral("gateway"));
    QVERIFY2(m_console.isConnected(), qPrintable(m_console.lastError()));
    QVERIFY2(m_gateway.isConnected(), qPrintable(m_gateway.lastError()));
}

void TestProposalFunction::cleanupTestCase()
{
    m_console.disconnect();
    m_gateway.disconnect();
    QVERIFY(m_server.stop());
}

void TestProposalFunction::init()
{
    // The console user may not FLUSHALL: delete our keys one by one.
    const RedisValue keys = m_console.command({"SCAN", "0", "MATCH", "l0l3:*", "COUNT", "100000"});
    for (const RedisValue &k : keys.elements.value(1).elements)
        m_console.command({"DEL", k.str});
}

Proposal TestProposalFunction::proposal(const std::string &prompt, const std::string &ns, const std::string &region)
{
    Proposal p;
    p.ns = ns;
    p.system = "Be brief.";
    p.prompt = prompt;
    p.response = "An answer to " + prompt;
    p.model = "gpt-4o-mini";
    p.region = region;
    p.tsMs = 1700000000000;
    p.upstreamMs = 420;
    p.responseFormat = R"({"type":"json_object"})";
    p.key = p.derivedKey();
    return p;
}

RedisValue TestProposalFunction::propose(const QByteArray &key, const QByteArray &packedFields)
{
    return m_gateway.command({"FCALL", qb(ProposalFunction::kProposeName), "0", key, packedFields});
}

RedisValue TestProposalFunction::propose(const Proposal &p)
{
    return propose(qb(p.key), packed(p));
}

RedisValue TestProposalFunction::drain(int count)
{
    return m_console.command({"FCALL", qb(ProposalFunction::kDrainName), "0", QByteArray::number(count)});
}

qint64 TestProposalFunction::streamLength()
{
    for (int guard = 0; guard < 100 && inboxLength() > 0; ++guard) {
        const RedisValue r = drain();
        if (r.isError())
            qWarning("drain: %s", qPrintable(r.toString()));
    }
    return m_console.command({"XLEN", qb(RedisSchema::kProposals)}).integer;
}

qint64 TestProposalFunction::inboxLength()
{
    return m_console.command({"LLEN", qb(RedisSchema::kProposalInbox)}).integer;
}

std::optional<Proposal> TestProposalFunction::decodeEntry(const RedisValue &range)
{
    const RedisValue entry = range.elements.value(0);
    const RedisValue kv = entry.elements.value(1);
    StreamFields fields;
    for (qsizetype i = 0; i + 1 < kv.elements.size(); i += 2)
        fields.emplace_back(kv.elements[i].str.toStdString(), kv.elements[i + 1].str.toStdString());
    return ProposalCodec::decode(entry.elements.value(0).str.toStdString(), fields);
}

void TestProposalFunction::setLimits(const QList<QByteArray> &fieldsAndValues)
{
    QList<QByteArray> argv{"HSET", qb(RedisSchema::kProposalLimits)};
    argv.append(fieldsAndValues);
    const RedisValue r = m_console.command(argv);
    QVERIFY2(!r.isError(), qPrintable(r.toString()));
}

void TestProposalFunction::proposesOnceCountsDemandAndExpiresTheCounter()
{
    const Proposal p = proposal("What is X?");
    RedisValue r = propose(p);
    QVERIFY2(r.isStatus() && r.str == qb(ProposalFunction::kProposed), qPrintable(r.toString()));
    Proposal again = p;
    again.region = "tokyo";
    r = propose(again);
    QVERIFY2(r.isStatus() && r.str == qb(ProposalFunction::kCounted), qPrintable(r.toString()));
    QCOMPARE(streamLength(), 1);

    const auto decoded = decodeEntry(m_console.command({"XRANGE", qb(RedisSchema::kProposals), "-", "+"}));
    QVERIFY(decoded.has_value());
    QCOMPARE(decoded->key, p.key);
    QCOMPARE(decoded->responseFormat, p.responseFormat);
    QCOMPARE(decoded->derivedKey(), p.key);
    QVERIFY(decoded->l1Key.empty());

    // The L1 shadow candidate travels with the proposal.
    Proposal shadow = proposal("What is Y?");
    shadow.l1Key = p.key;
    shadow.l1Similarity = 0.875f;
    r = propose(shadow);
    QVERIFY2(r.isStatus() && r.str == qb(ProposalFunction::kProposed), qPrintable(r.toString()));
    QCOMPARE(streamLength(), 2);
    const auto withCandidate = decodeEntry(
        m_console.command({"XREVRANGE", qb(RedisSchema::kProposals), "+", "-", "COUNT", "1"}));
    QVERIFY(withCandidate.has_value());
    QCOMPARE(withCandidate->l1Key, p.key);
    QCOMPARE(withCandidate->l1Similarity, 0.875f);

    const QByteArray seen = qb(RedisSchema::seenKey(p.key));
    QCOMPARE(m_console.command({"HGET", seen, "nyc"}).str, QByteArray("1"));
    QCOMPARE(m_console.command({"HGET", seen, "tokyo"}).str, QByteArray("1"));
    QCOMPARE(m_console.command({"HGET", seen, qb(RedisSchema::kSeenTotalField)}).str, QByteArray("2"));
    // Demand counters expire (a key missed once a year ago holds no memory today).
    const qint64 ttl = m_console.command({"PTTL", seen}).integer;
    QVERIFY2(ttl > 0 && ttl <= 24LL * 3600 * 1000, qPrintable(QString::number(ttl)));
}

void TestProposalFunction::refusesMalformedProposals_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("packed");
    QTest::addColumn<QString>("why");
    const Proposal p = proposal("How do I reset my password?");
    const QByteArray key = qb(p.key);
    const QByteArray good = packed(p);
    auto netstring = [](const QByteArray &s) -> QByteArray { return QByteArray::number(s.size()) + ':' + s + ','; };

    QByteArray noPrompt = good;
    noPrompt.replace(QByteArray(netstring("prompt") + netstring(qb(p.prompt))), QByteArray());
    QTest::newRow("missing key field") << key << noPrompt << QStringLiteral("missing field \"prompt\"");
    Proposal longNs = p;
    longNs.ns = std::string(300, 'n');
    QTest::newRow("oversized field") << key << packed(longNs)
                                     << QStringLiteral("field \"ns\" is 300 bytes, the limit is 256");
    Proposal huge = p;
    huge.response = std::string(40000, 'r');
    QTest::newRow("oversized proposal") << key << packed(huge) << QStringLiteral("the limit is 32768");
    QTest::newRow("key not hex") << QByteArray("l0l3:v1:entry:0123456789abcdef01") << good
                                 << QStringLiteral("key is not 32 lower-case hex digits");
    QTest::newRow("key upper case") << key.toUpper() << good << QStringLiteral("key is not 32 lower-case hex digits");
    QTest::newRow("unknown field") << key << QByteArray(good + netstring("admin") + netstring("1"))
                                   << QStringLiteral("unknown field \"admin\"");
    QTest::newRow("field twice") << key << QByteArray(good + netstring("region") + netstring("eu"))
                                 << QStringLiteral("field \"region\" given twice");
    QByteArray badNumber = good;
    badNumber.replace(QByteArray(netstring("upstream_ms") + netstring("420")),
                      QByteArray(netstring("upstream_ms") + netstring("fast")));
    QTest::newRow("number not decimal") << key << badNumber
                                        << QStringLiteral("field \"upstream_ms\" is not a decimal number");
    QTest::newRow("not netstrings") << key << good.left(good.size() - 3)
                                    << QStringLiteral("not a list of netstring pairs");
    QTest::newRow("l1 key alone") << key << QByteArray(good + netstring("l1_key") + netstring(key))
                                  << QStringLiteral("l1_key and l1_similarity go together");
    QTest::newRow("l1 key not hex") << key
                                    << QByteArray(good + netstring("l1_key") + netstring(key.toUpper())
                                                  + netstring("l1_similarity") + netstring("0.9"))
                                    << QStringLiteral("field \"l1_key\" is not 32 lower-case hex digits");
    QTest::newRow("l1 similarity not decimal")
        << key
        << QByteArray(good + netstring("l1_key") + netstring(key) + netstring("l1_similarity") + netstring("1e9"))
        << QStringLiteral("field \"l1_similarity\" is not a decimal in [-1, 1]");
}

void TestProposalFunction::refusesMalformedProposals()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, packed);
    QFETCH(QString, why);
    const RedisValue r = propose(key, packed);
    QVERIFY2(r.isError() && r.str.startsWith(qb(ProposalFunction::kBadProposal))
                 && QString::fromUtf8(r.str).contains(why),
             qPrintable(r.toString()));
    QCOMPARE(inboxLength(), 0);
    QCOMPARE(streamLength(), 0);
    const RedisValue seen = m_console.command({"SCAN", "0", "MATCH", "l0l3:v1:seen:*", "COUNT", "1000"});
    QVERIFY(seen.elements.value(1).elements.isEmpty());
}

void TestProposalFunction::rejectedKeyIsNotProposed()
{
    const Proposal p = proposal("Spam?");
    m_console.command({"ZADD", qb(RedisSchema::kRejected), "99999999999999", qb(p.key)});
    const RedisValue r = propose(p);
    QVERIFY2(r.isStatus() && r.str == qb(ProposalFunction::kRejected), qPrintable(r.toString()));
    QCOMPARE(streamLength(), 0);
}

// Miss traffic on ever new keys: the stream stays at max_len entries, and
// every demand counter it left behind expires.
void TestProposalFunction::floodKeepsTheStreamBounded()
{
    setLimits({"max_len", "50", "ns_per_min", "100000", "total_per_min", "100000"});
    const int n = 400;
    for (int i = 0; i < n; ++i) {
        const RedisValue r = propose(proposal("question number " + std::to_string(i)));
        QVERIFY2(r.isStatus() && r.str == qb(ProposalFunction::kProposed), qPrintable(r.toString()));
    }
    QCOMPARE(streamLength(), 50);
    // The newest are kept.
    const auto last = decodeEntry(
        m_console.command({"XREVRANGE", qb(RedisSchema::kProposals), "+", "-", "COUNT", "1"}));
    QVERIFY(last.has_value());
    QCOMPARE(last->prompt, "question number " + std::to_string(n - 1));
    const RedisValue seen = m_console.command({"SCAN", "0", "MATCH", "l0l3:v1:seen:*", "COUNT", "100000"});
    QCOMPARE(seen.elements.value(1).elements.size(), qsizetype(n));
    for (const RedisValue &k : seen.elements.value(1).elements)
        QVERIFY(m_console.command({"PTTL", k.str}).integer > 0);
}

void TestProposalFunction::trimsEntriesOlderThanMaxAge()
{
    // An entry from 1970 (stream ids are milliseconds): older than any max_age_ms.
    const Proposal old = proposal("Very old question");
    QList<QByteArray> argv{"XADD", qb(RedisSchema::kProposals), "1-0"};
    for (const auto &[f, v] : ProposalCodec::encode(old)) {
        argv.append(qb(f));
        argv.append(qb(v));
    }
    QVERIFY(!m_console.command(argv).isError());
    QCOMPARE(streamLength(), 1);
    const RedisValue r = propose(proposal("A new question"));
    QVERIFY2(r.isStatus(), qPrintable(r.toString()));
    QCOMPARE(streamLength(), 1);
    QVERIFY(m_console.command({"XRANGE", qb(RedisSchema::kProposals), "1-0", "1-0"}).elements.isEmpty());
}

// Retention: a drain with nothing to move still trims proposals older than
// max_age_ms, so users' prompts are not kept while no new miss arrives.
void TestProposalFunction::quietStreamForgetsOldProposals()
{
    const Proposal old = proposal("A question nobody asks again");
    QList<QByteArray> argv{"XADD", qb(RedisSchema::kProposals), "1-0"};
    for (const auto &[f, v] : ProposalCodec::encode(old)) {
        argv.append(qb(f));
        argv.append(qb(v));
    }
    QVERIFY(!m_console.command(argv).isError());
    // A recent one stays.
    QVERIFY(
        !m_console.command({"XADD", qb(RedisSchema::kProposals), "*", "key", qb(old.key), "fields", "x"}).isError());
    QCOMPARE(inboxLength(), 0);
    const RedisValue r = drain();
    QVERIFY2(r.isArray() && r.elements.value(0).integer == 0, qPrintable(r.toString()));
    QCOMPARE(m_console.command({"XLEN", qb(RedisSchema::kProposals)}).integer, 1);
    QVERIFY(m_console.command({"XRANGE", qb(RedisSchema::kProposals), "1-0", "1-0"}).elements.isEmpty());
}

void TestProposalFunction::retentionDefaultsAreExplicitAndConfigurable()
{
    // The documented defaults are the function's.
    const std::string_view lua = ProposalFunction::kLibrary;
    QVERIFY(lua.find("max_age_ms = " + std::to_string(ProposalFunction::kDefaultMaxAgeMs) + ",") != lua.npos);
    QVERIFY(lua.find("seen_ttl_ms = " + std::to_string(ProposalFunction::kDefaultSeenTtlMs) + ",") != lua.npos);
    QCOMPARE(ProposalFunction::kDefaultMaxAgeMs, 7LL * 24 * 3600 * 1000);
    QCOMPARE(ProposalFunction::kDefaultSeenTtlMs, 24LL * 3600 * 1000);

    const Proposal first = proposal("Counted with the default retention");
    QVERIFY(propose(first).isStatus());
    const qint64 defaultTtl = m_console.command({"PTTL", qb(RedisSchema::seenKey(first.key))}).integer;
    QVERIFY2(defaultTtl > ProposalFunction::kDefaultSeenTtlMs - 60000
                 && defaultTtl <= ProposalFunction::kDefaultSeenTtlMs,
             qPrintable(QString::number(defaultTtl)));

    // Thirty days of demand, one hour of proposals.
    setLimits({"seen_ttl_ms", QByteArray::number(30LL * 24 * 3600 * 1000), "max_age_ms", "3600000"});
    const Proposal second = proposal("Counted with a longer retention");
    QVERIFY(propose(second).isStatus());
    const qint64 ttl = m_console.command({"PTTL", qb(RedisSchema::seenKey(second.key))}).integer;
    QVERIFY2(ttl > 29LL * 24 * 3600 * 1000, qPrintable(QString::number(ttl)));
    // An entry two hours old goes at the next drain.
    const RedisValue time = m_console.command({"TIME"});
    const qint64 nowMs = time.elements.value(0).str.toLongLong() * 1000;
    const QByteArray twoHoursAgo = QByteArray::number(nowMs - 2 * 3600 * 1000) + "-0";
    QVERIFY(!m_console.command({"XADD", qb(RedisSchema::kProposals), twoHoursAgo, "key", qb(first.key), "fields", "x"})
                 .isError());
    QVERIFY(drain().isArray());
    QVERIFY(m_console.command({"XRANGE", qb(RedisSchema::kProposals), twoHoursAgo, twoHoursAgo}).elements.isEmpty());
    QCOMPARE(streamLength(), 2);
}

void TestProposalFunction::rateLimitsNewProposalsPerNamespace()
{
    // The limits count per minute of the server's clock: start early in a minute.
    auto secondOfMinute = [this] { return m_console.command({"TIME"}).elements.value(0).str.toLongLong() % 60; };
    QTRY_VERIFY_WITH_TIMEOUT(secondOfMinute() < 50, 15000);
    setLimits({"ns_per_min", "5", "total_per_min", "8"});
    for (int i = 0; i < 5; ++i)
        QCOMPARE(propose(proposal("a" + std::to_string(i), "tenant-a")).str, qb(ProposalFunction::kProposed));
    RedisValue r = propose(proposal("a5", "tenant-a"));
    QVERIFY2(r.isError() && r.str.startsWith(qb(ProposalFunction::kRateLimited)) && r.str.contains("namespace"),
             qPrintable(r.toString()));
    // Demand for a key already proposed is still counted.
    QCOMPARE(propose(proposal("a0", "tenant-a", "eu")).str, qb(ProposalFunction::kCounted));
    // Another namespace has its own budget, within the global one.
    for (int i = 0; i < 3; ++i)
        QCOMPARE(propose(proposal("b" + std::to_string(i), "tenant-b")).str, qb(ProposalFunction::kProposed));
    r = propose(proposal("b3", "tenant-b"));
    QVERIFY2(r.isError() && r.str.startsWith(qb(ProposalFunction::kRateLimited)) && !r.str.contains("namespace"),
             qPrintable(r.toString()));
    QCOMPARE(streamLength(), 8);
    // A refused proposal left no demand counter behind.
    QCOMPARE(m_console.command({"EXISTS", qb(RedisSchema::seenKey(proposal("b3", "tenant-b").key))}).integer, 0);
}

// Gateways only append to the inbox; the stream is the console's.
void TestProposalFunction::proposalWaitsInTheInboxUntilDrained()
{
    const Proposal p = proposal("Where does a proposal wait?");
    QCOMPARE(propose(p).str, qb(ProposalFunction::kProposed));
    QCOMPARE(inboxLength(), 1);
    QCOMPARE(m_console.command({"XLEN", qb(RedisSchema::kProposals)}).integer, 0);
    const RedisValue r = drain(10);
    QVERIFY2(r.elements.size() == 3 && r.elements[0].integer == 1 && r.elements[1].integer == 0
                 && r.elements[2].elements.isEmpty(),
             qPrintable(r.toString()));
    QCOMPARE(inboxLength(), 0);
    // In the stream exactly as gateways used to append it: fields "key" and "fields".
    const RedisValue range = m_console.command({"XRANGE", qb(RedisSchema::kProposals), "-", "+"});
    const RedisValue kv = range.elements.value(0).elements.value(1);
    QCOMPARE(kv.elements.size(), 4);
    QCOMPARE(kv.elements[0].str, QByteArray("key"));
    QCOMPARE(kv.elements[1].str, qb(p.key));
    QCOMPARE(kv.elements[2].str, QByteArray("fields"));
    QCOMPARE(kv.elements[3].str, packed(p));
    // An empty inbox drains to nothing.
    const RedisValue empty = drain(10);
    QVERIFY2(empty.elements.size() == 3 && empty.elements[0].integer == 0, qPrintable(empty.toString()));
}

// A console that is away for long: gateways are refused rather than fill
// memory, and a refused key counts no demand, so it is proposed again later.
void TestProposalFunction::fullInboxRefusesNewProposals()
{
    setLimits({"inbox_max_len", "3"});
    for (int i = 0; i < 3; ++i)
        QCOMPARE(propose(proposal("queued " + std::to_string(i))).str, qb(ProposalFunction::kProposed));
    const Proposal late = proposal("one too many");
    RedisValue r = propose(late);
    QVERIFY2(r.isError() && r.str.startsWith(qb(ProposalFunction::kInboxFull)), qPrintable(r.toString()));
    QCOMPARE(inboxLength(), 3);
    QCOMPARE(m_console.command({"EXISTS", qb(RedisSchema::seenKey(late.key))}).integer, 0);
    // Demand for a key already proposed is still counted.
    Proposal again = proposal("queued 0");
    again.region = "eu";
    QCOMPARE(propose(again).str, qb(ProposalFunction::kCounted));
    QCOMPARE(streamLength(), 3);
    r = propose(late);
    QVERIFY2(r.isStatus() && r.str == qb(ProposalFunction::kProposed), qPrintable(r.toString()));
}

// The inbox is untrusted: the gateway user can RPUSH anything to it.
void TestProposalFunction::drainDropsMalformedElementsAndMovesTheRest()
{
    const QByteArray inbox = qb(RedisSchema::kProposalInbox);
    const Proposal good = proposal("A good one among junk");
    QCOMPARE(propose(good).str, qb(ProposalFunction::kProposed));
    const QByteArray key = qb(good.key);
    const QByteArray fields = packed(good);
    const QList<QByteArray> junk{
        "",
        "junk",
        "32:" + key, // no fields, no comma
        "5:hello," + fields,
        "32:" + key.toUpper() + "," + fields,
        "32:" + key + ",5:admin,1:1," + fields,
        "32:" + key + "," + fields.left(fields.size() - 2),
        "32:" + key + "," + fields + QByteArray(40000, 'x'),
    };
    for (const QByteArray &element : junk)
        QVERIFY(!m_gateway.command({"RPUSH", inbox, element}).isError());
    const Proposal later = proposal("A good one after the junk");
    QCOMPARE(propose(later).str, qb(ProposalFunction::kProposed));

    const RedisValue r = drain();
    QVERIFY2(r.elements.size() == 3, qPrintable(r.toString()));
    QCOMPARE(r.elements[0].integer, 2);
    QCOMPARE(r.elements[1].integer, 0);
    const QList<RedisValue> dropped = r.elements[2].elements;
    QCOMPARE(dropped.size(), 2 * junk.size());
    for (qsizetype i = 0; i < dropped.size(); i += 2) {
        QVERIFY2(!dropped[i].str.isEmpty(), qPrintable(r.toString()));
        QVERIFY(dropped[i + 1].str.size() <= 100);
    }
    QVERIFY2(dropped[2].str.contains("not a key netstring"), dropped[2].str.constData());
    QVERIFY2(dropped[8].str.contains("key is not 32 lower-case hex digits"), dropped[8].str.constData());
    QVERIFY2(dropped[10].str.contains("unknown field \"admin\""), dropped[10].str.constData());
    QVERIFY2(dropped[14].str.contains("the limit is"), dropped[14].str.constData());
    QCOMPARE(m_console.command({"XLEN", qb(RedisSchema::kProposals)}).integer, 2);
    const auto last = decodeEntry(
        m_console.command({"XREVRANGE", qb(RedisSchema::kProposals), "+", "-", "COUNT", "1"}));
    QVERIFY(last.has_value());
    QCOMPARE(last->key, later.key);
}

void TestProposalFunction::drainIsBoundedPerCall()
{
    setLimits({"ns_per_min", "100000", "total_per_min", "100000"});
    for (int i = 0; i < 5; ++i)
        QCOMPARE(propose(proposal("bounded " + std::to_string(i))).str, qb(ProposalFunction::kProposed));
    RedisValue r = drain(2);
    QVERIFY2(r.elements.size() == 3 && r.elements[0].integer == 2 && r.elements[1].integer == 3,
             qPrintable(r.toString()));
    r = drain(1000000);
    QVERIFY2(r.elements.size() == 3 && r.elements[0].integer == 3 && r.elements[1].integer == 0,
             qPrintable(r.toString()));
    for (const QByteArray &count : {QByteArray("0"), QByteArray("-1"), QByteArray("many")}) {
        r = m_console.command({"FCALL", qb(ProposalFunction::kDrainName), "0", count});
        QVERIFY2(r.isError() && r.str.contains("usage"), qPrintable(r.toString()));
    }
}

// l0l3_served: what gateways flush of the answers they served, per key, region and hour.
void TestProposalFunction::servedCountsPerRegionAndHour()
{
    const QByteArray a(32, 'a');
    const QByteArray b(32, 'b');
    const QByteArray served = qb(RedisSchema::servedKey(a.toStdString()));
    const RedisValue counted = m_gateway.command(
        {"FCALL", qb(ProposalFunction::kServedName), "0", "nyc", a, "2", b, "5"});
    QVERIFY2(counted.isInteger(), counted.str.constData());
    QCOMPARE(counted.integer, 2);
    const qint64 hour = m_console.command({"TIME"}).elements.value(0).str.toLongLong() / 3600;
    QCOMPARE(m_console.command({"HGETALL", served}).elements.size(), 2);
    const QByteArray field = "nyc:" + QByteArray::number(hour);
    // The hour may have turned between the call and TIME: the field is this hour's or the one before.
    const QByteArray value = m_console.command({"HGET", served, field}).str;
    const QByteArray before = m_console.command({"HGET", served, "nyc:" + QByteArray::number(hour - 1)}).str;
    QVERIFY2(value == "2" || before == "2", field.constData());
    const qint64 ttl = m_console.command({"PTTL", served}).integer;
    QVERIFY2(ttl > 24LL * 3600 * 1000 && ttl <= 25LL * 3600 * 1000, QByteArray::number(ttl));

    // A region's first count in an hour drops the hours older than a day (and fields that do not parse).
    QCOMPARE(m_gateway.command({"HINCRBY", served, "nyc:1", "9"}).integer, 9);
    QCOMPARE(m_gateway.command({"HINCRBY", served, "junk", "1"}).integer, 1);
    QCOMPARE(m_gateway.command({"FCALL", qb(ProposalFunction::kServedName), "0", "tokyo", a, "1"}).integer, 1);
    const RedisValue all = m_console.command({"HGETALL", served});
    QCOMPARE(all.elements.size(), 4); // nyc and tokyo, this hour
    for (qsizetype i = 0; i < all.elements.size(); i += 2)
        QVERIFY2(all.elements[i].str != "nyc:1" && all.elements[i].str != "junk", all.elements[i].str.constData());

    // Only gateways count: the console reads the counts, never writes them.
    QVERIFY(m_console.command({"HINCRBY", served, field, "1"}).isError());
}

void TestProposalFunction::servedRefusesMalformedCalls_data()
{
    QTest::addColumn<QList<QByteArray>>("args");
    QTest::addColumn<QByteArray>("error");
    const QByteArray key(32, 'c');
    QTest::newRow("no pair") << QList<QByteArray>{"nyc"} << QByteArray("ERR usage");
    QTest::newRow("odd") << QList<QByteArray>{"nyc", key} << QByteArray("ERR usage");
    QTest::newRow("region with a colon") << QList<QByteArray>{"ny:c", key, "1"} << QByteArray("BADSERVED region");
    QTest::newRow("empty region") << QList<QByteArray>{"", key, "1"} << QByteArray("BADSERVED region");
    QTest::newRow("long region") << QList<QByteArray>{QByteArray(65, 'r'), key, "1"} << QByteArray("BADSERVED region");
    QTest::newRow("key not hex") << QList<QByteArray>{"nyc", QByteArray(32, 'g'), "1"} << QByteArray("BADSERVED key");
    QTest::newRow("short key") << QList<QByteArray>{"nyc", "abc", "1"} << QByteArray("BADSERVED key");
    QTest::newRow("zero") << QList<QByteArray>{"nyc", key, "0"} << QByteArray("BADSERVED count");
    QTest::newRow("negative") << QList<QByteArray>{"nyc", key, "-1"} << QByteArray("BADSERVED count");
    QTest::newRow("too large") << QList<QByteArray>{"nyc", key, "1000000000"} << QByteArray("BADSERVED count");
    QTest::newRow("not a number") << QList<QByteArray>{"nyc", key, "1x"} << QByteArray("BADSERVED count");
    QList<QByteArray> many{"nyc"};
    for (int i = 0; i <= ProposalFunction::kServedMaxPairs; ++i)
        many << key << "1";
    QTest::newRow("too many keys") << many << QByteArray("BADSERVED more than");
}

void TestProposalFunction::servedRefusesMalformedCalls()
{
    QFETCH(QList<QByteArray>, args);
    QFETCH(QByteArray, error);
    QList<QByteArray> argv{"FCALL", qb(ProposalFunction::kServedName), "0"};
    argv += args;
    const RedisValue r = m_gateway.command(argv);
    QVERIFY(r.isError());
    QVERIFY2(r.str.startsWith(error), r.str.constData());
    // Refused whole: nothing counted for the good pairs either.
    QVERIFY(m_console.command({"EXISTS", qb(RedisSchema::servedKey(std::string(32, 'c')))}).integer == 0);
}

void TestProposalFunction::l1ReviewSampleIsBounded()
{
    const QByteArray key = qb(proposal("How can I reset my password?").key);
    const QByteArray entry = qb(proposal("How do I reset my password?").key);
    auto review = [&](const QList<QByteArray> &args) {
        QList<QByteArray> argv{"FCALL", qb(ProposalFunction::kL1ReviewName), "0"};
        argv.append(args);
        return m_gateway.command(argv);
    };
    RedisValue r = review({key, entry, "0.9412", "default", "How can I reset my password?", "nyc"});
    QVERIFY2(r.isStatus() && r.str == "sampled", qPrintable(r.toString()));
    const RedisValue all = m_console.command({"XRANGE", qb(RedisSchema::kL1Review), "-", "+"});
    QCOMPARE(all.elements.size(), 1);
    const auto &kv = all.elements[0].elements.value(1).elements;
    QStringList names;
    for (qsizetype i = 0; i + 1 < kv.size(); i += 2)
        names << QString::fromUtf8(kv[i].str);
    QCOMPARE(names.join(u','), QStringLiteral("key,entry,similarity,ns,prompt,region,ts"));
    QCOMPARE(kv.value(1).str, key);
    QCOMPARE(kv.value(3).str, entry);

    const QList<QList<QByteArray>> bad{
        {key.toUpper(), entry, "0.9", "default", "p", "nyc"},
        {key, "l0l3:v1:audit", "0.9", "default", "p", "nyc"},
        {key, entry, "2.5", "default", "p", "nyc"},
        {key, entry, "0.123456789", "default", "p", "nyc"},
        {key, entry, "0.9", QByteArray(300, 'n'), "p", "nyc"},
        {key, entry, "0.9", "default", QByteArray(ProposalFunction::kL1ReviewMaxPromptBytes + 1, 'p'), "nyc"},
        {key, entry, "0.9", "default", "p", "n y c"},
    };
    for (const QList<QByteArray> &args : bad) {
        r = review(args);
        QVERIFY2(r.isError() && r.str.startsWith("BADREVIEW"), qPrintable(r.toString()));
    }
    QVERIFY(review({key, entry}).isError());
    QCOMPARE(m_console.command({"XLEN", qb(RedisSchema::kL1Review)}).integer, 1);
    // The gateway user may append through the function only: no read, no trim of its own.
    QVERIFY(m_gateway.command({"XRANGE", qb(RedisSchema::kL1Review), "-", "+"}).isError());
    QVERIFY(m_gateway.command({"XTRIM", qb(RedisSchema::kL1Review), "MAXLEN", "0"}).isError());
}

QTEST_GUILESS_MAIN(TestProposalFunction)
#include "tst_proposalfunction.moc"
