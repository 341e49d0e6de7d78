#include <QCryptographicHash>
#include <QFile>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <cerrno>
#include <csignal>
#include <memory>

#include "core/localstack/aclfile.h"
#include "core/localstack/redisnodeconfig.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcertificates.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3::test;

namespace {

bool processGone(qint64 pid)
{
    return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH;
}

} // namespace

// Proves the fixtures every integration test relies on.
class TestRedisFixture : public QObject
{
    Q_OBJECT

private slots:
    void cleanupTestCase() { m_shared.reset(); }
    void renderedAclHasHashesAndNoComments();
    void aclPlaceholders_data();
    void aclPlaceholders();
    void replicaSeesPrimaryWrites();
    void gatewayUserIsLeastPrivileged_data();
    void gatewayUserIsLeastPrivileged();
    void stopLeavesNoProcess();
    void killThenRestartOnSamePort();
    void persistentNodeKeepsWritesAcrossKill_data();
    void persistentNodeKeepsWritesAcrossKill();
    void pausedServerDoesNotAnswer();
    void sentinelAuthenticatesAndFindsReplica();
    void packagedSentinelUserMatchesFixture();
    void tlsReplicaAndSentinel();
    void tlsRefusesPlainAndUntrusted();
    void managedProcessKeepsChannelsApart();
    void managedProcessReportsExitCode();
    void httpClientReadsResponse();
    void httpClientTimesOut();

private:
    std::unique_ptr<RedisServer> m_shared;
};

void TestRedisFixture::renderedAclHasHashesAndNoComments()
{
    QTemporaryDir dir;
    QString error;
    const QString path = TestCredentials::get().renderAclFile(dir.path(), &error);
    QVERIFY2(!path.isEmpty(), qPrintable(error));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray text = file.readAll();
    QVERIFY(!text.contains("_SHA256@"));
    QVERIFY(!text.contains("\n\n"));
    for (const QByteArray &line : text.split('\n'))
        QVERIFY2(!line.startsWith('#'), line.constData());
    const QByteArray hash =
        QCryptographicHash::hash(TestCredentials::get().gateway.toUtf8(), QCryptographicHash::Sha256).toHex();
    const QByteArray expected = "user gateway on #" + hash;
    QVERIFY(text.contains(expected));
    QVERIFY(!text.contains(TestCredentials::get().gateway.toUtf8()));
}

void TestRedisFixture::aclPlaceholders_data()
{
    QTest::addColumn<QByteArray>("templateText");
    QTest::addColumn<QByteArray>("expected"); // empty: rendering must fail

    const QByteArray hash = l0l3::AclFile::passwordHash(QStringLiteral("pw-a"));
    QTest::newRow("known user") << QByteArray("user alice on #@ALICE_SHA256@ +ping\n")
                                << "user alice on #" + hash + " +ping\n";
    QTest::newRow("comments and blank lines dropped")
        << QByteArray("# about\n\n  \nuser alice on #@ALICE_SHA256@\n") << "user alice on #" + hash + '\n';
    QTest::newRow("user without password") << QByteArray("user bob on #@BOB_SHA256@\n") << QByteArray();
    QTest::newRow("only comments") << QByteArray("# nothing\n") << QByteArray();
}

void TestRedisFixture::aclPlaceholders()
{
    QFETCH(QByteArray, templateText);
    QFETCH(QByteArray, expected);
    l0l3::AclFile acl;
    acl.setPassword(QStringLiteral("alice"), QStringLiteral("pw-a"));
    QString error;
    QCOMPARE(acl.render(templateText, &error), expected);
    QCOMPARE(error.isEmpty(), !expected.isEmpty() || !templateText.contains("_SHA256@"));
}

void TestRedisFixture::replicaSeesPrimaryWrites()
{
    RedisServer primary;
    QString error;
    QVERIFY2(primary.start({}, &error), qPrintable(error));
    RedisServer::Options replicaOptions;
    replicaOptions.replicaOfHost = primary.host();
    replicaOptions.replicaOfPort = primary.port();
    RedisServer replica;
    QVERIFY2(replica.start(replicaOptions, &error), qPrintable(error));
    QVERIFY(replica.port() != primary.port());

    RedisClient writer = primary.client(QStringLiteral("console"));
    QVERIFY2(writer.isConnected(), qPrintable(writer.lastError()));
    QVERIFY(writer.set("l0l3:v1:entry:fixture", "hello"));

    RedisClient reader = replica.client(QStringLiteral("gateway"));
    QVERIFY2(reader.isConnected(), qPrintable(reader.lastError()));
    QTRY_COMPARE_WITH_TIMEOUT(reader.get("l0l3:v1:entry:fixture"), QByteArray("hello"), TimeScale::ms(5000));
    QCOMPARE(primary.url(QStringLiteral("gateway")),
             QStringLiteral("redis://gateway:%1@127.0.0.1:%2").arg(TestCredentials::get().gateway).arg(primary.port()));
}

void TestRedisFixture::gatewayUserIsLeastPrivileged_data()
{
    QTest::addColumn<QList<QByteArray>>("argv");
    QTest::addColumn<bool>("allowed");
    QTest::newRow("GET entry") << QList<QByteArray>{"GET", "l0l3:v1:entry:k"} << true;
    QTest::newRow("HINCRBY seen") << QList<QByteArray>{"HINCRBY", "l0l3:v1:seen:k", "nyc", "1"} << true;
    QTest::newRow("RPUSH proposal inbox") << QList<QByteArray>{"RPUSH", "l0l3:v1:proposal-inbox", "x"} << true;
    QTest::newRow("XADD proposals") << QList<QByteArray>{"XADD", "l0l3:v1:proposals", "*", "key", "k"} << false;
    QTest::newRow("SET entry") << QList<QByteArray>{"SET", "l0l3:v1:entry:k", "x"} << false;
    QTest::newRow("DEL entry") << QList<QByteArray>{"DEL", "l0l3:v1:entry:k"} << false;
    QTest::newRow("XRANGE audit") << QList<QByteArray>{"XRANGE", "l0l3:v1:audit", "-", "+"} << false;
    QTest::newRow("XRANGE proposals") << QList<QByteArray>{"XRANGE", "l0l3:v1:proposals", "-", "+"} << false;
    QTest::newRow("GET other key") << QList<QByteArray>{"GET", "other"} << false;
    QTest::newRow("FLUSHALL") << QList<QByteArray>{"FLUSHALL"} << false;
}

void TestRedisFixture::gatewayUserIsLeastPrivileged()
{
    QFETCH(QList<QByteArray>, argv);
    QFETCH(bool, allowed);
    if (!m_shared || !m_shared->isRunning()) {
        m_shared = std::make_unique<RedisServer>();
        QString error;
        QVERIFY2(m_shared->start({}, &error), qPrintable(error));
    }
    RedisClient gateway = m_shared->client(QStringLiteral("gateway"));
    QVERIFY2(gateway.isConnected(), qPrintable(gateway.lastError()));
    const RedisValue reply = gateway.command(argv);
    if (allowed) {
        QVERIFY2(!reply.isError(), qPrintable(reply.toString()));
    } else {
        QVERIFY2(reply.isError() && reply.str.startsWith("NOPERM"), qPrintable(reply.toString()));
    }
}

void TestRedisFixture::stopLeavesNoProcess()
{
    RedisServer server;
    QString error;
    QVERIFY2(server.start({}, &error), qPrintable(error));
    const qint64 pid = server.pid();
    QVERIFY(pid > 0);
    QVERIFY(!processGone(pid));
    server.stop();
    QVERIFY(!server.isRunning());
    QVERIFY(processGone(pid));
}

void TestRedisFixture::killThenRestartOnSamePort()
{
    RedisServer server;
    QString error;
    QVERIFY2(server.start({}, &error), qPrintable(error));
    const int port = server.port();
    const qint64 pid = server.pid();
    server.kill();
    QVERIFY(processGone(pid));
    RedisClient client;
    QVERIFY(!client.connect(server.host(), port, QStringLiteral("console"), TestCredentials::get().console, 300));

    QVERIFY2(server.restart(&error), qPrintable(error));
    QCOMPARE(server.port(), port);
    RedisClient again = server.client();
    QVERIFY2(again.isConnected(), qPrintable(again.lastError()));
    QVERIFY(again.ping());
}

void TestRedisFixture::persistentNodeKeepsWritesAcrossKill_data()
{
    QTest::addColumn<bool>("persistence");
    QTest::newRow("persisted") << true;
    QTest::newRow("not persisted") << false;
}

// Every data node that may become the primary persists as packaging/redis/
// does: AOF everysec writes the log before the reply, so a kill -9 of the
// process (not of the host) loses no acknowledged write.
void TestRedisFixture::persistentNodeKeepsWritesAcrossKill()
{
    QFETCH(bool, persistence);
    // Replicas are configured alike: Sentinel may promote any of them.
    for (const auto role : {l0l3::RedisNodeConfig::Role::Primary, l0l3::RedisNodeConfig::Role::Replica}) {
        l0l3::RedisNodeConfig config;
        config.role = role;
        config.persistence = persistence;
        const QByteArray rendered = config.render();
        QCOMPARE(rendered.contains("\nappendonly yes\nappendfsync everysec\n"), persistence);
        QCOMPARE(rendered.contains("\nsave 3600 1 300 100 60 10000\n"), persistence);
    }

    QString error;
    RedisServer server;
    RedisServer::Options options;
    options.persistence = persistence;
    QVERIFY2(server.start(options, &error), qPrintable(error));
    RedisClient writer = server.client();
    QVERIFY2(writer.isConnected(), qPrintable(writer.lastError()));
    QVERIFY(writer.set("l0l3:v1:entry:persisted", "kept"));
    server.kill();
    QVERIFY2(server.restart(&error), qPrintable(error));
    RedisClient again = server.client();
    QVERIFY2(again.isConnected(), qPrintable(again.lastError()));
    QCOMPARE(again.get("l0l3:v1:entry:persisted"), persistence ? QByteArray("kept") : QByteArray());
}

void TestRedisFixture::pausedServerDoesNotAnswer()
{
    RedisServer server;
    QString error;
    QVERIFY2(server.start({}, &error), qPrintable(error));
    RedisClient client = server.client(QStringLiteral("console"), 300);
    QVERIFY(client.ping());
    server.pause();
    QVERIFY(!client.ping());
    server.resume();
    RedisClient again = server.client(QStringLiteral("console"), 2000);
    QVERIFY2(again.isConnected(), qPrintable(again.lastError()));
    QVERIFY(again.ping());
}

void TestRedisFixture::sentinelAuthenticatesAndFindsReplica()
{
    QString error;
    RedisServer primary;
    QVERIFY2(primary.start({}, &error), qPrintable(error));
    RedisServer::Options replicaOptions;
    replicaOptions.replicaOfPort = primary.port();
    RedisServer replica;
    QVERIFY2(replica.start(replicaOptions, &error), qPrintable(error));

    RedisServer::Options sentinelOptions;
    sentinelOptions.sentinel = true;
    sentinelOptions.monitorPort = primary.port();
    sentinelOptions.quorum = 1;
    RedisServer sentinel;
    QVERIFY2(sentinel.start(sentinelOptions, &error), qPrintable(error));

    // The sentinel's own port takes its ACL user only.
    RedisClient anonymous = sentinel.client(QString());
    QVERIFY2(anonymous.isConnected(), qPrintable(anonymous.lastError()));
    QVERIFY(anonymous.command({"SENTINEL", "get-master-addr-by-name", "l0l3"}).isError());
    RedisClient client = sentinel.client(sentinel.adminUser());
    QVERIFY2(client.isConnected(), qPrintable(client.lastError()));
    const RedisValue addr = client.command({"SENTINEL", "get-master-addr-by-name", "l0l3"});
    QVERIFY2(addr.isArray() && addr.elements.size() == 2, qPrintable(addr.toString()));
    QCOMPARE(addr.elements.at(0).str, QByteArray("127.0.0.1"));
    QCOMPARE(addr.elements.at(1).str.toInt(), primary.port());
    // The replica is only discovered through INFO on the primary, which
    // needs the sentinel ACL user to authenticate.
    QTRY_VERIFY2_WITH_TIMEOUT(client.command({"SENTINEL", "replicas", "l0l3"}).elements.size() == 1,
                              qPrintable(sentinel.logTail()), TimeScale::ms(15000));
}

// Production's Sentinels grant their ACL user what the fixture's and the demo's do.
void TestRedisFixture::packagedSentinelUserMatchesFixture()
{
    QFile conf(TestCredentials::sourceDir() + QStringLiteral("/packaging/redis/sentinel.conf"));
    QVERIFY2(conf.open(QIODevice::ReadOnly), qPrintable(conf.fileName()));
    const QByteArray prefix = QByteArrayLiteral("user ") + l0l3::RedisNodeConfig::kSentinelUser
        + " on #@SENTINEL_AUTH_SHA256@ ";
    QByteArray line;
    for (const QByteArray &l : conf.readAll().split('\n'))
        if (l.startsWith(prefix))
            line = l;
    QVERIFY2(!line.isEmpty(), prefix.constData());
    QCOMPARE(QString::fromUtf8(line.mid(prefix.size()).trimmed()), l0l3::RedisNodeConfig::sentinelUserPermissions());
}

// TLS-only nodes: the replica links to its primary over TLS and the
// Sentinel monitors both over TLS, so a deployment can run without a plain
// port anywhere.
void TestRedisFixture::tlsReplicaAndSentinel()
{
    QTemporaryDir dir;
    TestCertificates certificates;
    QString error;
    QVERIFY2(certificates.create(dir.path(), &error), qPrintable(error));
    RedisServer::Options primaryOptions;
    primaryOptions.useTls(certificates, true);
    RedisServer primary;
    QVERIFY2(primary.start(primaryOptions, &error), qPrintable(error));
    RedisServer::Options replicaOptions = primaryOptions;
    replicaOptions.replicaOfPort = primary.port();
    RedisServer replica;
    QVERIFY2(replica.start(replicaOptions, &error), qPrintable(error));
    QVERIFY(primary.url(QStringLiteral("gateway")).startsWith(QStringLiteral("rediss://gateway:")));

    RedisClient writer = primary.client(QStringLiteral("console"));
    QVERIFY2(writer.isConnected(), qPrintable(writer.lastError()));
    QVERIFY(writer.set("l0l3:v1:entry:fixture-tls", "over tls"));
    RedisClient reader = replica.client(QStringLiteral("gateway"));
    QVERIFY2(reader.isConnected(), qPrintable(reader.lastError()));
    QTRY_COMPARE_WITH_TIMEOUT(reader.get("l0l3:v1:entry:fixture-tls"), QByteArray("over tls"), TimeScale::ms(5000));

    RedisServer::Options sentinelOptions = primaryOptions;
    sentinelOptions.sentinel = true;
    sentinelOptions.monitorPort = primary.port();
    sentinelOptions.quorum = 1;
    RedisServer sentinel;
    QVERIFY2(sentinel.start(sentinelOptions, &error), qPrintable(error));
    RedisClient client = sentinel.client(sentinel.adminUser());
    QVERIFY2(client.isConnected(), qPrintable(client.lastError()));
    const RedisValue addr = client.command({"SENTINEL", "get-master-addr-by-name", "l0l3"});
    QVERIFY2(addr.isArray() && addr.elements.size() == 2, qPrintable(addr.toString()));
    QCOMPARE(addr.elements.at(1).str.toInt(), primary.port());
    // The replica is discovered through INFO on the primary, read over TLS,
    // and announced at its TLS port.
    const auto replicaPorts = [&client] {
        QList<int> ports;
        const RedisValue replicas = client.command({"SENTINEL", "replicas", "l0l3"});
        for (const RedisValue &r : replicas.elements)
            for (qsizetype i = 0; i + 1 < r.elements.size(); i += 2)
                if (r.elements.at(i).str == "port")
                    ports << r.elements.at(i + 1).str.toInt();
        return ports;
    };
    QTRY_VERIFY2_WITH_TIMEOUT(replicaPorts() == QList<int>{replica.port()}, qPrintable(sentinel.logTail()),
                              TimeScale::ms(15000));
}

void TestRedisFixture::tlsRefusesPlainAndUntrusted()
{
    QTemporaryDir dir;
    TestCertificates certificates;
    QString error;
    QVERIFY2(certificates.create(dir.path(), &error), qPrintable(error));
    RedisServer::Options options;
    options.useTls(certificates, true);
    RedisServer server;
    QVERIFY2(server.start(options, &error), qPrintable(error));

    // A plain-text client gets no answer: the TLS port drops what is not a handshake.
    RedisClient plain;
    if (plain.connect(server.host(), server.port(), QStringLiteral("console"),
                      TestCredentials::get().password(QStringLiteral("console")), 2000))
        QVERIFY(!plain.ping());

    // A client that trusts another CA refuses the server's certificate.
    RedisClient::Tls untrusting = server.clientTls();
    untrusting.caFile = certificates.otherCaCert();
    RedisClient wrongCa;
    wrongCa.setTls(untrusting);
    QVERIFY(!wrongCa.connect(server.host(), server.port(), {}, {}, TimeScale::ms(5000)));
    QVERIFY2(wrongCa.lastError().contains(QStringLiteral("certificate"), Qt::CaseInsensitive),
             qPrintable(wrongCa.lastError()));

    // tls-auth-clients: a client without a certificate of the CA is refused.
    RedisClient::Tls anonymousTls = server.clientTls();
    anonymousTls.certFile.clear();
    anonymousTls.keyFile.clear();
    RedisClient noCert;
    noCert.setTls(anonymousTls);
    if (noCert.connect(server.host(), server.port(), {}, {}, TimeScale::ms(5000)))
        QVERIFY(!noCert.ping());
    RedisClient::Tls otherClient = server.clientTls();
    otherClient.certFile = certificates.otherClientCert();
    otherClient.keyFile = certificates.otherClientKey();
    RedisClient foreign;
    foreign.setTls(otherClient);
    if (foreign.connect(server.host(), server.port(), {}, {}, TimeScale::ms(5000)))
        QVERIFY(!foreign.ping());

    RedisClient::Tls clientOnly = server.clientTls();
    clientOnly.certFile = certificates.clientCert();
    clientOnly.keyFile = certificates.clientKey();
    RedisClient good;
    good.setTls(clientOnly);
    QVERIFY2(good.connect(server.host(), server.port(), QStringLiteral("console"),
                          TestCredentials::get().password(QStringLiteral("console")), TimeScale::ms(5000)),
             qPrintable(good.lastError()));
    QVERIFY(good.ping());
}

void TestRedisFixture::managedProcessKeepsChannelsApart()
{
    ManagedProcess process;
    QString error;
    QVERIFY2(process.start(QStringLiteral("/bin/sh"),
                           {QStringLiteral("-c"),
                            // Exits 0 on SIGTERM, as the harness expects of every child.
                            QStringLiteral("trap 'kill $!; exit 0' TERM; "
                                           "echo starting; echo oops >&2; echo 'x listening on 127.0.0.1:4321 ready'; "
                                           "sleep 60 & wait")},
                           QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    QCOMPARE(process.listenPort(5000), 4321);
    QTRY_VERIFY_WITH_TIMEOUT(process.stderrText().contains("oops"), TimeScale::ms(5000));
    QVERIFY(!process.stdoutText().contains("oops"));
    QVERIFY(process.stdoutText().contains("starting"));
    QVERIFY(!process.waitForLine(QRegularExpression(QStringLiteral("never printed")), 100));
    const qint64 pid = process.pid();
    process.stop();
    QVERIFY(processGone(pid));
    QFile log(process.logPath());
    QVERIFY(log.open(QIODevice::ReadOnly));
    const QByteArray logText = log.readAll();
    QVERIFY2(logText.contains("[err] oops") && logText.contains("[out] starting"), logText.constData());
}

void TestRedisFixture::managedProcessReportsExitCode()
{
    ManagedProcess process;
    QVERIFY(process.start(QStringLiteral("/bin/sh"),
                          {QStringLiteral("-c"), QStringLiteral("echo 'bad flag' >&2; exit 3")}));
    QVERIFY(process.waitForFinished(5000));
    QCOMPARE(process.exitCode(), 3);
    QCOMPARE(process.stderrText(), QByteArray("bad flag\n"));
    QCOMPARE(process.listenPort(100), -1);
}

void TestRedisFixture::httpClientReadsResponse()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QByteArray received;
    connect(&server, &QTcpServer::newConnection, this, [&] {
        QTcpSocket *socket = server.nextPendingConnection();
        connect(socket, &QTcpSocket::readyRead, socket, [&received, socket] {
            received += socket->readAll();
            if (received.contains("\r\n\r\n{}")) {
                socket->write("HTTP/1.1 201 Created\r\nX-L0L3-Cache: miss\r\nContent-Length: 5\r\n\r\nhello");
                socket->disconnectFromHost();
            }
        });
    });
    HttpClient http;
    const HttpResult result = http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/x").arg(server.serverPort())), "{}",
                                        {{"x-l0l3-namespace", "t1"}}, 5000);
    QVERIFY2(result.error.isEmpty(), qPrintable(result.error));
    QCOMPARE(result.status, 201);
    QCOMPARE(result.header("X-L0L3-Cache"), QByteArray("miss"));
    QCOMPARE(result.body, QByteArray("hello"));
    QVERIFY(received.toLower().contains("content-type: application/json"));
    QVERIFY(received.toLower().contains("x-l0l3-namespace: t1"));
}

void TestRedisFixture::httpClientTimesOut()
{
    QTcpServer server; // accepts, never answers
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    HttpClient http;
    const HttpResult result = http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/").arg(server.serverPort())), {}, 200);
    QVERIFY(result.timedOut);
    QCOMPARE(result.status, 0);
}

QTEST_GUILESS_MAIN(TestRedisFixture)
#include "tst_redisfixture.moc"
