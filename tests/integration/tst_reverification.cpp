#include <QDateTime>
#include <QSignalSpy>
#include <QTest>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/prometheusparser.h"
#include "core/common/redisschema.h"
#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "core/control/reverifyqueue.h"
#include "core/control/servedcounts.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kReplicationTimeoutMs = 5000;
// Gateways flush their served counters this often here (10 s by default).
constexpr const char *kFlushMs = "200";

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

QString why(const HttpResult &result)
{
    return QStringLiteral("status %1 %2 cache=%3\n%4")
        .arg(result.status)
        .arg(result.error, QString::fromUtf8(result.header("x-l0l3-cache")), QString::fromUtf8(result.body.left(1000)));
}

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

} // namespace

// Answers that stay true, end to end with real processes: gateways count the
// answers they serve per entry and region (FCALL l0l3_served) and the console
// reads them as the blast radius; an entry past its review date is in the
// re-verification queue, keeping it renews the date, revoking removes it; a
// gateway started with --serve-past-review-by no stops serving it (L0 and
// L0.5) until it is kept.
class TestReverification : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void servedCountsPerRegion();
    void reverifyQueueKeepAndRevoke();
    void hotCacheStopsAtReviewDate();

private:
    // noStore: looked up, never proposed (Cache-Control: no-store).
    HttpResult chat(const QUrl &url, const QString &prompt, bool noStore = false);
    // The key the gateway derives for prompt in namespace kNs (nothing stored or proposed).
    QByteArray keyOf(const QString &prompt);
    Entry entryFor(const QByteArray &key, const QString &prompt) const;
    // Writes an entry on the primary and waits until the replica has it.
    bool store(const Entry &entry);
    double metric(const QUrl &metrics, const char *name);
    RedisConnection::Options consoleOptions();
    QString nextPrompt(const char *what);

    static constexpr const char *kNs = "reverify";
    GatewayStack m_stack;
    std::unique_ptr<ManagedProcess> m_tokyo;  // a second region's gateway, same Redis
    std::unique_ptr<ManagedProcess> m_strict; // --serve-past-review-by no
    HttpClient m_http;
    RedisClient m_primary;
    RedisClient m_replica;
    QString m_runId;
    int m_counter = 0;
};

void TestReverification::initTestCase()
{
    QString error;
    GatewayStack::Options options;
    options.gatewayArgs = {QStringLiteral("--served-flush-ms"), QLatin1String(kFlushMs)};
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
    m_tokyo = m_stack.launchGateway({QStringLiteral("--served-flush-ms"), QLatin1String(kFlushMs)}, &error,
                                    QStringLiteral("tokyo"));
    QVERIFY2(m_tokyo, qPrintable(error));
    m_strict = m_stack.launchGateway({QStringLiteral("--serve-past-review-by"), QStringLiteral("no")}, &error,
                                     QStringLiteral("eu"));
    QVERIFY2(m_strict, qPrintable(error));
    m_primary = m_stack.primary().client(QStringLiteral("console"));
    m_replica = m_stack.replica().client(QStringLiteral("console"));
    QVERIFY(m_primary.isConnected());
    QVERIFY(m_replica.isConnected());
    m_runId = QString::number(nowMs(), 36);
}

void TestReverification::cleanupTestCase()
{
    if (m_tokyo)
        QVERIFY(m_tokyo->stop());
    if (m_strict)
        QVERIFY(m_strict->stop());
    m_stack.stop();
}

void TestReverification::cleanup()
{
    m_stack.printLogsIfFailed({m_tokyo.get(), m_strict.get()});
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
    QVERIFY2(m_tokyo && m_tokyo->isRunning(), "the tokyo gateway died");
    QVERIFY2(m_strict && m_strict->isRunning(), "the strict gateway died");
}

QString TestReverification::nextPrompt(const char *what)
{
    return QStringLiteral("Reverification %1 %2-%3: what does the warranty cover?")
        .arg(QLatin1String(what), m_runId)
        .arg(++m_counter);
}

HttpResult TestReverification::chat(const QUrl &url, const QString &prompt, bool noStore)
{
    HttpHeaders headers{{"x-l0l3-namespace", kNs}};
    if (noStore)
        headers.append(qMakePair(QByteArray("Cache-Control"), QByteArray("no-store")));
    return m_http.post(url, ChatWire::chatBody(prompt), headers, 10000);
}

QByteArray TestReverification::keyOf(const QString &prompt)
{
    const HttpResult probe = m_http.post(m_stack.gatewayUrl(), ChatWire::chatBody(prompt),
                                         {{"x-l0l3-namespace", kNs}, {"Cache-Control", "no-cache, no-store"}}, 10000);
    if (probe.status != 200)
        return {};
    return probe.header("x-l0l3-key");
}

Entry TestReverification::entryFor(const QByteArray &key, const QString &prompt) const
{
    Entry e;
    e.key = key.toStdString();
    e.ns = kNs;
    e.prompt = prompt.toStdString();
    e.model = ChatWire::kModel;
    e.response = "The warranty covers parts and labour for two years.";
    e.approvedBy = "reverify-test";
    e.approvedAtMs = nowMs();
    return e;
}

bool TestReverification::store(const Entry &entry)
{
    const QByteArray redisKey = bytes(RedisSchema::entryKey(entry.key));
    const QByteArray json = bytes(EntryCodec::encode(entry));
    if (!m_primary.command({"SET", redisKey, json}).isStatus())
        return false;
    // Gateways drop their L0.5 copy, as after a console write.
    m_primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), bytes(entry.key)});
    return Poll::until([&] { return m_replica.get(redisKey) == json; }, kReplicationTimeoutMs);
}

double TestReverification::metric(const QUrl &metrics, const char *name)
{
    const HttpResult result = m_http.get(metrics);
    int malformed = 0;
    return ChatWire::sum(PrometheusParser::parse(result.body.toStdString(), &malformed), name);
}

RedisConnection::Options TestReverification::consoleOptions()
{
    RedisConnection::Options o;
    o.host = m_stack.primary().host();
    o.port = m_stack.primary().port();
    o.user = "console";
    o.password = TestCredentials::get().password(QStringLiteral("console")).toUtf8();
    return o;
}

void TestReverification::servedCountsPerRegion()
{
    const QString prompt = nextPrompt("served");
    const QByteArray key = keyOf(prompt);
    QVERIFY2(CacheKey::isValid(key.toStdString()), key.constData());
    QVERIFY(store(entryFor(key, prompt)));

    const QUrl nyc = m_stack.gatewayUrl();
    QUrl tokyo = nyc;
    tokyo.setPort(m_tokyo->listenPort(1000));
    for (int i = 0; i < 3; ++i) {
        const HttpResult r = chat(nyc, prompt);
        QVERIFY2(r.status == 200 && r.header("x-l0l3-cache") == "hit", qPrintable(why(r)));
    }
    for (int i = 0; i < 2; ++i) {
        const HttpResult r = chat(tokyo, prompt);
        QVERIFY2(r.status == 200 && r.header("x-l0l3-cache") == "hit", qPrintable(why(r)));
    }

    // The counters arrive with the gateways' next flushes; the console reads them per region.
    RedisConnection connection(consoleOptions());
    QSignalSpy ready(&connection, &RedisConnection::connected);
    connection.open();
    QVERIFY(ready.wait(TimeScale::ms(5000)));
    ServedCounts counts;
    const bool counted = Poll::until(
        [&] {
            bool done = false;
            ServedCounts::read(&connection, QString::fromLatin1(key), this, [&](const ServedCounts &c) {
                counts = c;
                done = true;
            });
            if (!Poll::until([&] { return done; }, 5000))
                return false;
            return counts.ok && counts.totalLastDay() == 5 && counts.regions.size() == 2;
        },
        15000, 100);
    QVERIFY2(counted, qPrintable(counts.summary()));
    QCOMPARE(counts.regions[0].name, QStringLiteral("nyc"));
    QCOMPARE(counts.regions[0].lastDay, 3);
    QCOMPARE(counts.regions[1].name, QStringLiteral("tokyo"));
    QCOMPARE(counts.regions[1].lastDay, 2);
    // Hour buckets: whichever hour each flush fell in, it is this hour or the one before.
    QCOMPARE(counts.totalThisHour() + counts.totalPreviousHour(), 5);
    QVERIFY2(counts.summary().contains(QStringLiteral("nyc: ")), qPrintable(counts.summary()));

    // The hash expires a day after its last count.
    const RedisValue ttl = m_primary.command({"PTTL", bytes(RedisSchema::servedKey(key.toStdString()))});
    QVERIFY2(ttl.integer > 24LL * 3600 * 1000 && ttl.integer <= 25LL * 3600 * 1000, QByteArray::number(ttl.integer));
}

void TestReverification::reverifyQueueKeepAndRevoke()
{
    const QString prompt = nextPrompt("queue");
    const QByteArray key = keyOf(prompt);
    QVERIFY2(CacheKey::isValid(key.toStdString()), key.constData());
    Entry entry = entryFor(key, prompt);
    entry.reviewByMs = nowMs() - 60000; // a minute overdue
    QVERIFY(store(entry));
    const QUrl strict = [&] {
        QUrl u = m_stack.gatewayUrl();
        u.setPort(m_strict->listenPort(1000));
        return u;
    }();

    // Past its date: the default gateway serves it, the strict one does not (and counts it).
    const HttpResult lenient = chat(m_stack.gatewayUrl(), prompt);
    QVERIFY2(lenient.header("x-l0l3-cache") == "hit", qPrintable(why(lenient)));
    QUrl strictMetrics = strict;
    strictMetrics.setPath(QStringLiteral("/metrics"));
    const double refusedBefore = metric(strictMetrics, "l0l3_entries_past_review_by_total");
    const HttpResult refused = chat(strict, prompt, true);
    QVERIFY2(refused.status == 200, qPrintable(why(refused)));
    QCOMPARE(refused.header("x-l0l3-cache"), QByteArray("miss"));
    QVERIFY(ChatWire::completionContent(refused.body) != QString::fromStdString(entry.response));
    QCOMPARE(metric(strictMetrics, "l0l3_entries_past_review_by_total"), refusedBefore + 1);

    RedisConnection connection(consoleOptions());
    QSignalSpy ready(&connection, &RedisConnection::connected);
    connection.open();
    QVERIFY(ready.wait(TimeScale::ms(5000)));
    ReverifyQueue queue(&connection);
    auto dueKeys = [&] {
        QSignalSpy loaded(&queue, &ReverifyQueue::loaded);
        queue.load();
        QStringList keys;
        if (!loaded.wait(TimeScale::ms(10000)))
            return QStringList{QStringLiteral("<not loaded>")};
        for (const ReverifyItem &i : loaded.first().first().value<QList<ReverifyItem>>())
            keys << QString::fromStdString(i.item.entry.key);
        return keys;
    };
    QVERIFY(dueKeys().contains(QString::fromLatin1(key)));

    // Keep: the date moves by the namespace's period (the policy says 7 days), version and answer stay.
    QCOMPARE(m_primary.command({"HSET", bytes(RedisSchema::kReviewPolicy), kNs, "7"}).integer, 1);
    ApprovalService service(&connection);
    service.setWaitTimeoutMs(2000);
    QSignalSpy finished(&service, &ApprovalService::finished);
    const qint64 before = nowMs();
    service.keep(QString::fromLatin1(key), entry.version, QStringLiteral("alice"));
    QVERIFY(finished.wait(TimeScale::ms(10000)));
    const auto kept = finished.takeFirst().first().value<ApprovalResult>();
    QVERIFY2(kept.ok, qPrintable(kept.message));
    QCOMPARE(kept.action, QStringLiteral("reverify-keep"));
    const auto stored = EntryCodec::decode(
        m_primary.get(bytes(RedisSchema::entryKey(key.toStdString()))).toStdString());
    QVERIFY(stored);
    QCOMPARE(stored->version, entry.version);
    QCOMPARE(stored->response, entry.response);
    QVERIFY(stored->reviewByMs >= before + 7 * 86400000LL);
    QVERIFY(stored->reviewByMs <= nowMs() + 7 * 86400000LL);
    const RedisValue audit = m_primary.command({"XREVRANGE", bytes(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
    QVERIFY(audit.isArray() && !audit.elements.isEmpty());
    bool audited = false;
    for (const RedisValue &field : audit.elements[0].elements.value(1).elements)
        audited = audited || field.str == "reverify-keep";
    QVERIFY(audited);
    QVERIFY(!dueKeys().contains(QString::fromLatin1(key)));

    // The strict gateway serves it again once the renewed entry reached its replica.
    const bool served = Poll::until([&] { return chat(strict, prompt, true).header("x-l0l3-cache") == "hit"; },
                                    kReplicationTimeoutMs, 50);
    QVERIFY2(served, qPrintable(m_strict->describe()));

    // Overdue again (an old entry without a date: approved_at + the policy's 7 days), then revoked.
    entry.reviewByMs = 0;
    entry.approvedAtMs = nowMs() - 8 * 86400000LL;
    QVERIFY(store(entry));
    QVERIFY(dueKeys().contains(QString::fromLatin1(key)));
    service.revoke(QString::fromLatin1(key), QStringLiteral("alice"));
    QVERIFY(finished.wait(TimeScale::ms(10000)));
    const auto revoked = finished.takeFirst().first().value<ApprovalResult>();
    QVERIFY2(revoked.ok, qPrintable(revoked.message));
    QVERIFY(!dueKeys().contains(QString::fromLatin1(key)));
    m_primary.command({"DEL", bytes(RedisSchema::kReviewPolicy)});
}

void TestReverification::hotCacheStopsAtReviewDate()
{
    const QString prompt = nextPrompt("hot");
    const QByteArray key = keyOf(prompt);
    QVERIFY2(CacheKey::isValid(key.toStdString()), key.constData());
    QUrl strict = m_stack.gatewayUrl();
    strict.setPort(m_strict->listenPort(1000));
    Entry entry = entryFor(key, prompt);
    entry.reviewByMs = nowMs() + TimeScale::ms(3000);
    QVERIFY(store(entry));

    // Before the date: L0, then L0.5 (whose lifetime, 60 s, outlasts the date by far). A slow
    // machine may already be past it: then only the end is checked.
    const HttpResult first = chat(strict, prompt, true);
    const HttpResult second = chat(strict, prompt, true);
    if (nowMs() < entry.reviewByMs) {
        QCOMPARE(first.header("x-l0l3-tier"), QByteArray("L0"));
        QCOMPARE(second.header("x-l0l3-tier"), QByteArray("L0.5"));
    } else {
        qWarning("the review date passed before the hits were checked");
    }
    // Past it: neither L0.5 nor L0 serves it.
    QVERIFY(Poll::until([&] { return nowMs() > entry.reviewByMs; }, TimeScale::ms(3000) + 5000));
    const HttpResult after = chat(strict, prompt, true);
    QVERIFY2(after.status == 200, qPrintable(why(after)));
    QCOMPARE(after.header("x-l0l3-cache"), QByteArray("miss"));
}

QTEST_GUILESS_MAIN(TestReverification)
#include "tst_reverification.moc"
