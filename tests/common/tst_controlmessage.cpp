#include <QTest>

#include <string>

#include "core/common/controlmessage.h"

using l0l3::ControlMessage;
using Verb = l0l3::ControlMessage::Verb;

Q_DECLARE_METATYPE(Verb)

class TestControlMessage : public QObject
{
    Q_OBJECT

private slots:
    void parsesEveryForm_data();
    void parsesEveryForm();
    void refusesMalformed_data();
    void refusesMalformed();
    void refusesLongAndHostileInput();
    void addressesRegion_data();
    void addressesRegion();
    void encodeIsTheParsedText();
};

void TestControlMessage::parsesEveryForm_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<Verb>("verb");
    QTest::addColumn<QByteArray>("target");

    QTest::newRow("drain") << QByteArray("drain tokyo") << Verb::Drain << QByteArray("tokyo");
    QTest::newRow("undrain") << QByteArray("undrain eu-west_1") << Verb::Undrain << QByteArray("eu-west_1");
    QTest::newRow("drain every region") << QByteArray("drain *") << Verb::Drain << QByteArray("*");
    QTest::newRow("flush") << QByteArray("flush") << Verb::Flush << QByteArray();
    QTest::newRow("flush one region") << QByteArray("flush nyc") << Verb::Flush << QByteArray("nyc");
    QTest::newRow("flush all") << QByteArray("flush all") << Verb::Flush << QByteArray("all");
    QTest::newRow("freeze") << QByteArray("freeze") << Verb::Freeze << QByteArray();
    QTest::newRow("unfreeze") << QByteArray("unfreeze") << Verb::Unfreeze << QByteArray();
    QTest::newRow("failover") << QByteArray("failover 10.0.0.7:6380") << Verb::Failover << QByteArray("10.0.0.7:6380");
    QTest::newRow("failover, new primary unknown") << QByteArray("failover") << Verb::Failover << QByteArray();
    QTest::newRow("promote host name") << QByteArray("promote redis-b.internal:65535") << Verb::Promote
                                       << QByteArray("redis-b.internal:65535");
    QTest::newRow("promote bare IPv6") << QByteArray("promote ::1:6379") << Verb::Promote << QByteArray("::1:6379");
    QTest::newRow("failover bracketed IPv6")
        << QByteArray("failover [fe80::1]:1") << Verb::Failover << QByteArray("[fe80::1]:1");
    const std::string longest(ControlMessage::kMaxRegionBytes, 'r');
    QTest::newRow("64-byte region") << QByteArray::fromStdString("drain " + longest) << Verb::Drain
                                    << QByteArray::fromStdString(longest);
}

void TestControlMessage::parsesEveryForm()
{
    QFETCH(QByteArray, text);
    QFETCH(Verb, verb);
    QFETCH(QByteArray, target);
    std::string error;
    const auto message = l0l3::parseControlMessage(text.toStdString(), &error);
    QVERIFY2(message, error.c_str());
    QCOMPARE(message->verb, verb);
    QCOMPARE(QByteArray::fromStdString(message->target), target);
    QCOMPARE(QByteArray::fromStdString(l0l3::encode(*message)), text);
}

void TestControlMessage::refusesMalformed_data()
{
    QTest::addColumn<QByteArray>("text");

    QTest::newRow("empty") << QByteArray();
    QTest::newRow("space only") << QByteArray(" ");
    QTest::newRow("unknown verb") << QByteArray("explode");
    QTest::newRow("verb in capitals") << QByteArray("DRAIN tokyo");
    QTest::newRow("verb prefix") << QByteArray("drai tokyo");
    QTest::newRow("verb with suffix") << QByteArray("drains tokyo");
    QTest::newRow("leading space") << QByteArray(" drain tokyo");
    QTest::newRow("trailing space") << QByteArray("drain tokyo ");
    QTest::newRow("two spaces") << QByteArray("drain  tokyo");
    QTest::newRow("tab separator") << QByteArray("drain\ttokyo");
    QTest::newRow("trailing newline") << QByteArray("flush\n");
    QTest::newRow("drain without region") << QByteArray("drain");
    QTest::newRow("drain with empty region") << QByteArray("drain ");
    QTest::newRow("undrain without region") << QByteArray("undrain");
    QTest::newRow("drain two regions") << QByteArray("drain tokyo nyc");
    QTest::newRow("region with dot") << QByteArray("drain eu.west");
    QTest::newRow("region with colon") << QByteArray("drain eu:west");
    QTest::newRow("region with NUL") << QByteArray("drain tok\0yo", 12);
    QTest::newRow("region non-ASCII") << QByteArray("drain t\xc3\xb6ky\xc3\xb6");
    QTest::newRow("region too long") << QByteArray("drain ")
            + QByteArray(int(ControlMessage::kMaxRegionBytes) + 1, 'r');
    QTest::newRow("region wildcard and more") << QByteArray("drain *x");
    QTest::newRow("flush two regions") << QByteArray("flush a b");
    QTest::newRow("flush empty region") << QByteArray("flush ");
    QTest::newRow("freeze with argument") << QByteArray("freeze now");
    QTest::newRow("unfreeze with space") << QByteArray("unfreeze ");
    QTest::newRow("failover with empty target") << QByteArray("failover ");
    QTest::newRow("promote without target") << QByteArray("promote");
    QTest::newRow("failover unknown port") << QByteArray("failover :0");
    QTest::newRow("failover without port") << QByteArray("failover redis-b");
    QTest::newRow("failover empty host") << QByteArray("failover :6379");
    QTest::newRow("failover empty port") << QByteArray("failover h:");
    QTest::newRow("failover port zero") << QByteArray("failover h:0");
    QTest::newRow("failover port leading zero") << QByteArray("failover h:06379");
    QTest::newRow("failover port too big") << QByteArray("failover h:65536");
    QTest::newRow("failover port too long") << QByteArray("failover h:1000000");
    QTest::newRow("failover signed port") << QByteArray("failover h:+80");
    QTest::newRow("failover port not numeric") << QByteArray("failover h:http");
    QTest::newRow("promote host with slash") << QByteArray("promote a/b:1");
    QTest::newRow("promote two targets") << QByteArray("promote a:1 b:2");
    QTest::newRow("promote host too long")
        << QByteArray("promote ") + QByteArray(int(ControlMessage::kMaxHostBytes) + 1, 'h') + QByteArray(":1");
}

void TestControlMessage::refusesMalformed()
{
    QFETCH(QByteArray, text);
    std::string error;
    QVERIFY(!l0l3::parseControlMessage(std::string_view(text.constData(), std::size_t(text.size())), &error));
    QVERIFY(!error.empty());
    QVERIFY(!l0l3::parseControlMessage(std::string_view(text.constData(), std::size_t(text.size())), nullptr));
}

void TestControlMessage::refusesLongAndHostileInput()
{
    // A valid form padded past the bound is refused on its length alone.
    const std::string huge = "drain " + std::string(1 << 20, 'a');
    std::string error;
    QVERIFY(!l0l3::parseControlMessage(huge, &error));
    QVERIFY(!error.empty());
    QVERIFY(error.find("aaaa") == std::string::npos);

    const std::string atBound = "flush " + std::string(ControlMessage::kMaxBytes - 6, 'a');
    QCOMPARE(atBound.size(), ControlMessage::kMaxBytes);
    QVERIFY(!l0l3::parseControlMessage(atBound, &error)); // region too long, but looked at
    QVERIFY(!l0l3::parseControlMessage(atBound + "a", &error));

    // The error never carries the input back: it may be shown or logged.
    const std::string hostile = std::string("drain \x1b[31m<b>evil</b>\r\n", 24) + std::string(1, '\0') + "x";
    QVERIFY(!l0l3::parseControlMessage(hostile, &error));
    QVERIFY(error.find("evil") == std::string::npos);
    QVERIFY(error.find('\x1b') == std::string::npos);
    QVERIFY(!l0l3::parseControlMessage(std::string(ControlMessage::kMaxBytes, ' '), &error));
    QVERIFY(!l0l3::parseControlMessage(std::string(ControlMessage::kMaxBytes, '\xff'), &error));
}

void TestControlMessage::addressesRegion_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<bool>("addressesTokyo");

    QTest::newRow("drain tokyo") << QByteArray("drain tokyo") << true;
    QTest::newRow("drain nyc") << QByteArray("drain nyc") << false;
    QTest::newRow("drain prefix of region") << QByteArray("drain tok") << false;
    QTest::newRow("undrain tokyo") << QByteArray("undrain tokyo") << true;
    QTest::newRow("drain *") << QByteArray("drain *") << true;
    QTest::newRow("undrain all") << QByteArray("undrain all") << true;
    QTest::newRow("flush") << QByteArray("flush") << true;
    QTest::newRow("flush tokyo") << QByteArray("flush tokyo") << true;
    QTest::newRow("flush nyc") << QByteArray("flush nyc") << false;
    QTest::newRow("flush *") << QByteArray("flush *") << true;
    QTest::newRow("freeze") << QByteArray("freeze") << false;
    QTest::newRow("unfreeze") << QByteArray("unfreeze") << false;
    QTest::newRow("failover") << QByteArray("failover tokyo:6379") << false;
    QTest::newRow("failover, new primary unknown") << QByteArray("failover") << false;
    QTest::newRow("promote") << QByteArray("promote tokyo:6379") << false;
}

void TestControlMessage::addressesRegion()
{
    QFETCH(QByteArray, text);
    QFETCH(bool, addressesTokyo);
    const auto message = l0l3::parseControlMessage(text.toStdString());
    QVERIFY(message);
    QCOMPARE(message->addressesRegion("tokyo"), addressesTokyo);
    QCOMPARE(message->isAuditOnly(), message->verb == Verb::Failover);
}

void TestControlMessage::encodeIsTheParsedText()
{
    QCOMPARE(l0l3::encode({Verb::Drain, "tokyo"}), std::string("drain tokyo"));
    QCOMPARE(l0l3::encode({Verb::Undrain, "tokyo"}), std::string("undrain tokyo"));
    QCOMPARE(l0l3::encode({Verb::Flush, {}}), std::string("flush"));
    QCOMPARE(l0l3::encode({Verb::Freeze, {}}), std::string("freeze"));
    QCOMPARE(l0l3::encode({Verb::Unfreeze, {}}), std::string("unfreeze"));
    QCOMPARE(l0l3::encode({Verb::Promote, "h:1"}), std::string("promote h:1"));
    for (const Verb verb :
         {Verb::Drain, Verb::Undrain, Verb::Flush, Verb::Freeze, Verb::Unfreeze, Verb::Failover, Verb::Promote}) {
        const bool needsTarget = verb == Verb::Drain || verb == Verb::Undrain || verb == Verb::Failover
            || verb == Verb::Promote;
        const ControlMessage m{verb,
                               needsTarget ? (verb == Verb::Failover || verb == Verb::Promote ? "h:6379" : "r") : ""};
        const auto back = l0l3::parseControlMessage(l0l3::encode(m));
        QVERIFY(back);
        QVERIFY(*back == m);
    }
}

QTEST_GUILESS_MAIN(TestControlMessage)
#include "tst_controlmessage.moc"
