// Operators and roles end to end: real l0l3-ctl processes against a real
// primary + replica that loaded packaging/redis/users.acl. A viewer is refused
// by Redis (NOPERM), not by the client; an approver decides; an admin manages
// operators; the ACL users reach the replica and survive restarts (ACL SAVE);
// the audit names the authenticated user; a change no replica acknowledged is
// reported. Over TLS with a real Sentinel:
// --sentinel reaches every node the Sentinel knows, and a node that was down
// through a failover gets the operators again from `operators sync --sentinel`.

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include "core/common/auditrecord.h"
#include "core/common/entry.h"
#include "core/control/operatorstore.h"
#include "core/localstack/aclfile.h"
#include "core/localstack/redisnodeconfig.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/auditreader.h"
#include "tests/support/managedprocess.h"
#include "tests/support/poll.h"
#include "tests/support/testcertificates.h"

using namespace l0l3;
using namespace l0l3::test;

class TestOperators : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void aclListLineKeepsSelectorsWhole();
    void bootstrapFirstAdminAsSuperuser();
    void adminAddsOperatorsOnEveryNode();
    void permissionsAreProbedFromRedis();
    void viewerIsRefusedByRedis();
    void approverDecidesAndTheAuditNamesThem();
    void onlyAdminsFreezeAndManageOperators();
    void serviceAccountRecordsTheActorAlongside();
    void operatorsSurviveRestarts();
    void rotateRemoveAndSync();
    void unconfirmedReplicationIsReported();
    void sentinelNodesOverTlsAcrossAFailover();

private:
    struct Run
    {
        int code = -1;
        QByteArray out;
        QByteArray err;
    };
    // l0l3-ctl as ACL user `user` with `password` (through the environment, never argv).
    Run ctl(const QString &user, const QString &password, const QStringList &args)
    {
        return ctlAt(m_redis.primary, user, password, args);
    }
    // The same against primary: rediss:// and its CA when it is TLS-only; the
    // Sentinels' user and password in the environment.
    Run ctlAt(const RedisServer &primary, const QString &user, const QString &password, const QStringList &args);
    Run as(const QString &op, const QStringList &args) { return ctl(u"op-" + op, m_passwords.value(op), args); }
    QString passwordFile(const QString &name);
    // ACL GETUSER on a node as the superuser: nil when the user does not exist.
    bool hasUser(const RedisServer &node, const QByteArray &user);
    bool canLogIn(const RedisServer &node, const QString &user, const QString &password);
    QList<AuditRecord> audit();

    ReplicatedRedis m_redis;
    QTemporaryDir m_dir;
    QHash<QString, QString> m_passwords;
};

void TestOperators::initTestCase()
{
    // Persistence on: the operator records (a hash) and the ACL users (ACL SAVE) must survive restarts.
    QString why;
    RedisServer::Options po;
    po.persistence = true;
    QVERIFY2(m_redis.primary.start(po, &why), qPrintable(why));
    RedisServer::Options ro;
    ro.persistence = true;
    ro.replicaOfHost = m_redis.primary.host();
    ro.replicaOfPort = m_redis.primary.port();
    QVERIFY2(m_redis.replica.start(ro, &why), qPrintable(why));
    m_redis.client = m_redis.primary.client();
    QVERIFY(m_redis.client.isConnected());
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
    for (const QString &name : {QStringLiteral("alice"), QStringLiteral("victor"), QStringLiteral("anna")})
        m_passwords.insert(name, AclFile::randomPassword());
}

void TestOperators::cleanupTestCase()
{
    m_redis.stop();
}

TestOperators::Run TestOperators::ctlAt(const RedisServer &primary, const QString &user, const QString &password,
                                        const QStringList &args)
{
    ManagedProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), password);
    env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_USER"), QString::fromLatin1(RedisNodeConfig::kSentinelUser));
    env.insert(QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD"), TestCredentials::get().sentinelAuth);
    const bool tls = primary.options().tls();
    QStringList prefix{QStringLiteral("--primary"),
                       QStringLiteral("%1://%2@%3:%4")
                           .arg(tls ? QStringLiteral("rediss") : QStringLiteral("redis"), user, primary.host())
                           .arg(primary.port())};
    if (tls)
        prefix << QStringLiteral("--redis-ca-file") << primary.options().tlsCaFile;
    Run r;
    if (!p.start(ManagedProcess::binary(QStringLiteral("l0l3-ctl")), prefix + args, env))
        return r;
    if (!p.waitForFinished(int(30000 * TimeScale::factor()))) {
        p.kill();
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.stdoutText();
    r.err = p.stderrText();
    return r;
}

QString TestOperators::passwordFile(const QString &name)
{
    const QString path = m_dir.filePath(name + QStringLiteral(".pw"));
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return {};
    f.write(m_passwords.value(name).toUtf8() + '\n');
    return path;
}

bool TestOperators::hasUser(const RedisServer &node, const QByteArray &user)
{
    RedisClient c = node.client(QStringLiteral("l0l3-superuser"));
    const RedisValue v = c.command({"ACL", "GETUSER", user});
    return c.isConnected() && v.isArray();
}

bool TestOperators::canLogIn(const RedisServer &node, const QString &user, const QString &password)
{
    RedisClient c;
    c.setTls(node.clientTls());
    return c.connect(node.host(), node.port(), user, password);
}

QList<AuditRecord> TestOperators::audit()
{
    return readAudit(m_redis.client);
}

void TestOperators::aclListLineKeepsSelectorsWhole()
{
    const QList<QByteArray> rules = OperatorStore::rulesOfAclListLine(
        "user role-x off #abc nopass resetchannels &a %R~k -@all +get (~w resetchannels &b -@all +set)");
    QCOMPARE(rules,
             (QList<QByteArray>{"resetchannels", "&a", "%R~k", "-@all", "+get", "(~w resetchannels &b -@all +set)"}));
    QCOMPARE(OperatorStore::replicasOfInfo("# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
                                           "slave0:ip=10.0.0.2,port=6380,state=online,offset=1,lag=0\r\n"
                                           "slave1:ip=10.0.0.3,port=6381,state=online,offset=1,lag=0\r\n"),
             (QList<OperatorStore::Node>{{QStringLiteral("10.0.0.2"), 6380}, {QStringLiteral("10.0.0.3"), 6381}}));
}

void TestOperators::bootstrapFirstAdminAsSuperuser()
{
    // The console service account may not manage operators: Redis refuses it.
    const Run refused = ctl(QStringLiteral("console"), TestCredentials::get().console,
                            {QStringLiteral("operators"), QStringLiteral("add"), QStringLiteral("alice"),
                             QStringLiteral("--role"), QStringLiteral("admin"), QStringLiteral("--password-file"),
                             passwordFile(QStringLiteral("alice"))});
    QCOMPARE(refused.code, 1);
    QVERIFY2(refused.err.contains("permission refused by Redis"), refused.err.constData());
    QVERIFY(!hasUser(m_redis.primary, "op-alice"));

    const Run r = ctl(QStringLiteral("l0l3-superuser"), TestCredentials::get().superuser,
                      {QStringLiteral("operators"), QStringLiteral("add"), QStringLiteral("alice"),
                       QStringLiteral("--role"), QStringLiteral("admin"), QStringLiteral("--password-file"),
                       passwordFile(QStringLiteral("alice"))});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY(hasUser(m_redis.primary, "op-alice"));
    QVERIFY(hasUser(m_redis.replica, "op-alice"));
    QVERIFY(canLogIn(m_redis.replica, QStringLiteral("op-alice"), m_passwords.value(QStringLiteral("alice"))));
    // The password file's trailing newline is not part of the password.
    QVERIFY(!canLogIn(m_redis.primary, QStringLiteral("op-alice"), m_passwords.value(QStringLiteral("alice")) + u'\n'));
}

void TestOperators::adminAddsOperatorsOnEveryNode()
{
    for (const auto &[name, role] : {std::pair{QStringLiteral("victor"), QStringLiteral("viewer")},
                                     std::pair{QStringLiteral("anna"), QStringLiteral("approver")}}) {
        const Run r = as(QStringLiteral("alice"),
                         {QStringLiteral("operators"), QStringLiteral("add"), name, QStringLiteral("--role"), role,
                          QStringLiteral("--password-file"), passwordFile(name)});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY2(r.out.contains(
                     QStringLiteral("%1:%2").arg(m_redis.replica.host()).arg(m_redis.replica.port()).toUtf8()),
                 r.out.constData());
        QVERIFY(canLogIn(m_redis.primary, u"op-" + name, m_passwords.value(name)));
        QVERIFY(canLogIn(m_redis.replica, u"op-" + name, m_passwords.value(name)));
    }
    // Adding a name twice is refused; a short password too.
    const Run twice = as(QStringLiteral("alice"),
                         {QStringLiteral("operators"), QStringLiteral("add"), QStringLiteral("anna"),
                          QStringLiteral("--role"), QStringLiteral("admin"), QStringLiteral("--password-file"),
                          passwordFile(QStringLiteral("anna"))});
    QCOMPARE(twice.code, 1);
    QVERIFY2(twice.err.contains("exists"), twice.err.constData());

    const Run list = as(QStringLiteral("alice"),
                        {QStringLiteral("operators"), QStringLiteral("list"), QStringLiteral("--json")});
    QVERIFY2(list.code == 0, list.err.constData());
    const QJsonArray arr = QJsonDocument::fromJson(list.out).array();
    QCOMPARE(arr.size(), 3);
    QHash<QString, QString> roles;
    for (const QJsonValue &v : arr)
        roles.insert(v[QStringLiteral("name")].toString(), v[QStringLiteral("role")].toString());
    QCOMPARE(roles.value(QStringLiteral("alice")), QStringLiteral("admin"));
    QCOMPARE(roles.value(QStringLiteral("victor")), QStringLiteral("viewer"));
    QCOMPARE(roles.value(QStringLiteral("anna")), QStringLiteral("approver"));
    QVERIFY2(!list.out.contains("sha256")
                 && !list.out.contains(AclFile::passwordHash(m_passwords.value(QStringLiteral("anna")))),
             list.out.constData());
    // Each change is audited with the authenticated admin.
    int audited = 0;
    for (const AuditRecord &a : audit()) {
        if (a.action == "operators" && a.user == "op-alice" && a.actor == "alice")
            ++audited;
    }
    QCOMPARE(audited, 2);
}

void TestOperators::permissionsAreProbedFromRedis()
{
    const QList<std::tuple<QString, QString, QString>> cases{
        {QStringLiteral("op-victor"), m_passwords.value(QStringLiteral("victor")), QStringLiteral("viewer")},
        {QStringLiteral("op-anna"), m_passwords.value(QStringLiteral("anna")), QStringLiteral("approver")},
        {QStringLiteral("op-alice"), m_passwords.value(QStringLiteral("alice")), QStringLiteral("admin")},
        // The service account may do everything an admin does on the data (not manage operators).
        {QStringLiteral("console"), TestCredentials::get().console, QStringLiteral("admin")}};
    for (const auto &[user, password, role] : cases) {
        RedisConnection::Options o = optionsFor(m_redis.primary);
        o.user = user.toUtf8();
        o.password = password.toUtf8();
        RedisConnection conn(o);
        conn.open();
        std::optional<OperatorStore::Permissions> got;
        OperatorStore::probePermissions(&conn, this, [&got](const OperatorStore::Permissions &p) { got = p; });
        QVERIFY(Poll::until([&] { return got.has_value(); }, 10000));
        QVERIFY2(got->known, qPrintable(user));
        QCOMPARE(got->user, user);
        QCOMPARE(got->role(), role);
    }
    // A user that may not ask (no +acl|dryrun) is unknown: nothing assumed refused.
    RedisConnection::Options o = optionsFor(m_redis.primary, QStringLiteral("gateway"));
    RedisConnection conn(o);
    conn.open();
    std::optional<OperatorStore::Permissions> got;
    OperatorStore::probePermissions(&conn, this, [&got](const OperatorStore::Permissions &p) { got = p; });
    QVERIFY(Poll::until([&] { return got.has_value(); }, 10000));
    QVERIFY(!got->known);
    QVERIFY(got->canDecide && got->canAdmin);
}

void TestOperators::viewerIsRefusedByRedis()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ops-viewer", "Can a viewer approve?"));
    const QString victor = QStringLiteral("victor");
    // Reading is allowed.
    const Run proposals = as(victor, {QStringLiteral("proposals"), QStringLiteral("--json")});
    QVERIFY2(proposals.code == 0, proposals.err.constData());
    QVERIFY(proposals.out.contains(id.toUtf8()));
    QVERIFY2(as(victor, {QStringLiteral("audit")}).code == 0, "viewer reads the audit");
    QVERIFY2(as(victor, {QStringLiteral("entries")}).code == 0, "viewer reads the entries");

    for (const QStringList &write :
         {QStringList{QStringLiteral("approve"), id}, QStringList{QStringLiteral("reject"), id},
          QStringList{QStringLiteral("freeze")}, QStringList{QStringLiteral("drain"), QStringLiteral("eu")}}) {
        const Run r = as(victor, write);
        QVERIFY2(r.code == 1, qPrintable(write.join(u' ') + u' ' + QString::number(r.code)));
        QVERIFY2(r.err.contains("permission refused by Redis") && r.err.contains("NOPERM"), r.err.constData());
    }
    QVERIFY(m_redis.client.get(qb(RedisSchema::entryKey(keyOf(QStringLiteral("ops-viewer")).toStdString()))).isEmpty());
    QVERIFY(m_redis.client.get(qb(RedisSchema::kFrozen)).isEmpty());
    // Redis itself refuses the write, whatever the client: a raw SET as the viewer.
    RedisClient raw;
    QVERIFY(raw.connect(m_redis.primary.host(), m_redis.primary.port(), QStringLiteral("op-victor"),
                        m_passwords.value(victor)));
    const RedisValue set = raw.command({"SET", qb(RedisSchema::entryKey("0123456789abcdef0123456789abcdef")), "{}"});
    QVERIFY(set.isError() && set.str.startsWith("NOPERM"));
    const RedisValue xadd = raw.command({"XADD", qb(RedisSchema::kAudit), "*", "action", "approve"});
    QVERIFY(xadd.isError() && xadd.str.startsWith("NOPERM"));
}

void TestOperators::approverDecidesAndTheAuditNamesThem()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ops-approver", "Can an approver approve?"));
    // --actor is ignored for an operator: the audit names who authenticated.
    const Run r = as(QStringLiteral("anna"),
                     {QStringLiteral("approve"), id, QStringLiteral("--actor"), QStringLiteral("mallory")});
    QVERIFY2(r.code == 0, r.err.constData());
    const auto entry = EntryCodec::decode(
        m_redis.client.get(qb(RedisSchema::entryKey(keyOf(QStringLiteral("ops-approver")).toStdString())))
            .toStdString());
    QVERIFY(entry.has_value());
    QCOMPARE(entry->approvedBy, std::string("anna"));
    const QList<AuditRecord> records = audit();
    QVERIFY(!records.isEmpty());
    QCOMPARE(records.last().action, std::string("approve"));
    QCOMPARE(records.last().actor, std::string("anna"));
    QCOMPARE(records.last().user, std::string("op-anna"));
}

void TestOperators::onlyAdminsFreezeAndManageOperators()
{
    const Run freeze = as(QStringLiteral("anna"), {QStringLiteral("freeze")});
    QCOMPARE(freeze.code, 1);
    QVERIFY2(freeze.err.contains("NOPERM"), freeze.err.constData());
    const Run add = as(QStringLiteral("anna"),
                       {QStringLiteral("operators"), QStringLiteral("add"), QStringLiteral("eve"),
                        QStringLiteral("--role"), QStringLiteral("admin"), QStringLiteral("--password-file"),
                        passwordFile(QStringLiteral("anna"))});
    QCOMPARE(add.code, 1);
    QVERIFY2(add.err.contains("permission refused by Redis"), add.err.constData());
    QVERIFY(!hasUser(m_redis.primary, "op-eve"));

    const Run adminFreeze = as(QStringLiteral("alice"), {QStringLiteral("freeze")});
    QVERIFY2(adminFreeze.code == 0, adminFreeze.err.constData());
    const Run adminUnfreeze = as(QStringLiteral("alice"), {QStringLiteral("unfreeze")});
    QVERIFY2(adminUnfreeze.code == 0, adminUnfreeze.err.constData());
    QCOMPARE(audit().last().user, std::string("op-alice"));
}

void TestOperators::serviceAccountRecordsTheActorAlongside()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ops-service", "Who approved this?"));
    const Run r = ctl(QStringLiteral("console"), TestCredentials::get().console,
                      {QStringLiteral("--actor"), QStringLiteral("autopilot"), QStringLiteral("approve"), id});
    QVERIFY2(r.code == 0, r.err.constData());
    const AuditRecord last = audit().last();
    QCOMPARE(last.actor, std::string("autopilot"));
    QCOMPARE(last.user, std::string("console"));
}

void TestOperators::operatorsSurviveRestarts()
{
    QString why;
    QVERIFY2(m_redis.replica.restart(&why), qPrintable(why));
    QVERIFY2(m_redis.primary.restart(&why), qPrintable(why));
    m_redis.client = m_redis.primary.client();
    QVERIFY(m_redis.client.isConnected());
    for (const QString &name : {QStringLiteral("alice"), QStringLiteral("victor"), QStringLiteral("anna")}) {
        QVERIFY2(canLogIn(m_redis.primary, u"op-" + name, m_passwords.value(name)), qPrintable(name));
        QVERIFY2(canLogIn(m_redis.replica, u"op-" + name, m_passwords.value(name)), qPrintable(name));
    }
}

void TestOperators::rotateRemoveAndSync()
{
    // The replica may still be re-attaching after the restarts: INFO replication on the primary
    // must list it before a change can reach it.
    QVERIFY(Poll::until(
        [&] {
            const RedisValue info = m_redis.client.command({"INFO", "replication"});
            return info.str.contains("connected_slaves:1");
        },
        20000));

    const QString oldPassword = m_passwords.value(QStringLiteral("victor"));
    m_passwords.insert(QStringLiteral("victor"), AclFile::randomPassword());
    const Run rotate = as(QStringLiteral("alice"),
                          {QStringLiteral("operators"), QStringLiteral("rotate-password"), QStringLiteral("victor"),
                           QStringLiteral("--password-file"), passwordFile(QStringLiteral("victor"))});
    QVERIFY2(rotate.code == 0, rotate.err.constData());
    for (const RedisServer *node : {&m_redis.primary, &m_redis.replica}) {
        QVERIFY(!canLogIn(*node, QStringLiteral("op-victor"), oldPassword));
        QVERIFY(canLogIn(*node, QStringLiteral("op-victor"), m_passwords.value(QStringLiteral("victor"))));
    }

    const Run remove = as(QStringLiteral("alice"),
                          {QStringLiteral("operators"), QStringLiteral("remove"), QStringLiteral("victor")});
    QVERIFY2(remove.code == 0, remove.err.constData());
    QVERIFY(!hasUser(m_redis.primary, "op-victor"));
    QVERIFY(!hasUser(m_redis.replica, "op-victor"));

    // A node that drifted (a stray op-* user, a missing operator) is repaired by sync.
    RedisClient replicaRoot = m_redis.replica.client(QStringLiteral("l0l3-superuser"));
    QVERIFY(
        !replicaRoot.command({"ACL", "SETUSER", "op-ghost", "on", ">ghost-password-long", "+@all", "~*"}).isError());
    QVERIFY(!replicaRoot.command({"ACL", "DELUSER", "op-anna"}).isError());
    const Run sync = as(QStringLiteral("alice"), {QStringLiteral("operators"), QStringLiteral("sync")});
    QVERIFY2(sync.code == 0, sync.err.constData());
    QVERIFY(!hasUser(m_redis.replica, "op-ghost"));
    QVERIFY(canLogIn(m_redis.replica, QStringLiteral("op-anna"), m_passwords.value(QStringLiteral("anna"))));
}

// A change no replica acknowledges (the replica hangs: SIGSTOP) is written on
// the primary, and l0l3-ctl warns that its replication was not confirmed
// (WAIT 1 returned 0); a change the replica acknowledges carries no warning.
void TestOperators::unconfirmedReplicationIsReported()
{
    const QString replicaName = QStringLiteral("%1:%2").arg(m_redis.replica.host()).arg(m_redis.replica.port());
    m_passwords.insert(QStringLiteral("petra"), AclFile::randomPassword());
    m_redis.replica.pause();
    const Run added = as(QStringLiteral("alice"),
                         {QStringLiteral("operators"), QStringLiteral("add"), QStringLiteral("petra"),
                          QStringLiteral("--role"), QStringLiteral("viewer"), QStringLiteral("--password-file"),
                          passwordFile(QStringLiteral("petra"))});
    m_redis.replica.resume();
    // The hung replica is not updated either.
    QCOMPARE(added.code, 1);
    QVERIFY2(added.err.contains("l0l3-ctl: warning: written, replication not confirmed: no replica acknowledged"),
             added.err.constData());
    QVERIFY2(added.err.contains("not applied everywhere") && added.err.contains(replicaName.toUtf8()),
             added.err.constData());
    RedisClient root = m_redis.primary.client(QStringLiteral("l0l3-superuser"));
    QCOMPARE(root.command({"HEXISTS", qb(RedisSchema::kOperators), "petra"}).integer, 1);
    QVERIFY(canLogIn(m_redis.primary, QStringLiteral("op-petra"), m_passwords.value(QStringLiteral("petra"))));

    const Run sync = as(QStringLiteral("alice"), {QStringLiteral("operators"), QStringLiteral("sync")});
    QVERIFY2(sync.code == 0, sync.err.constData());
    QVERIFY(canLogIn(m_redis.replica, QStringLiteral("op-petra"), m_passwords.value(QStringLiteral("petra"))));
    m_passwords.insert(QStringLiteral("petra"), AclFile::randomPassword());
    const Run rotated = as(QStringLiteral("alice"),
                           {QStringLiteral("operators"), QStringLiteral("rotate-password"), QStringLiteral("petra"),
                            QStringLiteral("--password-file"), passwordFile(QStringLiteral("petra"))});
    QVERIFY2(rotated.code == 0, rotated.err.constData());
    QVERIFY2(!rotated.err.contains("warning"), rotated.err.constData());
}

// A TLS-only primary, replica and Sentinel (the Sentinel asked on its
// tls-port with the primary's CA). `operators add --sentinel` reaches every
// node the Sentinel knows: after a failover it tries the old primary, down,
// which the new primary does not report, and says it was not updated. Once
// that node is back as a replica, `operators sync --sentinel` re-applies the
// operators to it.
void TestOperators::sentinelNodesOverTlsAcrossAFailover()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    TestCertificates certificates;
    QString why;
    QVERIFY2(certificates.create(dir.path(), &why), qPrintable(why));
    RedisServer primary;
    RedisServer replica;
    RedisServer sentinel;
    RedisServer::Options po;
    po.useTls(certificates);
    po.loadFunctions = false; // no gateway here; the node comes back as a replica, which would refuse it
    QVERIFY2(primary.start(po, &why), qPrintable(why));
    RedisServer::Options ro;
    ro.useTls(certificates);
    ro.replicaOfHost = primary.host();
    ro.replicaOfPort = primary.port();
    QVERIFY2(replica.start(ro, &why), qPrintable(why));
    RedisServer::Options so;
    so.useTls(certificates);
    so.sentinel = true;
    so.monitorHost = primary.host();
    so.monitorPort = primary.port();
    so.quorum = 1;
    QVERIFY2(sentinel.start(so, &why), qPrintable(why));
    const QString sentinelAddress = QStringLiteral("%1:%2").arg(sentinel.host()).arg(sentinel.port());
    const QString primaryName = QStringLiteral("%1:%2").arg(primary.host()).arg(primary.port());
    const QString replicaName = QStringLiteral("%1:%2").arg(replica.host()).arg(replica.port());
    RedisClient sentinelClient = sentinel.client(sentinel.adminUser());
    QVERIFY2(sentinelClient.isConnected(), qPrintable(sentinelClient.lastError()));
    // SENTINEL MASTER / REPLICAS: one field map per instance.
    const auto instances = [&sentinelClient](const QList<QByteArray> &command) {
        const RedisValue reply = sentinelClient.command(command);
        QList<QHash<QByteArray, QByteArray>> out;
        for (const RedisValue &instance : command.at(1) == "MASTER" ? QList<RedisValue>{reply} : reply.elements) {
            QHash<QByteArray, QByteArray> fields;
            for (qsizetype i = 0; i + 1 < instance.elements.size(); i += 2)
                fields.insert(instance.elements[i].str, instance.elements[i + 1].str);
            out.append(fields);
        }
        return out;
    };
    const QList<QByteArray> replicasOf{"SENTINEL", "REPLICAS", "l0l3"};
    // The Sentinel learns of the replica from the primary's INFO, then asks
    // the replica itself: only then may it promote it.
    QVERIFY2(Poll::until(
                 [&] {
                     const auto replicas = instances(replicasOf);
                     return replicas.size() == 1 && replicas[0].value("flags") == "slave"
                         && replicas[0].value("master-link-status") == "ok";
                 },
                 TimeScale::ms(20000), 100),
             qPrintable(sentinel.logTail()));

    for (const QString &name : {QStringLiteral("olga"), QStringLiteral("sven")})
        m_passwords.insert(name, AclFile::randomPassword());
    const QStringList viaSentinel{QStringLiteral("--sentinel"), sentinelAddress};
    const Run added = ctlAt(primary, QStringLiteral("l0l3-superuser"), TestCredentials::get().superuser,
                            QStringList{QStringLiteral("operators"), QStringLiteral("add"), QStringLiteral("olga"),
                                        QStringLiteral("--role"), QStringLiteral("admin"),
                                        QStringLiteral("--password-file"), passwordFile(QStringLiteral("olga"))}
                                + viaSentinel);
    QVERIFY2(added.code == 0, added.err.constData());
    QVERIFY2(!added.err.contains("warning"), added.err.constData()); // every Sentinel answered
    for (const RedisServer *node : {&primary, &replica})
        QVERIFY(canLogIn(*node, QStringLiteral("op-olga"), m_passwords.value(QStringLiteral("olga"))));

    // The operator record replicates asynchronously: on the replica before the crash.
    RedisClient replicaData = replica.client(QStringLiteral("l0l3-superuser"));
    QVERIFY(Poll::until(
        [&] {
            const RedisValue record = replicaData.command({"HGET", qb(RedisSchema::kOperators), "olga"});
            return record.isString() && !record.str.isEmpty();
        },
        TimeScale::ms(10000), 20));
    replicaData.disconnect();
    // The primary crashes; the Sentinel promotes the replica.
    primary.kill();
    const RedisValue failover = sentinelClient.command({"SENTINEL", "FAILOVER", "l0l3"});
    QVERIFY2(!failover.isError(), qPrintable(failover.toString()));
    // Until the failover is over: the Sentinel then lists the old primary as a replica of the new one.
    QVERIFY2(Poll::until(
                 [&] {
                     const auto master = instances({"SENTINEL", "MASTER", "l0l3"});
                     const auto replicas = instances(replicasOf);
                     return master.value(0).value("flags") == "master"
                         && master.value(0).value("port").toInt() == replica.port() && replicas.size() == 1
                         && replicas[0].value("port").toInt() == primary.port() && replica.role() == "master";
                 },
                 TimeScale::ms(20000), 100),
             qPrintable(sentinel.logTail()));

    // An operator added meanwhile: the new primary reports no replica, the
    // Sentinel names the old primary, which is tried and reported down.
    const QStringList addSven{QStringLiteral("operators"),
                              QStringLiteral("add"),
                              QStringLiteral("sven"),
                              QStringLiteral("--role"),
                              QStringLiteral("viewer"),
                              QStringLiteral("--password-file"),
                              passwordFile(QStringLiteral("sven"))};
    const Run partial = ctlAt(replica, QStringLiteral("op-olga"), m_passwords.value(QStringLiteral("olga")),
                              addSven + viaSentinel);
    QVERIFY2(partial.err.contains("not applied everywhere") && partial.err.contains(primaryName.toUtf8()),
             partial.err.constData());
    QCOMPARE(partial.code, 1);
    QVERIFY2(partial.out.contains(replicaName.toUtf8()), partial.out.constData());
    QVERIFY(canLogIn(replica, QStringLiteral("op-sven"), m_passwords.value(QStringLiteral("sven"))));

    // The old primary comes back with its own saved ACL file (no op-sven) and
    // the Sentinel makes it a replica of the new primary.
    QVERIFY2(primary.restart(&why), qPrintable(why));
    QVERIFY2(Poll::until([&] { return primary.role() == "slave"; }, TimeScale::ms(30000), 100),
             qPrintable(sentinel.logTail()));
    QVERIFY(!hasUser(primary, "op-sven"));
    QVERIFY(hasUser(primary, "op-olga"));
    const Run sync = ctlAt(replica, QStringLiteral("op-olga"), m_passwords.value(QStringLiteral("olga")),
                           QStringList{QStringLiteral("operators"), QStringLiteral("sync")} + viaSentinel);
    QVERIFY2(sync.code == 0, sync.err.constData());
    QVERIFY2(sync.out.contains(primaryName.toUtf8()) && sync.out.contains(replicaName.toUtf8()), sync.out.constData());
    QVERIFY(canLogIn(primary, QStringLiteral("op-sven"), m_passwords.value(QStringLiteral("sven"))));

    sentinelClient.disconnect();
    QVERIFY(sentinel.stop());
    QVERIFY(replica.stop());
    QVERIFY(primary.stop());
}

QTEST_GUILESS_MAIN(TestOperators)
#include "tst_operators.moc"
