#include <QDateTime>
#include <QRegularExpression>
#include <QTest>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/prometheusparser.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kReplicationTimeoutMs = 5000;

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

} // namespace

// An L0 entry is served only to the question it was approved for: the
// request's namespace and prompt must be the ones the entry records, not only
// its key. A real gateway process reads entries written on the primary with a
// wrong namespace or prompt: each is a miss, counted and logged, never served
// nor copied into L0.5; the same entry with the right ones is a hit.
class TestEntryIntegrity : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void mismatchedEntryIsNotServed_data();
    void mismatchedEntryIsNotServed();

private:
    HttpResult chat(const QString &prompt, const QByteArray &ns, bool noStore = false);
    // Writes an entry on the primary and waits until the replica has that version of it.
    bool store(const Entry &entry);
    double mismatches();

    GatewayStack m_stack;
    HttpClient m_http;
    RedisClient m_primary;
    RedisClient m_replica;
    QString m_runId;
    int m_counter = 0;
};

void TestEntryIntegrity::initTestCase()
{
    QString error;
    QVERIFY2(m_stack.start({}, &error), qPrintable(error));
    m_primary = m_stack.primary().client(QStringLiteral("console"));
    m_replica = m_stack.replica().client(QStringLiteral("console"));
    QVERIFY(m_primary.isConnected());
    QVERIFY(m_replica.isConnected());
    m_runId = QString::number(QDateTime::currentMSecsSinceEpoch(), 36);
}

void TestEntryIntegrity::cleanupTestCase()
{
    m_stack.stop();
}

void TestEntryIntegrity::cleanup()
{
    if (QTest::currentTestFailed())
        qWarning().noquote() << m_stack.describe();
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
}

HttpResult TestEntryIntegrity::chat(const QString &prompt, const QByteArray &ns, bool noStore)
{
    HttpHeaders headers{{"x-l0l3-namespace", ns}};
    if (noStore)
        headers.append(qMakePair(QByteArray("Cache-Control"), QByteArray("no-cache, no-store")));
    return m_http.post(m_stack.gatewayUrl(), ChatWire::chatBody(prompt), headers, 10000);
}

bool TestEntryIntegrity::store(const Entry &entry)
{
    const QByteArray redisKey = bytes(RedisSchema::entryKey(entry.key));
    const QByteArray json = bytes(EntryCodec::encode(entry));
    if (!m_primary.command({"SET", redisKey, json}).isStatus())
        return false;
    return Poll::until([&] { return m_replica.get(redisKey) == json; }, kReplicationTimeoutMs);
}

double TestEntryIntegrity::mismatches()
{
    const HttpResult result = m_http.get(m_stack.gatewayUrl(QStringLiteral("/metrics")));
    int malformed = 0;
    return ChatWire::sum(PrometheusParser::parse(result.body.toStdString(), &malformed), "l0l3_entry_mismatches_total");
}

void TestEntryIntegrity::mismatchedEntryIsNotServed_data()
{
    QTest::addColumn<QByteArray>("storedNs");  // empty: the request's; "<none>": none recorded
    QTest::addColumn<QString>("storedPrompt"); // empty: the request's
    QTest::addColumn<QString>("logged");

    QTest::newRow("another namespace") << QByteArray(
        "tenant-b") << QString() << QStringLiteral("was approved in namespace 'tenant-b', requested in 'tenant-a'");
    QTest::newRow("namespace in another case")
        << QByteArray("Tenant-A") << QString() << QStringLiteral("approved in namespace 'Tenant-A'");
    QTest::newRow("no namespace recorded")
        << QByteArray("<none>") << QString() << QStringLiteral("was approved in namespace '', requested in 'tenant-a'");
    QTest::newRow("another prompt") << QByteArray() << QStringLiteral("Reply only: refunds are never given.")
                                    << QStringLiteral("was approved for another prompt");
}

void TestEntryIntegrity::mismatchedEntryIsNotServed()
{
    QFETCH(QByteArray, storedNs);
    QFETCH(QString, storedPrompt);
    QFETCH(QString, logged);
    const QByteArray ns = "tenant-a";
    const QString prompt =
        QStringLiteral("Entry integrity question %1-%2: what is the refund policy?").arg(m_runId).arg(++m_counter);

    // The key of this request, as the gateway derives it (nothing stored, nothing proposed).
    const HttpResult probe = chat(prompt, ns, true);
    QVERIFY2(probe.status == 200, qPrintable(why(probe)));
    const QByteArray key = probe.header("x-l0l3-key");
    QVERIFY2(CacheKey::isValid(key.toStdString()), key.constData());

    Entry entry;
    entry.key = key.toStdString();
    entry.ns = storedNs == "<none>" ? std::string() : (storedNs.isEmpty() ? ns : storedNs).toStdString();
    entry.prompt = (storedPrompt.isEmpty() ? prompt : storedPrompt).toStdString();
    entry.model = ChatWire::kModel;
    entry.response = "Refunds are never given, whatever you were told.";
    entry.approvedBy = "integrity";
    QVERIFY(store(entry));

    const double before = mismatches();
    for (int i = 0; i < 2; ++i) { // the second read takes the remembered decoding
        const HttpResult result = chat(prompt, ns);
        QVERIFY2(result.status == 200, qPrintable(why(result)));
        QCOMPARE(result.header("x-l0l3-cache"), QByteArray("miss"));
        QCOMPARE(result.header("x-l0l3-key"), key);
        QVERIFY(ChatWire::completionContent(result.body) != QString::fromStdString(entry.response));
    }
    QCOMPARE(mismatches(), before + 2);
    QVERIFY2(Poll::until([&] { return m_stack.gateway().stderrText().contains(logged.toUtf8()); }, 5000),
             qPrintable(QStringLiteral("not logged: ") + logged));

    // Approved for this namespace and prompt, the same entry is served: from L0, then from L0.5.
    entry.ns = ns.toStdString();
    entry.prompt = prompt.toStdString();
    entry.version = 2;
    QVERIFY(store(entry));
    const HttpResult fromReplica = chat(prompt, ns);
    QVERIFY2(fromReplica.status == 200, qPrintable(why(fromReplica)));
    QCOMPARE(fromReplica.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(fromReplica.header("x-l0l3-tier"), QByteArray("L0"));
    QCOMPARE(ChatWire::completionContent(fromReplica.body), QString::fromStdString(entry.response));
    const HttpResult fromHotCache = chat(prompt, ns);
    QCOMPARE(fromHotCache.header("x-l0l3-tier"), QByteArray("L0.5"));
    QCOMPARE(mismatches(), before + 2);

    // Another tenant asking the same question has another key: never this entry.
    const HttpResult otherTenant = chat(prompt, "tenant-b");
    QVERIFY2(otherTenant.status == 200, qPrintable(why(otherTenant)));
    QVERIFY(otherTenant.header("x-l0l3-key") != key);
    QCOMPARE(otherTenant.header("x-l0l3-cache"), QByteArray("miss"));
}

QTEST_GUILESS_MAIN(TestEntryIntegrity)
#include "tst_entryintegrity.moc"
