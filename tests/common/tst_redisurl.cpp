#include <QTest>

#include "core/common/redisurl.h"

using l0l3::RedisUrl;

class TestRedisUrl : public QObject
{
    Q_OBJECT

private slots:
    void parse_data();
    void parse();
};

void TestRedisUrl::parse_data()
{
    QTest::addColumn<QByteArray>("url");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QByteArray>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QByteArray>("user");
    QTest::addColumn<QByteArray>("password");
    QTest::addColumn<int>("db");
    QTest::addColumn<QByteArray>("redacted");

    QTest::newRow("host only") << QByteArray("redis://127.0.0.1") << true << QByteArray("127.0.0.1") << 6379
                               << QByteArray() << QByteArray() << 0 << QByteArray("redis://127.0.0.1:6379");
    QTest::newRow("port and db") << QByteArray("redis://localhost:6380/2") << true << QByteArray("localhost") << 6380
                                 << QByteArray() << QByteArray() << 2 << QByteArray("redis://localhost:6380/2");
    QTest::newRow("trailing slash") << QByteArray("redis://h/") << true << QByteArray("h") << 6379 << QByteArray()
                                    << QByteArray() << 0 << QByteArray("redis://h:6379");
    QTest::newRow("user and password") << QByteArray("redis://gw:s3cret@10.0.0.5:7000/1") << true
                                       << QByteArray("10.0.0.5") << 7000 << QByteArray("gw") << QByteArray("s3cret")
                                       << 1 << QByteArray("redis://gw@10.0.0.5:7000/1");
    QTest::newRow("password only") << QByteArray("redis://:pw@h") << true << QByteArray("h") << 6379 << QByteArray()
                                   << QByteArray("pw") << 0 << QByteArray("redis://h:6379");
    QTest::newRow("percent-decoded") << QByteArray("redis://us%40er:p%3Aw%2F%25@h") << true << QByteArray("h") << 6379
                                     << QByteArray("us@er") << QByteArray("p:w/%") << 0
                                     << QByteArray("redis://us@er@h:6379");
    QTest::newRow("raw @ in password") << QByteArray("redis://u:a@b@h:1") << true << QByteArray("h") << 1
                                       << QByteArray("u") << QByteArray("a@b") << 0 << QByteArray("redis://u@h:1");
    QTest::newRow("IPv6") << QByteArray("redis://[::1]:6390") << true << QByteArray("::1") << 6390 << QByteArray()
                          << QByteArray() << 0 << QByteArray("redis://[::1]:6390");
    QTest::newRow("IPv6 default port") << QByteArray("redis://[fe80::1]/3") << true << QByteArray("fe80::1") << 6379
                                       << QByteArray() << QByteArray() << 3 << QByteArray("redis://[fe80::1]:6379/3");
    QTest::newRow("wrong scheme") << QByteArray("http://h") << false << QByteArray() << 0 << QByteArray()
                                  << QByteArray() << 0 << QByteArray();
    QTest::newRow("TLS scheme") << QByteArray("rediss://gw:pw@h:6380/1") << true << QByteArray("h") << 6380
                                << QByteArray("gw") << QByteArray("pw") << 1 << QByteArray("rediss://gw@h:6380/1");
    QTest::newRow("TLS IPv6") << QByteArray("rediss://[::1]") << true << QByteArray("::1") << 6379 << QByteArray()
                              << QByteArray() << 0 << QByteArray("rediss://[::1]:6379");
    QTest::newRow("TLS misspelt") << QByteArray("redisss://h") << false << QByteArray() << 0 << QByteArray()
                                  << QByteArray() << 0 << QByteArray();
    QTest::newRow("no scheme") << QByteArray("localhost:6379") << false << QByteArray() << 0 << QByteArray()
                               << QByteArray() << 0 << QByteArray();
    QTest::newRow("empty host") << QByteArray("redis://:6379") << false << QByteArray() << 0 << QByteArray()
                                << QByteArray() << 0 << QByteArray();
    QTest::newRow("port zero") << QByteArray("redis://h:0") << false << QByteArray() << 0 << QByteArray()
                               << QByteArray() << 0 << QByteArray();
    QTest::newRow("port too big") << QByteArray("redis://h:65536") << false << QByteArray() << 0 << QByteArray()
                                  << QByteArray() << 0 << QByteArray();
    QTest::newRow("port not numeric") << QByteArray("redis://h:abc") << false << QByteArray() << 0 << QByteArray()
                                      << QByteArray() << 0 << QByteArray();
    QTest::newRow("empty port") << QByteArray("redis://h:") << false << QByteArray() << 0 << QByteArray()
                                << QByteArray() << 0 << QByteArray();
    QTest::newRow("db not numeric") << QByteArray("redis://h/x") << false << QByteArray() << 0 << QByteArray()
                                    << QByteArray() << 0 << QByteArray();
    QTest::newRow("negative db") << QByteArray("redis://h/-1") << false << QByteArray() << 0 << QByteArray()
                                 << QByteArray() << 0 << QByteArray();
    QTest::newRow("bad percent") << QByteArray("redis://u:%zz@h") << false << QByteArray() << 0 << QByteArray()
                                 << QByteArray() << 0 << QByteArray();
    QTest::newRow("truncated percent") << QByteArray("redis://u:%4@h") << false << QByteArray() << 0 << QByteArray()
                                       << QByteArray() << 0 << QByteArray();
    QTest::newRow("unclosed IPv6") << QByteArray("redis://[::1") << false << QByteArray() << 0 << QByteArray()
                                   << QByteArray() << 0 << QByteArray();
}

void TestRedisUrl::parse()
{
    QFETCH(QByteArray, url);
    QFETCH(bool, ok);
    std::string error;
    const auto r = RedisUrl::parse(url.toStdString(), &error);
    QCOMPARE(r.has_value(), ok);
    if (!ok) {
        QVERIFY(!error.empty());
        return;
    }
    QFETCH(QByteArray, host);
    QFETCH(int, port);
    QFETCH(QByteArray, user);
    QFETCH(QByteArray, password);
    QFETCH(int, db);
    QFETCH(QByteArray, redacted);
    QCOMPARE(QByteArray::fromStdString(r->host), host);
    QCOMPARE(r->port, port);
    QCOMPARE(QByteArray::fromStdString(r->user), user);
    QCOMPARE(QByteArray::fromStdString(r->password), password);
    QCOMPARE(r->db, db);
    QCOMPARE(r->tls, url.startsWith("rediss://"));
    QCOMPARE(QByteArray::fromStdString(r->redacted()), redacted);
    if (!password.isEmpty())
        QVERIFY(r->redacted().find(r->password) == std::string::npos);
}

QTEST_GUILESS_MAIN(TestRedisUrl)
#include "tst_redisurl.moc"
