#include <QTest>

#include "core/common/cachekey.h"
#include "core/common/canonicaljson.h"

using l0l3::CacheKey;
using l0l3::CacheKeyInput;

namespace {

struct Request
{
    std::string ns = "acme";
    std::string system = "You are helpful.";
    std::string user = "What is X?";
    std::string model = "gpt-4o-mini";
    std::string responseFormat;
    std::string tools;
    std::string toolChoice;

    std::string key() const { return CacheKey::derive({ns, system, user, model, responseFormat, tools, toolChoice}); }
    void set(const QByteArray &field, const QByteArray &value)
    {
        std::string v = value.toStdString();
        // The gateway hands derive() canonical JSON; do the same here.
        if ((field == "responseFormat" || field == "tools" || field == "toolChoice") && !v.empty())
            v = l0l3::CanonicalJson::canonicalise(v).value();
        if (field == "ns")
            ns = v;
        else if (field == "system")
            system = v;
        else if (field == "user")
            user = v;
        else if (field == "model")
            model = v;
        else if (field == "responseFormat")
            responseFormat = v;
        else if (field == "tools")
            tools = v;
        else if (field == "toolChoice")
            toolChoice = v;
        else
            qFatal("unknown field");
    }
};

} // namespace

class TestCacheKey : public QObject
{
    Q_OBJECT

private slots:
    void oneFieldChanged_data();
    void oneFieldChanged();
    void fieldBoundariesCannotBeForged();
    void format();
    void golden();
    void modelFamily_data();
    void modelFamily();
    void isValid_data();
    void isValid();
    void questionHash();
};

void TestCacheKey::oneFieldChanged_data()
{
    QTest::addColumn<QByteArray>("field");
    QTest::addColumn<QByteArray>("a");
    QTest::addColumn<QByteArray>("b");
    QTest::addColumn<bool>("same");

    QTest::newRow("user: case, spaces, punctuation")
        << QByteArray("user") << QByteArray("What is X?") << QByteArray("  WHAT  is x?!") << true;
    QTest::newRow("user: no punctuation")
        << QByteArray("user") << QByteArray("what is x") << QByteArray("What is X?") << true;
    QTest::newRow("user: NFD vs NFC") << QByteArray("user") << QByteArray("caf\xC3\xA9") << QByteArray("cafe\xCC\x81")
                                      << true;
    QTest::newRow("user: different") << QByteArray("user") << QByteArray("what is x") << QByteArray("what is y")
                                     << false;
    QTest::newRow("system: normalised") << QByteArray("system") << QByteArray("You are helpful.")
                                        << QByteArray("you  are HELPFUL") << true;
    QTest::newRow("system: different") << QByteArray("system") << QByteArray("You are helpful.")
                                       << QByteArray("You are terse.") << false;
    QTest::newRow("system: absent vs present")
        << QByteArray("system") << QByteArray("") << QByteArray("You are helpful.") << false;
    QTest::newRow("namespace") << QByteArray("ns") << QByteArray("acme") << QByteArray("globex") << false;
    QTest::newRow("namespace is exact") << QByteArray("ns") << QByteArray("acme") << QByteArray("Acme") << false;
    QTest::newRow("model: dated snapshot")
        << QByteArray("model") << QByteArray("gpt-4o-mini-2024-07-18") << QByteArray("gpt-4o-mini") << true;
    QTest::newRow("model: MMDD snapshot")
        << QByteArray("model") << QByteArray("GPT-4-0613") << QByteArray("gpt-4") << true;
    QTest::newRow("model: compact date") << QByteArray("model") << QByteArray("claude-3-5-sonnet-20241022")
                                         << QByteArray("claude-3-5-sonnet") << true;
    QTest::newRow("model: other family") << QByteArray("model") << QByteArray("gpt-4o") << QByteArray("gpt-4o-mini")
                                         << false;
    QTest::newRow("response_format: absent vs json")
        << QByteArray("responseFormat") << QByteArray("") << QByteArray("{\"type\":\"json_object\"}") << false;
    QTest::newRow("response_format: text vs json") << QByteArray("responseFormat") << QByteArray("{\"type\":\"text\"}")
                                                   << QByteArray("{\"type\":\"json_object\"}") << false;
    QTest::newRow("response_format: spacing")
        << QByteArray("responseFormat") << QByteArray("{ \"type\" : \"json_object\" }")
        << QByteArray("{\"type\":\"json_object\"}") << true;
    QTest::newRow("tools: key order permuted")
        << QByteArray("tools")
        << QByteArray(
               R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])")
        << QByteArray(
               R"([{"function":{"parameters":{"properties":{"city":{"type":"string"}},"type":"object"},"name":"get_weather"},"type":"function"}])")
        << true;
    QTest::newRow("tools: different function")
        << QByteArray("tools") << QByteArray(R"([{"type":"function","function":{"name":"get_weather"}}])")
        << QByteArray(R"([{"type":"function","function":{"name":"get_time"}}])") << false;
    QTest::newRow("tools: array order matters") << QByteArray("tools") << QByteArray(R"([{"name":"a"},{"name":"b"}])")
                                                << QByteArray(R"([{"name":"b"},{"name":"a"}])") << false;
    QTest::newRow("tools: absent vs empty array") << QByteArray("tools") << QByteArray("") << QByteArray("[]") << false;
    QTest::newRow("tool_choice") << QByteArray("toolChoice") << QByteArray("\"auto\"") << QByteArray("\"none\"")
                                 << false;
    QTest::newRow("tool_choice: absent vs auto")
        << QByteArray("toolChoice") << QByteArray("") << QByteArray("\"auto\"") << false;
}

void TestCacheKey::oneFieldChanged()
{
    QFETCH(QByteArray, field);
    QFETCH(QByteArray, a);
    QFETCH(QByteArray, b);
    QFETCH(bool, same);
    Request ra;
    Request rb;
    ra.set(field, a);
    rb.set(field, b);
    QCOMPARE(ra.key() == rb.key(), same);
}

void TestCacheKey::fieldBoundariesCannotBeForged()
{
    const auto k = [](std::string_view ns, std::string_view system, std::string_view user) {
        return CacheKey::derive({ns, system, user, "gpt-4o", {}, {}, {}});
    };
    QVERIFY(k("", "ab", "c") != k("", "a", "bc"));
    QVERIFY(k("x", "", "q") != k("", "x", "q"));
    QVERIFY(k("", "", "q") != k("", "q", ""));
    const std::string tools = "[1]";
    QVERIFY(CacheKey::derive({"n", "", "q", "m", tools, {}, {}})
            != CacheKey::derive({"n", "", "q", "m", {}, tools, {}}));
    QVERIFY(CacheKey::derive({"n", "", "q", "m", {}, tools, {}})
            != CacheKey::derive({"n", "", "q", "m", {}, {}, tools}));
}

void TestCacheKey::format()
{
    const std::string key = CacheKey::derive({"acme", "", "hello", "gpt-4o", {}, {}, {}});
    QCOMPARE(key.size(), std::size_t(32));
    QVERIFY(CacheKey::isValid(key));
    QCOMPARE(CacheKey::derive({"acme", "", "hello", "gpt-4o", {}, {}, {}}), key);
}

void TestCacheKey::golden()
{
    // Keys live in Redis across releases: this value may only change with
    // kSchemaVersion (and RedisSchema::kVersion).
    QCOMPARE(CacheKey::kSchemaVersion, std::string_view("v1"));
    QCOMPARE(QByteArray::fromStdString(CacheKey::derive(
                 {"acme", "Be brief.", "What is X?", "gpt-4o-mini-2024-07-18", R"({"type":"json_object"})", {}, {}})),
             QByteArray("147b5fe74f7848e1a73b659875a568bd"));
}

void TestCacheKey::modelFamily_data()
{
    QTest::addColumn<QByteArray>("model");
    QTest::addColumn<QByteArray>("family");
    QTest::newRow("dated") << QByteArray("gpt-4o-mini-2024-07-18") << QByteArray("gpt-4o-mini");
    QTest::newRow("MMDD upper") << QByteArray("GPT-4-0613") << QByteArray("gpt-4");
    QTest::newRow("compact date") << QByteArray("claude-3-5-sonnet-20241022") << QByteArray("claude-3-5-sonnet");
    QTest::newRow("plain") << QByteArray("gpt-4o") << QByteArray("gpt-4o");
    QTest::newRow("mixed case") << QByteArray("Llama-3.1-70B") << QByteArray("llama-3.1-70b");
    QTest::newRow("not a date: context size") << QByteArray("llama-3-8192") << QByteArray("llama-3-8192");
    QTest::newRow("not a date: 3 digits") << QByteArray("model-123") << QByteArray("model-123");
    QTest::newRow("only one suffix removed") << QByteArray("m-0613-0613") << QByteArray("m-0613");
    QTest::newRow("date alone is kept") << QByteArray("0613") << QByteArray("0613");
    QTest::newRow("surrounding blanks") << QByteArray(" gpt-4 ") << QByteArray("gpt-4");
    QTest::newRow("empty") << QByteArray("") << QByteArray("");
}

void TestCacheKey::modelFamily()
{
    QFETCH(QByteArray, model);
    QFETCH(QByteArray, family);
    QCOMPARE(QByteArray::fromStdString(CacheKey::modelFamily(model.toStdString())), family);
}

void TestCacheKey::isValid_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<bool>("valid");
    QTest::newRow("ok") << QByteArray("0123456789abcdef0123456789abcdef") << true;
    QTest::newRow("upper case") << QByteArray("0123456789ABCDEF0123456789abcdef") << false;
    QTest::newRow("short") << QByteArray("0123456789abcdef0123456789abcde") << false;
    QTest::newRow("long") << QByteArray("0123456789abcdef0123456789abcdef0") << false;
    QTest::newRow("non-hex") << QByteArray("0123456789abcdef0123456789abcdeg") << false;
    QTest::newRow("empty") << QByteArray("") << false;
    QTest::newRow("pattern") << QByteArray("*") << false;
}

void TestCacheKey::isValid()
{
    QFETCH(QByteArray, key);
    QFETCH(bool, valid);
    QCOMPARE(CacheKey::isValid(key.toStdString()), valid);
}

// What TierChain compares an entry's prompt and system prompt with: spelling-blind like the key,
// but any other difference, including where system ends and user begins, changes it.
void TestCacheKey::questionHash()
{
    const auto q = CacheKey::questionHash("Be brief.", "What is X?");
    QCOMPARE(CacheKey::questionHash("  BE brief", "what is x"), q);
    QVERIFY(CacheKey::questionHash("Be brief.", "What is Y?") != q);
    QVERIFY(CacheKey::questionHash("", "What is X?") != q);
    QVERIFY(CacheKey::questionHash("ab", "c") != CacheKey::questionHash("a", "bc"));
}

QTEST_GUILESS_MAIN(TestCacheKey)
#include "tst_cachekey.moc"
