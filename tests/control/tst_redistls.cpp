#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <optional>

#include "core/control/redisconnection.h"
#include "core/control/redissubscriber.h"
#include "tests/support/ctlrun.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcertificates.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

const QString kUser = QStringLiteral("tester");

// The control plane's links over TLS (rediss://) against a real TLS-only
// redis-server that also asks every client for a certificate of its CA
// (tls-auth-clients): RedisConnection, RedisSubscriber and l0l3-ctl, the
// certificate checks and what a plain-text client gets.
class TestRedisTls : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase() { m_server.reset(); }
    void commandsOverTls();
    void largeRepliesOverTls();
    void wrongCaIsRefusedWithAClearMessage();
    void missingClientCertificateIsRefused();
    void plainTextClientIsRefused();
    void oversizedReplyDropsTheLink();
    void subscriberOverTls();
    void ctlOverTls();
    void ctlRefusesAWrongCa();

private:
    RedisConnection::Options options(const QString &user = kUser) const;
    // Opens conn and waits for the first error() (autoReconnect off).
    static QString firstError(RedisConnection &conn);

    QTemporaryDir m_dir;
    TestCertificates m_certs;
    std::unique_ptr<RedisServer> m_server;
};

void TestRedisTls::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    QVERIFY2(m_certs.create(m_dir.path(), &error), qPrintable(error));
    RedisServer::Options o;
    o.useTls(m_certs, true);
    m_server = std::make_unique<RedisServer>();
    QVERIFY2(m_server->start(o, &error), qPrintable(error));
}

RedisConnection::Options TestRedisTls::options(const QString &user) const
{
    auto o = RedisConnection::Options::fromUrl(m_server->url(user));
    Q_ASSERT(o && o->tls.enabled);
    o->tls.caFile = m_certs.caCert();
    o->tls.certFile = m_certs.clientCert();
    o->tls.keyFile = m_certs.clientKey();
    o->autoReconnect = false;
    o->connectTimeoutMs = TimeScale::ms(5000);
    o->commandTimeoutMs = TimeScale::ms(10000);
    return *o;
}

QString TestRedisTls::firstError(RedisConnection &conn)
{
    QSignalSpy errors(&conn, &RedisConnection::error);
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    if (!errors.wait(TimeScale::ms(20000)))
        return QStringLiteral("(no error)");
    if (!connected.isEmpty() || conn.isReady())
        return QStringLiteral("(connected)");
    return errors.first().first().toString();
}

void TestRedisTls::commandsOverTls()
{
    QVERIFY(options().redacted().startsWith(QStringLiteral("rediss://tester@127.0.0.1:")));
    RedisConnection conn(options());
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    QVERIFY2(connected.wait(TimeScale::ms(10000)), qPrintable(conn.lastError()));
    QObject ctx;
    std::optional<QList<RedisReply>> replies;
    conn.pipeline({{"SET", "l0l3:test:tls-a", "over tls"}, {"GET", "l0l3:test:tls-a"}, {"PING"}}, &ctx,
                  [&](const QList<RedisReply> &r) { replies = r; });
    QTRY_VERIFY_WITH_TIMEOUT(replies.has_value(), TimeScale::ms(10000));
    QCOMPARE(replies->at(1).str, QByteArray("over tls"));
    QCOMPARE(replies->at(2).str, QByteArray("PONG"));
}

// Replies bigger than one TLS record and one read chunk arrive in pieces.
void TestRedisTls::largeRepliesOverTls()
{
    RedisConnection conn(options());
    conn.open();
    QObject ctx;
    const QByteArray big(3 * 1024 * 1024 + 17, 'x');
    std::optional<QList<RedisReply>> replies;
    conn.pipeline(
        {{"SET", "l0l3:test:tls-big", big}, {"GET", "l0l3:test:tls-big"}, {"GET", "l0l3:test:tls-big"}, {"PING"}}, &ctx,
        [&](const QList<RedisReply> &r) { replies = r; });
    QTRY_VERIFY_WITH_TIMEOUT(replies.has_value(), TimeScale::ms(20000));
    QCOMPARE(replies->at(1).str.size(), big.size());
    QVERIFY(replies->at(2).str == big);
    QCOMPARE(replies->at(3).str, QByteArray("PONG"));
}

void TestRedisTls::wrongCaIsRefusedWithAClearMessage()
{
    auto o = options();
    o.tls.caFile = m_certs.otherCaCert();
    RedisConnection conn(o);
    const QString why = firstError(conn);
    const QString expected =
        QStringLiteral("TLS certificate verification failed for 127.0.0.1:%1: ").arg(m_server->port());
    QVERIFY2(why.startsWith(expected), qPrintable(why));
    QVERIFY2(conn.lastError().contains(expected), qPrintable(conn.lastError()));
    QVERIFY(!conn.isReady());

    // No CA file: the system CAs, which do not know the test CA either.
    o.tls.caFile.clear();
    RedisConnection system(o);
    QVERIFY2(firstError(system).startsWith(expected), qPrintable(system.lastError()));
}

// tls-auth-clients: without a certificate of the CA the server ends the link.
void TestRedisTls::missingClientCertificateIsRefused()
{
    auto o = options();
    o.tls.certFile.clear();
    o.tls.keyFile.clear();
    RedisConnection anonymous(o);
    const QString why = firstError(anonymous);
    QVERIFY2(!why.startsWith(u'('), qPrintable(why));
    QVERIFY(!anonymous.isReady());

    o.tls.certFile = m_certs.otherClientCert();
    o.tls.keyFile = m_certs.otherClientKey();
    RedisConnection foreign(o);
    const QString foreignWhy = firstError(foreign);
    QVERIFY2(!foreignWhy.startsWith(u'('), qPrintable(foreignWhy));
}

// A redis:// link to a TLS-only port: what it writes is no handshake, the
// server drops it, and it never becomes ready.
void TestRedisTls::plainTextClientIsRefused()
{
    auto o = options();
    o.tls = {};
    QVERIFY(o.redacted().startsWith(QStringLiteral("redis://")));
    RedisConnection plain(o);
    const QString why = firstError(plain);
    QVERIFY2(!why.startsWith(u'('), qPrintable(why));
    QVERIFY(!plain.isReady());
    QVERIFY(plain.generation() == 0);
}

void TestRedisTls::oversizedReplyDropsTheLink()
{
    {
        RedisConnection writer(options());
        writer.open();
        QObject ctx;
        std::optional<RedisReply> set;
        writer.command({"SET", "l0l3:test:tls-large", QByteArray(200000, 'y')}, &ctx,
                       [&](const RedisReply &r) { set = r; });
        QTRY_VERIFY_WITH_TIMEOUT(set.has_value(), TimeScale::ms(10000));
        QVERIFY2(!set->isError(), set->str.constData());
    }
    auto o = options();
    o.maxReplyBytes = 100000;
    RedisConnection conn(o);
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    QVERIFY(connected.wait(TimeScale::ms(10000)));
    QObject ctx;
    std::optional<RedisReply> small;
    std::optional<RedisReply> large;
    conn.command({"GET", "l0l3:test:tls-a"}, &ctx, [&](const RedisReply &r) { small = r; });
    conn.command({"GET", "l0l3:test:tls-large"}, &ctx, [&](const RedisReply &r) { large = r; });
    QTRY_VERIFY_WITH_TIMEOUT(large.has_value(), TimeScale::ms(10000));
    QVERIFY(small.has_value() && !small->isError());
    QVERIFY(large->isError() && large->local);
    QVERIFY2(large->str.contains("larger than 100000 bytes"), large->str.constData());
    QVERIFY(!conn.isReady());
}

void TestRedisTls::subscriberOverTls()
{
    RedisSubscriber::Options so;
    so.host = m_server->host();
    so.port = m_server->port();
    // The gateway user subscribes to invalidations; the console publishes them.
    so.user = QByteArrayLiteral("gateway");
    so.password = TestCredentials::get().password(QStringLiteral("gateway")).toUtf8();
    so.tls.enabled = true;
    so.tls.caFile = m_certs.caCert();
    so.tls.certFile = m_certs.clientCert();
    so.tls.keyFile = m_certs.clientKey();
    RedisSubscriber sub(so, {QByteArrayLiteral("l0l3:v1:invalidate")});
    QSignalSpy subscribed(&sub, &RedisSubscriber::subscribed);
    QSignalSpy messages(&sub, &RedisSubscriber::message);
    sub.open();
    QVERIFY(subscribed.wait(TimeScale::ms(10000)));
    RedisClient client = m_server->client(QStringLiteral("console"));
    QVERIFY2(client.isConnected(), qPrintable(client.lastError()));
    client.command({"PUBLISH", "l0l3:v1:invalidate", "hello"});
    QTRY_COMPARE_WITH_TIMEOUT(messages.size(), 1, TimeScale::ms(10000));
    QCOMPARE(messages.first().at(1).toByteArray(), QByteArray("hello"));

    so.tls.caFile = m_certs.otherCaCert();
    RedisSubscriber untrusting(so, {QByteArrayLiteral("l0l3:v1:invalidate")});
    QSignalSpy lost(&untrusting, &RedisSubscriber::disconnected);
    untrusting.open();
    QVERIFY(lost.wait(TimeScale::ms(10000)));
    QVERIFY2(lost.first().first().toString().startsWith(QStringLiteral("TLS certificate verification failed for")),
             qPrintable(lost.first().first().toString()));
    untrusting.close();
}

void TestRedisTls::ctlOverTls()
{
    const QString url = QStringLiteral("rediss://console@127.0.0.1:%1").arg(m_server->port());
    const CtlRun run = runCtl({QStringLiteral("--primary"), url, QStringLiteral("--redis-ca-file"), m_certs.caCert(),
                               QStringLiteral("--redis-cert-file"), m_certs.clientCert(),
                               QStringLiteral("--redis-key-file"), m_certs.clientKey(), QStringLiteral("proposals"),
                               QStringLiteral("--json")});
    QVERIFY2(run.code == 0, qPrintable(run.describe()));
}

void TestRedisTls::ctlRefusesAWrongCa()
{
    const QString url = QStringLiteral("rediss://console@127.0.0.1:%1").arg(m_server->port());
    const CtlRun run = runCtl({QStringLiteral("--primary"), url, QStringLiteral("--redis-ca-file"),
                               m_certs.otherCaCert(), QStringLiteral("--redis-cert-file"), m_certs.clientCert(),
                               QStringLiteral("--redis-key-file"), m_certs.clientKey(), QStringLiteral("proposals")});
    QCOMPARE(run.code, 1);
    const QString expected =
        QStringLiteral("l0l3-ctl: TLS certificate verification failed for 127.0.0.1:%1: ").arg(m_server->port());
    QVERIFY2(QString::fromUtf8(run.err).startsWith(expected), qPrintable(run.describe()));

    // The CA flags mean nothing without rediss://: a usage error, not a plain-text link.
    const CtlRun plain = runCtl({QStringLiteral("--primary"),
                                 QStringLiteral("redis://console@127.0.0.1:%1").arg(m_server->port()),
                                 QStringLiteral("--redis-ca-file"), m_certs.caCert(), QStringLiteral("proposals")});
    QCOMPARE(plain.code, 2);
}

QTEST_GUILESS_MAIN(TestRedisTls)
#include "tst_redistls.moc"
