#include <QTest>

#include <string>

#include "core/gateway/upstreamerror.h"

using namespace l0l3;

namespace {

// Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110.
constexpr std::int64_t kExampleDate = 784111777;

} // namespace

class TestUpstreamError : public QObject
{
    Q_OBJECT

private slots:
    void retryAfter_data();
    void retryAfter();
    void rfc850CenturyFollowsNow();
    void body_data();
    void body();
};

void TestUpstreamError::retryAfter_data()
{
    QTest::addColumn<QByteArray>("raw");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QByteArray>("relayed");
    QTest::addColumn<qint64>("seconds"); // from kExampleDate - 120

    QTest::newRow("delta") << QByteArray("7") << true << QByteArray("7") << qint64(7);
    QTest::newRow("zero") << QByteArray("0") << true << QByteArray("0") << qint64(0);
    QTest::newRow("leading zeros") << QByteArray("0030") << true << QByteArray("0030") << qint64(30);
    QTest::newRow("spaces trimmed") << QByteArray(" \t120 ") << true << QByteArray("120") << qint64(120);
    QTest::newRow("ten digits") << QByteArray("9999999999") << true << QByteArray("9999999999") << qint64(9999999999);
    QTest::newRow("eleven digits") << QByteArray("10000000000") << false << QByteArray() << qint64(0);
    QTest::newRow("negative") << QByteArray("-1") << false << QByteArray() << qint64(0);
    QTest::newRow("fraction") << QByteArray("1.5") << false << QByteArray() << qint64(0);
    QTest::newRow("plus") << QByteArray("+5") << false << QByteArray() << qint64(0);
    QTest::newRow("unit") << QByteArray("5s") << false << QByteArray() << qint64(0);
    QTest::newRow("empty") << QByteArray("") << false << QByteArray() << qint64(0);
    QTest::newRow("blank") << QByteArray("   ") << false << QByteArray() << qint64(0);
    QTest::newRow("two values") << QByteArray("5, 6") << false << QByteArray() << qint64(0);
    QTest::newRow("CRLF injection") << QByteArray("5\r\nSet-Cookie: a=b") << false << QByteArray() << qint64(0);
    QTest::newRow("NUL") << QByteArray("5\0", 2) << false << QByteArray() << qint64(0);
    QTest::newRow("too long") << QByteArray(65, '1') << false << QByteArray() << qint64(0);

    QTest::newRow("IMF-fixdate") << QByteArray("Sun, 06 Nov 1994 08:49:37 GMT") << true
                                 << QByteArray("Sun, 06 Nov 1994 08:49:37 GMT") << qint64(120);
    QTest::newRow("IMF-fixdate in the past") << QByteArray("Sun, 06 Nov 1994 08:40:00 GMT") << true
                                             << QByteArray("Sun, 06 Nov 1994 08:40:00 GMT") << qint64(0);
    QTest::newRow("IMF-fixdate next day") << QByteArray("Mon, 07 Nov 1994 08:49:37 GMT") << true
                                          << QByteArray("Mon, 07 Nov 1994 08:49:37 GMT") << qint64(86400 + 120);
    QTest::newRow("RFC 850") << QByteArray("Sunday, 06-Nov-94 08:49:37 GMT") << true
                             << QByteArray("Sunday, 06-Nov-94 08:49:37 GMT") << qint64(120);
    QTest::newRow("asctime") << QByteArray("Sun Nov  6 08:49:37 1994") << true << QByteArray("Sun Nov  6 08:49:37 1994")
                             << qint64(120);
    QTest::newRow("asctime two-digit day") << QByteArray("Sun Nov 16 08:49:37 1994") << true
                                           << QByteArray("Sun Nov 16 08:49:37 1994") << qint64(10 * 86400 + 120);
    QTest::newRow("leap day") << QByteArray("Thu, 29 Feb 1996 00:00:00 GMT") << true
                              << QByteArray("Thu, 29 Feb 1996 00:00:00 GMT") << qint64(825552000 - kExampleDate + 120);

    QTest::newRow("no GMT") << QByteArray("Sun, 06 Nov 1994 08:49:37") << false << QByteArray() << qint64(0);
    QTest::newRow("other zone") << QByteArray("Sun, 06 Nov 1994 08:49:37 PST") << false << QByteArray() << qint64(0);
    QTest::newRow("lower-case month") << QByteArray("Sun, 06 nov 1994 08:49:37 GMT") << false << QByteArray()
                                      << qint64(0);
    QTest::newRow("bad day name") << QByteArray("Sux, 06 Nov 1994 08:49:37 GMT") << false << QByteArray() << qint64(0);
    QTest::newRow("31 November") << QByteArray("Sun, 31 Nov 1994 08:49:37 GMT") << false << QByteArray() << qint64(0);
    QTest::newRow("29 February 1995") << QByteArray("Wed, 29 Feb 1995 08:49:37 GMT") << false << QByteArray()
                                      << qint64(0);
    QTest::newRow("hour 24") << QByteArray("Sun, 06 Nov 1994 24:00:00 GMT") << false << QByteArray() << qint64(0);
    QTest::newRow("minute 60") << QByteArray("Sun, 06 Nov 1994 08:60:00 GMT") << false << QByteArray() << qint64(0);
    QTest::newRow("one-digit day") << QByteArray("Sun, 6 Nov 1994 08:49:37 GMT") << false << QByteArray() << qint64(0);
    QTest::newRow("trailing text") << QByteArray("Sun, 06 Nov 1994 08:49:37 GMT x") << false << QByteArray()
                                   << qint64(0);
    QTest::newRow("ISO 8601") << QByteArray("1994-11-06T08:49:37Z") << false << QByteArray() << qint64(0);
}

void TestUpstreamError::retryAfter()
{
    QFETCH(QByteArray, raw);
    QFETCH(bool, valid);
    QFETCH(QByteArray, relayed);
    QFETCH(qint64, seconds);
    const auto parsed = UpstreamError::parseRetryAfter(std::string_view(raw.constData(), raw.size()),
                                                       kExampleDate - 120);
    QCOMPARE(parsed.has_value(), valid);
    if (!parsed)
        return;
    QCOMPARE(QByteArray(parsed->value.data(), static_cast<qsizetype>(parsed->value.size())), relayed);
    QCOMPARE(static_cast<qint64>(parsed->seconds), seconds);
}

void TestUpstreamError::rfc850CenturyFollowsNow()
{
    // 2026-12-03: "30" is 2030, "94" is 1994 (2094 is more than 50 years ahead).
    constexpr std::int64_t now = 1796256000;
    const auto soon = UpstreamError::parseRetryAfter("Sunday, 01-Jan-30 00:00:00 GMT", now);
    QVERIFY(soon);
    QCOMPARE(soon->seconds, std::int64_t(1893456000 - now));
    const auto past = UpstreamError::parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now);
    QVERIFY(past);
    QCOMPARE(past->seconds, std::int64_t(0));
}

void TestUpstreamError::body_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("passable");
    QTest::newRow("OpenAI") << QByteArray(R"({"error":{"message":"Rate limit reached","type":"requests",)"
                                          R"("param":null,"code":"rate_limit_exceeded"}})")
                            << true;
    QTest::newRow("Google-style") << QByteArray(
        R"({"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}})")
                                  << true;
    QTest::newRow("other members") << QByteArray(R"({"type":"error","error":{"type":"overloaded","message":"x"}})")
                                   << true;
    QTest::newRow("whitespace") << QByteArray(" {\"error\" : {\"message\" : \"\"}}\n") << true;
    QTest::newRow("at the bound") << QByteArray(R"({"error":{"message":")")
            + QByteArray(int(UpstreamError::kMaxBodyBytes) - 24, 'a')
            + QByteArray(R"("}})") << true;
    QTest::newRow("over the bound") << QByteArray(R"({"error":{"message":")")
            + QByteArray(int(UpstreamError::kMaxBodyBytes) - 23, 'a')
            + QByteArray(R"("}})") << false;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("HTML") << QByteArray("<html><body>502 Bad Gateway</body></html>") << false;
    QTest::newRow("plain text") << QByteArray("upstream connect error") << false;
    QTest::newRow("truncated") << QByteArray(R"({"error":{"message":"x")") << false;
    QTest::newRow("array") << QByteArray(R"([{"error":{"message":"x"}}])") << false;
    QTest::newRow("no error") << QByteArray(R"({"message":"x"})") << false;
    QTest::newRow("error is a string") << QByteArray(R"({"error":"overloaded"})") << false;
    QTest::newRow("error without message") << QByteArray(R"({"error":{"code":"x"}})") << false;
    QTest::newRow("message not a string") << QByteArray(R"({"error":{"message":5}})") << false;
    QTest::newRow("two errors") << QByteArray(R"({"error":{"message":"a"},"error":{"message":"b"}})") << false;
    QTest::newRow("duplicate inside error") << QByteArray(R"({"error":{"message":"a","message":"b"}})") << false;
    QTest::newRow("duplicate at the top") << QByteArray(R"({"a":1,"error":{"message":"a"},"a":2})") << false;
    QTest::newRow("invalid UTF-8") << QByteArray("{\"error\":{\"message\":\"\xff\xfe\"}}") << false;
    QTest::newRow("trailing garbage") << QByteArray(R"({"error":{"message":"x"}} {})") << false;
    QTest::newRow("deep nesting") << QByteArray(R"({"error":{"message":"x","d":)") + QByteArray(5000, '[')
            + QByteArray(5000, ']')
            + "}}" << false;
}

void TestUpstreamError::body()
{
    QFETCH(QByteArray, body);
    QFETCH(bool, passable);
    QCOMPARE(UpstreamError::isPassableBody(std::string_view(body.constData(), body.size())), passable);
}

QTEST_GUILESS_MAIN(TestUpstreamError)
#include "tst_upstreamerror.moc"
