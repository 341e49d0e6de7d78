#include "core/gateway/chatrequestparser.h"

#include <QTest>

#include <simdjson.h>

using namespace l0l3;

class TestChatRequestParser : public QObject
{
    Q_OBJECT

private slots:
    void rejectsBadBodies_data();
    void rejectsBadBodies();
    void acceptsGoodBodies_data();
    void acceptsGoodBodies();
    void extractsFields();
    void countsPromptCharacters_data();
    void countsPromptCharacters();
    void canonicalisesAnswerChangingFields();
    void upstreamBodyForcesNonStreaming();
    void survivesGarbage();
    void repeatsAreAnsweredFromRecentResults();
};

void TestChatRequestParser::rejectsBadBodies_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("code");
    QTest::addColumn<QByteArray>("param");

    QTest::newRow("empty body") << QByteArray("") << QByteArray("invalid_json") << QByteArray();
    QTest::newRow("truncated") << QByteArray(R"({"messages":[)") << QByteArray("invalid_json") << QByteArray();
    QTest::newRow("trailing comma") << QByteArray(R"({"messages":[],})") << QByteArray("invalid_json") << QByteArray();
    QTest::newRow("not json") << QByteArray("hello") << QByteArray("invalid_json") << QByteArray();
    QTest::newRow("array root") << QByteArray("[1,2]") << QByteArray("invalid_type") << QByteArray();
    QTest::newRow("string root") << QByteArray(R"("x")") << QByteArray("invalid_type") << QByteArray();
    QTest::newRow("no messages") << QByteArray(R"({"model":"m"})") << QByteArray("missing_messages") << QByteArray("messages");
    QTest::newRow("null messages") << QByteArray(R"({"messages":null})") << QByteArray("missing_messages") << QByteArray("messages");
    QTest::newRow("empty messages") << QByteArray(R"({"messages":[]})") << QByteArray("empty_messages") << QByteArray("messages");
    QTest::newRow("messages object") << QByteArray(R"({"messages":{}})") << QByteArray("invalid_type") << QByteArray("messages");
    QTest::newRow("message not object") << QByteArray(R"({"messages":["hi"]})") << QByteArray("invalid_message") << QByteArray("messages[0]");
    QTest::newRow("no role") << QByteArray(R"({"messages":[{"content":"hi"}]})") << QByteArray("missing_role") << QByteArray("messages[0].role");
    QTest::newRow("role number") << QByteArray(R"({"messages":[{"role":1,"content":"hi"}]})") << QByteArray("invalid_type") << QByteArray("messages[0].role");
    QTest::newRow("unknown role") << QByteArray(R"({"messages":[{"role":"wizard","content":"hi"}]})") << QByteArray("invalid_role") << QByteArray("messages[0].role");
    QTest::newRow("empty content") << QByteArray(R"({"messages":[{"role":"user","content":""}]})") << QByteArray("empty_content") << QByteArray("messages[0].content");
    QTest::newRow("missing user content") << QByteArray(R"({"messages":[{"role":"user"}]})") << QByteArray("empty_content") << QByteArray("messages[0].content");
    QTest::newRow("null user content") << QByteArray(R"({"messages":[{"role":"user","content":null}]})") << QByteArray("empty_content") << QByteArray("messages[0].content");
    QTest::newRow("empty system content") << QByteArray(R"({"messages":[{"role":"system","content":""},{"role":"user","content":"q"}]})") << QByteArray("empty_content") << QByteArray("messages[0].content");
    QTest::newRow("empty parts") << QByteArray(R"({"messages":[{"role":"user","content":[]}]})") << QByteArray("empty_content") << QByteArray("messages[0].content");
    QTest::newRow("content number") << QByteArray(R"({"messages":[{"role":"user","content":42}]})") << QByteArray("invalid_type") << QByteArray("messages[0].content");
    QTest::newRow("part without type") << QByteArray(R"({"messages":[{"role":"user","content":[{"text":"a"}]}]})") << QByteArray("invalid_type") << QByteArray("messages[0].content[0]");
    QTest::newRow("text part without text") << QByteArray(R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})") << QByteArray("invalid_type") << QByteArray("messages[0].content[0].text");
    QTest::newRow("model number") << QByteArray(R"({"model":4,"messages":[{"role":"user","content":"q"}]})") << QByteArray("invalid_type") << QByteArray("model");
    QTest::newRow("stream string") << QByteArray(R"({"stream":"yes","messages":[{"role":"user","content":"q"}]})") << QByteArray("invalid_type") << QByteArray("stream");
    QTest::newRow("n string") << QByteArray(R"({"n":"2","messages":[{"role":"user","content":"q"}]})") << QByteArray("invalid_type") << QByteArray("n");
    QTest::newRow("response_format string") << QByteArray(R"({"response_format":"json","messages":[{"role":"user","content":"q"}]})") << QByteArray("invalid_type") << QByteArray("response_format");
    QTest::newRow("tools object") << QByteArray(R"({"tools":{},"messages":[{"role":"user","content":"q"}]})") << QByteArray("invalid_type") << QByteArray("tools");
    QTest::newRow("tool_choice number") << QByteArray(R"({"tool_choice":1,"messages":[{"role":"user","content":"q"}]})") << QByteArray("invalid_type") << QByteArray("tool_choice");
    QTest::newRow("second message bad") << QByteArray(R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":7}]})") << QByteArray("invalid_type") << QByteArray("messages[1].content");
}

void TestChatRequestParser::rejectsBadBodies()
{
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, code);
    QFETCH(QByteArray, param);
    ChatRequestParser parser;
    ChatRequest request;
    ChatRequestError error;
    QVERIFY(!parser.parse(std::string_view(body.constData(), body.size()), &request, &error));
    QCOMPARE(error.status, 400);
    QCOMPARE(QByteArray::fromStdString(error.code), code);
    QCOMPARE(QByteArray::fromStdString(error.param), param);
    QVERIFY(!error.message.empty());
}

void TestChatRequestParser::acceptsGoodBodies_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("singleTurn");
    QTest::addColumn<QByteArray>("user");
    QTest::addColumn<QByteArray>("system");

    QTest::newRow("one user") << QByteArray(R"({"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]})") << true << QByteArray("Hi") << QByteArray();
    QTest::newRow("no model") << QByteArray(R"({"messages":[{"role":"user","content":"Hi"}]})") << true << QByteArray("Hi") << QByteArray();
    QTest::newRow("system + user") << QByteArray(R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}]})") << true << QByteArray("U") << QByteArray("S");
    QTest::newRow("two systems") << QByteArray(R"({"messages":[{"role":"system","content":"A"},{"role":"developer","content":"B"},{"role":"user","content":"U"}]})") << true << QByteArray("U") << QByteArray("A\nB");
    QTest::newRow("text parts") << QByteArray(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})") << true << QByteArray("a\nb") << QByteArray();
    QTest::newRow("unicode escapes") << QByteArray(R"({"messages":[{"role":"user","content":"caf\u00e9 \ud83d\ude00"}]})") << true << QByteArray("caf\xc3\xa9 \xf0\x9f\x98\x80") << QByteArray();
    QTest::newRow("extra fields ignored") << QByteArray(R"({"temperature":0.2,"user":"u1","seed":3,"messages":[{"role":"user","content":"Q","name":"bob"}]})") << true << QByteArray("Q") << QByteArray();
    QTest::newRow("multi-turn") << QByteArray(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]})") << false << QByteArray() << QByteArray();
    QTest::newRow("two users") << QByteArray(R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":"c"}]})") << false << QByteArray() << QByteArray();
    QTest::newRow("assistant tool call null content") << QByteArray(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[]},{"role":"tool","content":"r","tool_call_id":"1"}]})") << false << QByteArray() << QByteArray();
    QTest::newRow("system only") << QByteArray(R"({"messages":[{"role":"system","content":"S"}]})") << false << QByteArray() << QByteArray("S");
    QTest::newRow("image part") << QByteArray(R"({"messages":[{"role":"user","content":[{"type":"text","text":"what"},{"type":"image_url","image_url":{"url":"x"}}]}]})") << false << QByteArray() << QByteArray();
    QTest::newRow("n=2") << QByteArray(R"({"n":2,"messages":[{"role":"user","content":"a"}]})") << false << QByteArray() << QByteArray();
    QTest::newRow("n=1") << QByteArray(R"({"n":1,"messages":[{"role":"user","content":"a"}]})") << true << QByteArray("a") << QByteArray();
}

void TestChatRequestParser::acceptsGoodBodies()
{
    QFETCH(QByteArray, body);
    QFETCH(bool, singleTurn);
    QFETCH(QByteArray, user);
    QFETCH(QByteArray, system);
    ChatRequestParser parser;
    ChatRequest request;
    ChatRequestError error;
    QVERIFY2(parser.parse(std::string_view(body.constData(), body.size()), &request, &error), error.message.c_str());
    QCOMPARE(request.singleTurn, singleTurn);
    QCOMPARE(request.bypassReason.empty(), singleTurn);
    QCOMPARE(QByteArray::fromStdString(request.user), user);
    QCOMPARE(QByteArray::fromStdString(request.system), system);
}

void TestChatRequestParser::extractsFields()
{
    ChatRequestParser parser;
    ChatRequest request;
    ChatRequestError error;
    const std::string body = R"({"model":"gpt-4o-mini-2024-07-18","stream":true,"messages":[{"role":"user","content":"one"},{"role":"assistant","content":"two"},{"role":"user","content":"three"}]})";
    QVERIFY(parser.parse(body, &request, &error));
    QCOMPARE(QByteArray::fromStdString(request.model), QByteArray("gpt-4o-mini-2024-07-18"));
    QVERIFY(request.stream);
    QCOMPARE(QByteArray::fromStdString(request.lastUser), QByteArray("three"));
    QVERIFY(request.user.empty());
    QCOMPARE(QByteArray::fromStdString(request.bypassReason), QByteArray("multi-turn"));

    // A parser is reused across requests: nothing leaks from the previous one.
    QVERIFY(parser.parse(R"({"messages":[{"role":"user","content":"x"}]})", &request, &error));
    QVERIFY(!request.stream);
    QVERIFY(request.model.empty());
    QVERIFY(request.singleTurn);
}

void TestChatRequestParser::countsPromptCharacters_data()
{
    QTest::addColumn<QByteArray>("system");
    QTest::addColumn<QByteArray>("user");
    QTest::addColumn<bool>("accepted");
    // The limit is 21 code points over all messages; text of 1 to 4 bytes a character, any length.
    const QByteArray e("\xC3\xA9");         // é
    const QByteArray euro("\xE2\x82\xAC");  // €
    const QByteArray pizza("\xF0\x9F\x8D\x95"); // 🍕
    QTest::newRow("21 ASCII") << QByteArray() << QByteArray(21, 'a') << true;
    QTest::newRow("22 ASCII") << QByteArray() << QByteArray(22, 'a') << false;
    QTest::newRow("21 two-byte") << QByteArray() << e.repeated(21) << true;
    QTest::newRow("22 two-byte") << QByteArray() << e.repeated(22) << false;
    QTest::newRow("mixed 21") << euro.repeated(7) << pizza.repeated(7) + QByteArray(7, 'x') << true;
    QTest::newRow("mixed 22") << euro.repeated(7) << pizza.repeated(7) + QByteArray(8, 'x') << false;
    QTest::newRow("parts joined") << QByteArray(10, 's') << QByteArray(11, 'u') << true;
}

void TestChatRequestParser::countsPromptCharacters()
{
    QFETCH(QByteArray, system);
    QFETCH(QByteArray, user);
    QFETCH(bool, accepted);
    ChatRequestParser parser;
    parser.setLimits({0, 21});
    ChatRequest request;
    ChatRequestError error;
    QByteArray body = R"({"messages":[)";
    if (!system.isEmpty())
        body += R"({"role":"system","content":")" + system + R"("},)";
    body += R"({"role":"user","content":[{"type":"text","text":")" + user + R"("}]}]})";
    QCOMPARE(parser.parse(std::string_view(body.constData(), body.size()), &request, &error), accepted);
    if (accepted) {
        QCOMPARE(QByteArray::fromStdString(request.system), system);
        QCOMPARE(QByteArray::fromStdString(request.user), user);
    } else {
        QCOMPARE(QByteArray::fromStdString(error.code), QByteArray("prompt_too_long"));
    }
}

void TestChatRequestParser::canonicalisesAnswerChangingFields()
{
    ChatRequestParser parser;
    ChatRequest a;
    ChatRequest b;
    ChatRequestError error;
    QVERIFY(parser.parse(R"({"response_format":{"type":"json_object","x":[1, 2]},"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"auto","messages":[{"role":"user","content":"q"}]})", &a, &error));
    QVERIFY(parser.parse(R"({"messages":[{"role":"user","content":"q"}],"tool_choice":"auto","tools":[{"function":{"parameters":{},"name":"f"},"type":"function"}],"response_format":{"x":[1,2],"type":"json_object"}})", &b, &error));
    QVERIFY(!a.responseFormat.empty());
    QVERIFY(!a.tools.empty());
    QCOMPARE(QByteArray::fromStdString(a.responseFormat), QByteArray::fromStdString(b.responseFormat));
    QCOMPARE(QByteArray::fromStdString(a.tools), QByteArray::fromStdString(b.tools));
    QCOMPARE(QByteArray::fromStdString(a.toolChoice), QByteArray::fromStdString(b.toolChoice));
    QVERIFY(parser.parse(R"({"response_format":null,"messages":[{"role":"user","content":"q"}]})", &a, &error));
    QVERIFY(a.responseFormat.empty());
}

void TestChatRequestParser::upstreamBodyForcesNonStreaming()
{
    ChatRequestParser parser;
    const std::string out = parser.upstreamBody(
        R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"q\"\u00e9"}],"temperature":0.5})");
    simdjson::dom::parser json;
    simdjson::dom::element doc;
    QCOMPARE(json.parse(out).get(doc), simdjson::SUCCESS);
    bool stream = true;
    QCOMPARE(doc["stream"].get_bool().get(stream), simdjson::SUCCESS);
    QVERIFY(!stream);
    QVERIFY(doc["stream_options"].error() == simdjson::NO_SUCH_FIELD);
    std::string_view content;
    QCOMPARE(doc["messages"].at(0)["content"].get_string().get(content), simdjson::SUCCESS);
    QCOMPARE(QByteArray(content.data(), content.size()), QByteArray("q\"\xc3\xa9"));
    double t = 0;
    QCOMPARE(doc["temperature"].get_double().get(t), simdjson::SUCCESS);
    QCOMPARE(t, 0.5);
    QVERIFY(parser.upstreamBody("[1]").empty());
    QVERIFY(parser.upstreamBody("{").empty());
}

void TestChatRequestParser::survivesGarbage()
{
    // Nothing crashes on any input: random bytes and deep nesting.
    ChatRequestParser parser;
    ChatRequest request;
    ChatRequestError error;
    std::string nested(100000, '[');
    QVERIFY(!parser.parse(nested, &request, &error));
    std::uint64_t state = 12345;
    for (int i = 0; i < 2000; ++i) {
        std::string body = R"({"messages":[{"role":"user","content":"x"}]})";
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        body[static_cast<std::size_t>(state >> 33) % body.size()] = static_cast<char>(state >> 56);
        parser.parse(body, &request, &error);
        parser.upstreamBody(body);
    }
}

// A byte-identical body is answered from the table of recent results, exactly as parsed; a body that
// differs in one byte is parsed; new limits drop what the old ones accepted.
void TestChatRequestParser::repeatsAreAnsweredFromRecentResults()
{
    ChatRequestParser parser;
    const std::string a = R"({"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},)"
                          R"({"role":"user","content":"What is L0L3?"}],"stream":true,)"
                          R"("response_format":{"type":"json_object"}})";
    std::string b = a;
    b[b.find("L0L3")] = 'X'; // same length, one byte apart
    ChatRequest first, again, other;
    ChatRequestError error;
    QVERIFY(parser.parse(a, &first, &error));
    QCOMPARE(parser.repeats(), std::uint64_t(0));
    QVERIFY(parser.parse(a, &again, &error));
    QCOMPARE(parser.repeats(), std::uint64_t(1));
    QCOMPARE(again.model, first.model);
    QCOMPARE(again.stream, first.stream);
    QCOMPARE(again.system, first.system);
    QCOMPARE(again.user, first.user);
    QCOMPARE(again.lastUser, first.lastUser);
    QCOMPARE(again.responseFormat, first.responseFormat);
    QCOMPARE(again.tools, first.tools);
    QCOMPARE(again.toolChoice, first.toolChoice);
    QCOMPARE(again.singleTurn, first.singleTurn);
    QCOMPARE(again.bypassReason, first.bypassReason);

    QVERIFY(parser.parse(b, &other, &error));
    QCOMPARE(parser.repeats(), std::uint64_t(1));
    QCOMPARE(other.user, std::string("What is X0L3?"));
    // The reused request gets the repeat's fields, whatever it held before.
    QVERIFY(parser.parse(a, &other, &error));
    QCOMPARE(parser.repeats(), std::uint64_t(2));
    QCOMPARE(other.user, std::string("What is L0L3?"));

    // Accepted under no limit; with at most one message it must be refused, repeat or not.
    parser.setLimits({1, 0});
    QVERIFY(!parser.parse(a, &other, &error));
    QCOMPARE(QString::fromStdString(error.code), QStringLiteral("too_many_messages"));
    QCOMPARE(parser.repeats(), std::uint64_t(2));
    // Errors are not remembered: the same bad body is refused again, by parsing.
    QVERIFY(!parser.parse("{", &other, &error));
    QVERIFY(!parser.parse("{", &other, &error));
    QCOMPARE(parser.repeats(), std::uint64_t(2));
}

QTEST_GUILESS_MAIN(TestChatRequestParser)
#include "tst_chatrequestparser.moc"
