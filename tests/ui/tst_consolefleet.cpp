// The console against a fleet that knows nothing of the demo: a primary, a
// replica in each of two regions, three Sentinels and a gateway per region,
// all separate processes (E2eStack), with hits and misses flowing. A
// connection profile in a temporary settings location names only the
// primary, the Sentinels, the users and the data nodes; passwords come from
// the environment and a mode-600 file. Then:
// - in process: the Dashboards list both discovered regions with a finite
//   p99, hit rate and replication lag, the Topology page offers both regions
//   for draining and lists both announced gateways; a stopped gateway shows
//   as down without a restart of the console;
// - the real `l0l3-console --profile NAME --screenshot FILE --quit-after S
//   --tab dashboards` exits 0 with a non-blank PNG;
// - a second fleet with every Redis node and Sentinel TLS-only, and a
//   rediss:// profile with the CA made for the run: the console shows it the
//   same way (Dashboards, announced gateways, the Sentinels' quorum).
#include <QFile>
#include <QHash>
#include <QImage>
#include <QLabel>
#include <QMessageBox>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QProcess>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QTreeWidget>
#include <QUuid>

#include <cmath>
#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/integration/hitload.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/poll.h"
#include "tests/support/screenshotcheck.h"
#include "tests/support/testcertificates.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "ui/dashboard/dashboardpage.h"
#include "ui/mainwindow.h"
#include "ui/settings/profilestore.h"
#include "ui/topology/topologypage.h"

using namespace l0l3;
using namespace l0l3::test;

class TestConsoleFleet : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();
    void quorumShowsOnceTheSentinelsMeet();
    void dashboardsShowTheDiscoveredFleet();
    void consoleProcessRendersTheDashboards();
    void profileFieldsAreValidated();
    void consoleSeesTheFleetOverTls();
    void manualPromotionRepointsEveryNode();

private:
    // A profile naming stack's primary (rediss:// and the CA over TLS), its
    // Sentinels, users and data nodes; saved under name.
    static ConnectionProfile fleetProfile(E2eStack &stack, const QString &name);
    // Waits until the Dashboards show every one of regions with a finite p99
    // and lag and its one gateway up (and, with traffic of both kinds, a hit
    // rate strictly between 0 and 1), then until the Topology page offers the
    // regions for draining, lists their gateways as announcing and the
    // Sentinels' quorum. Fails the test function otherwise.
    static void checkFleetShown(MainWindow &window, const QStringList &regions, bool mixedTraffic);
    static QString describeDashboards(DashboardPage *dashboards);
    bool approveServedEntry(const QString &region, const QString &prompt, QString *error);
    void sendMiss();
    void sendMissTo(const QUrl &gateway);
    QString writeSecretFile(const QString &name, const QString &secret);

    QTemporaryDir m_dir;
    std::unique_ptr<E2eStack> m_stack;
    std::unique_ptr<RedisConnection> m_connection;
    std::unique_ptr<ApprovalService> m_approvals;
    std::unique_ptr<HitLoad> m_hits;
    QNetworkAccessManager *m_network = nullptr;
    QTimer m_misses;
    int m_missCount = 0;
    QString m_runId;
    QString m_passwordFile;
    std::unique_ptr<MainWindow> m_early;
    QPointer<QLabel> m_earlyStatus;
    QTimer m_sampler;
    bool m_sawNoQuorum = false;
};

void TestConsoleFleet::initTestCase()
{
    QVERIFY(m_dir.isValid());
    for (const char *needed : {"l0l3-console", "l0l3-gateway", "l0l3-stub-llm"}) {
        if (!QFile::exists(ManagedProcess::binary(QString::fromLatin1(needed))))
            QFAIL(qPrintable(QStringLiteral("%1 is not built next to this test").arg(QString::fromLatin1(needed))));
    }
    // The console's settings (QSettings: $XDG_CONFIG_HOME/L0L3/l0l3-console.conf)
    // live in the temporary dir, for this process and the console process.
    qputenv("XDG_CONFIG_HOME", m_dir.filePath(QStringLiteral("config")).toUtf8());
    QCoreApplication::setOrganizationName(QStringLiteral("L0L3"));
    QCoreApplication::setApplicationName(QStringLiteral("l0l3-console"));
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);

    m_stack = std::make_unique<E2eStack>();
    E2eStack::Options options;
    options.regions = {QStringLiteral("nyc"), QStringLiteral("tokyo")};
    options.sentinels = 3;
    QString error;
    QVERIFY2(m_stack->start(options, &error), qPrintable(error + u'\n' + m_stack->describe()));
    // Passwords: never on the command line, never in QSettings.
    m_passwordFile = writeSecretFile(QStringLiteral("console.pw"), TestCredentials::get().console);
    QVERIFY(!m_passwordFile.isEmpty());
    qputenv("L0L3_CONSOLE_PASSWORD_FILE", m_passwordFile.toUtf8());
    qputenv("L0L3_SENTINEL_AUTH_PASSWORD", TestCredentials::get().sentinelAuth.toUtf8());
    qputenv("L0L3_TOPOLOGY_PASSWORD", TestCredentials::get().topology.toUtf8());
    qunsetenv("L0L3_REDIS_HOSTS");

    const ConnectionProfile profile = fleetProfile(*m_stack, QStringLiteral("fleet"));
    QVERIFY2(profile.isValid(&error), qPrintable(error));
    QVERIFY(ProfileStore::find(QStringLiteral("fleet")).has_value());
    QVERIFY(QFile::exists(m_dir.filePath(QStringLiteral("config/L0L3/l0l3-console.conf"))));

    // A console that starts while the Sentinels have not met yet: its
    // topology header must move from NO QUORUM to CKQUORUM OK by itself.
    m_early = std::make_unique<MainWindow>();
    m_early->connectProfile(*ProfileStore::find(QStringLiteral("fleet")));
    m_earlyStatus = m_early->topologyPage()->findChild<QLabel *>(QStringLiteral("sentinelStatus"));
    QVERIFY(m_earlyStatus);
    m_sampler.setInterval(20);
    connect(&m_sampler, &QTimer::timeout, this, [this] {
        if (m_earlyStatus && m_earlyStatus->text().contains(QLatin1String("NO QUORUM")))
            m_sawNoQuorum = true;
    });
    m_sampler.start();
    QVERIFY2(m_stack->waitForSentinels(TimeScale::ms(30000), &error), qPrintable(error));

    m_connection = std::make_unique<RedisConnection>(E2eStack::consoleOptions(m_stack->primary().port()));
    m_approvals = std::make_unique<ApprovalService>(m_connection.get());
    m_approvals->setDefaultActor(QStringLiteral("tst-consolefleet"));
    m_connection->open();
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isReady(), TimeScale::ms(10000));

    // Hits: one approved entry per region, read in a steady loop; misses:
    // a new prompt every 300 ms, alternating between the gateways.
    QList<HitTarget> targets;
    for (const QString &region : m_stack->regions()) {
        const QString prompt = QStringLiteral("fleet %1 %2").arg(region, m_runId);
        QVERIFY2(approveServedEntry(region, prompt, &error), qPrintable(error));
        targets.append({region, m_stack->gatewayUrl(region), ChatWire::chatBody(prompt), QStringLiteral("answer")});
    }
    m_hits = std::make_unique<HitLoad>(targets, 20);
    m_hits->start();
    m_network = new QNetworkAccessManager(this);
    m_misses.setInterval(300);
    connect(&m_misses, &QTimer::timeout, this, &TestConsoleFleet::sendMiss);
    m_misses.start();
}

void TestConsoleFleet::cleanup()
{
    if (QTest::currentTestFailed() && m_stack)
        qWarning().noquote() << m_stack->describe();
}

void TestConsoleFleet::cleanupTestCase()
{
    m_sampler.stop();
    m_early.reset();
    m_misses.stop();
    if (m_hits) {
        m_hits->stop();
        QTRY_VERIFY_WITH_TIMEOUT(m_hits->isIdle(), TimeScale::ms(10000));
        QVERIFY2(m_hits->ok() > 0, qPrintable(m_hits->failures().join(u'\n')));
    }
    m_hits.reset();
    m_approvals.reset();
    m_connection.reset();
    if (m_stack)
        m_stack->stop();
    m_stack.reset();
}

ConnectionProfile TestConsoleFleet::fleetProfile(E2eStack &stack, const QString &name)
{
    ConnectionProfile profile;
    profile.name = name;
    const bool tls = stack.options().redisTls != nullptr;
    profile.primaryUrl = QStringLiteral("%1://127.0.0.1:%2")
                             .arg(tls ? QStringLiteral("rediss") : QStringLiteral("redis"))
                             .arg(stack.primary().port());
    if (tls)
        profile.tlsCaFile = stack.options().redisTls->caCert();
    profile.user = QStringLiteral("console");
    for (RedisServer *s : stack.sentinels())
        profile.sentinels.append(QStringLiteral("%1:%2").arg(s->host()).arg(s->port()));
    profile.sentinelUser = stack.sentinels().front()->adminUser();
    profile.topologyUser = QStringLiteral("topology");
    // Data nodes without regions: the regions come from discovery.
    for (RedisServer *s : stack.dataServers())
        profile.dataNodes.append(QStringLiteral("%1:%2").arg(s->host()).arg(s->port()));
    ProfileStore::upsert(profile);
    return profile;
}

QString TestConsoleFleet::describeDashboards(DashboardPage *dashboards)
{
    QStringList out{QStringLiteral("cards: %1").arg(dashboards->regions().join(u','))};
    for (const QString &r : dashboards->regions()) {
        const RegionMetrics m = dashboards->lastMetrics(r);
        out.append(QStringLiteral("%1: p99 %2 ms, hit %3, lag %4 ms, up %5/%6")
                       .arg(r)
                       .arg(m.p99Ms)
                       .arg(m.hitRate)
                       .arg(dashboards->shownLagMs(r))
                       .arg(m.gatewaysUp)
                       .arg(m.gatewaysTotal));
    }
    return out.join(QStringLiteral("; "));
}

void TestConsoleFleet::checkFleetShown(MainWindow &window, const QStringList &regions, bool mixedTraffic)
{
    DashboardPage *dashboards = window.dashboardPage();
    auto complete = [&] {
        if (dashboards->regions() != regions)
            return false;
        for (const QString &r : regions) {
            const RegionMetrics m = dashboards->lastMetrics(r);
            if (!std::isfinite(m.p99Ms) || dashboards->shownLagMs(r) < 0 || m.gatewaysUp != 1 || m.gatewaysTotal != 1)
                return false;
            if (mixedTraffic && !(m.hitRate > 0 && m.hitRate < 1))
                return false;
        }
        return true;
    };
    QTRY_VERIFY2_WITH_TIMEOUT(complete(), qPrintable(describeDashboards(dashboards)), TimeScale::ms(40000));
    for (const QString &r : regions) {
        const RegionMetrics m = dashboards->lastMetrics(r);
        QCOMPARE(m.degradationState, QStringLiteral("normal"));
        QVERIFY2(m.p99Ms > 0, qPrintable(describeDashboards(dashboards)));
    }
    // Each gateway with its own state.
    QTreeWidget *gateways = dashboards->gatewayTable();
    QCOMPARE(gateways->topLevelItemCount(), regions.size());
    QStringList shown;
    QStringList expected;
    for (int i = 0; i < gateways->topLevelItemCount(); ++i)
        shown.append(gateways->topLevelItem(i)->text(0) + u' ' + gateways->topLevelItem(i)->text(2));
    for (const QString &r : regions)
        expected.append(r + QStringLiteral(" normal"));
    shown.sort();
    QCOMPARE(shown, expected);

    // Topology: every region offered for drain, every gateway listed as announcing.
    TopologyPage *topology = window.topologyPage();
    QTRY_COMPARE_WITH_TIMEOUT(topology->drainRegions(), regions, TimeScale::ms(10000));
    auto gatewayRows = [&](const QString &health) {
        int n = 0;
        QTreeWidget *tree = topology->tree();
        for (int i = 0; i < tree->topLevelItemCount(); ++i) {
            QTreeWidgetItem *section = tree->topLevelItem(i);
            for (int j = 0; j < section->childCount(); ++j) {
                QTreeWidgetItem *row = section->child(j);
                if (row->data(0, Qt::UserRole).toString().startsWith(QLatin1String("gw:"))
                    && row->text(3).startsWith(health))
                    ++n;
            }
        }
        return n;
    };
    QTRY_COMPARE_WITH_TIMEOUT(gatewayRows(QStringLiteral("announcing")), regions.size(), TimeScale::ms(10000));
    // The Sentinels found each other: the header shows the quorum, not its absence.
    QLabel *sentinelStatus = topology->findChild<QLabel *>(QStringLiteral("sentinelStatus"));
    QVERIFY(sentinelStatus);
    QTRY_VERIFY2_WITH_TIMEOUT(sentinelStatus->text().contains(QLatin1String("CKQUORUM OK")),
                              qPrintable(sentinelStatus->text()), TimeScale::ms(15000));
}

QString TestConsoleFleet::writeSecretFile(const QString &name, const QString &secret)
{
    QFile file(m_dir.filePath(name));
    if (!file.open(QIODevice::WriteOnly) || !file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner))
        return {};
    file.write(secret.toUtf8() + '\n');
    return file.fileName();
}

void TestConsoleFleet::sendMiss()
{
    sendMissTo(m_stack->gatewayUrl(m_stack->regions().at(m_missCount % m_stack->regions().size())));
}

void TestConsoleFleet::sendMissTo(const QUrl &gateway)
{
    QNetworkRequest request(gateway);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    QNetworkReply *reply = m_network->post(
        request, ChatWire::chatBody(QStringLiteral("miss %1 %2").arg(m_runId).arg(m_missCount++)));
    connect(reply, &QNetworkReply::finished, reply, &QObject::deleteLater);
}

bool TestConsoleFleet::approveServedEntry(const QString &region, const QString &prompt, QString *error)
{
    HttpClient http;
    const HttpResult miss = http.post(m_stack->gatewayUrl(region), ChatWire::chatBody(prompt));
    const QByteArray key = miss.header("x-l0l3-key");
    if (miss.status != 200 || key.isEmpty()) {
        *error = QStringLiteral("no miss for %1: status %2").arg(prompt).arg(miss.status);
        return false;
    }
    RedisClient client = m_stack->primary().client();
    Proposal p;
    p.key = key.toStdString();
    p.ns = "default";
    p.prompt = prompt.toStdString();
    p.response = "upstream answer";
    p.model = ChatWire::kModel;
    p.region = region.toStdString();
    if (p.derivedKey() != p.key) {
        *error = QStringLiteral("the proposal's fields do not give the gateway's key %1").arg(QString::fromLatin1(key));
        return false;
    }
    ApprovalRequest request;
    request.proposalId = QString::fromLatin1(E2eStack::addProposal(client, p));
    request.response = QStringLiteral("answer");
    const auto result = E2eStack::await([&](ApprovalService::ResultCallback cb) { m_approvals->approve(request, cb); });
    if (!result || !result->ok) {
        *error = result ? result->message : QStringLiteral("approve() never answered");
        return false;
    }
    for (const QString &r : m_stack->regions()) {
        HttpResult hit;
        if (!Poll::until(
                [&] {
                    hit = http.post(m_stack->gatewayUrl(r), ChatWire::chatBody(prompt));
                    return hit.header("x-l0l3-cache") == "hit";
                },
                TimeScale::ms(5000))) {
            *error = QStringLiteral("%1 never served the approved entry").arg(r);
            return false;
        }
    }
    return true;
}

void TestConsoleFleet::quorumShowsOnceTheSentinelsMeet()
{
    QVERIFY(m_early && m_earlyStatus);
    QTRY_VERIFY2_WITH_TIMEOUT(m_earlyStatus->text().contains(QLatin1String("CKQUORUM OK")),
                              qPrintable(m_earlyStatus->text()), TimeScale::ms(20000));
    m_sampler.stop();
    // Whether the first answer came before the Sentinels met depends on timing;
    // when it did, the header above moved on by itself.
    qInfo("the console saw NO QUORUM first: %s", m_sawNoQuorum ? "yes" : "no");
    m_early.reset();
}

void TestConsoleFleet::dashboardsShowTheDiscoveredFleet()
{
    const auto profile = ProfileStore::find(QStringLiteral("fleet"));
    QVERIFY(profile);
    MainWindow window;
    window.connectProfile(*profile);
    DashboardPage *dashboards = window.dashboardPage();
    checkFleetShown(window, {QStringLiteral("nyc"), QStringLiteral("tokyo")}, true);
    if (QTest::currentTestFailed())
        return;
    auto describe = [&] { return describeDashboards(dashboards); };

    // A gateway that stops: its region shows it down, without a restart.
    m_stack->gateway(QStringLiteral("tokyo")).stop();
    QTRY_VERIFY2_WITH_TIMEOUT(dashboards->lastMetrics(QStringLiteral("tokyo")).gatewaysUp == 0, qPrintable(describe()),
                              TimeScale::ms(15000));
    QCOMPARE(dashboards->lastMetrics(QStringLiteral("nyc")).gatewaysUp, 1);
    QString error;
    QVERIFY2(m_stack->restartGateway(QStringLiteral("tokyo"), &error), qPrintable(error));
    QTRY_VERIFY2_WITH_TIMEOUT(dashboards->lastMetrics(QStringLiteral("tokyo")).gatewaysUp == 1, qPrintable(describe()),
                              TimeScale::ms(15000));
}

void TestConsoleFleet::consoleProcessRendersTheDashboards()
{
    const QString png = m_dir.filePath(QStringLiteral("dashboards-fleet.png"));
    ManagedProcess console;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    env.insert(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"), QStringLiteral("unix:path=/nonexistent/l0l3-no-bus"));
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), m_dir.filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("L0L3_CONSOLE_PASSWORD_FILE"), m_passwordFile);
    env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD"), TestCredentials::get().sentinelAuth);
    env.insert(QStringLiteral("L0L3_TOPOLOGY_PASSWORD"), TestCredentials::get().topology);
    QString error;
    QVERIFY2(console.start(ManagedProcess::binary(QStringLiteral("l0l3-console")),
                           {QStringLiteral("--profile"), QStringLiteral("fleet"), QStringLiteral("--screenshot"), png,
                            QStringLiteral("--quit-after"), QString::number(TimeScale::ms(15000) / 1000.0),
                            QStringLiteral("--tab"), QStringLiteral("dashboards")},
                           env, &error),
             qPrintable(error));
    // The console keeps the event loop busy while the traffic goes on.
    QVERIFY2(QTest::qWaitFor([&] { return !console.isRunning(); }, TimeScale::ms(90000)),
             qPrintable(console.describe()));
    QVERIFY(console.waitForFinished(0));
    QCOMPARE(console.exitStatus(), QProcess::NormalExit);
    QVERIFY2(console.exitCode() == 0, qPrintable(console.describe()));
    QVERIFY2(console.stdoutText().contains("screenshot "), qPrintable(console.describe()));
    QVERIFY2(console.stdoutText().contains("dashboards: nyc,tokyo\n"), qPrintable(console.describe()));

    QImage image(png);
    QVERIFY2(!image.isNull(), "no PNG written");
    QCOMPARE(image.size(), QSize(1280, 800));
    const QString blank = blankScreenshotProblem(image);
    QVERIFY2(blank.isEmpty(), qPrintable(blank));
    // For the docs: scripts copy it from here when asked to.
    if (const QString keep = qEnvironmentVariable("L0L3_KEEP_SCREENSHOT"); !keep.isEmpty()) {
        QFile::remove(keep);
        QVERIFY(QFile::copy(png, keep));
    }
}

void TestConsoleFleet::profileFieldsAreValidated()
{
    ConnectionProfile p;
    p.name = QStringLiteral("x");
    p.primaryUrl = QStringLiteral("redis://127.0.0.1:6379");
    QString error;
    QVERIFY2(p.isValid(&error), qPrintable(error));

    p.metricsSource = ConnectionProfile::MetricsSource::Prometheus;
    QVERIFY(!p.isValid(&error));
    QVERIFY2(error.contains(QLatin1String("Prometheus")), qPrintable(error));
    p.prometheusUrl = QStringLiteral("ftp://prom:9090");
    QVERIFY(!p.isValid(&error));
    p.prometheusUrl = QStringLiteral("http://user:pw@prom:9090");
    QVERIFY(!p.isValid(&error));
    QVERIFY2(error.contains(QLatin1String("credentials")), qPrintable(error));
    p.prometheusUrl = QStringLiteral("http://prom:9090");
    QVERIFY2(p.isValid(&error), qPrintable(error));

    p.dataNodes = {QStringLiteral("nyc=10.0.0.5:6379"), QStringLiteral("[::1]:6380")};
    QVERIFY2(p.isValid(&error), qPrintable(error));
    const auto nodes = p.parsedDataNodes();
    QVERIFY(nodes);
    QCOMPARE(nodes->size(), 2);
    QCOMPARE(nodes->at(0).region, QStringLiteral("nyc"));
    QCOMPARE(nodes->at(1).host, QStringLiteral("::1"));
    p.dataNodes = {QStringLiteral("ny c=10.0.0.5:6379")};
    QVERIFY(!p.isValid(&error));
    QVERIFY2(error.contains(QLatin1String("region")), qPrintable(error));
    p.dataNodes = {QStringLiteral("10.0.0.5")};
    QVERIFY(!p.isValid(&error));
    QVERIFY2(error.contains(QLatin1String("HOST:PORT")), qPrintable(error));
    p.dataNodes.clear();
    p.sentinels = {QStringLiteral("127.0.0.1")};
    QVERIFY(!p.isValid(&error));
    QVERIFY2(error.contains(QLatin1String("Sentinels")), qPrintable(error));

    // Round trip through QSettings, passwords nowhere in the file.
    ConnectionProfile q;
    q.name = QStringLiteral("roundtrip");
    q.primaryUrl = QStringLiteral("redis://10.0.0.1:6379");
    q.user = QStringLiteral("console");
    q.metricsSource = ConnectionProfile::MetricsSource::Prometheus;
    q.prometheusUrl = QStringLiteral("http://prom:9090");
    q.topologyUser = QStringLiteral("topology");
    q.sentinelUser = QStringLiteral("l0l3-sentinel");
    q.dataNodes = {QStringLiteral("nyc=10.0.0.5:6379")};
    ProfileStore::upsert(q);
    QCOMPARE(*ProfileStore::find(q.name), q);
    ProfileStore::remove(q.name);
    QFile conf(m_dir.filePath(QStringLiteral("config/L0L3/l0l3-console.conf")));
    QVERIFY(conf.open(QIODevice::ReadOnly));
    const QByteArray text = conf.readAll();
    QVERIFY(!text.contains(TestCredentials::get().console.toUtf8()));
    QVERIFY(!text.contains(TestCredentials::get().topology.toUtf8()));
}

// A fleet of its own over TLS: one region, three Sentinels, every node
// TLS-only; the profile names a rediss:// primary and the run's CA, which the
// console uses on every link (primary, replicas, Sentinels).
void TestConsoleFleet::consoleSeesTheFleetOverTls()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    TestCertificates certificates;
    QString error;
    QVERIFY2(certificates.create(dir.path(), &error), qPrintable(error));
    E2eStack stack;
    E2eStack::Options options;
    options.regions = {QStringLiteral("eu")};
    options.sentinels = 3;
    options.redisTls = &certificates;
    QVERIFY2(stack.start(options, &error), qPrintable(error + u'\n' + stack.describe()));
    // Misses for p99, proposed to the primary over TLS, all along.
    QTimer misses;
    misses.setInterval(300);
    connect(&misses, &QTimer::timeout, this, [&] { sendMissTo(stack.gatewayUrl(QStringLiteral("eu"))); });
    misses.start();
    const ConnectionProfile profile = fleetProfile(stack, QStringLiteral("fleet-tls"));
    QVERIFY2(profile.isValid(&error), qPrintable(error));
    QVERIFY(profile.primaryUrl.startsWith(QLatin1String("rediss://")));
    MainWindow window;
    window.connectProfile(profile);
    checkFleetShown(window, options.regions, false);
    if (QTest::currentTestFailed())
        qWarning().noquote() << stack.describe();
    ProfileStore::remove(profile.name);
}

// Last: it changes the fleet. Without Sentinels (no quorum, the case manual
// promotion is for), promoting the tokyo replica from the Topology page makes
// the old primary and the nyc replica replicate from it, found by discovery
// and not listed by region anywhere, and the page says so per node.
void TestConsoleFleet::manualPromotionRepointsEveryNode()
{
    const auto profile = ProfileStore::find(QStringLiteral("fleet"));
    QVERIFY(profile);
    MainWindow window;
    window.connectProfile(*profile);
    TopologyPage *topology = window.topologyPage();
    auto replicaRow = [&](const QString &region) -> QTreeWidgetItem * {
        QTreeWidget *tree = topology->tree();
        for (int i = 0; i < tree->topLevelItemCount(); ++i) {
            QTreeWidgetItem *section = tree->topLevelItem(i);
            if (section->text(0) != QLatin1String("Replicas"))
                continue;
            for (int j = 0; j < section->childCount(); ++j)
                if (section->child(j)->data(0, Qt::UserRole).toString() == region)
                    return section->child(j);
        }
        return nullptr;
    };
    RedisServer &tokyo = m_stack->replica(QStringLiteral("tokyo"));
    RedisServer &nyc = m_stack->replica(QStringLiteral("nyc"));
    RedisServer &primary = m_stack->primary();
    QTRY_VERIFY_WITH_TIMEOUT(replicaRow(QStringLiteral("tokyo")) && replicaRow(QStringLiteral("nyc")),
                             TimeScale::ms(15000));
    // The console knows the current primary before the Sentinels go.
    QTRY_VERIFY_WITH_TIMEOUT(
        topology->findChild<QLabel *>(QStringLiteral("sentinelStatus"))->text().contains(QLatin1String("CKQUORUM OK")),
        TimeScale::ms(15000));
    for (RedisServer *s : m_stack->sentinels())
        QVERIFY(s->stop());

    QTreeWidgetItem *row = replicaRow(QStringLiteral("tokyo"));
    QCOMPARE(row->data(1, Qt::UserRole + 1).toInt(), tokyo.port());
    topology->tree()->setCurrentItem(row);
    topology->requestPromotion();
    QMessageBox *box = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((box = topology->findChild<QMessageBox *>(QStringLiteral("controlConfirm")))
                                 && box->isVisible(),
                             TimeScale::ms(5000));
    box->button(QMessageBox::Ok)->click();

    const QString promoted = QStringLiteral("127.0.0.1:%1 — promoted to primary").arg(tokyo.port());
    const QString primaryLine = QStringLiteral("127.0.0.1:%1 — re-pointed to the new primary").arg(primary.port());
    const QString nycLine = QStringLiteral("127.0.0.1:%1 — re-pointed to the new primary").arg(nyc.port());
    QTRY_VERIFY2_WITH_TIMEOUT(topology->promotionReport().contains(promoted)
                                  && topology->promotionReport().contains(primaryLine)
                                  && topology->promotionReport().contains(nycLine),
                              qPrintable(topology->promotionReport()), TimeScale::ms(15000));
    QVERIFY2(!topology->promotionReport().contains(QLatin1String("failed")), qPrintable(topology->promotionReport()));
    QCOMPARE(tokyo.role(), QByteArray("master"));
    for (RedisServer *s : {&primary, &nyc}) {
        RedisClient client = s->client();
        const RedisValue role = client.command({"ROLE"});
        QVERIFY2(role.isArray() && role.elements.size() >= 3, qPrintable(role.toString()));
        QCOMPARE(role.elements.at(0).str, QByteArray("slave"));
        QCOMPARE(role.elements.at(2).integer, qint64(tokyo.port()));
    }
}

QTEST_MAIN(TestConsoleFleet)
#include "tst_consolefleet.moc"
