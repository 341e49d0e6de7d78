// The fleet registry's read side against hostile records: the parser alone,
// FleetRegistry on a real redis-server where the "gateway" user (what a
// stolen gateway credential can do) wrote the records, the record the
// gateway writes, and FleetView's combination with INFO and Sentinel.

#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include "core/common/redisschema.h"
#include "core/control/fleetregistry.h"
#include "core/control/fleetview.h"
#include "core/gateway/fleetannouncer.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/poll.h"

using namespace l0l3;
using namespace l0l3::test;

class TestFleetRegistry : public QObject
{
    Q_OBJECT

private slots:
    void parseHostile_data();
    void parseHostile();
    void parseKeepsControlCharactersAsText();
    void announcerRecordParses();
    void readsHostileRegistry();
    void viewGroupsByRegion();
};

void TestFleetRegistry::parseHostile_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<QString>("why");
    const QByteArray big(FleetRegistry::kMaxValueBytes + 1, ' ');
    QTest::newRow("over the size") << big << QStringLiteral("over");
    QTest::newRow("empty") << QByteArray() << QStringLiteral("not JSON");
    QTest::newRow("invalid JSON") << QByteArray("{\"instance\":") << QStringLiteral("not JSON");
    QTest::newRow("array") << QByteArray("[1,2]") << QStringLiteral("not a JSON object");
    QTest::newRow("string") << QByteArray("\"gw\"") << QStringLiteral("not JSON");
    QTest::newRow("no instance") << QByteArray("{\"region\":\"nyc\"}") << QStringLiteral("no instance");
    QTest::newRow("instance a number") << QByteArray("{\"instance\":5}") << QStringLiteral("not a string");
    QTest::newRow("instance too long") << QByteArray("{\"instance\":\"" + QByteArray(300, 'a') + "\"}")
                                       << QStringLiteral("longer than");
    QTest::newRow("region too long") << QByteArray("{\"instance\":\"a\",\"region\":\"" + QByteArray(65, 'r') + "\"}")
                                     << QStringLiteral("longer than");
    QTest::newRow("region an object") << QByteArray("{\"instance\":\"a\",\"region\":{}}")
                                      << QStringLiteral("not a string");
    QTest::newRow("negative time") << QByteArray("{\"instance\":\"a\",\"last_seen_ms\":-1}")
                                   << QStringLiteral("non-negative integer");
    QTest::newRow("fractional time") << QByteArray("{\"instance\":\"a\",\"period_ms\":1.5}")
                                     << QStringLiteral("non-negative integer");
    QTest::newRow("huge time") << QByteArray("{\"instance\":\"a\",\"started_ms\":1e300}")
                               << QStringLiteral("non-negative integer");
    QTest::newRow("time a string") << QByteArray("{\"instance\":\"a\",\"expiry_ms\":\"9\"}")
                                   << QStringLiteral("non-negative integer");
}

void TestFleetRegistry::parseHostile()
{
    QFETCH(QByteArray, value);
    QFETCH(QString, why);
    QString error;
    QVERIFY(!parseGatewayRecord(value, &error));
    QVERIFY2(error.contains(why), qPrintable(error));
    QVERIFY(error.size() < 300);
}

// Control characters and bidi overrides are kept as text: the views escape them.
void TestFleetRegistry::parseKeepsControlCharactersAsText()
{
    const QByteArray value = R"({"instance":"gw\u001b[31m","region":"ny\u202ec","url":"http://x/\n","state":"normal",)"
                             R"("unknown":[1,2,{"deep":true}],"started_ms":5,"last_seen_ms":7})";
    QString error;
    const auto r = parseGatewayRecord(value, &error);
    QVERIFY2(r, qPrintable(error));
    QCOMPARE(r->instance, QStringLiteral("gw\x1b[31m"));
    QCOMPARE(r->region, QStringLiteral("ny\u202ec"));
    QCOMPARE(r->url, QStringLiteral("http://x/\n"));
    QCOMPARE(r->startedMs, 5);
    QCOMPARE(r->lastSeenMs, 7);
    QCOMPARE(r->ageMs(), -1); // no expiry known
}

// What FleetAnnouncer writes is what FleetRegistry reads, and stays within the bound.
void TestFleetRegistry::announcerRecordParses()
{
    FleetAnnouncer::Info info;
    info.instance = "host-1:8080";
    info.region = "tokyo";
    info.url = "http://10.0.0.5:8080";
    info.version = "0.1.0";
    info.replica = "10.0.0.6:6379";
    info.startedMs = 1700000000000;
    info.periodMs = 5000;
    const std::string json = FleetAnnouncer::record(info, "replica_down", 1700000001234);
    QVERIFY(json.size() <= RedisSchema::kFleetRecordMaxBytes);
    QString error;
    const auto r = parseGatewayRecord(QByteArray::fromStdString(json), &error);
    QVERIFY2(r, qPrintable(error));
    QCOMPARE(r->instance, QStringLiteral("host-1:8080"));
    QCOMPARE(r->region, QStringLiteral("tokyo"));
    QCOMPARE(r->url, QStringLiteral("http://10.0.0.5:8080"));
    QCOMPARE(r->state, QStringLiteral("replica_down"));
    QCOMPARE(r->replica, QStringLiteral("10.0.0.6:6379"));
    QCOMPARE(r->startedMs, 1700000000000);
    QCOMPARE(r->lastSeenMs, 1700000001234);
    QCOMPARE(r->periodMs, 5000);
    QCOMPARE(r->expiryMs, 15000);

    // Strings full of characters JSON escapes six-fold: still bounded, still a record.
    info.instance = std::string(200, '\x01');
    info.url = std::string(400, '\x02');
    info.replica = std::string(260, '\x03');
    const std::string worst = FleetAnnouncer::record(info, "normal", 1);
    QVERIFY2(worst.size() <= RedisSchema::kFleetRecordMaxBytes, qPrintable(QString::number(worst.size())));
    QVERIFY(parseGatewayRecord(QByteArray::fromStdString(worst), &error));
}

// Records written as the gateway user: good, stale, oversized, invalid, of another type,
// naming another instance. Only the good ones come back; the others are counted.
void TestFleetRegistry::readsHostileRegistry()
{
    RedisServer server;
    QString error;
    QVERIFY2(server.start({}, &error), qPrintable(error));
    RedisClient gateway = server.client(QStringLiteral("gateway"));
    QVERIFY2(gateway.isConnected(), qPrintable(gateway.lastError()));
    const auto key = [](const char *instance) { return qb(RedisSchema::fleetGatewayKey(instance)); };
    const auto set = [&](const QByteArray &k, const QByteArray &v, const char *px = "30000") {
        const RedisValue r = gateway.command({"SET", k, v, "PX", px});
        return !r.isError();
    };
    QVERIFY(set(key("gw-a"),
                R"({"instance":"gw-a","region":"nyc","url":"http://127.0.0.1:1","period_ms":1000,)"
                R"("expiry_ms":30000,"state":"normal"})"));
    // Written 30 s - 1 s ago as far as its TTL says: stale after two 100 ms periods.
    QVERIFY(set(key("gw-old"), R"({"instance":"gw-old","region":"eu","period_ms":100,"expiry_ms":30000})", "1000"));
    QVERIFY(set(key("huge"), QByteArray(1 << 20, 'x')));
    QVERIFY(set(key("broken"), "{not json"));
    QVERIFY(set(key("liar"), R"({"instance":"gw-a","region":"nyc"})"));
    QVERIFY(set(key("ctl\x1b]0;pwned\x07"), R"({"instance":"x"})"));

    RedisConnection connection(optionsFor(server));
    connection.open();
    FleetRegistry registry(&connection);
    QList<GatewayRecord> records;
    QString readError;
    bool done = false;
    registry.read(this, [&](const QList<GatewayRecord> &list, const QString &e) {
        records = list;
        readError = e;
        done = true;
    });
    QVERIFY(Poll::until([&] { return done; }, TimeScale::ms(5000)));
    QVERIFY2(readError.isEmpty(), qPrintable(readError));
    QCOMPARE(records.size(), 2);
    QCOMPARE(records[0].instance, QStringLiteral("gw-old")); // region eu first
    QCOMPARE(records[1].instance, QStringLiteral("gw-a"));
    QVERIFY(records[1].ttlMs > 20000 && records[1].ttlMs <= 30000);
    QCOMPARE(registry.malformed(), 4);
    const QString reasons = registry.malformedReasons().join(u'\n');
    QVERIFY2(reasons.contains(QStringLiteral("value of 1048576 bytes")), qPrintable(reasons));
    QVERIFY2(reasons.contains(QStringLiteral("not JSON")), qPrintable(reasons));
    QVERIFY2(reasons.contains(QStringLiteral("is not the key's")), qPrintable(reasons));

    const FleetView view = FleetView::build(records, {}, nullptr, 0);
    QCOMPARE(view.gateways.size(), 2);
    QCOMPARE(view.gateways[0].stale, true);  // gw-old: ~29 s since its write, period 100 ms
    QCOMPARE(view.gateways[1].stale, false); // gw-a: just written, period 1 s
    QVERIFY(view.gateways[0].ageMs >= 29000);
    QVERIFY(server.stop());
}

void TestFleetRegistry::viewGroupsByRegion()
{
    GatewayRecord a;
    a.instance = QStringLiteral("a");
    a.region = QStringLiteral("tokyo");
    a.replica = QStringLiteral("10.0.0.2:6380");
    a.periodMs = 1000;
    a.expiryMs = 3000;
    a.ttlMs = 2500;
    GatewayRecord b = a;
    b.instance = QStringLiteral("b");
    b.region = QStringLiteral("nyc");
    b.replica = QStringLiteral("10.0.0.1:6380");
    b.ttlMs = 500; // 2.5 s since its write: stale
    const QByteArray info = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n"
                            "slave0:ip=10.0.0.1,port=6380,state=online,offset=90,lag=0\r\n"
                            "slave1:ip=10.0.0.2,port=6380,state=wait_bgsave,offset=0,lag=3\r\n"
                            "slave2:ip=10.0.0.3,port=6380,state=online,offset=100,lag=1\r\n"
                            "slavex:ip=evil,port=1\r\n"
                            "master_repl_offset:100\r\n";
    SentinelTopology t;
    t.sentinelHost = QStringLiteral("10.0.0.9");
    t.sentinelPort = 26379;
    t.masterHost = QStringLiteral("10.0.0.0");
    t.masterPort = 6379;
    SentinelTopology::Node other;
    other.host = QStringLiteral("10.0.0.8");
    other.port = 26379;
    other.linkUp = true;
    t.sentinels = {other};
    SentinelTopology::Node onlySentinel;
    onlySentinel.host = QStringLiteral("10.0.0.4");
    onlySentinel.port = 6380;
    onlySentinel.flags = QStringLiteral("slave,s_down");
    t.replicas = {onlySentinel};

    const FleetView v = FleetView::build({a, b}, info, &t, 1000);
    QCOMPARE(v.primaryRole, QStringLiteral("master"));
    QCOMPARE(v.primaryOffset, 100);
    QCOMPARE(v.primaryHost, QStringLiteral("10.0.0.0"));
    QCOMPARE(v.replicas.size(), 4);
    QCOMPARE(v.replicas[0].region, QStringLiteral("nyc"));
    QCOMPARE(v.replicas[0].offsetBehind, 10);
    QCOMPARE(v.replicas[0].linkUp, true);
    QCOMPARE(v.replicas[1].region, QStringLiteral("tokyo"));
    QCOMPARE(v.replicas[1].linkUp, false);
    QCOMPARE(v.replicas[1].ackLagSeconds, 3);
    QCOMPARE(v.replicas[2].region, QString());
    QCOMPARE(v.replicas[3].sentinelFlags, QStringLiteral("slave,s_down"));
    QCOMPARE(v.regions.size(), 2);
    QCOMPARE(v.regions[0].name, QStringLiteral("nyc"));
    QCOMPARE(v.regions[0].gateways.size(), 1);
    QCOMPARE(v.regions[0].gateways[0].stale, true);
    QCOMPARE(v.regions[0].replicas.size(), 1);
    QCOMPARE(v.regions[1].gateways[0].stale, false);
    QCOMPARE(v.sentinels.size(), 2);
    QCOMPARE(v.sentinels[0].answered, true);
}

QTEST_GUILESS_MAIN(TestFleetRegistry)
#include "tst_fleetregistry.moc"
