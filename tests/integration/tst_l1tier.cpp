#include <QJsonArray>
#include <QJsonObject>
#include <QMap>
#include <QTest>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/lexicalembedder.h"
#include "core/common/prometheusparser.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/l1approval.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kIndexTimeoutMs = 10000;
constexpr int kProposalTimeoutMs = 10000;

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

} // namespace

// The gateway's L1 tier end to end: real redis-server primary and replica (ACL users),
// l0l3-stub-llm, and two gateways on the same data: one serving L1 (--semantic serve),
// one in shadow mode. Entries and their vector records are written as the console
// writes them (entry and vector, then the key on the invalidation channel).
class TestL1Tier : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void servesAParaphraseWithL1Headers();
    void hardNegativesAreNeverServed_data();
    void hardNegativesAreNeverServed();
    void toolsAndResponseFormatSkipL1();
    void shadowProposalCarriesTheCandidate();
    void indexFollowsApproveAndRevoke();
    void loosenedThresholdIsServed();
    void otherModelsVectorsAreNotIndexed();
    void followUpsMatchOnlyInTheirConversation();

private:
    struct Approved
    {
        QByteArray key;
        QString response;
    };
    // Writes the entry and its vector record (threshold as given) and publishes the key.
    Approved approve(const QString &prompt, const QString &response, float threshold, const std::string &model = {},
                     const std::string &system = {});
    void revoke(const QByteArray &key);
    HttpResult chat(const QString &prompt, const QJsonObject &extra = {}, int port = -1);
    std::vector<PromSample> metrics(int port);
    double indexEntries(int port);
    // The lexical-model vector records on the replica; 0 while it lacks mustHave's.
    int lexicalVectors(const QByteArray &mustHave);
    // Polls (sending the paraphrase) until the serving gateway answers it from L1 with entryKey.
    bool waitUntilServedFromL1(const QString &paraphrase, const QByteArray &entryKey);

    GatewayStack m_stack;
    std::unique_ptr<ManagedProcess> m_shadow;
    HttpClient m_http;
    LexicalEmbedder m_embedder;
};

void TestL1Tier::initTestCase()
{
    GatewayStack::Options options;
    // Every L1 answer sampled for review.
    options.gatewayArgs = QStringList{QStringLiteral("--semantic"),
                                      QStringLiteral("serve"),
                                      QStringLiteral("--semantic-review-sample"),
                                      QStringLiteral("1"),
                                      QStringLiteral("--semantic-history"),
                                      QStringLiteral("2")};
    QString error;
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
    m_shadow = m_stack.launchGateway({QStringLiteral("--semantic"), QStringLiteral("shadow")}, &error,
                                     QStringLiteral("sfo"));
    QVERIFY2(m_shadow, qPrintable(error));
}

void TestL1Tier::cleanupTestCase()
{
    if (m_shadow)
        QVERIFY(m_shadow->stop());
    m_stack.stop();
}

void TestL1Tier::cleanup()
{
    m_stack.printLogsIfFailed({m_shadow.get()});
    QVERIFY2(m_stack.gateway().isRunning(), "the serving gateway died");
    QVERIFY2(m_shadow && m_shadow->isRunning(), "the shadow gateway died");
}

TestL1Tier::Approved TestL1Tier::approve(const QString &prompt, const QString &response, float threshold,
                                         const std::string &model, const std::string &system)
{
    const std::string user = prompt.toStdString();
    const Entry entry = L1Approval::entry(user, response.toStdString(), system);
    const VectorRecord record = L1Approval::record(entry, model.empty() ? m_embedder.modelId() : model, threshold,
                                                   m_embedder.embed(user));
    return {L1Approval::store(m_stack.primaryClient(), entry, record), response};
}

void TestL1Tier::revoke(const QByteArray &key)
{
    RedisClient &primary = m_stack.primaryClient();
    primary.command(
        {"DEL", bytes(RedisSchema::entryKey(key.toStdString())), bytes(RedisSchema::vectorKey(key.toStdString()))});
    primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), key});
}

HttpResult TestL1Tier::chat(const QString &prompt, const QJsonObject &extra, int port)
{
    QUrl url = m_stack.gatewayUrl();
    if (port > 0)
        url.setPort(port);
    return m_http.post(url, ChatWire::chatBody(prompt, extra), {}, 10000);
}

std::vector<PromSample> TestL1Tier::metrics(int port)
{
    const HttpResult r = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(port)));
    return PrometheusParser::parse(r.body.toStdString());
}

double TestL1Tier::indexEntries(int port)
{
    return ChatWire::sum(metrics(port), "l0l3_l1_index_entries");
}

int TestL1Tier::lexicalVectors(const QByteArray &mustHave)
{
    RedisClient &replica = m_stack.replicaClient();
    const RedisValue scan = replica.command(
        {"SCAN", "0", "MATCH", bytes(RedisSchema::kVectorPattern), "COUNT", "100000"});
    int lexical = 0;
    bool seen = false;
    for (const RedisValue &k : scan.elements.value(1).elements) {
        const auto record = VectorRecordCodec::decode(replica.get(k.str).toStdString());
        lexical += record && record->model == m_embedder.modelId() ? 1 : 0;
        seen = seen || k.str.endsWith(mustHave);
    }
    return seen ? lexical : 0;
}

bool TestL1Tier::waitUntilServedFromL1(const QString &paraphrase, const QByteArray &entryKey)
{
    // Replication and the invalidation message race: the first requests may still miss
    // (and go upstream); the entry is served from L1 once both have arrived.
    return Poll::until(
        [&] {
            const HttpResult r = chat(paraphrase);
            return r.status == 200 && r.header("x-l0l3-tier") == "L1" && r.header("x-l0l3-entry") == entryKey;
        },
        kIndexTimeoutMs);
}

void TestL1Tier::servesAParaphraseWithL1Headers()
{
    const Approved a = approve(QStringLiteral("How do I reset the password of my account?"),
                               QStringLiteral("Open Settings, then Security, then Reset password."), 0.92f);
    QVERIFY(!a.key.isEmpty());
    const QString paraphrase = QStringLiteral("How can I reset the password of my account?");
    QVERIFY2(waitUntilServedFromL1(paraphrase, a.key), qPrintable(chat(paraphrase).describe()));

    const qint64 upstreamBefore = m_stack.stubRequests();
    const HttpResult r = chat(paraphrase);
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QCOMPARE(r.header("x-l0l3-cache"), QByteArray("hit"));
    QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L1"));
    QCOMPARE(r.header("x-l0l3-entry"), a.key);
    // The request's own key, not the entry's: the client sees which question it asked.
    const QByteArray ownKey = QByteArray::fromStdString(
        CacheKey::derive({"default", "", paraphrase.toStdString(), ChatWire::kModel, "", "", ""}));
    QCOMPARE(r.header("x-l0l3-key"), ownKey);
    bool ok = false;
    const double similarity = r.header("x-l0l3-similarity").toDouble(&ok);
    QVERIFY2(ok && similarity >= 0.92 && similarity <= 1.0, r.header("x-l0l3-similarity").constData());
    QCOMPARE(ChatWire::completionContent(r.body), a.response);
    QCOMPARE(m_stack.stubRequests(), upstreamBefore);

    // A streamed request gets the same answer as events.
    const HttpResult streamed = chat(paraphrase, QJsonObject{{QStringLiteral("stream"), true}});
    QVERIFY2(streamed.status == 200, qPrintable(streamed.describe()));
    QCOMPARE(streamed.header("x-l0l3-tier"), QByteArray("L1"));
    QCOMPARE(ChatWire::sseContent(streamed.body), a.response);

    // The review sample: the request's key, the entry that answered, its similarity, the prompt.
    QVERIFY2(Poll::until(
                 [&] {
                     const RedisValue all = m_stack.primaryClient().command(
                         {"XRANGE", bytes(RedisSchema::kL1Review), "-", "+"});
                     for (const RedisValue &e : all.elements) {
                         QMap<QByteArray, QByteArray> f;
                         const auto &kv = e.elements.value(1).elements;
                         for (qsizetype i = 0; i + 1 < kv.size(); i += 2)
                             f[kv[i].str] = kv[i + 1].str;
                         if (f.value("key") == ownKey && f.value("entry") == a.key
                             && f.value("similarity") == r.header("x-l0l3-similarity")
                             && f.value("prompt") == paraphrase.toUtf8() && f.value("ns") == "default"
                             && f.value("region") == "nyc" && f.value("ts").toLongLong() > 0)
                             return true;
                     }
                     return false;
                 },
                 kIndexTimeoutMs),
             "no review sample of the L1 answer");

    const auto samples = metrics(m_stack.gatewayPort());
    QVERIFY(ChatWire::sum(samples, "l0l3_l1_lookups_total", {{"result", "hit"}}) >= 2);
    QVERIFY(ChatWire::sum(samples, "l0l3_requests_total", {{"tier", "L1"}, {"outcome", "hit"}}) >= 2);
    QVERIFY(ChatWire::sum(samples, "l0l3_l1_similarity_count", {{"result", "hit"}}) >= 2);
    QVERIFY(ChatWire::sum(samples, "l0l3_l1_lookup_duration_seconds_count") >= 2);
}

void TestL1Tier::hardNegativesAreNeverServed_data()
{
    QTest::addColumn<QString>("approved");
    QTest::addColumn<QString>("asked");
    QTest::addColumn<QString>("guard");
    // Each pair scores at or above 0.80 with the lexical provider, the lowest threshold an
    // entry can have: only the guards stand between them and a wrong answer.
    QTest::newRow("negation") << QStringLiteral("Can I bring my dog into the office on Fridays?")
                              << QStringLiteral("Can I not bring my dog into the office on Fridays?")
                              << QStringLiteral("negation");
    QTest::newRow("negation 2") << QStringLiteral("Is it allowed to park in the visitor lot overnight?")
                                << QStringLiteral("Is it not allowed to park in the visitor lot overnight?")
                                << QStringLiteral("negation");
    QTest::newRow("order number") << QStringLiteral("Where is my order 48213? It has not arrived yet.")
                                  << QStringLiteral("Where is my order 48231? It has not arrived yet.")
                                  << QStringLiteral("number");
    QTest::newRow("month") << QStringLiteral("Where can I download the invoice for March?")
                           << QStringLiteral("Where can I download the invoice for April?") << QStringLiteral("number");
    QTest::newRow("entity") << QStringLiteral("What documents does Alice need to open an account at the Berlin branch?")
                            << QStringLiteral("What documents does Alice need to open an account at the Munich branch?")
                            << QStringLiteral("named entity");
    QTest::newRow("person") << QStringLiteral("What documents does Alice need to open an account at the Berlin branch?")
                            << QStringLiteral("What documents does Bob need to open an account at the Berlin branch?")
                            << QStringLiteral("named entity");
    QTest::newRow("quoted") << QStringLiteral("Search for \"blue widget\" in the catalogue")
                            << QStringLiteral("Search for \"red widget\" in the catalogue")
                            << QStringLiteral("quoted text");
    QTest::newRow("follow-up") << QStringLiteral("What is the refund policy for annual plans?")
                               << QStringLiteral("And what is the refund policy for annual plans?")
                               << QStringLiteral("follow-up");
    QTest::newRow("second largest") << QStringLiteral("What is the largest city in Canada?")
                                    << QStringLiteral("What is the largest city in Canada, and the second largest?")
                                    << QStringLiteral("number");
}

void TestL1Tier::hardNegativesAreNeverServed()
{
    QFETCH(QString, approved);
    QFETCH(QString, asked);
    const float similarity = dot(m_embedder.embed(approved.toStdString()), m_embedder.embed(asked.toStdString()));
    QVERIFY2(similarity >= 0.80f, qPrintable(QString::number(similarity)));

    const Approved a = approve(approved, QStringLiteral("The answer to: ") + approved, 0.80f);
    QVERIFY(!a.key.isEmpty());
    // The approved question itself is served from L0; its vector is indexed once a lookup of
    // the hard negative is guarded rather than missed.
    const int port = m_stack.gatewayPort();
    const double guardedBefore = ChatWire::sum(metrics(port), "l0l3_l1_lookups_total", {{"result", "guarded"}});
    QVERIFY2(
        Poll::until(
            [&] {
                const HttpResult r = chat(asked);
                if (r.status != 200 || r.header("x-l0l3-tier") == "L1")
                    return true; // reported below
                return ChatWire::sum(metrics(port), "l0l3_l1_lookups_total", {{"result", "guarded"}}) > guardedBefore;
            },
            kIndexTimeoutMs),
        "the hard negative's lookup never reached the guard");
    for (int i = 0; i < 3; ++i) {
        const HttpResult r = chat(asked);
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QVERIFY2(r.header("x-l0l3-tier") != "L1", qPrintable(r.describe()));
        QVERIFY(r.header("x-l0l3-entry").isEmpty());
        QVERIFY(ChatWire::completionContent(r.body) != a.response);
    }
}

void TestL1Tier::toolsAndResponseFormatSkipL1()
{
    const Approved a = approve(QStringLiteral("How do I reset the password on my laptop?"),
                               QStringLiteral("Hold the power button, then choose Reset."), 0.85f);
    QVERIFY(!a.key.isEmpty());
    const QString paraphrase = QStringLiteral("How can I reset the password on my laptop?");
    QVERIFY(waitUntilServedFromL1(paraphrase, a.key));

    const double skippedBefore = ChatWire::sum(metrics(m_stack.gatewayPort()), "l0l3_l1_lookups_total",
                                               {{"result", "skipped"}});
    const QJsonObject format{
        {QStringLiteral("response_format"), QJsonObject{{QStringLiteral("type"), QStringLiteral("json_object")}}}};
    const HttpResult formatted = chat(paraphrase, format);
    QVERIFY2(formatted.status == 200, qPrintable(formatted.describe()));
    QCOMPARE(formatted.header("x-l0l3-tier"), QByteArray("L3"));
    QVERIFY(ChatWire::sum(metrics(m_stack.gatewayPort()), "l0l3_l1_lookups_total", {{"result", "skipped"}})
            > skippedBefore);
}

void TestL1Tier::shadowProposalCarriesTheCandidate()
{
    const Approved a = approve(QStringLiteral("How do I export my contacts to a CSV file?"),
                               QStringLiteral("Contacts, then Export, then CSV."), 0.90f);
    QVERIFY(!a.key.isEmpty());
    const int shadowPort = m_shadow->listenPort();
    // Wait for the shadow gateway's index to hold it, without asking the paraphrase (its first
    // miss is the proposal under test).
    QVERIFY(Poll::until(
        [&] {
            const int expected = lexicalVectors(a.key);
            return expected > 0 && indexEntries(shadowPort) == expected;
        },
        kIndexTimeoutMs));
    // The invalidation may still be on its way: a paraphrase of its own per attempt, until one
    // proposal names the candidate.
    RedisClient &primary = m_stack.primaryClient();
    const QStringList paraphrases{
        QStringLiteral("How can I export my contacts to a CSV file?"),
        QStringLiteral("How do I export all my contacts to a CSV file?"),
        QStringLiteral("How do I export my contacts to a CSV file please?"),
        QStringLiteral("How can I export all my contacts to a CSV file?"),
        QStringLiteral("how do i export my contacts to a csv file?!"),
    };
    std::optional<Proposal> found;
    for (const QString &paraphrase : paraphrases) {
        const HttpResult r = chat(paraphrase, {}, shadowPort);
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        // Shadow mode serves nothing from L1.
        QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L3"));
        QVERIFY(r.header("x-l0l3-entry").isEmpty());
        const std::string key = r.header("x-l0l3-key").toStdString();
        QVERIFY(Poll::until(
            [&] {
                primary.command({"FCALL", bytes(ProposalFunction::kDrainName), "0", "1000"});
                const RedisValue all = primary.command({"XRANGE", bytes(RedisSchema::kProposals), "-", "+"});
                for (Proposal &p : ChatWire::proposals(all)) {
                    if (p.key == key) {
                        if (!p.l1Key.empty())
                            found = std::move(p);
                        return true;
                    }
                }
                return false;
            },
            kProposalTimeoutMs));
        if (found)
            break;
    }
    QVERIFY2(found, "no shadow proposal carried an L1 candidate");
    QCOMPARE(QByteArray::fromStdString(found->l1Key), a.key);
    QVERIFY2(found->l1Similarity >= 0.5f && found->l1Similarity <= 1.0f,
             qPrintable(QString::number(found->l1Similarity)));
    QVERIFY(ChatWire::sum(metrics(shadowPort), "l0l3_requests_total", {{"tier", "L1"}}) == 0);
}

void TestL1Tier::indexFollowsApproveAndRevoke()
{
    const int port = m_stack.gatewayPort();
    const Approved a = approve(QStringLiteral("How do I change the billing address on my invoice?"),
                               QStringLiteral("Billing, then Address, then Save."), 0.85f);
    QVERIFY(!a.key.isEmpty());
    const QString paraphrase = QStringLiteral("How can I change the billing address on my invoice?");
    QVERIFY(waitUntilServedFromL1(paraphrase, a.key));
    const double before = indexEntries(port);
    QVERIFY(before >= 1);

    revoke(a.key);
    // The invalidation removes the vector from the index; the paraphrase goes upstream again.
    QVERIFY2(Poll::until([&] { return indexEntries(port) == before - 1; }, kIndexTimeoutMs),
             qPrintable(QString::number(indexEntries(port))));
    const HttpResult r = chat(paraphrase);
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L3"));

    // Approved again, with another answer: served again, the new answer.
    const Approved again = approve(QStringLiteral("How do I change the billing address on my invoice?"),
                                   QStringLiteral("Ask support."), 0.85f);
    QVERIFY(waitUntilServedFromL1(paraphrase, again.key));
    QCOMPARE(ChatWire::completionContent(chat(paraphrase).body), again.response);
}

// The threshold a verdict loosened (the record as the console writes it: threshold, denial,
// evidence) is the one the gateway then serves at, once the key is published.
void TestL1Tier::loosenedThresholdIsServed()
{
    const QString prompt = QStringLiteral("What time does the pharmacy open on Saturday mornings?");
    const Approved a = approve(prompt, QStringLiteral("From 8 am."), SemanticThreshold::kInitial);
    QVERIFY(!a.key.isEmpty());
    QVERIFY(waitUntilServedFromL1(QStringLiteral("at what time does the pharmacy open on saturday mornings"), a.key));
    const QString nearMiss = QStringLiteral("What time does the pharmacy open on Saturday morning?");
    const float similarity = dot(m_embedder.embed(prompt.toStdString()), m_embedder.embed(nearMiss.toStdString()));
    QVERIFY2(similarity >= SemanticThreshold::kFloor && similarity < SemanticThreshold::kInitial,
             qPrintable(QString::number(similarity)));
    HttpResult r = chat(nearMiss);
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L3"));

    // Confirmed a little below the exact cosine: the index scores int8 vectors.
    const float confirmed = similarity - 0.01f;
    SemanticThreshold threshold;
    for (std::size_t i = 0; i < 60; ++i)
        threshold.confirm(confirmed);
    QCOMPARE(threshold.value(), confirmed);
    RedisClient &primary = m_stack.primaryClient();
    const QByteArray vectorKey = bytes(RedisSchema::vectorKey(a.key.toStdString()));
    auto record = VectorRecordCodec::decode(primary.get(vectorKey).toStdString());
    QVERIFY(record);
    record->threshold = threshold.value();
    record->denied = threshold.highestDenied();
    record->evidence = threshold.evidence();
    const auto json = VectorRecordCodec::encode(*record);
    QVERIFY(json);
    QCOMPARE(primary.command({"SET", vectorKey, bytes(*json)}).str, QByteArray("OK"));
    primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), a.key});
    QVERIFY2(waitUntilServedFromL1(nearMiss, a.key), qPrintable(chat(nearMiss).describe()));
    r = chat(nearMiss);
    bool ok = false;
    const double served = r.header("x-l0l3-similarity").toDouble(&ok);
    QVERIFY2(ok && served >= double(threshold.value()) - 1e-3 && served < double(SemanticThreshold::kInitial),
             r.header("x-l0l3-similarity").constData());
}

void TestL1Tier::otherModelsVectorsAreNotIndexed()
{
    const Approved other = approve(QStringLiteral("Which plan includes phone support on weekends?"),
                                   QStringLiteral("Enterprise."), 0.85f, "text-embedding-3-small");
    QVERIFY(!other.key.isEmpty());
    // Every vector record on the replica once it has the new one; those of the lexical model
    // are what a gateway started now indexes (its scan at start), the other one is not.
    RedisClient &replica = m_stack.replicaClient();
    int total = 0;
    int lexical = 0;
    QVERIFY(Poll::until(
        [&] {
            total = 0;
            lexical = 0;
            bool seenOther = false;
            const RedisValue scan = replica.command(
                {"SCAN", "0", "MATCH", bytes(RedisSchema::kVectorPattern), "COUNT", "100000"});
            for (const RedisValue &k : scan.elements.value(1).elements) {
                const auto record = VectorRecordCodec::decode(replica.get(k.str).toStdString());
                ++total;
                lexical += record && record->model == m_embedder.modelId() ? 1 : 0;
                seenOther = seenOther || k.str.endsWith(other.key);
            }
            return seenOther;
        },
        kIndexTimeoutMs));
    QVERIFY(lexical < total);
    QString error;
    auto fresh = m_stack.launchGateway({QStringLiteral("--semantic"), QStringLiteral("serve")}, &error,
                                       QStringLiteral("lax"));
    QVERIFY2(fresh, qPrintable(error));
    const int port = fresh->listenPort();
    QVERIFY2(Poll::until([&] { return indexEntries(port) == lexical; }, kIndexTimeoutMs),
             qPrintable(QString::number(indexEntries(port))));
    const HttpResult r = chat(QStringLiteral("Which plans include phone support on weekends?"), {}, port);
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L3"));
    QCOMPARE(indexEntries(port), double(lexical));
    QVERIFY(fresh->stop());
}

void TestL1Tier::followUpsMatchOnlyInTheirConversation()
{
    // The serving gateway runs --semantic-history 2: a follow-up is cached with the turns before it
    // folded into its system prompt (ChatRequestParser::kHistoryMarker), as the entry below holds them.
    const auto turns = [](const QString &country, const QString &answer, const QString &followUp) {
        const auto message = [](const QString &role, const QString &text) {
            return QJsonObject{{QStringLiteral("role"), role}, {QStringLiteral("content"), text}};
        };
        return QJsonObject{
            {QStringLiteral("messages"),
             QJsonArray{message(QStringLiteral("user"), QStringLiteral("What is the largest city in %1?").arg(country)),
                        message(QStringLiteral("assistant"), answer), message(QStringLiteral("user"), followUp)}}};
    };
    const std::string canada = std::string("\xE2\x90\x9E\xE2\x90\x9Ehistory")
        + "\n[user 35]\nWhat is the largest city in "
          "Canada?\n[assistant 8]\nToronto.\n";
    const Approved a = approve(QStringLiteral("And the second largest?"), QStringLiteral("Montreal."),
                               SemanticThreshold::kFloor, {}, canada);
    QVERIFY(!a.key.isEmpty());
    // The same conversation: L0; a rephrased follow-up in it: L1 from that entry.
    const QJsonObject same = turns(QStringLiteral("Canada"), QStringLiteral("Toronto."),
                                   QStringLiteral("And the second largest?"));
    QVERIFY2(Poll::until(
                 [&] {
                     const HttpResult r = chat({}, same);
                     return r.status == 200 && r.header("x-l0l3-tier") == "L0" && r.header("x-l0l3-key") == a.key;
                 },
                 kIndexTimeoutMs),
             qPrintable(chat({}, same).describe()));
    const QJsonObject rephrased = turns(QStringLiteral("Canada"), QStringLiteral("Toronto."),
                                        QStringLiteral("And the second largest, please?"));
    QVERIFY2(Poll::until(
                 [&] {
                     const HttpResult r = chat({}, rephrased);
                     return r.status == 200 && r.header("x-l0l3-tier") == "L1" && r.header("x-l0l3-entry") == a.key;
                 },
                 kIndexTimeoutMs),
             qPrintable(chat({}, rephrased).describe()));
    QCOMPARE(ChatWire::completionContent(chat({}, rephrased).body), QStringLiteral("Montreal."));

    // The very same follow-up after another conversation, or with none: never this entry.
    const qint64 upstreamBefore = m_stack.stubRequests();
    for (const QJsonObject &other :
         {turns(QStringLiteral("Australia"), QStringLiteral("Sydney."), QStringLiteral("And the second largest?")),
          turns(QStringLiteral("Canada"), QStringLiteral("Vancouver."), QStringLiteral("And the second largest?")),
          QJsonObject{}}) {
        const HttpResult r = chat(QStringLiteral("And the second largest?"), other);
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
        QVERIFY(r.header("x-l0l3-entry").isEmpty());
        QVERIFY(ChatWire::completionContent(r.body) != QStringLiteral("Montreal."));
    }
    QCOMPARE(m_stack.stubRequests(), upstreamBefore + 3);
    // More earlier turns than --semantic-history: not cached at all.
    QJsonObject longer = same;
    QJsonArray messages = longer.value(QStringLiteral("messages")).toArray();
    messages.prepend(QJsonObject{{QStringLiteral("role"), QStringLiteral("assistant")},
                                 {QStringLiteral("content"), QStringLiteral("Hello.")}});
    longer.insert(QStringLiteral("messages"), messages);
    QCOMPARE(chat({}, longer).header("x-l0l3-cache"), QByteArray("bypass"));
}

QTEST_GUILESS_MAIN(TestL1Tier)
#include "tst_l1tier.moc"
