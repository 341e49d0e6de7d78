#include <QDateTime>
#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/common/cachekey.h"
#include "core/common/proposalfunction.h"
#include "core/control/proposalqueue.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

// ProposalQueue on a stream seeded exactly as gateways do it.
class TestProposalQueue : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void savingsFormula_data();
    void savingsFormula();
    void ranksMergesAndSkipsMalformed();
    void skipsApprovedAndRejectedKeys();
    void pagesThroughThousands();
    void pollPicksUpNewProposals();
    void twoQueuesSeeWhatTheOtherDelivered();
    void reloadSeesPendingFromEarlierSession();
    void reloadPagesThroughPendingThousands();
    void loadInstallsTheProposeFunction();
    void gatewayProposalReachesTheQueueThroughTheInbox();
    void malformedInboxElementIsDroppedAndCounted();

private:
    bool loadAll(ProposalQueue &queue);
    // FCALL l0l3_propose as the gateway user, as Proposer does it.
    RedisValue proposeAsGateway(const Proposal &p);

    std::unique_ptr<RedisServer> m_server;
    std::unique_ptr<RedisConnection> m_conn;
    RedisClient m_client;
};

void TestProposalQueue::initTestCase()
{
    m_server = std::make_unique<RedisServer>();
    QString why;
    QVERIFY2(m_server->start({}, &why), qPrintable(why));
    m_client = m_server->client();
    QVERIFY(m_client.isConnected());
    m_conn = std::make_unique<RedisConnection>(optionsFor(*m_server));
    QSignalSpy connected(m_conn.get(), &RedisConnection::connected);
    m_conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
}

void TestProposalQueue::cleanupTestCase()
{
    m_conn.reset();
    m_client.disconnect();
    m_server.reset();
}

void TestProposalQueue::init()
{
    for (int guard = 0; guard < 100; ++guard) {
        const RedisValue keys = m_client.command({"SCAN", "0", "MATCH", "l0l3:*", "COUNT", "100000"});
        const auto list = keys.elements.value(1).elements;
        if (list.isEmpty() && keys.elements.value(0).str == "0")
            break;
        for (const RedisValue &k : list)
            m_client.command({"DEL", k.str});
    }
}

bool TestProposalQueue::loadAll(ProposalQueue &queue)
{
    QSignalSpy finished(&queue, &ProposalQueue::loadFinished);
    QSignalSpy failed(&queue, &ProposalQueue::loadFailed);
    queue.load();
    if (!finished.wait(TimeScale::ms(30000))) {
        qWarning() << "load failed" << failed;
        return false;
    }
    return failed.isEmpty();
}

RedisValue TestProposalQueue::proposeAsGateway(const Proposal &p)
{
    RedisClient gateway = m_server->client(QStringLiteral("gateway"));
    return gateway.command(
        {"FCALL", qb(ProposalFunction::kProposeName), "0", qb(p.key), qb(ProposalCodec::encode(p).at(1).second)});
}

void TestProposalQueue::savingsFormula_data()
{
    QTest::addColumn<qint64>("seen");
    QTest::addColumn<int>("regions");
    QTest::addColumn<qint64>("upstreamMs");
    QTest::addColumn<qint64>("tokens");
    QTest::addColumn<double>("expected");
    QTest::newRow("basic") << qint64(10) << 2 << qint64(500) << qint64(0) << 10.0;
    QTest::newRow("tokens") << qint64(10) << 2 << qint64(500) << qint64(1000) << 20.0;
    QTest::newRow("zero inputs floor at one") << qint64(0) << 0 << qint64(0) << qint64(0) << 0.001;
    QTest::newRow("three regions") << qint64(4) << 3 << qint64(2000) << qint64(0) << 24.0;
}

void TestProposalQueue::savingsFormula()
{
    QFETCH(qint64, seen);
    QFETCH(int, regions);
    QFETCH(qint64, upstreamMs);
    QFETCH(qint64, tokens);
    QFETCH(double, expected);
    QCOMPARE(ProposalItem::computeSavings(seen, regions, upstreamMs, tokens), expected);
}

void TestProposalQueue::ranksMergesAndSkipsMalformed()
{
    seedProposal(m_client, makeProposal("low", "rare question", "nyc", 400), {{QStringLiteral("nyc"), 1}});
    const QString highId = seedProposal(
        m_client, makeProposal("high", "popular question", "nyc", 900),
        {{QStringLiteral("nyc"), 30}, {QStringLiteral("tokyo"), 10}, {QStringLiteral("eu"), 5}});
    seedProposal(m_client, makeProposal("mid", "somewhat popular", "eu", 900), {{QStringLiteral("eu"), 20}});
    // The same key proposed again (e.g. after its seen counter was deleted).
    const QString dupId = seedProposal(m_client, makeProposal("high", "popular question", "tokyo", 900),
                                       {{QStringLiteral("tokyo"), 1}});
    // Malformed: no response, and a number field that is not a number.
    m_client.command({"XADD", qb(RedisSchema::kProposals), "*", "key", "broken", "prompt", "x"});
    m_client.command(
        {"XADD", qb(RedisSchema::kProposals), "*", "key", "broken2", "response", "y", "upstream_ms", "fast"});
    // Packed fields that are not netstring pairs (the value's length runs past the end).
    m_client.command({"XADD", qb(RedisSchema::kProposals), "*", "key", "broken3", "fields", "8:response,9:y,"});
    // Written before the fields were packed: one stream field each.
    const QByteArray unpacked = QByteArray::fromStdString(CacheKey::derive({{}, {}, "old layout", {}, {}, {}, {}}));
    m_client.command({"XADD", qb(RedisSchema::kProposals), "*", "key", unpacked, "prompt", "old layout", "response",
                      "still read", "region", "eu", "upstream_ms", "100"});
    // Forged: well-formed, but its key is another proposal's, not the key of the fields it shows.
    Proposal forged = makeProposal("forged", "Is this safe?");
    forged.key = keyOf(QStringLiteral("low")).toStdString();
    seedProposal(m_client, forged);

    ProposalQueue queue(m_conn.get());
    QSignalSpy malformed(&queue, &ProposalQueue::malformedSkipped);
    QVERIFY(loadAll(queue));
    QCOMPARE(queue.count(), 4);
    QCOMPARE(queue.malformedCount(), 4);
    QVERIFY(!malformed.isEmpty());
    QCOMPARE(malformed.last().at(1).toLongLong(), 4);
    const QString reasons = malformed.last().at(0).toStringList().join(u'\n');
    QVERIFY2(reasons.contains(u"netstring"), qPrintable(reasons));
    QVERIFY2(reasons.contains(QStringLiteral("forged or damaged: key \"%1\"").arg(keyOf(QStringLiteral("low")))),
             qPrintable(reasons));
    // The forged entry's fields were not shown as (or merged into) the key it claims.
    QCOMPARE(queue.item(keyOf(QStringLiteral("low")))->prompt, QStringLiteral("rare question"));
    QVERIFY(queue.item(keyOf(QStringLiteral("low")))->duplicateIds.isEmpty());

    const QList<ProposalItem> ranked = queue.rankedItems();
    QCOMPARE(ranked.size(), 4);
    QCOMPARE(ranked[0].key, keyOf(QStringLiteral("high")));
    QCOMPARE(ranked[1].key, keyOf(QStringLiteral("mid")));
    QCOMPARE(ranked[2].key, keyOf(QStringLiteral("low")));
    QCOMPARE(ranked[3].key, QString::fromLatin1(unpacked));
    QCOMPARE(ranked[3].prompt, QStringLiteral("old layout"));
    QCOMPARE(ranked[3].responseText(), QStringLiteral("still read"));
    QCOMPARE(ranked[3].upstreamMs, 100);
    QCOMPARE(ranked[3].proposedRegion, QStringLiteral("eu"));
    const ProposalItem &high = ranked[0];
    QCOMPARE(high.id, highId);
    QCOMPARE(high.duplicateIds, QStringList{dupId});
    QCOMPARE(high.seenTotal, 46);
    QCOMPARE(high.regions.size(), 3);
    QCOMPARE(high.regions.value(QStringLiteral("tokyo")), 11);
    QCOMPARE(high.upstreamMs, 900);
    QCOMPARE(high.prompt, QStringLiteral("popular question"));
    QCOMPARE(high.savingsScore, ProposalItem::computeSavings(46, 3, 900, 0));
    QVERIFY(ranked[0].savingsScore > ranked[1].savingsScore);
}

void TestProposalQueue::skipsApprovedAndRejectedKeys()
{
    seedProposal(m_client, makeProposal("approved", "already done"));
    seedProposal(m_client, makeProposal("rejected", "no thanks"));
    seedProposal(m_client, makeProposal("expired-reject", "try again"));
    seedProposal(m_client, makeProposal("open", "still open"));
    m_client.command({"SET", QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("approved")).toUtf8()), "{}"});
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    m_client.command({"ZADD", qb(RedisSchema::kRejected), QByteArray::number(now + 86400000),
                      keyOf(QStringLiteral("rejected")).toUtf8()});
    m_client.command({"ZADD", qb(RedisSchema::kRejected), QByteArray::number(now - 1000),
                      keyOf(QStringLiteral("expired-reject")).toUtf8()});

    ProposalQueue queue(m_conn.get());
    QVERIFY(loadAll(queue));
    QCOMPARE(queue.count(), 2);
    QVERIFY(queue.item(keyOf(QStringLiteral("open"))).has_value());
    QVERIFY(queue.item(keyOf(QStringLiteral("expired-reject"))).has_value());
    QVERIFY(!queue.item(keyOf(QStringLiteral("approved"))).has_value());
    QCOMPARE(queue.skippedCount(), 2);

    QSignalSpy removed(&queue, &ProposalQueue::itemsRemoved);
    queue.removeKey(keyOf(QStringLiteral("open")));
    QCOMPARE(removed.count(), 1);
    QCOMPARE(queue.count(), 1);
    QVERIFY(queue.item(keyOf(QStringLiteral("expired-reject"))).has_value());
}

void TestProposalQueue::pagesThroughThousands()
{
    const int n = 5000;
    for (int i = 0; i < n; ++i)
        seedProposal(m_client,
                     makeProposal("bulk-" + std::to_string(i), "prompt " + std::to_string(i), "nyc", 100 + i % 50),
                     {{QStringLiteral("nyc"), 1 + i % 7}});
    ProposalQueue queue(m_conn.get());
    queue.setPageSize(1000);
    QSignalSpy pages(&queue, &ProposalQueue::pageLoaded);
    QVERIFY(loadAll(queue));
    QCOMPARE(queue.count(), n);
    QVERIFY2(pages.count() >= 5, qPrintable(QString::number(pages.count())));
    qint64 previous = 0;
    int items = 0;
    for (const QList<QVariant> &page : std::as_const(pages)) {
        const qint64 loaded = page.at(1).toLongLong();
        const qint64 total = page.at(2).toLongLong();
        QVERIFY(loaded > previous);
        QCOMPARE(total, qint64(n));
        previous = loaded;
        items += int(page.at(0).value<QList<ProposalItem>>().size());
    }
    QCOMPARE(previous, qint64(n));
    QCOMPARE(items, n);
    const auto ranked = queue.rankedItems();
    for (qsizetype i = 1; i < ranked.size(); ++i)
        QVERIFY(ranked[i - 1].savingsScore >= ranked[i].savingsScore);
}

void TestProposalQueue::pollPicksUpNewProposals()
{
    seedProposal(m_client, makeProposal("first", "first"));
    ProposalQueue queue(m_conn.get());
    QVERIFY(loadAll(queue));
    QCOMPARE(queue.count(), 1);
    QSignalSpy pages(&queue, &ProposalQueue::pageLoaded);
    seedProposal(m_client, makeProposal("second", "second"));
    queue.setPollInterval(50);
    QTRY_COMPARE_WITH_TIMEOUT(queue.count(), 2, TimeScale::ms(5000));
    queue.setPollInterval(0);
    QVERIFY(queue.item(keyOf(QStringLiteral("second"))).has_value());
}

// Two consoles share the group: whichever polls first delivers a new entry (">"), and the
// other finds it by scanning the pending entries past where it last scanned. A load that
// delivered everything itself starts the scans past its own entries.
void TestProposalQueue::twoQueuesSeeWhatTheOtherDelivered()
{
    const QString firstId = seedProposal(m_client, makeProposal("shared-1", "one"));
    const QString lastId = seedProposal(m_client, makeProposal("shared-2", "two"));
    ProposalQueue a(m_conn.get());
    QVERIFY(loadAll(a));
    QCOMPARE(a.count(), 2);
    QTRY_COMPARE_WITH_TIMEOUT(a.scanPosition(), lastId, TimeScale::ms(5000));

    RedisConnection other(optionsFor(*m_server));
    QSignalSpy connected(&other, &RedisConnection::connected);
    other.open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    ProposalQueue b(&other);
    QVERIFY(loadAll(b));
    QCOMPARE(b.count(), 2); // A's deliveries are pending: B's load reads them

    // A delivers a new one; B's poll finds it in the pending entries, and A's too.
    seedProposal(m_client, makeProposal("shared-3", "three"));
    QSignalSpy aDone(&a, &ProposalQueue::pageLoaded);
    a.poll();
    QTRY_COMPARE_WITH_TIMEOUT(a.count(), 3, TimeScale::ms(5000));
    b.setPollInterval(50);
    QTRY_COMPARE_WITH_TIMEOUT(b.count(), 3, TimeScale::ms(5000));
    QVERIFY(b.item(keyOf(QStringLiteral("shared-3"))).has_value());
    // Read twice (its own ">" and its scan), merged once.
    seedProposal(m_client, makeProposal("shared-4", "four"));
    QTRY_COMPARE_WITH_TIMEOUT(b.count(), 4, TimeScale::ms(5000));
    b.setPollInterval(0);
    QVERIFY(b.item(keyOf(QStringLiteral("shared-4")))->duplicateIds.isEmpty());
    QVERIFY(!firstId.isEmpty());

    // Decided elsewhere: removeKeys drops it from B in one update.
    QSignalSpy removed(&b, &ProposalQueue::itemsRemoved);
    b.removeKeys({keyOf(QStringLiteral("shared-1")), keyOf(QStringLiteral("shared-3")), QStringLiteral("unknown")});
    QCOMPARE(removed.size(), 1);
    QCOMPARE(removed.at(0).at(0).toStringList().size(), 2);
    QCOMPARE(b.count(), 2);
    QVERIFY(b.item(keyOf(QStringLiteral("shared-2"))).has_value());
    QVERIFY(b.item(keyOf(QStringLiteral("shared-4"))).has_value());
}

void TestProposalQueue::reloadSeesPendingFromEarlierSession()
{
    seedProposal(m_client, makeProposal("p1", "one"));
    seedProposal(m_client, makeProposal("p2", "two"));
    {
        ProposalQueue first(m_conn.get());
        QVERIFY(loadAll(first));
        QCOMPARE(first.count(), 2);
    }
    // Now both are pending in the group (not acked): a new session sees them.
    ProposalQueue second(m_conn.get());
    QVERIFY(loadAll(second));
    QCOMPARE(second.count(), 2);
    // Acked ones (approved/rejected elsewhere) disappear.
    const auto p1 = second.item(keyOf(QStringLiteral("p1")));
    m_client.command({"XACK", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup), p1->id.toUtf8()});
    QVERIFY(loadAll(second));
    QCOMPARE(second.count(), 1);
}

// A restarted console reads thousands of pending entries back, three cursors
// over slices of their ids' time range (the ids here are one millisecond
// apart, so the range is cut for sure): every entry exactly once, and a key
// proposed again in a later slice merges into the item of its first entry.
void TestProposalQueue::reloadPagesThroughPendingThousands()
{
    const int n = 3500;
    const qint64 baseMs = 1'800'000'000'000;
    for (int i = 0; i < n; ++i)
        seedProposal(m_client,
                     makeProposal("pend-" + std::to_string(i), "prompt " + std::to_string(i), "eu", 100 + i % 30),
                     {{QStringLiteral("eu"), 1 + i % 5}}, QByteArray::number(baseMs + i) + "-0");
    const QString again0 = seedProposal(m_client, makeProposal("pend-0", "prompt 0", "tokyo", 100),
                                        {{QStringLiteral("tokyo"), 1}}, QByteArray::number(baseMs + n + 10) + "-0");
    {
        ProposalQueue first(m_conn.get());
        first.setPageSize(1000);
        QVERIFY(loadAll(first));
        QCOMPARE(first.count(), n);
    }
    ProposalQueue again(m_conn.get());
    again.setPageSize(1000);
    QSignalSpy pages(&again, &ProposalQueue::pageLoaded);
    QVERIFY(loadAll(again));
    QCOMPARE(again.count(), n);
    QVERIFY2(pages.count() >= 4, qPrintable(QString::number(pages.count())));
    qint64 previous = 0;
    QSet<QString> keys;
    for (const QList<QVariant> &page : std::as_const(pages)) {
        const qint64 loaded = page.at(1).toLongLong();
        QVERIFY(loaded > previous);
        previous = loaded;
        for (const ProposalItem &item : page.at(0).value<QList<ProposalItem>>()) {
            QVERIFY2(item.duplicateIds.isEmpty() || item.key == keyOf(QStringLiteral("pend-0")), qPrintable(item.key));
            keys.insert(item.key);
        }
    }
    QCOMPARE(previous, qint64(n + 1));
    QCOMPARE(keys.size(), n);
    const auto merged = again.item(keyOf(QStringLiteral("pend-0")));
    QVERIFY(merged.has_value());
    QCOMPARE(merged->id, QStringLiteral("%1-0").arg(baseMs));
    QCOMPARE(merged->duplicateIds, QStringList{again0});
}

// The console is the writer: loading the queue (re)loads the function that
// gateways propose through, so a primary without it gets it from the console.
void TestProposalQueue::loadInstallsTheProposeFunction()
{
    RedisServer server;
    RedisServer::Options options;
    options.loadFunctions = false;
    QString why;
    QVERIFY2(server.start(options, &why), qPrintable(why));
    RedisClient gateway = server.client(QStringLiteral("gateway"));
    const Proposal p = makeProposal("fn-load", "Who loads the function?");
    const QList<QByteArray> fcall{"FCALL", qb(ProposalFunction::kProposeName), "0", qb(p.key),
                                  qb(ProposalCodec::encode(p).at(1).second)};
    const RedisValue before = gateway.command(fcall);
    QVERIFY2(before.isError() && before.str.contains("Function not found"), qPrintable(before.toString()));

    RedisConnection conn(optionsFor(server));
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    QVERIFY(connected.wait(5000));
    ProposalQueue queue(&conn);
    QVERIFY(loadAll(queue));
    const RedisValue after = gateway.command(fcall);
    QVERIFY2(after.isStatus() && after.str == qb(ProposalFunction::kProposed), qPrintable(after.toString()));
    gateway.disconnect();
}

// A gateway may only append to the inbox: the queue moves its proposals into
// the stream on load and on each poll, and shows them like any other.
void TestProposalQueue::gatewayProposalReachesTheQueueThroughTheInbox()
{
    const Proposal first = makeProposal("inbox-1", "Proposed before the console loads", "tokyo");
    QCOMPARE(proposeAsGateway(first).str, qb(ProposalFunction::kProposed));
    QCOMPARE(m_client.command({"XLEN", qb(RedisSchema::kProposals)}).integer, 0);
    QCOMPARE(m_client.command({"LLEN", qb(RedisSchema::kProposalInbox)}).integer, 1);

    ProposalQueue queue(m_conn.get());
    QVERIFY(loadAll(queue));
    QCOMPARE(queue.count(), 1);
    const auto item = queue.item(QString::fromStdString(first.key));
    QVERIFY(item.has_value());
    QCOMPARE(item->prompt, QString::fromStdString(first.prompt));
    QCOMPARE(item->proposedRegion, QStringLiteral("tokyo"));
    QCOMPARE(item->regions.value(QStringLiteral("tokyo")), 1);
    QCOMPARE(m_client.command({"LLEN", qb(RedisSchema::kProposalInbox)}).integer, 0);
    QCOMPARE(queue.malformedCount(), 0);

    const Proposal second = makeProposal("inbox-2", "Proposed while the console polls");
    QCOMPARE(proposeAsGateway(second).str, qb(ProposalFunction::kProposed));
    queue.setPollInterval(50);
    QTRY_VERIFY_WITH_TIMEOUT(queue.item(QString::fromStdString(second.key)).has_value(), TimeScale::ms(5000));
    queue.setPollInterval(0);
    QCOMPARE(queue.count(), 2);
}

// The inbox is untrusted (a gateway credential may RPUSH anything): an element
// that is not a proposal is dropped, counted and reported escaped, and the
// good ones around it still arrive.
void TestProposalQueue::malformedInboxElementIsDroppedAndCounted()
{
    RedisClient gateway = m_server->client(QStringLiteral("gateway"));
    const QByteArray inbox = qb(RedisSchema::kProposalInbox);
    const Proposal before = makeProposal("around-1", "Good, before the junk");
    QCOMPARE(proposeAsGateway(before).str, qb(ProposalFunction::kProposed));
    QCOMPARE(gateway.command({"RPUSH", inbox, "\x1b[31mjunk\nwith a terminal escape"}).integer, 2);
    const Proposal bad = makeProposal("junk", "Fields that are not netstrings");
    QCOMPARE(gateway.command({"RPUSH", inbox, QByteArray("32:" + qb(bad.key) + ",7:prompt,99:x,")}).integer, 3);

    ProposalQueue queue(m_conn.get());
    QSignalSpy malformed(&queue, &ProposalQueue::malformedSkipped);
    QVERIFY(loadAll(queue));
    QCOMPARE(queue.count(), 1);
    QVERIFY(queue.item(QString::fromStdString(before.key)).has_value());
    QCOMPARE(queue.malformedCount(), 2);
    QCOMPARE(queue.inboxDroppedCount(), 2);
    QVERIFY(!malformed.isEmpty());
    const QString reasons = malformed.first().at(0).toStringList().join(u'\n');
    QVERIFY2(reasons.contains(QStringLiteral("inbox: not a key netstring followed by fields")), qPrintable(reasons));
    QVERIFY2(reasons.contains(QStringLiteral("inbox: fields is not a list of netstring pairs")), qPrintable(reasons));
    QCOMPARE(m_client.command({"LLEN", inbox}).integer, 0);
    QCOMPARE(m_client.command({"XLEN", qb(RedisSchema::kProposals)}).integer, 1);

    // Later good proposals still arrive.
    const Proposal after = makeProposal("around-2", "Good, after the junk");
    QCOMPARE(proposeAsGateway(after).str, qb(ProposalFunction::kProposed));
    queue.setPollInterval(50);
    QTRY_VERIFY_WITH_TIMEOUT(queue.item(QString::fromStdString(after.key)).has_value(), TimeScale::ms(5000));
    queue.setPollInterval(0);
    QCOMPARE(queue.count(), 2);
    QCOMPARE(queue.inboxDroppedCount(), 2);
}

QTEST_GUILESS_MAIN(TestProposalQueue)
#include "tst_proposalqueue.moc"
