// A console logged in as an admin operator keeps the operators on every node
// without being asked, against a real primary, replica and Sentinel with
// packaging/redis/users.acl: it re-applies them on connecting, follows the
// Sentinel's failover to the replica, and when the old primary (down while an
// operator was added, back with its own saved ACL file) rejoins as a replica
// of the new one, the console applies the missing operator to it while it
// stays connected: the operator then logs in there.
#include <QDir>
#include <QFile>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>

#include "core/control/operatorstore.h"
#include "core/localstack/aclfile.h"
#include "tests/support/ctlrun.h"
#include "tests/support/poll.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "ui/mainwindow.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"
#include "ui/workers/monitorconfig.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QString address(const RedisServer &s)
{
    return QStringLiteral("%1:%2").arg(s.host()).arg(s.port());
}

RedisConnection::Options optionsFor(const RedisServer &s, const QString &user, const QString &password)
{
    RedisConnection::Options o;
    o.host = s.host();
    o.port = s.port();
    o.user = user.toUtf8();
    o.password = password.toUtf8();
    return o;
}

// One ControlWorker::operatorsSynced.
struct Sync
{
    bool ok = false;
    bool joined = false;
    QString message;
};

bool canLogIn(const RedisServer &node, const QString &user, const QString &password)
{
    RedisClient c;
    return c.connect(node.host(), node.port(), user, password);
}

} // namespace

class TestOperatorResync : public QObject
{
    Q_OBJECT
private slots:
    void rejoiningNodeGetsTheOperators();

private:
    // `l0l3-ctl operators add NAME --role ROLE` as user on primary.
    CtlRun addOperator(const RedisServer &primary, const QString &user, const QString &userPassword,
                       const QString &name, const QString &role, const QString &password);

    QTemporaryDir m_dir;
};

CtlRun TestOperatorResync::addOperator(const RedisServer &primary, const QString &user, const QString &userPassword,
                                       const QString &name, const QString &role, const QString &password)
{
    const QString file = m_dir.filePath(name + QStringLiteral(".pw"));
    QFile f(file);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(password.toUtf8()) != password.size())
        return {};
    f.close();
    QProcessEnvironment env = ctlEnvironment();
    env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), userPassword);
    return runCtl({QStringLiteral("--primary"), QStringLiteral("redis://%1@%2").arg(user, address(primary)),
                   QStringLiteral("operators"), QStringLiteral("add"), name, QStringLiteral("--role"), role,
                   QStringLiteral("--password-file"), file},
                  env, TimeScale::ms(30000));
}

void TestOperatorResync::rejoiningNodeGetsTheOperators()
{
    QVERIFY(m_dir.isValid());
    QString why;
    RedisServer primary;
    RedisServer replica;
    RedisServer sentinel;
    RedisServer::Options po;
    po.loadFunctions = false; // it comes back as a replica, which would refuse FUNCTION LOAD
    QVERIFY2(primary.start(po, &why), qPrintable(why));
    RedisServer::Options ro;
    ro.replicaOfHost = primary.host();
    ro.replicaOfPort = primary.port();
    QVERIFY2(replica.start(ro, &why), qPrintable(why));
    RedisServer::Options so;
    so.sentinel = true;
    so.monitorHost = primary.host();
    so.monitorPort = primary.port();
    so.quorum = 1;
    QVERIFY2(sentinel.start(so, &why), qPrintable(why));
    RedisClient sentinelClient = sentinel.client(sentinel.adminUser());
    QVERIFY2(sentinelClient.isConnected(), qPrintable(sentinelClient.lastError()));
    // SENTINEL MASTER / REPLICAS l0l3: "field value ..." of each instance.
    const auto field = [](const RedisValue &instance, const QByteArray &name) {
        for (qsizetype i = 0; i + 1 < instance.elements.size(); i += 2) {
            if (instance.elements[i].str == name)
                return instance.elements[i + 1].str;
        }
        return QByteArray();
    };
    // The Sentinel may promote the replica once it has asked it itself.
    QVERIFY2(Poll::until(
                 [&] {
                     const RedisValue replicas = sentinelClient.command({"SENTINEL", "REPLICAS", "l0l3"});
                     return replicas.elements.size() == 1 && field(replicas.elements[0], "master-link-status") == "ok";
                 },
                 TimeScale::ms(20000), 100),
             qPrintable(sentinel.logTail()));

    const QString olga = AclFile::randomPassword();
    const QString sven = AclFile::randomPassword();
    const CtlRun added = addOperator(primary, QStringLiteral("l0l3-superuser"), TestCredentials::get().superuser,
                                     QStringLiteral("olga"), QStringLiteral("admin"), olga);
    QVERIFY2(added.code == 0, qPrintable(added.describe(true)));
    QVERIFY(canLogIn(replica, QStringLiteral("op-olga"), olga));

    // The console as the admin operator, following the Sentinel as a profile with Sentinels does.
    qputenv("L0L3_SENTINEL_AUTH_USER", sentinel.adminUser().toUtf8());
    qputenv("L0L3_SENTINEL_AUTH_PASSWORD", TestCredentials::get().sentinelAuth.toUtf8());
    qputenv("L0L3_REDIS_HOSTS", (address(primary) + u',' + address(replica)).toUtf8());
    MonitorConfig config;
    config.hasPrimary = true;
    config.primary = optionsFor(primary, QStringLiteral("console"), TestCredentials::get().console);
    config.sentinels.append({sentinel.host(), sentinel.port()});
    QList<Sync> synced;
    QObject receiver; // on this thread: the signals arrive queued
    auto window = std::make_unique<MainWindow>();
    connect(window->client()->worker(), &ControlWorker::operatorsSynced, &receiver,
            [&synced](bool ok, bool joined, const QString &message) {
                synced.append({ok, joined, message});
            });
    window->setMonitoring(config);
    window->connectWith(optionsFor(primary, QStringLiteral("op-olga"), olga), QStringLiteral("op-olga"));
    window->show();
    // On connecting: the primary and its replica, and no status message for it.
    QTRY_VERIFY_WITH_TIMEOUT(!synced.isEmpty(), TimeScale::ms(20000));
    QCOMPARE(synced.size(), 1);
    QVERIFY2(synced[0].ok, qPrintable(synced[0].message));
    QVERIFY(!synced[0].joined);
    QVERIFY2(synced[0].message.contains(address(primary)) && synced[0].message.contains(address(replica)),
             qPrintable(synced[0].message));

    // The primary crashes; the Sentinel promotes the replica and the console follows it there.
    primary.kill();
    const RedisValue failover = sentinelClient.command({"SENTINEL", "FAILOVER", "l0l3"});
    QVERIFY2(!failover.isError(), qPrintable(failover.toString()));
    QVERIFY2(Poll::until([&] { return replica.role() == "master"; }, TimeScale::ms(20000), 100),
             qPrintable(sentinel.logTail()));
    // The sync on reconnecting to the new primary, which has no replica now.
    QTRY_VERIFY_WITH_TIMEOUT(synced.size() >= 2 && synced.last().message.contains(address(replica)),
                             TimeScale::ms(30000));
    QVERIFY2(synced.last().ok, qPrintable(synced.last().message));

    // An operator added while the old primary is down reaches only the new one.
    const CtlRun meanwhile = addOperator(replica, QStringLiteral("op-olga"), olga, QStringLiteral("sven"),
                                         QStringLiteral("viewer"), sven);
    QVERIFY2(meanwhile.code == 0, qPrintable(meanwhile.describe(true)));
    QVERIFY(canLogIn(replica, QStringLiteral("op-sven"), sven));

    // The old primary comes back with its own saved ACL file, without op-sven, and the Sentinel
    // makes it a replica of the new primary. The console, still connected, applies op-sven to it.
    QFile savedAcl(QDir(primary.dir()).filePath(QStringLiteral("users.acl")));
    QVERIFY(savedAcl.open(QIODevice::ReadOnly));
    const QByteArray saved = savedAcl.readAll();
    QVERIFY(saved.contains("user op-olga ") && !saved.contains("op-sven"));
    const qsizetype before = synced.size();
    QVERIFY2(primary.restart(&why), qPrintable(why));
    QVERIFY2(Poll::until([&] { return primary.role() == "slave"; }, TimeScale::ms(30000), 100),
             qPrintable(sentinel.logTail()));
    QVERIFY(canLogIn(primary, QStringLiteral("op-olga"), olga));
    const QString joinedMessage = QStringLiteral("replica %1 joined: ").arg(address(primary));
    const auto joined = [&]() -> const Sync * {
        for (qsizetype i = before; i < synced.size(); ++i) {
            if (synced[i].joined && synced[i].message.startsWith(joinedMessage))
                return &synced[i];
        }
        return nullptr;
    };
    QTRY_VERIFY_WITH_TIMEOUT(joined(), TimeScale::ms(30000));
    QVERIFY2(joined()->ok, qPrintable(joined()->message));
    QVERIFY(canLogIn(primary, QStringLiteral("op-sven"), sven));
    // The status bar says which nodes.
    QTRY_VERIFY_WITH_TIMEOUT(window->statusBar()->currentMessage().startsWith(QLatin1String("Operators re-applied: "))
                                 && window->statusBar()->currentMessage().contains(address(primary)),
                             TimeScale::ms(5000));

    window.reset();
    sentinelClient.disconnect();
    QVERIFY(sentinel.stop());
    QVERIFY(primary.stop());
    QVERIFY(replica.stop());
}

QTEST_MAIN(TestOperatorResync)
#include "tst_operatorresync.moc"
