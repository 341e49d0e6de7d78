#include <QCoreApplication>
#include <QPointer>
#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <memory>

#include "core/control/redisconnection.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

// users.acl names every key and command of its users; these tests run plain
// data commands on keys of their own as the test-only user.
const QString kUser = QStringLiteral("tester");

// RedisConnection against a real redis-server: commands, watchdog, reconnect
// and every teardown order (run under the asan preset too).
class TestRedisConnection : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase() { m_server.reset(); }
    void connectsAndRunsCommands();
    void resolvesHostNames();
    void wrongPasswordReportsError();
    void pipelineAndTransaction();
    void commandOnClosedConnectionFailsLater();
    void watchdogFiresWhenServerHangs();
    void serverKilledThenRestartedReconnects();
    void destroyWithPendingCommandsFailsThem();
    void destroyedContextSuppressesCallback();
    void deleteConnectionInsideCallback();
    void deleteConnectionInsideDisconnected();
    void commandsQueuedWhileConnecting();
    void destroyWhileResolving();
    void worksOnAWorkerThread();

private:
    std::unique_ptr<RedisServer> m_server;
};

void TestRedisConnection::initTestCase()
{
    m_server = std::make_unique<RedisServer>();
    QString error;
    QVERIFY2(m_server->start({}, &error), qPrintable(error));
}

void TestRedisConnection::connectsAndRunsCommands()
{
    RedisConnection conn(optionsFor(*m_server, kUser));
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    QVERIFY(conn.isReady());
    QCOMPARE(conn.generation(), quint64(1));

    std::optional<RedisReply> set, get, nil;
    QObject ctx;
    conn.command({"SET", "l0l3:test:a", QByteArray("va\0lue", 6)}, &ctx, [&](const RedisReply &r) { set = r; });
    conn.command({"GET", "l0l3:test:a"}, &ctx, [&](const RedisReply &r) { get = r; });
    conn.command({"GET", "l0l3:test:missing"}, &ctx, [&](const RedisReply &r) { nil = r; });
    QTRY_VERIFY_WITH_TIMEOUT(nil.has_value(), TimeScale::ms(5000));
    QCOMPARE(set->type, RedisReply::Type::Status);
    QCOMPARE(set->str, QByteArray("OK"));
    QCOMPARE(get->type, RedisReply::Type::String);
    QCOMPARE(get->str, QByteArray("va\0lue", 6));
    QVERIFY(nil->isNil());

    std::optional<RedisReply> denied;
    conn.command({"FLUSHALL"}, &ctx, [&](const RedisReply &r) { denied = r; });
    QTRY_VERIFY_WITH_TIMEOUT(denied.has_value(), TimeScale::ms(5000));
    QVERIFY(denied->isError());
    QVERIFY(!denied->local);
    QCOMPARE(denied->errorCode(), QByteArray("NOPERM"));
}

void TestRedisConnection::resolvesHostNames()
{
    auto o = optionsFor(*m_server, kUser);
    o.host = QStringLiteral("localhost");
    RedisConnection conn(o);
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    QCOMPARE(conn.state(), RedisConnection::State::Resolving);
    QVERIFY(connected.wait(TimeScale::ms(10000)));
}

void TestRedisConnection::wrongPasswordReportsError()
{
    auto o = optionsFor(*m_server, kUser);
    o.password = "not-the-password";
    o.autoReconnect = false;
    RedisConnection conn(o);
    QSignalSpy connected(&conn, &RedisConnection::connected);
    QSignalSpy error(&conn, &RedisConnection::error);
    conn.open();
    QVERIFY(error.wait(TimeScale::ms(5000)));
    QVERIFY2(error.first().at(0).toString().contains(QLatin1String("AUTH")),
             qPrintable(error.first().at(0).toString()));
    QCOMPARE(connected.count(), 0);
    QVERIFY(!conn.isReady());
}

void TestRedisConnection::pipelineAndTransaction()
{
    RedisConnection conn(optionsFor(*m_server, kUser));
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    QObject ctx;
    std::optional<QList<RedisReply>> replies;
    conn.pipeline({{"DEL", "l0l3:test:n"}, {"INCR", "l0l3:test:n"}, {"INCR", "l0l3:test:n"}}, &ctx,
                  [&](const QList<RedisReply> &r) { replies = r; });
    QTRY_VERIFY_WITH_TIMEOUT(replies.has_value(), TimeScale::ms(5000));
    QCOMPARE(replies->size(), 3);
    QCOMPARE(replies->at(2).integer, 2LL);

    std::optional<RedisReply> exec;
    conn.transaction({{"INCR", "l0l3:test:n"}, {"GET", "l0l3:test:n"}}, &ctx, [&](const RedisReply &r) { exec = r; });
    QTRY_VERIFY_WITH_TIMEOUT(exec.has_value(), TimeScale::ms(5000));
    QVERIFY(exec->isArray());
    QCOMPARE(exec->elements.size(), 2);
    QCOMPARE(exec->elements[1].str, QByteArray("3"));

    // A WATCHed key changed by another client: EXEC answers nil.
    RedisClient other = m_server->client(kUser);
    QVERIFY(other.isConnected());
    std::optional<RedisReply> watched;
    conn.command({"WATCH", "l0l3:test:n"}, &ctx, [&](const RedisReply &r) { watched = r; });
    QTRY_VERIFY_WITH_TIMEOUT(watched.has_value(), TimeScale::ms(5000));
    QVERIFY(!other.command({"INCR", "l0l3:test:n"}).isError());
    exec.reset();
    conn.transaction({{"INCR", "l0l3:test:n"}}, &ctx, [&](const RedisReply &r) { exec = r; });
    QTRY_VERIFY_WITH_TIMEOUT(exec.has_value(), TimeScale::ms(5000));
    QVERIFY(exec->isNil());
}

void TestRedisConnection::commandOnClosedConnectionFailsLater()
{
    RedisConnection conn(optionsFor(*m_server, kUser));
    QObject ctx;
    std::optional<RedisReply> reply;
    conn.command({"PING"}, &ctx, [&](const RedisReply &r) { reply = r; });
    QVERIFY(!reply.has_value()); // never synchronously
    QTRY_VERIFY_WITH_TIMEOUT(reply.has_value(), TimeScale::ms(2000));
    QVERIFY(reply->isError());
    QVERIFY(reply->local);
}

void TestRedisConnection::watchdogFiresWhenServerHangs()
{
    RedisServer server;
    QString why;
    QVERIFY2(server.start({}, &why), qPrintable(why));
    auto o = optionsFor(server, kUser);
    o.commandTimeoutMs = 300;
    o.connectTimeoutMs = 300;
    RedisConnection conn(o);
    QSignalSpy connected(&conn, &RedisConnection::connected);
    QSignalSpy error(&conn, &RedisConnection::error);
    conn.open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));

    server.pause();
    QObject ctx;
    std::optional<RedisReply> first, second;
    conn.command({"PING"}, &ctx, [&](const RedisReply &r) { first = r; });
    conn.command(
        {"PING"}, &ctx, [&](const RedisReply &r) { second = r; }, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(first.has_value() && second.has_value(), TimeScale::ms(5000));
    QVERIFY(first->isError() && first->local);
    QVERIFY2(first->errorMessage().contains(QLatin1String("timeout")), qPrintable(first->errorMessage()));
    // The link is dropped: the later command cannot get a reply meant for another.
    QVERIFY(second->isError() && second->local);
    QVERIFY(error.count() >= 1);

    server.resume();
    QVERIFY(connected.count() >= 2 || connected.wait(TimeScale::ms(10000)));
    std::optional<RedisReply> after;
    conn.command({"PING"}, &ctx, [&](const RedisReply &r) { after = r; });
    QTRY_VERIFY_WITH_TIMEOUT(after.has_value(), TimeScale::ms(5000));
    QCOMPARE(after->str, QByteArray("PONG"));
}

void TestRedisConnection::serverKilledThenRestartedReconnects()
{
    RedisServer server;
    QString why;
    QVERIFY2(server.start({}, &why), qPrintable(why));
    RedisConnection conn(optionsFor(server, kUser));
    QSignalSpy connected(&conn, &RedisConnection::connected);
    QSignalSpy disconnected(&conn, &RedisConnection::disconnected);
    QSignalSpy error(&conn, &RedisConnection::error);
    conn.open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));

    server.kill();
    QVERIFY(disconnected.wait(TimeScale::ms(5000)));
    QVERIFY(error.count() >= 1);
    QVERIFY(!conn.isReady());
    QObject ctx;
    std::optional<RedisReply> whileDown;
    conn.command(
        {"PING"}, &ctx, [&](const RedisReply &r) { whileDown = r; }, 20000);

    QVERIFY2(server.restart(&why), qPrintable(why));
    QTRY_COMPARE_WITH_TIMEOUT(connected.count(), 2, TimeScale::ms(10000));
    QCOMPARE(conn.generation(), quint64(2));
    // Queued while reconnecting, sent once ready.
    QTRY_VERIFY_WITH_TIMEOUT(whileDown.has_value(), TimeScale::ms(5000));
    QCOMPARE(whileDown->str, QByteArray("PONG"));
}

void TestRedisConnection::destroyWithPendingCommandsFailsThem()
{
    RedisServer server;
    QString why;
    QVERIFY2(server.start({}, &why), qPrintable(why));
    auto conn = std::make_unique<RedisConnection>(optionsFor(server, kUser));
    QSignalSpy connected(conn.get(), &RedisConnection::connected);
    conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    server.pause();
    QObject ctx;
    QList<RedisReply> replies;
    for (int i = 0; i < 5; ++i)
        conn->command({"PING"}, &ctx, [&](const RedisReply &r) { replies.append(r); });
    QCoreApplication::processEvents(); // let the notifier flush the writes
    conn.reset();
    QCOMPARE(replies.size(), 5);
    for (const RedisReply &r : replies) {
        QVERIFY(r.isError() && r.local);
        QCOMPARE(r.str, QByteArray("connection destroyed"));
    }
    server.resume();
}

void TestRedisConnection::destroyedContextSuppressesCallback()
{
    RedisConnection conn(optionsFor(*m_server, kUser));
    QSignalSpy connected(&conn, &RedisConnection::connected);
    conn.open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    bool called = false;
    auto *ctx = new QObject;
    conn.command({"PING"}, ctx, [&](const RedisReply &) { called = true; });
    delete ctx;
    QObject alive;
    std::optional<RedisReply> later;
    conn.command({"PING"}, &alive, [&](const RedisReply &r) { later = r; });
    QTRY_VERIFY_WITH_TIMEOUT(later.has_value(), TimeScale::ms(5000));
    QVERIFY(!called);

    // Destroying the context while the connection itself is being destroyed.
    auto conn2 = std::make_unique<RedisConnection>(optionsFor(*m_server, kUser));
    QSignalSpy connected2(conn2.get(), &RedisConnection::connected);
    conn2->open();
    QVERIFY(connected2.wait(TimeScale::ms(5000)));
    auto *ctx2 = new QObject;
    conn2->command({"PING"}, ctx2, [&](const RedisReply &) { called = true; });
    delete ctx2;
    conn2.reset();
    QVERIFY(!called);
}

void TestRedisConnection::deleteConnectionInsideCallback()
{
    auto *conn = new RedisConnection(optionsFor(*m_server, kUser));
    QSignalSpy connected(conn, &RedisConnection::connected);
    conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    QObject ctx;
    QList<RedisReply> rest;
    bool first = false;
    conn->command({"PING"}, &ctx, [&](const RedisReply &) {
        first = true;
        delete conn;
        conn = nullptr;
    });
    for (int i = 0; i < 3; ++i)
        conn->command({"PING"}, &ctx, [&](const RedisReply &r) { rest.append(r); });
    QTRY_VERIFY_WITH_TIMEOUT(first, TimeScale::ms(5000));
    QVERIFY(conn == nullptr);
    // Every other command got exactly one answer (a reply or the destroy error).
    QCOMPARE(rest.size(), 3);
}

void TestRedisConnection::deleteConnectionInsideDisconnected()
{
    RedisServer server;
    QString why;
    QVERIFY2(server.start({}, &why), qPrintable(why));
    QPointer<RedisConnection> conn = new RedisConnection(optionsFor(server, kUser));
    QSignalSpy connected(conn.data(), &RedisConnection::connected);
    conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    connect(conn.data(), &RedisConnection::disconnected, conn.data(), [&conn] { delete conn.data(); });
    QObject ctx;
    std::optional<RedisReply> pending;
    conn->command(
        {"BLPOP", "l0l3:test:never", "0"}, &ctx, [&](const RedisReply &r) { pending = r; }, 30000);
    server.kill();
    QTRY_VERIFY_WITH_TIMEOUT(conn.isNull(), TimeScale::ms(5000));
    QVERIFY(pending.has_value());
    QVERIFY(pending->isError() && pending->local);
}

void TestRedisConnection::commandsQueuedWhileConnecting()
{
    RedisConnection conn(optionsFor(*m_server, kUser));
    QObject ctx;
    conn.open();
    std::optional<RedisReply> reply;
    conn.command({"PING"}, &ctx, [&](const RedisReply &r) { reply = r; });
    QTRY_VERIFY_WITH_TIMEOUT(reply.has_value(), TimeScale::ms(5000));
    QCOMPARE(reply->str, QByteArray("PONG"));
    conn.close();
    QCOMPARE(conn.state(), RedisConnection::State::Closed);
}

void TestRedisConnection::destroyWhileResolving()
{
    auto o = optionsFor(*m_server, kUser);
    o.host = QStringLiteral("localhost");
    auto conn = std::make_unique<RedisConnection>(o);
    QObject ctx;
    std::optional<RedisReply> reply;
    conn->open();
    QCOMPARE(conn->state(), RedisConnection::State::Resolving);
    conn->command({"PING"}, &ctx, [&](const RedisReply &r) { reply = r; });
    conn.reset();
    QVERIFY(reply.has_value());
    QVERIFY(reply->local);
    // The lookup finishing later must not touch the destroyed connection.
    RedisConnection probe(o);
    QSignalSpy connected(&probe, &RedisConnection::connected);
    probe.open();
    QVERIFY(connected.wait(TimeScale::ms(10000)));
}

// How the console uses it: owned by a worker on a QThread, results back by
// queued signal carrying a value type.
class Worker : public QObject
{
    Q_OBJECT
public:
    explicit Worker(RedisConnection::Options o)
        : m_options(std::move(o))
    {
    }
    void run()
    {
        m_conn = new RedisConnection(m_options, this);
        m_conn->open();
        m_conn->command({"ECHO", "from-thread"}, this,
                        [this](const RedisReply &r) { emit replied(r, QThread::currentThread()); });
    }
signals:
    void replied(const l0l3::RedisReply &reply, QThread *thread);

private:
    RedisConnection::Options m_options;
    RedisConnection *m_conn = nullptr;
};

void TestRedisConnection::worksOnAWorkerThread()
{
    QThread thread;
    auto *worker = new Worker(optionsFor(*m_server, kUser));
    worker->moveToThread(&thread);
    connect(&thread, &QThread::finished, worker, &QObject::deleteLater);
    QSignalSpy replied(worker, &Worker::replied);
    thread.start();
    QMetaObject::invokeMethod(worker, &Worker::run, Qt::QueuedConnection);
    QVERIFY(replied.wait(TimeScale::ms(5000)));
    const auto reply = replied.first().at(0).value<RedisReply>();
    QCOMPARE(reply.str, QByteArray("from-thread"));
    QCOMPARE(replied.first().at(1).value<QThread *>(), &thread);
    thread.quit();
    QVERIFY(thread.wait(TimeScale::ms(5000)));
}

QTEST_GUILESS_MAIN(TestRedisConnection)
#include "tst_redisconnection.moc"
