#include <QTcpServer>
#include <QTest>

#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/prometheusparser.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/common/redisurl.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatrequest.h"
#include "core/gateway/gatewaymetrics.h"
#include "core/gateway/hotcache.h"
#include "core/gateway/proposer.h"
#include "core/gateway/tierchain.h"
#include "tests/support/asioloop.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kModel = "gpt-4o-mini";

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

RedisUrl gatewayUrl(const RedisServer &server)
{
    auto url = RedisUrl::parse(server.url(QStringLiteral("gateway")).toStdString());
    return url ? *url : RedisUrl{};
}

// A loopback port nothing listens on.
RedisUrl closedUrl()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    RedisUrl url;
    url.host = "127.0.0.1";
    url.port = probe.serverPort();
    return url;
}

AsioRedisConnection::Options options(const RedisUrl &url, const char *role)
{
    AsioRedisConnection::Options o;
    o.url = url;
    o.role = role;
    o.commandTimeoutMs = 500;
    o.maxBackoffMs = 100;
    return o;
}

ChatRequest request(const std::string &prompt)
{
    ChatRequest r;
    r.model = std::string(kModel);
    r.user = prompt;
    r.lastUser = prompt;
    r.singleTurn = true;
    return r;
}

std::string keyOf(const std::string &ns, const ChatRequest &r)
{
    return CacheKey::derive({ns, r.system, r.user, r.model, r.responseFormat, r.tools, r.toolChoice});
}

double metric(const GatewayMetrics &metrics, const std::string &name,
              const std::map<std::string, std::string> &match = {})
{
    std::string text;
    metrics.render(text, GatewayMetrics::Gauges{});
    double sum = 0;
    for (const PromSample &s : PrometheusParser::parse(text)) {
        if (s.name != name)
            continue;
        bool all = true;
        for (const auto &[k, v] : match)
            all = all && s.labels.count(k) && s.labels.at(k) == v;
        if (all)
            sum += s.value;
    }
    return sum;
}

} // namespace

// The gateway's lookup order and its fallbacks, and the proposer, against real
// redis-servers with the ACL users: L0.5 before L0, L0 copied into L0.5, the
// reason of each miss, the fallback sources while the local replica is down,
// and one proposal per missed key.
class TestTierChain : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void cleanup();

    void hotCacheBeforeReplica();
    void missReasons_data();
    void missReasons();
    void replicaDownWithoutFallback();
    void replicaDownReadsFallbacks();
    void missProposesOnce();
    void proposalsThatCannotGoOut();
    void proposalsGoOutInBatches();

private:
    // Writes an entry for (ns, prompt) on server; returns its key.
    std::string store(RedisServer &server, const std::string &ns, const std::string &prompt,
                      const std::string &response);
    // Runs lookup() to its callback; nullopt when it did not call back in time.
    std::optional<TierChain::Result> lookup(TierChain &chain, const std::string &key, const std::string &ns,
                                            const ChatRequest &r, bool *synchronous = nullptr);
    // A started connection to url; with waitReady, once it is ready or 5 s (scaled) have passed: the caller
    // checks isReady().
    std::unique_ptr<AsioRedisConnection> connect(const RedisUrl &url, const char *role, bool waitReady = true);
    // The length of the proposal inbox on m_primary.
    long long inboxLength();
    // A proposal from region nyc in namespace acme for a unique prompt, its key derived.
    Proposal proposal(const std::string &what);

    RedisServer m_local;   // the gateway's own replica (stand-alone here: TierChain only reads)
    RedisServer m_primary; // fallback source and proposal target, with the l0l3 functions
    std::unique_ptr<AsioLoop> m_loop;
    std::unique_ptr<GatewayMetrics> m_metrics;
    std::unique_ptr<HotCache> m_hot;
    int m_counter = 0;
};

void TestTierChain::initTestCase()
{
    QString error;
    QVERIFY2(m_local.start({}, &error), qPrintable(error));
    QVERIFY2(m_primary.start({}, &error), qPrintable(error));
}

void TestTierChain::cleanupTestCase()
{
    QVERIFY(m_local.stop());
    QVERIFY(m_primary.stop());
}

void TestTierChain::init()
{
    m_loop = std::make_unique<AsioLoop>();
    m_metrics = std::make_unique<GatewayMetrics>("nyc");
    m_hot = std::make_unique<HotCache>(HotCache::Options{});
}

void TestTierChain::cleanup()
{
    m_hot.reset();
    m_metrics.reset();
    m_loop.reset();
}

std::string TestTierChain::store(RedisServer &server, const std::string &ns, const std::string &prompt,
                                 const std::string &response)
{
    Entry e;
    e.key = keyOf(ns, request(prompt));
    e.ns = ns;
    e.prompt = prompt;
    e.model = std::string(kModel);
    e.response = response;
    e.approvedBy = "tst_tierchain";
    RedisClient console = server.client(QStringLiteral("console"));
    if (!console.command({"SET", bytes(RedisSchema::entryKey(e.key)), bytes(EntryCodec::encode(e))}).isStatus())
        return {};
    return e.key;
}

std::optional<TierChain::Result> TestTierChain::lookup(TierChain &chain, const std::string &key, const std::string &ns,
                                                       const ChatRequest &r, bool *synchronous)
{
    std::optional<TierChain::Result> result;
    chain.lookup(key, ns, r, [&](TierChain::Result got) { result = std::move(got); });
    if (synchronous)
        *synchronous = result.has_value();
    if (!m_loop->runUntil([&] { return result.has_value(); }, 3000))
        return std::nullopt;
    return result;
}

std::unique_ptr<AsioRedisConnection> TestTierChain::connect(const RedisUrl &url, const char *role, bool waitReady)
{
    auto connection = std::make_unique<AsioRedisConnection>(m_loop->context, options(url, role));
    connection->start();
    if (waitReady)
        m_loop->runUntil([&] { return connection->isReady(); }, 5000);
    return connection;
}

long long TestTierChain::inboxLength()
{
    return m_primary.client(QStringLiteral("console")).command({"LLEN", bytes(RedisSchema::kProposalInbox)}).integer;
}

Proposal TestTierChain::proposal(const std::string &what)
{
    Proposal p;
    p.ns = "acme";
    p.prompt = what + ' ' + std::to_string(++m_counter);
    p.model = std::string(kModel);
    p.response = "An upstream answer.";
    p.region = "nyc";
    p.key = p.derivedKey();
    return p;
}

void TestTierChain::hotCacheBeforeReplica()
{
    const auto replica = connect(gatewayUrl(m_local), "replica");
    QVERIFY(replica->isReady());
    TierChain chain(m_hot.get(), *replica, *m_metrics);

    const std::string ns = "acme";
    const std::string prompt = "What is the refund policy? " + std::to_string(++m_counter);
    const ChatRequest r = request(prompt);
    const std::string key = store(m_local, ns, prompt, "Refunds within 30 days.");
    QVERIFY(!key.empty());
    QVERIFY(!chain.lookupHot(key));

    // L0: read from the replica, then kept in L0.5.
    bool synchronous = true;
    auto result = lookup(chain, key, ns, r, &synchronous);
    QVERIFY(result);
    QVERIFY(!synchronous);
    QCOMPARE(result->tier, TierChain::Tier::Exact);
    QVERIFY(result->answer);
    QCOMPARE(result->answer->escapedContent, std::string("Refunds within 30 days."));
    QVERIFY(!result->fromFallback);
    QVERIFY(chain.lookupHot(key));

    // L0.5 answers first, without asking Redis: the entry is gone there, the copy is served.
    RedisClient console = m_local.client(QStringLiteral("console"));
    QCOMPARE(console.command({"DEL", bytes(RedisSchema::entryKey(key))}).integer, 1);
    result = lookup(chain, key, ns, r, &synchronous);
    QVERIFY(result);
    QVERIFY(synchronous);
    QCOMPARE(result->tier, TierChain::Tier::HotCache);

    // Invalidated, it is read from L0 again, where it is absent now.
    QVERIFY(m_hot->invalidate(key));
    result = lookup(chain, key, ns, r);
    QVERIFY(result);
    QCOMPARE(result->tier, TierChain::Tier::None);
    QVERIFY(!result->answer);
    QCOMPARE(std::string(result->missReason), std::string("absent"));
    replica->stop();
}

void TestTierChain::missReasons_data()
{
    QTest::addColumn<QByteArray>("value"); // what is stored under the key; %P: the prompt
    QTest::addColumn<QByteArray>("type");  // "string" or "hash"
    QTest::addColumn<QString>("reason");
    QTest::addColumn<int>("mismatches");
    QTest::addColumn<int>("corrupt");

    QTest::newRow("not JSON") << QByteArray("{\"fmt\":1,") << QByteArray("string") << QStringLiteral("corrupt entry")
                              << 0 << 1;
    QTest::newRow("under another key") << QByteArray(
        "{\"fmt\":1,\"key\":\"00000000000000000000000000000000\",\"response\":\"x\"}")
                                       << QByteArray("string") << QStringLiteral("corrupt entry") << 0 << 1;
    QTest::newRow("another namespace") << QByteArray("ns=globex") << QByteArray("string")
                                       << QStringLiteral("entry for another namespace") << 1 << 0;
    QTest::newRow("another prompt") << QByteArray("prompt=Say yes.") << QByteArray("string")
                                    << QStringLiteral("entry for another question") << 1 << 0;
    QTest::newRow("a hash") << QByteArray("x") << QByteArray("hash") << QStringLiteral("replica error") << 0 << 0;
}

// Every miss is a miss for a reason, counted where it says something is wrong, never put in L0.5.
void TestTierChain::missReasons()
{
    QFETCH(QByteArray, value);
    QFETCH(QByteArray, type);
    QFETCH(QString, reason);
    QFETCH(int, mismatches);
    QFETCH(int, corrupt);
    const auto replica = connect(gatewayUrl(m_local), "replica");
    QVERIFY(replica->isReady());
    TierChain chain(m_hot.get(), *replica, *m_metrics);

    const std::string ns = "acme";
    const std::string prompt = "Miss reasons question " + std::to_string(++m_counter);
    const ChatRequest r = request(prompt);
    const std::string key = keyOf(ns, r);
    const QByteArray redisKey = bytes(RedisSchema::entryKey(key));
    RedisClient console = m_local.client(QStringLiteral("console"));
    if (value.startsWith("ns=") || value.startsWith("prompt=")) {
        Entry e;
        e.key = key;
        e.ns = value.startsWith("ns=") ? value.mid(3).toStdString() : ns;
        e.prompt = value.startsWith("prompt=") ? value.mid(7).toStdString() : prompt;
        e.model = std::string(kModel);
        e.response = "Not for this request.";
        value = bytes(EntryCodec::encode(e));
    }
    if (type == "hash")
        QVERIFY(!console.command({"HSET", redisKey, "response", value}).isError());
    else
        QVERIFY(console.command({"SET", redisKey, value}).isStatus());

    for (int i = 1; i <= 2; ++i) { // the second read may take a remembered decoding
        const auto result = lookup(chain, key, ns, r);
        QVERIFY(result);
        QCOMPARE(result->tier, TierChain::Tier::None);
        QVERIFY(!result->answer);
        QCOMPARE(QString::fromUtf8(result->missReason.data(), result->missReason.size()), reason);
        QVERIFY(!chain.lookupHot(key));
        QCOMPARE(metric(*m_metrics, "l0l3_entry_mismatches_total"), double(i * mismatches));
        QCOMPARE(metric(*m_metrics, "l0l3_corrupt_entries_total"), double(i * corrupt));
    }
    replica->stop();
}

// No replica and nowhere else to read: a miss at once, not after a timeout.
void TestTierChain::replicaDownWithoutFallback()
{
    const auto replica = connect(closedUrl(), "replica", false);
    TierChain chain(m_hot.get(), *replica, *m_metrics);
    const ChatRequest r = request("Is anyone there?");
    const auto started = Clock::now();
    const auto result = lookup(chain, keyOf("acme", r), "acme", r);
    QVERIFY(result);
    QCOMPARE(result->tier, TierChain::Tier::None);
    QCOMPARE(std::string(result->missReason), std::string("replica unavailable"));
    QVERIFY(Clock::now() - started < std::chrono::milliseconds(TimeScale::ms(250))); // well under the 500 ms deadline
    replica->stop();
}

// While the local replica is down, L0 reads the fallback replica, else the primary; entries are the same there.
void TestTierChain::replicaDownReadsFallbacks()
{
    const std::string ns = "acme";
    const std::string prompt = "Fallback question " + std::to_string(++m_counter);
    const ChatRequest r = request(prompt);
    const std::string key = store(m_primary, ns, prompt, "From elsewhere.");
    QVERIFY(!key.empty());

    const auto replica = connect(closedUrl(), "replica", false);
    const auto fallbackReplica = connect(gatewayUrl(m_primary), "fallback_replica");
    const auto primary = connect(gatewayUrl(m_primary), "primary");
    QVERIFY(fallbackReplica->isReady() && primary->isReady());
    TierChain chain(nullptr, *replica, *m_metrics); // no L0.5: every lookup reads Redis
    chain.setFallbacks(fallbackReplica.get(), primary.get());

    // Each step: the connection stopped before the lookup, and the source that answers it (none: a miss).
    using Source = GatewayMetrics::FallbackSource;
    const struct
    {
        AsioRedisConnection *stopped;
        std::optional<Source> source;
    } steps[] = {
        {nullptr, Source::FallbackReplica},
        {fallbackReplica.get(), Source::Primary}, // the fallback replica down too: the primary
        {primary.get(), std::nullopt},            // nothing left: a miss
    };
    for (const auto &step : steps) {
        if (step.stopped)
            step.stopped->stop();
        const auto result = lookup(chain, key, ns, r);
        QVERIFY(result);
        if (!step.source) {
            QCOMPARE(result->tier, TierChain::Tier::None);
            QCOMPARE(std::string(result->missReason), std::string("replica unavailable"));
            continue;
        }
        QCOMPARE(result->tier, TierChain::Tier::Exact);
        QVERIFY(result->fromFallback);
        QCOMPARE(m_metrics->fallbackReads(*step.source), std::uint64_t(1));
    }
    replica->stop();
}

// The proposal function appends a key's first miss only; later misses are counted, not proposed again.
void TestTierChain::missProposesOnce()
{
    const auto primary = connect(gatewayUrl(m_primary), "primary");
    QVERIFY(primary->isReady());
    Proposer proposer(*primary, *m_metrics, "nyc");
    const long long before = inboxLength();

    const Proposal p = proposal("Proposed once");
    for (int i = 0; i < 3; ++i)
        proposer.propose(p);
    // Replies come in order: once a later command is answered, so are the three proposals.
    bool barrier = false;
    primary->command({"PING"}, [&](const redisReply *, std::string_view) { barrier = true; });
    QVERIFY(m_loop->runUntil([&] { return barrier; }, 3000));
    QCOMPARE(inboxLength(), before + 1);
    QCOMPARE(metric(*m_metrics, "l0l3_proposals_total"), 1.0);
    QCOMPARE(metric(*m_metrics, "l0l3_proposals_failed_total"), 0.0);
    primary->stop();
}

// A proposal that does not reproduce its key, or with the primary down, is counted as failed and dropped.
void TestTierChain::proposalsThatCannotGoOut()
{
    const auto primary = connect(gatewayUrl(m_primary), "primary");
    QVERIFY(primary->isReady());
    Proposer proposer(*primary, *m_metrics, "nyc");
    const long long before = inboxLength();

    const Proposal p = proposal("Forged");
    Proposal forged = p;
    forged.key = keyOf("globex", request(forged.prompt)); // another tenant's key
    proposer.propose(forged);
    QCOMPARE(metric(*m_metrics, "l0l3_proposals_failed_total"), 1.0); // refused before sending

    const auto down = connect(closedUrl(), "primary", false);
    Proposer nowhere(*down, *m_metrics, "nyc");
    nowhere.propose(p);
    QVERIFY(m_loop->runUntil([&] { return metric(*m_metrics, "l0l3_proposals_failed_total") == 2.0; }, 3000));
    QCOMPARE(inboxLength(), before);
    QCOMPARE(metric(*m_metrics, "l0l3_proposals_total"), 0.0);
    down->stop();
    primary->stop();
}

// A batching Proposer holds proposals until its timer, flush() or kMaxBatch of them; then each is sent.
void TestTierChain::proposalsGoOutInBatches()
{
    const auto primary = connect(gatewayUrl(m_primary), "primary");
    QVERIFY(primary->isReady());
    const long long before = inboxLength();
    const auto answered = [&] { // replies come in order: once PING is answered, so is everything sent before it
        bool barrier = false;
        primary->command({"PING"}, [&](const redisReply *, std::string_view) { barrier = true; });
        return m_loop->runUntil([&] { return barrier; }, 3000);
    };

    {
        // A window no test waits for (a protocol timer, not a wall-clock bound): only flush() sends.
        Proposer proposer(m_loop->context, *primary, *m_metrics, "nyc", 3600 * 1000);
        for (int i = 0; i < 3; ++i)
            proposer.propose(proposal("Batched"));
        QVERIFY(answered());
        QCOMPARE(inboxLength(), before);
        proposer.flush();
        QVERIFY(answered());
        QCOMPARE(inboxLength(), before + 3);
        QCOMPARE(metric(*m_metrics, "l0l3_proposals_total"), 3.0);

        // A full batch goes out without waiting.
        for (std::size_t i = 0; i + 1 < Proposer::kMaxBatch; ++i)
            proposer.propose(proposal("Full batch"));
        QVERIFY(answered());
        QCOMPARE(inboxLength(), before + 3);
        proposer.propose(proposal("Full batch"));
        QVERIFY(answered());
        QCOMPARE(inboxLength(), before + 3 + static_cast<long long>(Proposer::kMaxBatch));

        // Still waiting when the Proposer goes: dropped, never sent.
        proposer.propose(proposal("Dropped"));
    }
    QVERIFY(answered());
    const long long sent = before + 3 + static_cast<long long>(Proposer::kMaxBatch);
    QCOMPARE(inboxLength(), sent);

    // The timer sends a batch by itself.
    Proposer timed(m_loop->context, *primary, *m_metrics, "nyc", 20);
    timed.propose(proposal("Timed"));
    timed.propose(proposal("Timed"));
    QVERIFY(m_loop->runUntil([&] { return metric(*m_metrics, "l0l3_proposals_total") == double(sent - before + 2); },
                             3000));
    QCOMPARE(inboxLength(), sent + 2);
    QCOMPARE(metric(*m_metrics, "l0l3_proposals_failed_total"), 0.0);
    primary->stop();
}

QTEST_GUILESS_MAIN(TestTierChain)
#include "tst_tierchain.moc"
