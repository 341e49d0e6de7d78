#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

#include <cmath>
#include <limits>

#include "core/common/jsonwriter.h"

using l0l3::JsonWriter;

class TestJsonWriter : public QObject
{
    Q_OBJECT

private slots:
    void escaping_data();
    void escaping();
    void structure();
    void invalidUtf8_data();
    void invalidUtf8();
    void longRuns_data();
    void longRuns();
    void numbers_data();
    void numbers();
    void appendsToExistingContent();
};

void TestJsonWriter::escaping_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("escaped");
    QTest::newRow("plain") << QByteArray("hello") << QByteArray("hello");
    QTest::newRow("empty") << QByteArray("") << QByteArray("");
    QTest::newRow("quote") << QByteArray("say \"hi\"") << QByteArray("say \\\"hi\\\"");
    QTest::newRow("backslash") << QByteArray("C:\\dir") << QByteArray("C:\\\\dir");
    QTest::newRow("short escapes") << QByteArray("\b\f\n\r\t") << QByteArray("\\b\\f\\n\\r\\t");
    QTest::newRow("other controls") << QByteArray("\x01\x1f", 2) << QByteArray("\\u0001\\u001f");
    QTest::newRow("NUL") << QByteArray("a\0b", 3) << QByteArray("a\\u0000b");
    QTest::newRow("DEL passes") << QByteArray("\x7f") << QByteArray("\x7f");
    QTest::newRow("slash passes") << QByteArray("a/b") << QByteArray("a/b");
    QTest::newRow("UTF-8 passes") << QByteArray("caf\xC3\xA9 \xF0\x9F\x8D\x95")
                                  << QByteArray("caf\xC3\xA9 \xF0\x9F\x8D\x95");
    QTest::newRow("escape at both ends") << QByteArray("\"x\"") << QByteArray("\\\"x\\\"");
}

void TestJsonWriter::escaping()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, escaped);
    std::string out;
    JsonWriter::appendEscaped(out, std::string_view(input.constData(), input.size()));
    QCOMPARE(QByteArray::fromStdString(out), escaped);

    // And a real JSON parser reads the original text back.
    std::string doc;
    JsonWriter(doc).beginArray().value(std::string_view(input.constData(), input.size())).endArray();
    QJsonParseError err;
    const auto parsed = QJsonDocument::fromJson(QByteArray::fromStdString(doc), &err);
    QCOMPARE(err.error, QJsonParseError::NoError);
    QCOMPARE(parsed.array().at(0).toString(), QString::fromUtf8(input));
}

// Found by tests/fuzz/fuzz_httprequest: a raw request path quoted in a 404
// message made the error body invalid JSON. Every byte that is not part of a
// well-formed sequence becomes one U+FFFD, as PromptNormaliser does.
void TestJsonWriter::invalidUtf8_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("escaped");
    const QByteArray r("\xEF\xBF\xBD");
    QTest::newRow("latin-1 bytes") << QByteArray("/\xE9t\xE9") << QByteArray("/" + r + "t" + r);
    QTest::newRow("truncated sequence") << QByteArray("a\xF0\x9F\x8D") << QByteArray("a" + r + r + r);
    QTest::newRow("overlong") << QByteArray("\xC0\xAF") << r + r;
    QTest::newRow("surrogate") << QByteArray("\xED\xA0\x80") << r + r + r;
    QTest::newRow("above U+10FFFF") << QByteArray("\xF4\x90\x80\x80") << r + r + r + r;
    QTest::newRow("lone continuation") << QByteArray("x\x80y") << QByteArray("x" + r + "y");
    QTest::newRow("U+10FFFF passes") << QByteArray("\xF4\x8F\xBF\xBF") << QByteArray("\xF4\x8F\xBF\xBF");
    QTest::newRow("U+0800 passes") << QByteArray("\xE0\xA0\x80") << QByteArray("\xE0\xA0\x80");
}

void TestJsonWriter::invalidUtf8()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, escaped);
    std::string out;
    JsonWriter::appendEscaped(out, std::string_view(input.constData(), input.size()));
    QCOMPARE(QByteArray::fromStdString(out), escaped);
    std::string doc;
    JsonWriter(doc).beginArray().value(std::string_view(input.constData(), input.size())).endArray();
    QJsonParseError err;
    QJsonDocument::fromJson(QByteArray::fromStdString(doc), &err);
    QCOMPARE(err.error, QJsonParseError::NoError);
}

// appendEscaped skips plain text 8 bytes at a time: every byte that needs
// escaping (or passes, next to one that does) at every offset of a long run
// gives the same result as on its own.
void TestJsonWriter::longRuns_data()
{
    QTest::addColumn<QByteArray>("special");
    QTest::newRow("NUL") << QByteArray("\0", 1);
    QTest::newRow("0x1f") << QByteArray("\x1f");
    QTest::newRow("newline") << QByteArray("\n");
    QTest::newRow("quote") << QByteArray("\"");
    QTest::newRow("backslash") << QByteArray("\\");
    QTest::newRow("UTF-8") << QByteArray("\xC3\xA9");
    QTest::newRow("invalid UTF-8") << QByteArray("\xE9");
    QTest::newRow("space passes") << QByteArray(" ");
    QTest::newRow("! passes") << QByteArray("!");
    QTest::newRow("# passes") << QByteArray("#");
    QTest::newRow("] passes") << QByteArray("]");
    QTest::newRow("DEL passes") << QByteArray("\x7f");
}

void TestJsonWriter::longRuns()
{
    QFETCH(QByteArray, special);
    std::string escapedSpecial;
    JsonWriter::appendEscaped(escapedSpecial, std::string_view(special.constData(), special.size()));
    for (int at = 0; at <= 40; ++at) {
        const QByteArray input = QByteArray(at, 'a') + special + QByteArray(40 - at, 'b');
        std::string out;
        JsonWriter::appendEscaped(out, std::string_view(input.constData(), input.size()));
        QCOMPARE(QByteArray::fromStdString(out),
                 QByteArray(at, 'a') + QByteArray::fromStdString(escapedSpecial) + QByteArray(40 - at, 'b'));
    }
}

void TestJsonWriter::structure()
{
    std::string out;
    JsonWriter w(out);
    w.beginObject()
        .key("id")
        .value("chatcmpl-1")
        .key("n")
        .value(3)
        .key("choices")
        .beginArray()
        .beginObject()
        .key("index")
        .value(0)
        .key("message")
        .beginObject()
        .key("role")
        .value("assistant")
        .endObject()
        .endObject()
        .beginObject()
        .key("index")
        .value(1)
        .endObject()
        .endArray()
        .key("empty")
        .beginArray()
        .endArray()
        .key("obj")
        .beginObject()
        .endObject()
        .key("ok")
        .value(true)
        .key("no")
        .value(false)
        .key("nothing")
        .null()
        .key("raw")
        .raw(R"({"a":[1]})")
        .key("after")
        .value(std::int64_t(-5))
        .endObject();
    QCOMPARE(QByteArray::fromStdString(out),
             QByteArray(
                 R"({"id":"chatcmpl-1","n":3,"choices":[{"index":0,"message":{"role":"assistant"}},{"index":1}],)"
                 R"("empty":[],"obj":{},"ok":true,"no":false,"nothing":null,"raw":{"a":[1]},"after":-5})"));
    QJsonParseError err;
    QJsonDocument::fromJson(QByteArray::fromStdString(out), &err);
    QCOMPARE(err.error, QJsonParseError::NoError);
}

void TestJsonWriter::numbers_data()
{
    QTest::addColumn<double>("value");
    QTest::addColumn<QByteArray>("json");
    QTest::newRow("integral double") << 3.0 << QByteArray("3");
    QTest::newRow("tenth") << 0.1 << QByteArray("0.1");
    QTest::newRow("negative") << -2.5 << QByteArray("-2.5");
    QTest::newRow("large") << 1e21 << QByteArray("1e+21");
    // Found by tests/fuzz/fuzz_canonicaljson: "26789012345678901234.5" came out
    // as 20 digits that no JSON reader takes for a double.
    QTest::newRow("beyond int64 keeps an exponent") << 2.6789012345678902e19 << QByteArray("2.67890123456789e+19");
    QTest::newRow("beyond int64, negative") << -1e19 << QByteArray("-1e+19");
    QTest::newRow("int64 range stays integral") << 123456789012345680.0 << QByteArray("123456789012345680");
    QTest::newRow("small") << 5e-05 << QByteArray("5e-05");
    QTest::newRow("shortest round trip") << 0.30000000000000004 << QByteArray("0.30000000000000004");
    QTest::newRow("NaN") << std::numeric_limits<double>::quiet_NaN() << QByteArray("null");
    QTest::newRow("+Inf") << std::numeric_limits<double>::infinity() << QByteArray("null");
    QTest::newRow("-Inf") << -std::numeric_limits<double>::infinity() << QByteArray("null");
}

void TestJsonWriter::numbers()
{
    QFETCH(double, value);
    QFETCH(QByteArray, json);
    std::string out;
    JsonWriter(out).beginArray().value(value).value(value).endArray();
    QCOMPARE(QByteArray::fromStdString(out), "[" + json + "," + json + "]");
}

void TestJsonWriter::appendsToExistingContent()
{
    std::string out = "data: ";
    JsonWriter(out)
        .beginArray()
        .value(std::numeric_limits<std::int64_t>::min())
        .value(std::numeric_limits<std::int64_t>::max())
        .endArray();
    QCOMPARE(QByteArray::fromStdString(out), QByteArray("data: [-9223372036854775808,9223372036854775807]"));
}

QTEST_GUILESS_MAIN(TestJsonWriter)
#include "tst_jsonwriter.moc"
