#include <QTest>

#include <cmath>
#include <limits>

#include "core/common/lexicalembedder.h"
#include "core/common/vectorrecord.h"

using namespace l0l3;

namespace {

const std::string kSha(64, 'a');

VectorRecord sampleRecord()
{
    LexicalEmbedder embedder;
    VectorRecord r;
    r.model = embedder.modelId();
    r.ns = "acme \"quoted\" caf\xC3\xA9";
    r.systemSha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    r.modelFamily = "gpt-4o-mini";
    r.threshold = 0.94f;
    r.vector = embedder.embed("How do I reset my password?");
    return r;
}

// A record's JSON with the given members in place of the sample's (raw JSON text).
std::string withMembers(const std::string &model, const std::string &dim, const std::string &v,
                        const std::string &threshold = "0.92", const std::string &extra = {},
                        const std::string &sha = "\"" + kSha + "\"")
{
    return "{\"model\":" + model + ",\"dim\":" + dim + ",\"ns\":\"\",\"system_sha256\":" + sha
        + ",\"model_family\":\"m\",\"threshold\":" + threshold + ",\"v\":" + v + extra + "}";
}

// base64 of one float32 1.0f, little-endian (00 00 80 3f).
const std::string kOne = "\"AACAPw==\"";

} // namespace

class TestVectorRecord : public QObject
{
    Q_OBJECT

private slots:
    void roundTrip();
    void thresholdState();
    void zeroVector();
    void base64_data();
    void base64();
    void refused_data();
    void refused();
    void encodeRefusesWhatDecodeRefuses();
};

void TestVectorRecord::roundTrip()
{
    const VectorRecord r = sampleRecord();
    QCOMPARE(r.vector.size(), std::size_t(256));
    std::string error;
    const auto json = VectorRecordCodec::encode(r, &error);
    QVERIFY2(json.has_value(), error.c_str());
    QVERIFY(json->size() <= VectorRecordCodec::kMaxBytes);
    QVERIFY(json->find("\"model\":\"lexical-v1-d256\"") != std::string::npos);
    QVERIFY(json->find("\"dim\":256") != std::string::npos);
    QVERIFY(json->find("\"threshold\":0.94,") != std::string::npos);
    const auto back = VectorRecordCodec::decode(*json, &error);
    QVERIFY2(back.has_value(), error.c_str());
    QVERIFY(*back == r); // bit-exact floats

    // The layout a reader in another language relies on: float32 little-endian.
    const auto one = VectorRecordCodec::decode(withMembers("\"x\"", "1", kOne), &error);
    QVERIFY2(one.has_value(), error.c_str());
    QCOMPARE(one->vector.size(), std::size_t(1));
    QCOMPARE(one->vector[0], 1.0f);
    QCOMPARE(one->threshold, 0.92f);
    QCOMPARE(one->modelFamily, std::string("m"));

    // Unknown members are ignored, so a newer writer does not break older readers.
    QVERIFY(VectorRecordCodec::decode(withMembers("\"x\"", "1", kOne, "0.92", ",\"future\":[1,2]")));

    // The largest dimension fits in the size bound.
    VectorRecord big = r;
    big.vector.assign(VectorRecordCodec::kMaxDimension, 0.0f);
    big.vector[7] = 1.0f;
    big.ns.assign(VectorRecordCodec::kMaxNamespaceBytes, 'n');
    big.model.assign(VectorRecordCodec::kMaxModelBytes, 'm');
    big.modelFamily.assign(VectorRecordCodec::kMaxModelFamilyBytes, 'f');
    big.denied = -1.0f;
    big.evidence.assign(VectorRecordCodec::kMaxEvidence, 0.80f);
    big.evidence.back() = 0.9399999f;
    const auto bigJson = VectorRecordCodec::encode(big, &error);
    QVERIFY2(bigJson.has_value(), error.c_str());
    QVERIFY(VectorRecordCodec::decode(*bigJson) == big);
}

// The threshold's denial and evidence: optional (a record without them is one written
// before them), exact, and as strictly checked as the rest.
void TestVectorRecord::thresholdState()
{
    std::string error;
    VectorRecord r = sampleRecord();
    const auto old = VectorRecordCodec::decode(*VectorRecordCodec::encode(r), &error);
    QVERIFY2(old.has_value(), error.c_str());
    QVERIFY(!old->denied.has_value());
    QVERIFY(old->evidence.empty());
    QVERIFY(VectorRecordCodec::encode(r)->find("denied") == std::string::npos);

    r.denied = 0.8712345f;
    r.evidence = {0.8f, 0.8612345f, 0.8612345f, 0.93999f};
    const auto json = VectorRecordCodec::encode(r, &error);
    QVERIFY2(json.has_value(), error.c_str());
    QVERIFY2(json->find("\"denied\":0.8712345,\"evidence\":\"") != std::string::npos, json->c_str());
    const auto back = VectorRecordCodec::decode(*json, &error);
    QVERIFY2(back.has_value(), error.c_str());
    QVERIFY(*back == r);

    // float32 little-endian: 0.85f is 9a 99 59 3f.
    const auto one = VectorRecordCodec::decode(
        withMembers("\"x\"", "1", kOne, "0.92", ",\"denied\":-1,\"evidence\":\"mplZPw==\""), &error);
    QVERIFY2(one.has_value(), error.c_str());
    QCOMPARE(*one->denied, -1.0f);
    QCOMPARE(one->evidence, std::vector<float>{0.85f});

    // What encode() refuses.
    VectorRecord bad = r;
    bad.evidence = {0.9f, 0.85f};
    QVERIFY(!VectorRecordCodec::encode(bad));
    bad.evidence = {0.94f}; // not below the threshold
    QVERIFY(!VectorRecordCodec::encode(bad));
    bad.evidence = {0.79f};
    QVERIFY(!VectorRecordCodec::encode(bad));
    bad.evidence.assign(VectorRecordCodec::kMaxEvidence + 1, 0.85f);
    QVERIFY(!VectorRecordCodec::encode(bad));
    bad = r;
    bad.denied = 1.5f;
    QVERIFY(!VectorRecordCodec::encode(bad));
    bad.denied = std::numeric_limits<float>::quiet_NaN();
    QVERIFY(!VectorRecordCodec::encode(bad));
}

void TestVectorRecord::zeroVector()
{
    VectorRecord r = sampleRecord();
    r.vector = LexicalEmbedder().embed("?!");
    for (const float x : r.vector)
        QCOMPARE(x, 0.0f);
    const auto json = VectorRecordCodec::encode(r);
    QVERIFY(json.has_value());
    QVERIFY(VectorRecordCodec::decode(*json) == r);
}

void TestVectorRecord::base64_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("one") << QByteArray("f");
    QTest::newRow("two") << QByteArray("fo");
    QTest::newRow("three") << QByteArray("foo");
    QTest::newRow("binary") << QByteArray("\x00\xff\x80\x7f\x01\xfe\x3f", 7);
}

void TestVectorRecord::base64()
{
    QFETCH(QByteArray, bytes);
    const std::string encoded = VectorRecordCodec::base64Encode(std::string_view(bytes.constData(), bytes.size()));
    QCOMPARE(QByteArray::fromStdString(encoded), bytes.toBase64());
    const auto back = VectorRecordCodec::base64Decode(encoded);
    QVERIFY(back.has_value());
    QCOMPARE(QByteArray::fromStdString(*back), bytes);

    // Not canonical: missing padding, white space, a foreign character, non-zero padding bits.
    QVERIFY(!VectorRecordCodec::base64Decode("Zg"));
    QVERIFY(!VectorRecordCodec::base64Decode("Zm9v "));
    QVERIFY(!VectorRecordCodec::base64Decode("Zm9-"));
    QVERIFY(!VectorRecordCodec::base64Decode("Zh=="));
    QVERIFY(!VectorRecordCodec::base64Decode("Zm9="));
    QVERIFY(!VectorRecordCodec::base64Decode("=m9v"));
    QVERIFY(!VectorRecordCodec::base64Decode("Zm=v"));
}

void TestVectorRecord::refused_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QByteArray>("reason");
    auto row = [](const char *name, const std::string &json, const char *reason) {
        QTest::newRow(name) << QByteArray::fromStdString(json) << QByteArray(reason);
    };
    row("not json", "{", "invalid JSON");
    row("not an object", "[1]", "not a JSON object");
    row("too large", std::string(VectorRecordCodec::kMaxBytes + 1, ' '), "larger than 16 KiB");
    row("duplicate known key", withMembers("\"x\"", "1", kOne, "0.92", ",\"model\":\"y\""), "\"model\" occurs twice");
    row("duplicate unknown key", withMembers("\"x\"", "1", kOne, "0.92", ",\"z\":1,\"z\":2"), "\"z\" occurs twice");
    row("missing v",
        "{\"model\":\"x\",\"dim\":1,\"ns\":\"\",\"system_sha256\":\"" + kSha
            + "\",\"model_family\":\"m\",\"threshold\":0.92}",
        "missing field \"v\"");
    row("missing threshold",
        "{\"model\":\"x\",\"dim\":1,\"ns\":\"\",\"system_sha256\":\"" + kSha + "\",\"model_family\":\"m\",\"v\":" + kOne
            + "}",
        "missing field \"threshold\"");
    row("empty model", withMembers("\"\"", "1", kOne), "\"model\"");
    row("model not a string", withMembers("1", "1", kOne), "\"model\" is not a string");
    row("model too long", withMembers("\"" + std::string(257, 'm') + "\"", "1", kOne), "\"model\"");
    row("dim zero", withMembers("\"x\"", "0", "\"\""), "\"dim\"");
    row("dim a float", withMembers("\"x\"", "1.0", kOne), "\"dim\" is not an integer");
    row("dim negative", withMembers("\"x\"", "-1", kOne), "\"dim\"");
    row("dim too large", withMembers("\"x\"", "2049", kOne), "\"dim\"");
    row("dim huge", withMembers("\"x\"", "18446744073709551615", kOne), "\"dim\"");
    row("v shorter than dim", withMembers("\"x\"", "2", kOne), "dim float32");
    row("v longer than dim", withMembers("\"x\"", "1", "\"AACAPwAAAAA=\""), "dim float32");
    row("v not base64", withMembers("\"x\"", "1", "\"AACAP#==\""), "canonical base64");
    row("v not a string", withMembers("\"x\"", "1", "[1.0]"), "\"v\" is not a string");
    row("nan", withMembers("\"x\"", "1", "\"AADAfw==\""), "not finite");
    row("infinity", withMembers("\"x\"", "1", "\"AACAfw==\""), "not finite");
    row("not normalised", withMembers("\"x\"", "1", "\"AAAAQA==\""), "not L2-normalised"); // 2.0f
    row("threshold low", withMembers("\"x\"", "1", kOne, "0.5"), "\"threshold\" is out of range");
    row("threshold high", withMembers("\"x\"", "1", kOne, "1.5"), "\"threshold\" is out of range");
    row("threshold string", withMembers("\"x\"", "1", kOne, "\"0.9\""), "\"threshold\" is not a number");
    row("threshold huge", withMembers("\"x\"", "1", kOne, "1e400"), "invalid JSON");
    row("sha upper case", withMembers("\"x\"", "1", kOne, "0.92", {}, "\"" + std::string(64, 'A') + "\""),
        "system_sha256");
    row("sha short", withMembers("\"x\"", "1", kOne, "0.92", {}, "\"" + std::string(63, 'a') + "\""), "system_sha256");
    const std::string k85 = "mplZPw"; // 0.85f without padding: one value is 4 bytes, "==" follows
    row("denied string", withMembers("\"x\"", "1", kOne, "0.92", ",\"denied\":\"0.9\""), "\"denied\" is not a number");
    row("denied high", withMembers("\"x\"", "1", kOne, "0.92", ",\"denied\":1.5"), "\"denied\" is not a number from");
    row("denied low", withMembers("\"x\"", "1", kOne, "0.92", ",\"denied\":-2"), "\"denied\" is not a number from");
    row("denied twice", withMembers("\"x\"", "1", kOne, "0.92", ",\"denied\":0.5,\"denied\":0.5"), "occurs twice");
    row("evidence not a string", withMembers("\"x\"", "1", kOne, "0.92", ",\"evidence\":[0.85]"),
        "\"evidence\" is not a string");
    row("evidence empty", withMembers("\"x\"", "1", kOne, "0.92", ",\"evidence\":\"\""),
        "\"evidence\" is not canonical");
    row("evidence not base64", withMembers("\"x\"", "1", kOne, "0.92", ",\"evidence\":\"mplZP#==\""),
        "\"evidence\" is not canonical");
    row("evidence not float32", withMembers("\"x\"", "1", kOne, "0.92", ",\"evidence\":\"mplZ\""),
        "\"evidence\" is not canonical");
    row("evidence too long",
        withMembers("\"x\"", "1", kOne, "0.92",
                    ",\"evidence\":\"" + VectorRecordCodec::base64Encode(std::string(257 * 4, 'A')) + "\""),
        "\"evidence\" is not canonical");
    row("evidence above the threshold", withMembers("\"x\"", "1", kOne, "0.84", ",\"evidence\":\"" + k85 + "==\""),
        "\"evidence\" is not ascending");
    row("evidence descending",
        withMembers("\"x\"", "1", kOne, "0.92",
                    ",\"evidence\":\""
                        + VectorRecordCodec::base64Encode(std::string("\x9a\x99\x59\x3f\x00\x00\x50\x3f", 8)) + "\""),
        "\"evidence\" is not ascending"); // 0.85f, then 0.8125f
    row("evidence nan", withMembers("\"x\"", "1", kOne, "0.92", ",\"evidence\":\"AADAfw==\""),
        "\"evidence\" is not ascending");
    row("ns too long",
        "{\"model\":\"x\",\"dim\":1,\"ns\":\"" + std::string(1025, 'n') + "\",\"system_sha256\":\"" + kSha
            + "\",\"model_family\":\"m\",\"threshold\":0.92,\"v\":" + kOne + "}",
        "\"ns\"");
}

void TestVectorRecord::refused()
{
    QFETCH(QByteArray, json);
    QFETCH(QByteArray, reason);
    std::string error;
    QVERIFY(!VectorRecordCodec::decode(json.toStdString(), &error));
    QVERIFY2(error.find(reason.toStdString()) != std::string::npos, error.c_str());
}

void TestVectorRecord::encodeRefusesWhatDecodeRefuses()
{
    std::string error;
    VectorRecord r = sampleRecord();
    r.vector[3] = std::numeric_limits<float>::quiet_NaN();
    QVERIFY(!VectorRecordCodec::encode(r, &error));
    QVERIFY2(error.find("not finite") != std::string::npos, error.c_str());

    r = sampleRecord();
    r.vector[0] += 0.5f;
    QVERIFY(!VectorRecordCodec::encode(r));
    r = sampleRecord();
    r.vector.clear();
    QVERIFY(!VectorRecordCodec::encode(r));
    r = sampleRecord();
    r.vector.assign(VectorRecordCodec::kMaxDimension + 1, 0.0f);
    QVERIFY(!VectorRecordCodec::encode(r));
    r = sampleRecord();
    r.threshold = 0.7f;
    QVERIFY(!VectorRecordCodec::encode(r));
    r = sampleRecord();
    r.systemSha256 = "x";
    QVERIFY(!VectorRecordCodec::encode(r));
}

QTEST_GUILESS_MAIN(TestVectorRecord)
#include "tst_vectorrecord.moc"
