// AuditLog::follow against a real redis-server: the console's live tail of the
// audit stream (XREAD BLOCK on a connection of its own) starts at the newest
// record, delivers every later one once and in order, and goes on from the
// last id it read after its link is killed.
#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/common/auditrecord.h"
#include "core/control/auditlog.h"
#include "tests/control/controltestsupport.h"

using namespace l0l3;
using namespace l0l3::test;

class TestAuditTail : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void followsFromTheNewestAndResumesAfterLinkLoss();

private:
    // XADD of one audit record as the console writes it; returns its id.
    QByteArray addRecord(const std::string &key);
    std::unique_ptr<RedisConnection> open();

    std::unique_ptr<RedisServer> m_server;
    RedisClient m_console;
};

void TestAuditTail::initTestCase()
{
    m_server = std::make_unique<RedisServer>();
    QString why;
    // No ACL: the test kills the tail's link with CLIENT KILL, which no user of users.acl may run
    // (tst_redisacl covers XREAD for the console user).
    RedisServer::Options options;
    options.acl = false;
    QVERIFY2(m_server->start(options, &why), qPrintable(why));
    m_console = m_server->client(QString());
    QVERIFY(m_console.isConnected());
}

void TestAuditTail::cleanupTestCase()
{
    m_console.disconnect();
    m_server.reset();
}

QByteArray TestAuditTail::addRecord(const std::string &key)
{
    AuditRecord r;
    r.action = "approve";
    r.key = key;
    r.actor = "tail-test";
    r.tsMs = QDateTime::currentMSecsSinceEpoch();
    r.version = 1;
    QList<QByteArray> argv{"XADD", qb(RedisSchema::kAudit), "*"};
    for (const auto &[field, value] : AuditCodec::encode(r)) {
        argv.append(qb(field));
        argv.append(qb(value));
    }
    return m_console.command(argv).str;
}

std::unique_ptr<RedisConnection> TestAuditTail::open()
{
    RedisConnection::Options options;
    options.host = m_server->host();
    options.port = m_server->port();
    options.reconnectMinMs = 50;
    options.reconnectMaxMs = 400;
    auto c = std::make_unique<RedisConnection>(options);
    QSignalSpy connected(c.get(), &RedisConnection::connected);
    c->open();
    if (!connected.wait(TimeScale::ms(5000)))
        return nullptr;
    return c;
}

void TestAuditTail::followsFromTheNewestAndResumesAfterLinkLoss()
{
    addRecord("k-old");
    const QByteArray newest = addRecord("k-newest");
    const auto main = open();
    const auto tail = open();
    QVERIFY(main && tail);
    AuditLog log(main.get());
    QList<AuditRecord> seen;
    connect(&log, &AuditLog::appended, this, [&](const QList<AuditRecord> &records) { seen.append(records); });
    log.follow(tail.get());
    // The newest record first (the last decision), nothing older.
    QTRY_COMPARE_WITH_TIMEOUT(seen.size(), 1, TimeScale::ms(5000));
    QCOMPARE(QByteArray::fromStdString(seen[0].id), newest);

    QList<QByteArray> expected{newest};
    for (int i = 0; i < 3; ++i)
        expected.append(addRecord("k-live-" + std::to_string(i)));
    QTRY_COMPARE_WITH_TIMEOUT(seen.size(), 4, TimeScale::ms(5000));

    // Kill the tail's link while it blocks in XREAD; records written meanwhile still come, once.
    const RedisValue clients = m_console.command({"CLIENT", "LIST"});
    QByteArray blockedId;
    for (const QByteArray &line : clients.str.split('\n')) {
        if (line.contains("cmd=xread")) {
            for (const QByteArray &field : line.split(' ')) {
                if (field.startsWith("id="))
                    blockedId = field.mid(3);
            }
        }
    }
    QVERIFY2(!blockedId.isEmpty(), clients.str.constData());
    const RedisValue killed = m_console.command({"CLIENT", "KILL", "ID", blockedId});
    QCOMPARE(killed.integer, 1);
    for (int i = 0; i < 2; ++i)
        expected.append(addRecord("k-after-" + std::to_string(i)));
    QTRY_COMPARE_WITH_TIMEOUT(seen.size(), expected.size(), TimeScale::ms(10000));
    for (int i = 0; i < expected.size(); ++i)
        QCOMPARE(QByteArray::fromStdString(seen[i].id), expected[i]);
    QCOMPARE(log.tailPosition(), QString::fromUtf8(expected.last()));
    log.stopFollowing();
}

QTEST_MAIN(TestAuditTail)
#include "tst_audittail.moc"
