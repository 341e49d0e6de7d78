#include <QTest>

#include <ctime>
#include <vector>

#include <simdjson.h>

#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatresponsewriter.h"

using namespace l0l3;

namespace {

std::string text(simdjson::dom::element e)
{
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS)
        return "<not a string>";
    return std::string(s);
}

} // namespace

class TestChatResponseWriter : public QObject
{
    Q_OBJECT

private slots:
    void chunksReassembleToContent_data();
    void chunksReassembleToContent();
    void completionParsesBack();
    void sseParsesBack();
    void errorShape_data();
    void errorShape();
    void idsAreUnique();
    void newMeta();
};

void TestChatResponseWriter::chunksReassembleToContent_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::newRow("ascii") << QByteArray("The quick brown fox jumps over the lazy dog, again and again and again.");
    QTest::newRow("short") << QByteArray("ok");
    QTest::newRow("escapes") << QByteArray("line1\nline2\t\"quoted\" back\\slash \x01 control and more text to split");
    QTest::newRow("multibyte") << QByteArray(
        "日本語のテキストは空白なしで長く続きます。分割はUTF-8の境界でなければなりません。");
    QTest::newRow("emoji") << QByteArray("😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀");
    QTest::newRow("long") << QByteArray(5000, 'a');
}

void TestChatResponseWriter::chunksReassembleToContent()
{
    QFETCH(QByteArray, content);
    const auto answer = CachedAnswer::fromContent(content.toStdString());
    QVERIFY(!answer->chunkEnds.empty());
    QCOMPARE(std::size_t(answer->chunkEnds.back()), answer->escapedContent.size());

    // Every chunk is a valid JSON string on its own, and they add up to the content.
    simdjson::dom::parser parser;
    std::string joined;
    std::size_t start = 0;
    for (std::uint32_t end : answer->chunkEnds) {
        QVERIFY(end > start);
        const std::string json = "\"" + answer->escapedContent.substr(start, end - start) + "\"";
        simdjson::dom::element e;
        QCOMPARE(parser.parse(json).get(e), simdjson::SUCCESS);
        joined += text(e);
        start = end;
    }
    QCOMPARE(QByteArray::fromStdString(joined), content);
    QVERIFY(answer->chunkEnds.size() <= 8);
}

void TestChatResponseWriter::completionParsesBack()
{
    const auto answer = CachedAnswer::fromContent("Hello \"world\"\n", 2);
    std::string out;
    ChatResponseWriter::Meta meta{"chatcmpl-abc", 1700000000, "gpt-4o-\"mini\"", 11};
    ChatResponseWriter::completion(out, meta, *answer);

    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    QCOMPARE(parser.parse(out).get(doc), simdjson::SUCCESS);
    QCOMPARE(QByteArray::fromStdString(text(doc["id"])), QByteArray("chatcmpl-abc"));
    QCOMPARE(QByteArray::fromStdString(text(doc["object"])), QByteArray("chat.completion"));
    QCOMPARE(QByteArray::fromStdString(text(doc["model"])), QByteArray("gpt-4o-\"mini\""));
    std::int64_t created = 0;
    QCOMPARE(doc["created"].get_int64().get(created), simdjson::SUCCESS);
    QCOMPARE(created, std::int64_t(1700000000));
    auto choice = doc["choices"].at(0);
    QCOMPARE(QByteArray::fromStdString(text(choice["message"]["role"])), QByteArray("assistant"));
    QCOMPARE(QByteArray::fromStdString(text(choice["message"]["content"])), QByteArray("Hello \"world\"\n"));
    QCOMPARE(QByteArray::fromStdString(text(choice["finish_reason"])), QByteArray("stop"));
    std::int64_t prompt = 0, completion = 0, total = 0;
    QCOMPARE(doc["usage"]["prompt_tokens"].get_int64().get(prompt), simdjson::SUCCESS);
    QCOMPARE(doc["usage"]["completion_tokens"].get_int64().get(completion), simdjson::SUCCESS);
    QCOMPARE(doc["usage"]["total_tokens"].get_int64().get(total), simdjson::SUCCESS);
    QCOMPARE(prompt, std::int64_t(11));
    QCOMPARE(total, prompt + completion);
}

void TestChatResponseWriter::sseParsesBack()
{
    const std::string content = "Streaming answers arrive in pieces, like a model typing them out — with ünïcödé.";
    const auto answer = CachedAnswer::fromContent(content);
    std::string out;
    ChatResponseWriter::Meta meta{"chatcmpl-s", 1, "m", 0};
    ChatResponseWriter::sse(out, meta, *answer);

    // Split into events the way an SSE client does.
    std::vector<std::string> events;
    std::size_t pos = 0;
    while (pos < out.size()) {
        const auto end = out.find("\n\n", pos);
        QVERIFY(end != std::string::npos);
        const std::string event = out.substr(pos, end - pos);
        QVERIFY(event.rfind("data: ", 0) == 0);
        events.push_back(event.substr(6));
        pos = end + 2;
    }
    QVERIFY(events.size() >= 4);
    QCOMPARE(QByteArray::fromStdString(events.back()), QByteArray("[DONE]"));
    events.pop_back();

    simdjson::dom::parser parser;
    std::string joined;
    for (std::size_t i = 0; i < events.size(); ++i) {
        simdjson::dom::element doc;
        QCOMPARE(parser.parse(events[i]).get(doc), simdjson::SUCCESS);
        QCOMPARE(QByteArray::fromStdString(text(doc["object"])), QByteArray("chat.completion.chunk"));
        QCOMPARE(QByteArray::fromStdString(text(doc["id"])), QByteArray("chatcmpl-s"));
        auto choice = doc["choices"].at(0);
        simdjson::dom::element delta;
        QCOMPARE(choice["delta"].get(delta), simdjson::SUCCESS);
        QVERIFY(delta.type() == simdjson::dom::element_type::OBJECT);
        if (i == 0)
            QCOMPARE(QByteArray::fromStdString(text(delta["role"])), QByteArray("assistant"));
        std::string_view piece;
        if (delta["content"].get_string().get(piece) == simdjson::SUCCESS)
            joined.append(piece);
        const bool last = i + 1 == events.size();
        if (last) {
            QCOMPARE(QByteArray::fromStdString(text(choice["finish_reason"])), QByteArray("stop"));
        } else {
            QVERIFY(choice["finish_reason"].is_null());
        }
    }
    QCOMPARE(QByteArray::fromStdString(joined), QByteArray::fromStdString(content));
}

void TestChatResponseWriter::errorShape_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("param");
    QTest::addColumn<QByteArray>("type");
    QTest::newRow("400 with param") << 400 << QByteArray("messages[0].content") << QByteArray("invalid_request_error");
    QTest::newRow("404 no param") << 404 << QByteArray() << QByteArray("invalid_request_error");
    QTest::newRow("429") << 429 << QByteArray() << QByteArray("rate_limit_error");
    QTest::newRow("502") << 502 << QByteArray() << QByteArray("server_error");
}

void TestChatResponseWriter::errorShape()
{
    QFETCH(int, status);
    QFETCH(QByteArray, param);
    QFETCH(QByteArray, type);
    std::string out;
    ChatResponseWriter::error(out, "Bad \"thing\"\n", ChatResponseWriter::errorTypeFor(status), "some_code",
                              param.toStdString());
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    QCOMPARE(parser.parse(out).get(doc), simdjson::SUCCESS);
    simdjson::dom::object root;
    QCOMPARE(doc.get_object().get(root), simdjson::SUCCESS);
    QCOMPARE(root.size(), std::size_t(1));
    auto error = doc["error"];
    QCOMPARE(QByteArray::fromStdString(text(error["message"])), QByteArray("Bad \"thing\"\n"));
    QCOMPARE(QByteArray::fromStdString(text(error["type"])), type);
    QCOMPARE(QByteArray::fromStdString(text(error["code"])), QByteArray("some_code"));
    if (param.isEmpty())
        QVERIFY(error["param"].is_null());
    else
        QCOMPARE(QByteArray::fromStdString(text(error["param"])), param);
}

void TestChatResponseWriter::idsAreUnique()
{
    const std::string a = ChatResponseWriter::newId();
    const std::string b = ChatResponseWriter::newId();
    QVERIFY(a != b);
    QVERIFY(a.rfind("chatcmpl-", 0) == 0);
}

void TestChatResponseWriter::newMeta()
{
    ChatResponseWriter::IdBuffer id;
    const auto before = static_cast<std::int64_t>(std::time(nullptr));
    const auto meta = ChatResponseWriter::newMeta(id, "gpt-4o-mini", 42);
    QVERIFY(meta.id.data() == id.data()); // a view into the caller's buffer (not NUL-terminated: no string compare)
    QCOMPARE(meta.id.size(), id.size());
    QVERIFY(meta.id.substr(0, 9) == "chatcmpl-");
    QVERIFY(meta.created >= before && meta.created <= before + 1);
    QVERIFY(meta.model == "gpt-4o-mini");
    QCOMPARE(meta.promptTokens, std::int64_t(42));
}

QTEST_GUILESS_MAIN(TestChatResponseWriter)
#include "tst_chatresponsewriter.moc"
