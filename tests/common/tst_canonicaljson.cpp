#include <QTest>

#include "core/common/canonicaljson.h"

using l0l3::CanonicalJson;

class TestCanonicalJson : public QObject
{
    Q_OBJECT

private slots:
    void canonicalise_data();
    void canonicalise();
    void permutationsAgree_data();
    void permutationsAgree();
};

void TestCanonicalJson::canonicalise_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("header example") << QByteArray(R"({"b":1, "a":[true]})") << true
                                    << QByteArray(R"({"a":[true],"b":1})");
    QTest::newRow("nested objects sorted")
        << QByteArray(R"({"z":{"y":1,"x":2},"a":null})") << true << QByteArray(R"({"a":null,"z":{"x":2,"y":1}})");
    QTest::newRow("byte-wise order") << QByteArray(R"({"b":1,"B":2,"a":3,"_":4})") << true
                                     << QByteArray(R"({"B":2,"_":4,"a":3,"b":1})");
    QTest::newRow("arrays keep order") << QByteArray("[3, 1, 2]") << true << QByteArray("[3,1,2]");
    QTest::newRow("white space") << QByteArray(" \n{ \"a\" :\t[ 1 , { } , [ ] ] }\r\n") << true
                                 << QByteArray(R"({"a":[1,{},[]]})");
    QTest::newRow("1.0 is 1") << QByteArray("[1.0, 1, 1e0, 10E-1]") << true << QByteArray("[1,1,1,1]");
    QTest::newRow("decimal shortest") << QByteArray("[1.50, 0.1, 2.5e-3]") << true << QByteArray("[1.5,0.1,0.0025]");
    QTest::newRow("negative") << QByteArray("[-7, -0.5]") << true << QByteArray("[-7,-0.5]");
    // Found by tests/fuzz/fuzz_canonicaljson: the output must parse back (and canonicalise to itself).
    QTest::newRow("double beyond uint64")
        << QByteArray("[26789012345678901234.67890, 1e20]") << true << QByteArray("[2.67890123456789e+19,1e+20]");
    QTest::newRow("negative zero is 0") << QByteArray("[-0.0, -0, -1e-999, 0e5]") << true << QByteArray("[0,0,0,0]");
    QTest::newRow("uint64 max") << QByteArray("[18446744073709551615]") << true << QByteArray("[18446744073709551615]");
    QTest::newRow("int64 min") << QByteArray("[-9223372036854775808]") << true << QByteArray("[-9223372036854775808]");
    QTest::newRow("escaped letter unescaped") << QByteArray(R"(["a\u0041\/"])") << true << QByteArray(R"(["aA/"])");
    QTest::newRow("unicode escape to UTF-8") << QByteArray(R"(["\u00e9"])") << true << QByteArray("[\"\xC3\xA9\"]");
    QTest::newRow("control escapes kept")
        << QByteArray(R"(["t\tn\n\u001f\"\\"])") << true << QByteArray(R"(["t\tn\n\u001f\"\\"])");
    QTest::newRow("scalar string") << QByteArray(R"("auto")") << true << QByteArray(R"("auto")");
    QTest::newRow("literals") << QByteArray("[true,false,null]") << true << QByteArray("[true,false,null]");
    QTest::newRow("escaped key sorted by value")
        << QByteArray(R"({"\u0062":1,"a":2})") << true << QByteArray(R"({"a":2,"b":1})");
    QTest::newRow("unclosed") << QByteArray("{") << false << QByteArray();
    QTest::newRow("missing value") << QByteArray(R"({"a":})") << false << QByteArray();
    QTest::newRow("trailing comma") << QByteArray("[1,]") << false << QByteArray();
    QTest::newRow("single quotes") << QByteArray("{'a':1}") << false << QByteArray();
    QTest::newRow("bad literal") << QByteArray("nul") << false << QByteArray();
    QTest::newRow("unterminated string") << QByteArray("\"abc") << false << QByteArray();
    QTest::newRow("trailing garbage") << QByteArray(R"({"a":1}x)") << false << QByteArray();
    QTest::newRow("empty") << QByteArray("") << false << QByteArray();
    QTest::newRow("invalid UTF-8 in string") << QByteArray("[\"\xFF\"]") << false << QByteArray();
}

void TestCanonicalJson::canonicalise()
{
    QFETCH(QByteArray, input);
    QFETCH(bool, valid);
    QFETCH(QByteArray, expected);
    const auto out = CanonicalJson::canonicalise(std::string_view(input.constData(), input.size()));
    QCOMPARE(out.has_value(), valid);
    if (!valid)
        return;
    QCOMPARE(QByteArray::fromStdString(*out), expected);
    QCOMPARE(CanonicalJson::canonicalise(*out), out); // a fixed point
}

void TestCanonicalJson::permutationsAgree_data()
{
    QTest::addColumn<QByteArray>("a");
    QTest::addColumn<QByteArray>("b");
    QTest::addColumn<bool>("same");
    QTest::newRow("deep permutation")
        << QByteArray(
               R"({"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","required":["a"]}}})")
        << QByteArray(
               R"({"json_schema":{"schema":{"required":["a"],"type":"object"},"strict":true,"name":"x"},"type":"json_schema"})")
        << true;
    QTest::newRow("number spelling") << QByteArray(R"({"t":0.50})") << QByteArray(R"({"t":5e-1})") << true;
    QTest::newRow("different values") << QByteArray(R"({"a":1})") << QByteArray(R"({"a":2})") << false;
    QTest::newRow("string vs number") << QByteArray(R"({"a":"1"})") << QByteArray(R"({"a":1})") << false;
}

void TestCanonicalJson::permutationsAgree()
{
    QFETCH(QByteArray, a);
    QFETCH(QByteArray, b);
    QFETCH(bool, same);
    const auto ca = CanonicalJson::canonicalise(a.toStdString());
    const auto cb = CanonicalJson::canonicalise(b.toStdString());
    QVERIFY(ca && cb);
    QCOMPARE(*ca == *cb, same);
}

QTEST_GUILESS_MAIN(TestCanonicalJson)
#include "tst_canonicaljson.moc"
