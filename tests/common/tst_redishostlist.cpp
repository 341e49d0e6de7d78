#include <QTest>

#include "core/common/redishostlist.h"

using l0l3::RedisHostList;

class TestRedisHostList : public QObject
{
    Q_OBJECT

private slots:
    void parse_data();
    void parse();
    void mayReceiveCredentials();
};

void TestRedisHostList::parse_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArrayList>("hosts"); // "host|port"
    QTest::addColumn<QByteArrayList>("rejected");

    const QByteArrayList none;
    QTest::newRow("one") << QByteArray("10.0.0.5:6379") << QByteArrayList{"10.0.0.5|6379"} << none;
    QTest::newRow("blanks") << QByteArray(" 10.0.0.5:6379 ,\tredis-b:6380 ")
                            << QByteArrayList{"10.0.0.5|6379", "redis-b|6380"} << none;
    QTest::newRow("IPv6 in brackets") << QByteArray("[::1]:6380,[fe80::1]:7000")
                                      << QByteArrayList{"::1|6380", "fe80::1|7000"} << none;
    QTest::newRow("IPv6 without brackets") << QByteArray("::1:6380") << QByteArrayList{"::1|6380"} << none;
    QTest::newRow("duplicates once") << QByteArray("h:1,h:1,h:2") << QByteArrayList{"h|1", "h|2"} << none;
    QTest::newRow("no port") << QByteArray("10.0.0.5,h:1") << QByteArrayList{"h|1"} << QByteArrayList{"10.0.0.5"};
    QTest::newRow("port 0") << QByteArray("h:0") << none << QByteArrayList{"h:0"};
    QTest::newRow("port too big") << QByteArray("h:65536") << none << QByteArrayList{"h:65536"};
    QTest::newRow("port text") << QByteArray("h:redis") << none << QByteArrayList{"h:redis"};
    QTest::newRow("port sign") << QByteArray("h:+1") << none << QByteArrayList{"h:+1"};
    QTest::newRow("no host") << QByteArray(":6379") << none << QByteArrayList{":6379"};
    QTest::newRow("unclosed bracket") << QByteArray("[::1:6379") << none << QByteArrayList{"[::1:6379"};
    QTest::newRow("bracket without port") << QByteArray("[::1]") << none << QByteArrayList{"[::1]"};
    QTest::newRow("empty entries") << QByteArray("h:1,,h:2,") << QByteArrayList{"h|1", "h|2"} << QByteArrayList{"", ""};
    QTest::newRow("empty") << QByteArray("") << none << QByteArrayList{""};
}

void TestRedisHostList::parse()
{
    QFETCH(QByteArray, text);
    QFETCH(QByteArrayList, hosts);
    QFETCH(QByteArrayList, rejected);
    std::vector<std::string> why;
    const RedisHostList list = RedisHostList::parse(text.toStdString(), &why);
    QByteArrayList got;
    for (const RedisHostList::Host &h : list.hosts())
        got << QByteArray::fromStdString(h.host) + '|' + QByteArray::number(h.port);
    QCOMPARE(got, hosts);
    QByteArrayList gotRejected;
    for (const std::string &r : why)
        gotRejected << QByteArray::fromStdString(r);
    QCOMPARE(gotRejected, rejected);
    QCOMPARE(RedisHostList::parse(text.toStdString()).size(), list.size()); // rejected is optional
}

// The credentials go to the listed servers only, compared exactly (host as written, port);
// without credentials anything may be asked.
void TestRedisHostList::mayReceiveCredentials()
{
    RedisHostList list = RedisHostList::parse("10.0.0.5:6379,[::1]:6380");
    list.add("127.0.0.1", 7000);
    QVERIFY(list.mayReceiveCredentials("10.0.0.5", 6379, true));
    QVERIFY(list.mayReceiveCredentials("::1", 6380, true));
    QVERIFY(list.mayReceiveCredentials("127.0.0.1", 7000, true));
    QVERIFY(!list.mayReceiveCredentials("10.0.0.5", 6380, true));
    QVERIFY(!list.mayReceiveCredentials("10.0.0.6", 6379, true));
    QVERIFY(!list.mayReceiveCredentials("[::1]", 6380, true));
    QVERIFY(!list.mayReceiveCredentials("", 6379, true));
    QVERIFY(list.mayReceiveCredentials("10.0.0.6", 6379, false));
    QVERIFY(!RedisHostList().mayReceiveCredentials("10.0.0.5", 6379, true));
    QVERIFY(RedisHostList().mayReceiveCredentials("10.0.0.5", 6379, false));
}

QTEST_GUILESS_MAIN(TestRedisHostList)
#include "tst_redishostlist.moc"
