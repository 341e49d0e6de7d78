#include <QTest>

#include "core/common/auditrecord.h"
#include "core/common/entry.h"
#include "core/common/proposal.h"
#include "core/common/reviewpolicy.h"

using namespace l0l3;

namespace {

Entry sampleEntry()
{
    Entry e;
    e.key = "0123456789abcdef0123456789abcdef";
    e.response = "Line 1\nLine \"2\" \\ tab\t caf\xC3\xA9 \xF0\x9F\x8D\x95 \x01";
    e.prompt = "What is X?";
    e.system = "You are helpful.";
    e.ns = "acme";
    e.model = "gpt-4o-mini";
    e.intent = "faq.x";
    e.version = 7;
    e.approvedBy = "alice";
    e.approvedAtMs = 1718000000123;
    e.ttlSeconds = 86400;
    return e;
}

} // namespace

class TestEntryCodec : public QObject
{
    Q_OBJECT

private slots:
    void entryRoundTrip();
    void entryDefaults();
    void entryReviewDate();
    void entryUnknownFieldsIgnored();
    void entryRejected_data();
    void entryRejected();
    void proposalRoundTrip();
    void proposalDecode_data();
    void proposalDecode();
    void auditRoundTrip();
    void auditDecode_data();
    void auditDecode();
};

void TestEntryCodec::entryRoundTrip()
{
    const Entry e = sampleEntry();
    const std::string json = EntryCodec::encode(e);
    QVERIFY(json.find("\"fmt\":1") != std::string::npos);
    std::string error;
    const auto back = EntryCodec::decode(json, &error);
    QVERIFY2(back.has_value(), error.c_str());
    QVERIFY(*back == e);

    Entry extremes = e;
    extremes.version = std::numeric_limits<std::int64_t>::max();
    extremes.approvedAtMs = std::numeric_limits<std::int64_t>::min();
    extremes.response.clear();
    const auto back2 = EntryCodec::decode(EntryCodec::encode(extremes));
    QVERIFY(back2 && *back2 == extremes);
}

void TestEntryCodec::entryDefaults()
{
    const auto e = EntryCodec::decode(R"({"fmt":1,"key":"k","response":"r"})");
    QVERIFY(e.has_value());
    QCOMPARE(e->key, std::string("k"));
    QCOMPARE(e->response, std::string("r"));
    QCOMPARE(e->version, std::int64_t(1));
    QCOMPARE(e->ttlSeconds, std::int64_t(0));
    QVERIFY(e->intent.empty());
}

void TestEntryCodec::entryUnknownFieldsIgnored()
{
    const auto e = EntryCodec::decode(R"({"future":{"x":[1,2]},"fmt":1,"key":"k","response":"r","score":0.5})");
    QVERIFY(e.has_value());
    QCOMPARE(e->response, std::string("r"));
}

void TestEntryCodec::entryRejected_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QByteArray>("reason"); // a fragment of the error text

    const std::string good = EntryCodec::encode(sampleEntry());
    QTest::newRow("not JSON") << QByteArray("not json") << QByteArray("invalid JSON");
    QTest::newRow("empty") << QByteArray("") << QByteArray("invalid JSON");
    QTest::newRow("truncated") << QByteArray::fromStdString(good.substr(0, good.size() / 2))
                               << QByteArray("invalid JSON");
    QTest::newRow("array") << QByteArray("[]") << QByteArray("not a JSON object");
    QTest::newRow("string") << QByteArray("\"entry\"") << QByteArray("not a JSON object");
    QTest::newRow("missing response") << QByteArray(R"({"fmt":1,"key":"k"})") << QByteArray("\"response\"");
    QTest::newRow("missing key") << QByteArray(R"({"fmt":1,"response":"r"})") << QByteArray("\"key\"");
    QTest::newRow("missing fmt") << QByteArray(R"({"key":"k","response":"r"})") << QByteArray("\"fmt\"");
    QTest::newRow("future format") << QByteArray(R"({"fmt":2,"key":"k","response":"r"})") << QByteArray("format 2");
    QTest::newRow("fmt as string") << QByteArray(R"({"fmt":"1","key":"k","response":"r"})")
                                   << QByteArray("\"fmt\" is not an integer");
    QTest::newRow("key is a number") << QByteArray(R"({"fmt":1,"key":5,"response":"r"})")
                                     << QByteArray("\"key\" is not a string");
    QTest::newRow("response is null") << QByteArray(R"({"fmt":1,"key":"k","response":null})")
                                      << QByteArray("\"response\" is not a string");
    QTest::newRow("response is object") << QByteArray(R"({"fmt":1,"key":"k","response":{"content":"r"}})")
                                        << QByteArray("\"response\" is not a string");
    QTest::newRow("version as string") << QByteArray(R"({"fmt":1,"key":"k","response":"r","version":"3"})")
                                       << QByteArray("\"version\" is not an integer");
    QTest::newRow("version fractional") << QByteArray(R"({"fmt":1,"key":"k","response":"r","version":1.5})")
                                        << QByteArray("\"version\" is not an integer");
    QTest::newRow("version too big") << QByteArray(
        R"({"fmt":1,"key":"k","response":"r","version":18446744073709551615})")
                                     << QByteArray("\"version\" is not an integer");
    QTest::newRow("ttl bool") << QByteArray(R"({"fmt":1,"key":"k","response":"r","ttl_s":true})")
                              << QByteArray("\"ttl_s\" is not an integer");
    QTest::newRow("approved_by number") << QByteArray(R"({"fmt":1,"key":"k","response":"r","approved_by":1})")
                                        << QByteArray("\"approved_by\" is not a string");
}

void TestEntryCodec::entryRejected()
{
    QFETCH(QByteArray, json);
    QFETCH(QByteArray, reason);
    std::string error;
    QVERIFY(!EntryCodec::decode(std::string_view(json.constData(), json.size()), &error).has_value());
    QVERIFY2(error.find(reason.toStdString()) != std::string::npos, error.c_str());
    QVERIFY(!EntryCodec::decode(std::string_view(json.constData(), json.size())).has_value()); // no error sink
}

void TestEntryCodec::proposalRoundTrip()
{
    Proposal p;
    p.key = "0123456789abcdef0123456789abcdef";
    p.ns = "acme";
    p.system = "sys\nprompt";
    p.prompt = "What is X?";
    p.response = "X is \"y\"";
    p.model = "gpt-4o";
    p.region = "nyc";
    p.tsMs = 1718000000123;
    p.upstreamMs = 842;
    p.promptTokens = 12;
    p.completionTokens = -1;
    const StreamFields fields = ProposalCodec::encode(p);
    QStringList names;
    for (const auto &f : fields)
        names << QString::fromStdString(f.first);
    QCOMPARE(names.join(u','), QStringLiteral("key,fields"));
    QCOMPARE(fields[0].second, p.key);
    // Netstring pairs, in order; a value may hold anything (here a newline, quotes, a comma and a colon).
    QCOMPARE(fields[1].second,
             std::string("2:ns,4:acme,6:system,10:sys\nprompt,6:prompt,10:What is X?,8:response,8:X is \"y\","
                         "5:model,6:gpt-4o,6:region,3:nyc,2:ts,13:1718000000123,11:upstream_ms,3:842,"
                         "13:prompt_tokens,2:12,17:completion_tokens,2:-1,"
                         "15:response_format,0:,5:tools,0:,11:tool_choice,0:,"));

    std::string error;
    const auto back = ProposalCodec::decode("1718000000123-0", fields, &error);
    QVERIFY2(back.has_value(), error.c_str());
    QCOMPARE(back->id, std::string("1718000000123-0"));
    Proposal expected = p;
    expected.id = "1718000000123-0";
    QVERIFY(*back == expected);

    p.response = "a,b:c 3:x,"; // netstring delimiters inside a value
    p.prompt.clear();
    const auto again = ProposalCodec::decode("1-0", ProposalCodec::encode(p), &error);
    QVERIFY2(again.has_value(), error.c_str());
    QCOMPARE(again->response, p.response);
    QCOMPARE(again->prompt, std::string());
    QCOMPARE(again->completionTokens, -1);

    // The L1 shadow candidate: packed after the other fields, only when there is one.
    p.l1Key = "fedcba9876543210fedcba9876543210";
    p.l1Similarity = 0.87654f;
    const StreamFields withCandidate = ProposalCodec::encode(p);
    QVERIFY(
        withCandidate[1].second.ends_with("6:l1_key,32:fedcba9876543210fedcba9876543210,13:l1_similarity,6:0.8765,"));
    const auto candidate = ProposalCodec::decode("1-0", withCandidate, &error);
    QVERIFY2(candidate.has_value(), error.c_str());
    QCOMPARE(candidate->l1Key, p.l1Key);
    QCOMPARE(candidate->l1Similarity, 0.8765f);
}

void TestEntryCodec::proposalDecode_data()
{
    QTest::addColumn<QStringList>("fields"); // name=value
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QByteArray>("reason");
    QTest::newRow("minimal") << QStringList{u"key=k"_qs, u"response=r"_qs} << true << QByteArray();
    QTest::newRow("unknown field ignored")
        << QStringList{u"key=k"_qs, u"response=r"_qs, u"extra=1"_qs} << true << QByteArray();
    QTest::newRow("empty response allowed") << QStringList{u"key=k"_qs, u"response="_qs} << true << QByteArray();
    QTest::newRow("missing key") << QStringList{u"response=r"_qs} << false << QByteArray("\"key\"");
    QTest::newRow("missing response") << QStringList{u"key=k"_qs, u"ts=1"_qs} << false << QByteArray("\"response\"");
    QTest::newRow("ts not a number") << QStringList{u"key=k"_qs, u"response=r"_qs, u"ts=abc"_qs} << false
                                     << QByteArray("\"ts\"");
    QTest::newRow("ts empty") << QStringList{u"key=k"_qs, u"response=r"_qs, u"ts="_qs} << false << QByteArray("\"ts\"");
    QTest::newRow("tokens trailing junk") << QStringList{u"key=k"_qs, u"response=r"_qs, u"prompt_tokens=12x"_qs}
                                          << false << QByteArray("\"prompt_tokens\"");
    QTest::newRow("upstream fractional") << QStringList{u"key=k"_qs, u"response=r"_qs, u"upstream_ms=1.5"_qs} << false
                                         << QByteArray("\"upstream_ms\"");
    // The packed layout (ProposalCodec::kPackedField), alone or mixed with fields of their own.
    QTest::newRow("packed") << QStringList{u"key=k"_qs, u"fields=8:response,1:r,2:ts,1:7,"_qs} << true << QByteArray();
    QTest::newRow("packed key") << QStringList{u"fields=3:key,1:k,8:response,0:,"_qs} << true << QByteArray();
    QTest::newRow("packed and own fields")
        << QStringList{u"key=k"_qs, u"fields=2:ns,1:a,"_qs, u"response=r"_qs} << true << QByteArray();
    QTest::newRow("packed unknown ignored")
        << QStringList{u"key=k"_qs, u"fields=5:extra,1:1,8:response,1:r,"_qs} << true << QByteArray();
    QTest::newRow("packed empty") << QStringList{u"key=k"_qs, u"response=r"_qs, u"fields="_qs} << true << QByteArray();
    QTest::newRow("packed missing response")
        << QStringList{u"key=k"_qs, u"fields=2:ns,1:a,"_qs} << false << QByteArray("\"response\"");
    QTest::newRow("packed ts not a number")
        << QStringList{u"key=k"_qs, u"fields=8:response,1:r,2:ts,1:x,"_qs} << false << QByteArray("\"ts\"");
    QTest::newRow("packed name without value")
        << QStringList{u"key=k"_qs, u"fields=8:response,1:r,2:ts,"_qs} << false << QByteArray("at byte 15");
    QTest::newRow("packed length past the end")
        << QStringList{u"key=k"_qs, u"fields=8:response,9:r,"_qs} << false << QByteArray("at byte 0");
    QTest::newRow("packed comma missing")
        << QStringList{u"key=k"_qs, u"fields=8:response;1:r,"_qs} << false << QByteArray("at byte 0");
    QTest::newRow("packed length not a number")
        << QStringList{u"key=k"_qs, u"fields=x:response,1:r,"_qs} << false << QByteArray("netstring");
    QTest::newRow("packed length leading zero")
        << QStringList{u"key=k"_qs, u"fields=08:response,1:r,"_qs} << false << QByteArray("netstring");
    QTest::newRow("packed length too long") << QStringList{u"key=k"_qs, u"fields=99999999999999999999:response,1:r,"_qs}
                                            << false << QByteArray("netstring");
    // An L1 candidate that does not parse is dropped, the proposal kept.
    QTest::newRow("l1 candidate") << QStringList{u"key=k"_qs, u"response=r"_qs,
                                                 u"l1_key=0123456789abcdef0123456789abcdef"_qs,
                                                 u"l1_similarity=0.93"_qs}
                                  << true << QByteArray();
    QTest::newRow("l1 similarity not a number")
        << QStringList{u"key=k"_qs, u"response=r"_qs, u"l1_key=0123456789abcdef0123456789abcdef"_qs,
                       u"l1_similarity=high"_qs}
        << true << QByteArray();
    QTest::newRow("l1 key not a key") << QStringList{u"key=k"_qs, u"response=r"_qs, u"l1_key=entry"_qs,
                                                     u"l1_similarity=0.9"_qs}
                                      << true << QByteArray();
    QTest::newRow("packed inside packed ignored")
        << QStringList{u"key=k"_qs, u"fields=8:response,1:r,6:fields,9:2:ts,1:x,,"_qs} << true << QByteArray();
}

namespace {

StreamFields toFields(const QStringList &list)
{
    StreamFields out;
    for (const QString &f : list) {
        const auto eq = f.indexOf(u'=');
        out.emplace_back(f.left(eq).toStdString(), f.mid(eq + 1).toStdString());
    }
    return out;
}

} // namespace

void TestEntryCodec::proposalDecode()
{
    QFETCH(QStringList, fields);
    QFETCH(bool, ok);
    QFETCH(QByteArray, reason);
    std::string error;
    const auto p = ProposalCodec::decode("1-0", toFields(fields), &error);
    QCOMPARE(p.has_value(), ok);
    if (!ok)
        QVERIFY2(error.find(reason.toStdString()) != std::string::npos, error.c_str());
    if (p && QByteArray(QTest::currentDataTag()).startsWith("l1 ")) {
        const bool kept = QByteArray(QTest::currentDataTag()) == "l1 candidate";
        QCOMPARE(p->l1Key.empty(), !kept);
        QCOMPARE(p->l1Similarity, kept ? 0.93f : 0.0f);
    }
}

void TestEntryCodec::auditRoundTrip()
{
    AuditRecord r;
    r.action = "edit";
    r.key = "0123456789abcdef0123456789abcdef";
    r.actor = "bob";
    r.tsMs = 1718000000999;
    r.version = 3;
    r.prevVersion = 2;
    r.detail = "intent faq.x, fixed \"typo\"\n";
    const StreamFields fields = AuditCodec::encode(r);
    QCOMPARE(fields.size(), std::size_t(7));
    std::string error;
    const auto back = AuditCodec::decode("5-1", fields, &error);
    QVERIFY2(back.has_value(), error.c_str());
    AuditRecord expected = r;
    expected.id = "5-1";
    QVERIFY(*back == expected);
}

void TestEntryCodec::auditDecode_data()
{
    QTest::addColumn<QStringList>("fields");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QByteArray>("reason");
    QTest::newRow("control action") << QStringList{u"action=control"_qs, u"key=nyc"_qs, u"detail=drain nyc"_qs} << true
                                    << QByteArray();
    QTest::newRow("unknown field ignored") << QStringList{u"action=approve"_qs, u"later=x"_qs} << true << QByteArray();
    QTest::newRow("missing action") << QStringList{u"key=k"_qs} << false << QByteArray("\"action\"");
    QTest::newRow("bad version") << QStringList{u"action=approve"_qs, u"version=two"_qs} << false
                                 << QByteArray("\"version\"");
    QTest::newRow("bad prev_version") << QStringList{u"action=approve"_qs, u"prev_version= 1"_qs} << false
                                      << QByteArray("\"prev_version\"");
}

void TestEntryCodec::auditDecode()
{
    QFETCH(QStringList, fields);
    QFETCH(bool, ok);
    QFETCH(QByteArray, reason);
    std::string error;
    const auto r = AuditCodec::decode("1-0", toFields(fields), &error);
    QCOMPARE(r.has_value(), ok);
    if (!ok)
        QVERIFY2(error.find(reason.toStdString()) != std::string::npos, error.c_str());
}

// The review date: written only when set (an entry without one is byte for byte what it was),
// read back, and derived from approved_at and the namespace's period when absent.
void TestEntryCodec::entryReviewDate()
{
    Entry e;
    e.key = "0123456789abcdef0123456789abcdef";
    e.response = "r";
    e.ns = "billing";
    e.approvedAtMs = 1700000000000;
    const std::string undated = EntryCodec::encode(e);
    QVERIFY(undated.find("review") == std::string::npos);
    QCOMPARE(e.reviewDueMs(90), 1700000000000 + 90 * ReviewPolicy::kDayMs);

    e.reviewByMs = 1800000000000;
    e.reviewDays = 30;
    const auto back = EntryCodec::decode(EntryCodec::encode(e));
    QVERIFY(back);
    QCOMPARE(*back, e);
    QCOMPARE(back->reviewDueMs(90), 1800000000000);

    std::string error;
    QVERIFY(!EntryCodec::decode(R"({"fmt":1,"key":"k","response":"r","review_by_ms":"soon"})", &error));
    QVERIFY2(error.find("review_by_ms") != std::string::npos, error.c_str());

    ReviewPolicy policy;
    policy.set("*", "60");
    policy.set("billing", "30");
    policy.set("legal", "0");    // not a period: ignored
    policy.set("support", "9x"); // neither
    policy.set("ops", "3651");   // past kMaxDays
    QCOMPARE(policy.daysFor("billing"), 30);
    QCOMPARE(policy.daysFor("legal"), 60);
    QCOMPARE(policy.daysFor("support"), 60);
    QCOMPARE(policy.daysFor("ops"), 60);
    QCOMPARE(policy.daysFor("billing", 7), 7); // the entry's own period wins
}

QTEST_GUILESS_MAIN(TestEntryCodec)
#include "tst_entrycodec.moc"
