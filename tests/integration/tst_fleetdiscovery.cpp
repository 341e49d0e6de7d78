// Fleet discovery against real processes: gateways announce themselves in
// the registry on the primary and keep the replication heartbeat going
// without any console; l0l3-ctl fleet --json reads the registry, INFO
// replication, the Sentinels and every gateway's /metrics. The same over TLS
// (TLS-only nodes and Sentinels, rediss:// links, a CA made for the run).

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <memory>

#include "core/common/prometheusparser.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/support/ctlrun.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/testcertificates.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

// l0l3_replication_lag_seconds of a gateway's /metrics; NaN when absent or not finite.
double lagOf(const QUrl &metrics)
{
    HttpClient http;
    const HttpResult r = http.get(metrics, {}, 2000);
    if (r.status != 200)
        return std::nan("");
    for (const PromSample &s :
         PrometheusParser::parse(std::string_view(r.body.constData(), std::size_t(r.body.size())))) {
        if (s.name == "l0l3_replication_lag_seconds")
            return s.value;
    }
    return std::nan("");
}

} // namespace

class TestFleetDiscovery : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void heartbeatWithoutConsole_data();
    void heartbeatWithoutConsole();
    void fleetFollowsGateways();
    void fleetOverTls();

private:
    struct Run : CtlRun
    {
        QJsonObject json;
    };
    Run ctlFleet(E2eStack &stack, const QStringList &extra);
    static QJsonObject gatewayNamed(const QJsonObject &fleet, const QString &instance);
    // Starts two regions and three Sentinels (TLS-only with tls), sends some
    // traffic and checks what l0l3-ctl fleet --json reports of them; the
    // gateways by region in *byRegion. Fails the test function on a mismatch.
    void startAndListFleet(E2eStack &stack, const TestCertificates *tls, QHash<QString, QJsonObject> *byRegion);

    QTemporaryDir m_dir;
    TestCertificates m_certificates;
};

void TestFleetDiscovery::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    QVERIFY2(m_certificates.create(m_dir.path(), &error), qPrintable(error));
}

void TestFleetDiscovery::heartbeatWithoutConsole_data()
{
    QTest::addColumn<bool>("tls");
    QTest::newRow("plain") << false;
    QTest::newRow("tls") << true;
}

// Primary, replica and one gateway, no console and nothing else writing the
// heartbeat: the gateway's own heartbeat makes its lag finite. Over TLS: the
// gateway announces itself and writes the heartbeat over rediss://.
void TestFleetDiscovery::heartbeatWithoutConsole()
{
    QFETCH(bool, tls);
    GatewayStack stack;
    GatewayStack::Options options;
    options.redisTls = tls ? &m_certificates : nullptr;
    // A long period: a state change reaches the record only by being announced at once.
    options.gatewayArgs = {QStringLiteral("--announce-interval-ms"), QStringLiteral("30000")};
    QString error;
    QVERIFY2(stack.start(options, &error), qPrintable(error));
    double lag = std::nan("");
    const bool finite = Poll::until(
        [&] {
            lag = lagOf(stack.gatewayUrl(QStringLiteral("/metrics")));
            return std::isfinite(lag);
        },
        TimeScale::ms(10000), 100);
    if (!finite)
        qWarning().noquote() << stack.describe();
    QVERIFY2(finite, "l0l3_replication_lag_seconds stayed NaN without a console");
    QVERIFY2(lag >= 0 && lag < 5, qPrintable(QString::number(lag)));
    // The value is the primary's clock, written by the gateway and replicated.
    const QByteArray onReplica = stack.replicaClient().command({"GET", "l0l3:v1:heartbeat"}).str;
    QVERIFY2(onReplica.toLongLong() > 1700000000000LL, onReplica.constData());

    // Its registry record follows a degradation at once, not a period later.
    const auto recordState = [&stack] {
        const RedisValue keys = stack.primaryClient().command(
            {"SCAN", "0", "MATCH", "l0l3:v1:fleet:gateway:*", "COUNT", "1000"});
        const QList<RedisValue> names = keys.elements.value(1).elements;
        if (names.size() != 1)
            return QString();
        const QByteArray value = stack.primaryClient().command({"GET", names.first().str}).str;
        return QJsonDocument::fromJson(value).object().value(u"state").toString();
    };
    QCOMPARE(recordState(), QStringLiteral("normal"));
    QVERIFY(stack.replica().stop());
    QElapsedTimer sinceStop;
    sinceStop.start();
    QVERIFY(Poll::until([&] { return recordState() == u"replica_down"; }, TimeScale::ms(10000), 50));
    QVERIFY2(sinceStop.elapsed() < TimeScale::ms(4000), qPrintable(QString::number(sinceStop.elapsed())));
    QVERIFY(stack.gateway().stop());
    stack.stop();
}

TestFleetDiscovery::Run TestFleetDiscovery::ctlFleet(E2eStack &stack, const QStringList &extra)
{
    QProcessEnvironment env = ctlEnvironment();
    const SentinelClient::Options so = stack.sentinelClientOptions();
    env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_USER"), QString::fromUtf8(so.sentinelUser));
    env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD"), QString::fromUtf8(so.sentinelPassword));
    Run r;
    static_cast<CtlRun &>(r) = runCtl(QStringList{QStringLiteral("--primary"), stack.ctlPrimaryUrl()}
                                          + stack.ctlTlsArgs()
                                          + QStringList{QStringLiteral("fleet"), QStringLiteral("--json")} + extra,
                                      env);
    r.json = QJsonDocument::fromJson(r.out).object();
    return r;
}

QJsonObject TestFleetDiscovery::gatewayNamed(const QJsonObject &fleet, const QString &instance)
{
    for (const QJsonValue &g : fleet.value(u"gateways").toArray()) {
        if (g.toObject().value(u"instance").toString() == instance)
            return g.toObject();
    }
    return {};
}

void TestFleetDiscovery::startAndListFleet(E2eStack &stack, const TestCertificates *tls,
                                           QHash<QString, QJsonObject> *byRegion)
{
    E2eStack::Options options;
    options.regions = {QStringLiteral("nyc"), QStringLiteral("tokyo")};
    options.sentinels = 3;
    options.redisTls = tls;
    // A 1 s period: stale after 2 s, gone after 3 s.
    options.gatewayArgs = {QStringLiteral("--announce-interval-ms"), QStringLiteral("1000")};
    QString error;
    QVERIFY2(stack.start(options, &error), qPrintable(error + u'\n' + stack.describe()));
    QVERIFY2(stack.waitForSentinels(TimeScale::ms(30000), &error), qPrintable(error));

    // Some traffic for p99 and the hit rate.
    HttpClient http;
    for (const QString &region : options.regions) {
        for (int i = 0; i < 3; ++i) {
            const HttpResult r = http.post(stack.gatewayUrl(region),
                                           ChatWire::chatBody(QStringLiteral("fleet %1 %2").arg(region).arg(i)),
                                           {{"content-type", "application/json"}});
            QVERIFY2(r.status == 200, qPrintable(r.describe()));
        }
    }

    const QStringList sentinels = [&] {
        QStringList out;
        for (RedisServer *s : stack.sentinels())
            out << QStringLiteral("%1:%2").arg(s->host()).arg(s->port());
        return QStringList{QStringLiteral("--sentinel"), out.join(u',')};
    }();
    Run run;
    // Both gateways announced, with a finite lag (their heartbeat, no console).
    const bool listed = Poll::until(
        [&] {
            run = ctlFleet(stack, sentinels);
            if (run.code != 0)
                return false;
            int ready = 0;
            for (const QJsonValue &v : run.json.value(u"gateways").toArray()) {
                const QJsonObject m = v.toObject().value(u"metrics").toObject();
                ready += m.value(u"replication_lag_seconds").isDouble() && m.value(u"p99_ms").isDouble() ? 1 : 0;
            }
            return ready == 2;
        },
        TimeScale::ms(20000), 200);
    QVERIFY2(listed, QByteArray(run.out + "\n" + run.err).constData());
    // The instance ids default to host name:port; find them by region.
    for (const QJsonValue &v : run.json.value(u"gateways").toArray())
        byRegion->insert(v.toObject().value(u"region").toString(), v.toObject());
    QCOMPARE(byRegion->keys().size(), 2);
    for (const QString &region : options.regions) {
        const QJsonObject g = byRegion->value(region);
        QVERIFY2(!g.isEmpty(), qPrintable(region));
        QCOMPARE(g.value(u"url").toString(), QStringLiteral("http://127.0.0.1:%1").arg(stack.gatewayPort(region)));
        QCOMPARE(g.value(u"state").toString(), QStringLiteral("normal"));
        QCOMPARE(g.value(u"alive").toBool(), true);
        QCOMPARE(g.value(u"version").toString(), QStringLiteral(L0L3_VERSION));
        const QJsonObject m = g.value(u"metrics").toObject();
        QCOMPARE(m.value(u"up").toBool(), true);
        QCOMPARE(m.value(u"state").toString(), QStringLiteral("normal"));
        const double lag = m.value(u"replication_lag_seconds").toDouble(-1);
        QVERIFY2(lag >= 0 && lag < 5, qPrintable(QString::number(lag)));
        QVERIFY(m.value(u"p99_ms").toDouble(-1) > 0);
        QVERIFY(m.value(u"hit_rate").isDouble());
        QVERIFY(m.value(u"requests").toDouble() >= 3);
    }
    // Regions, replicas with their region and link, Sentinels.
    const QJsonArray regions = run.json.value(u"regions").toArray();
    QCOMPARE(regions.size(), 2);
    QCOMPARE(regions.at(0).toObject().value(u"name").toString(), QStringLiteral("nyc"));
    const QJsonArray replicas = run.json.value(u"replicas").toArray();
    QCOMPARE(replicas.size(), 2);
    for (const QJsonValue &v : replicas) {
        const QJsonObject r = v.toObject();
        const QString region = r.value(u"region").toString();
        QVERIFY2(options.regions.contains(region), QJsonDocument(r).toJson().constData());
        QCOMPARE(r.value(u"port").toInt(), stack.replica(region).port());
        QCOMPARE(r.value(u"link_up").toBool(), true);
    }
    QVERIFY2(run.json.value(u"sentinels").toArray().size() == 3, QByteArray(run.out + "\n" + run.err).constData());
    QCOMPARE(run.json.value(u"primary").toObject().value(u"port").toInt(), stack.primary().port());
    QCOMPARE(run.json.value(u"malformed_records").toInt(), 0);
}

// Two regions (a replica and a gateway each), three Sentinels: l0l3-ctl
// fleet lists both gateways with live figures; a stopped gateway turns stale,
// then disappears; a new one appears; nothing is restarted.
void TestFleetDiscovery::fleetFollowsGateways()
{
    E2eStack stack;
    QHash<QString, QJsonObject> byRegion;
    startAndListFleet(stack, nullptr, &byRegion);
    if (QTest::currentTestFailed())
        return;
    Run run;
    QString error;

    // Stop tokyo's gateway (a clean exit): stale once two periods pass, then gone.
    const QString tokyoInstance = byRegion.value(QStringLiteral("tokyo")).value(u"instance").toString();
    const QString nycInstance = byRegion.value(QStringLiteral("nyc")).value(u"instance").toString();
    QVERIFY(stack.gateway(QStringLiteral("tokyo")).stop());
    QCOMPARE(stack.gateway(QStringLiteral("tokyo")).exitStatus(), QProcess::NormalExit);
    QCOMPARE(stack.gateway(QStringLiteral("tokyo")).exitCode(), 0);
    const QStringList quick{QStringLiteral("--no-scrape")};
    bool sawStale = false;
    const bool gone = Poll::until(
        [&] {
            run = ctlFleet(stack, quick);
            if (run.code != 0)
                return false;
            const QJsonObject g = gatewayNamed(run.json, tokyoInstance);
            if (!g.isEmpty() && g.value(u"stale").toBool())
                sawStale = true;
            return sawStale && g.isEmpty();
        },
        TimeScale::ms(15000), 50);
    QVERIFY2(sawStale, run.out.constData());
    QVERIFY2(gone, run.out.constData());
    // nyc still announces.
    QCOMPARE(gatewayNamed(run.json, nycInstance).value(u"stale").toBool(true), false);

    // A new gateway joins tokyo: it appears without restarting anything.
    ManagedProcess joined;
    QVERIFY2(joined.start(ManagedProcess::binary(QStringLiteral("l0l3-gateway")),
                          {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--region"),
                           QStringLiteral("tokyo"), QStringLiteral("--replica"),
                           stack.replica(QStringLiteral("tokyo")).url(QStringLiteral("gateway")),
                           QStringLiteral("--primary"), stack.primary().url(QStringLiteral("gateway")),
                           QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:9/v1"),
                           QStringLiteral("--instance-id"), QStringLiteral("tokyo-joined"),
                           QStringLiteral("--announce-interval-ms"), QStringLiteral("1000")},
                          QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int joinedPort = joined.listenPort(TimeScale::ms(15000));
    QVERIFY(joinedPort > 0);
    const bool appeared = Poll::until(
        [&] {
            run = ctlFleet(stack, quick);
            const QJsonObject g = gatewayNamed(run.json, QStringLiteral("tokyo-joined"));
            return !g.isEmpty() && g.value(u"region").toString() == u"tokyo" && !g.value(u"stale").toBool();
        },
        TimeScale::ms(10000), 100);
    QVERIFY2(appeared, run.out.constData());
    QCOMPARE(gatewayNamed(run.json, QStringLiteral("tokyo-joined")).value(u"url").toString(),
             QStringLiteral("http://127.0.0.1:%1").arg(joinedPort));
    QVERIFY(joined.stop());
    stack.stop();
}

// The same fleet with every Redis link over TLS: the gateways announce
// themselves and their heartbeat over rediss://, the Sentinels are asked on
// their tls-port, and l0l3-ctl fleet reads it all with the run's CA.
void TestFleetDiscovery::fleetOverTls()
{
    E2eStack stack;
    QHash<QString, QJsonObject> byRegion;
    startAndListFleet(stack, &m_certificates, &byRegion);
    if (QTest::currentTestFailed())
        return;
    // The nodes listen with TLS only: the registry was written over TLS.
    RedisClient plain;
    const bool answered = plain.connect(stack.primary().host(), stack.primary().port(), QStringLiteral("console"),
                                        TestCredentials::get().console, TimeScale::ms(3000))
        && plain.ping();
    QVERIFY2(!answered, "a TLS-only primary answered a plain-text client");
    stack.stop();
}

QTEST_GUILESS_MAIN(TestFleetDiscovery)
#include "tst_fleetdiscovery.moc"
