#include <QCryptographicHash>
#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/common/entry.h"
#include "core/common/lexicalembedder.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
#include "core/control/approvalservice.h"
#include "core/control/entryvectors.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;
using Kind = ApprovalResult::ErrorKind;

// The L1 side of ApprovalService against a real primary (+ replica): vectors
// written with entries, variants attached, edited and revoked with their main
// entry, negative pairs tightening a threshold, verdicts moving it by
// SemanticThreshold's rule (near misses attached as variants and L1 reviews).
class TestVariants : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void approveWritesTheVector();
    void variantFollowsItsMainEntry();
    void variantRefusals();
    void negativePairTightensTheThreshold();
    void nearMissesLoosenTheThreshold();
    void aDenialInTheBandKeepsItStrict();

private:
    // A proposal whose shadow candidate was mainKey at l1Similarity, attached to it as a variant.
    // Its prompt shares no word with the main entry's, so l1Similarity is the higher similarity.
    ApprovalResult attachNearMiss(const QString &mainKey, const QString &name, float l1Similarity);
    // An L1 answer of entry at similarity, sampled as the gateway does (FCALL), then decided.
    ApprovalResult reviewSampled(const QString &entry, const QString &name, const QByteArray &similarity,
                                 bool confirmed);
    ApprovalResult run(const std::function<void()> &call);
    QString seedAndDeliver(const Proposal &p);
    QByteArray get(std::string_view key) { return m_rig.client.get(qb(key)); }
    std::optional<Entry> entry(const QString &key)
    {
        const QByteArray json = get(RedisSchema::entryKey(key.toStdString()));
        if (json.isNull())
            return std::nullopt;
        return EntryCodec::decode(json.toStdString());
    }
    std::optional<VectorRecord> vector(const QString &key)
    {
        const QByteArray json = get(RedisSchema::vectorKey(key.toStdString()));
        if (json.isNull())
            return std::nullopt;
        return VectorRecordCodec::decode(json.toStdString());
    }
    QString lastAudit()
    {
        const RedisValue audit = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
        return audit.elements.value(0).elements.value(1).toString();
    }

    ApprovalRig m_rig;
    RedisClient m_gateway;
};

void TestVariants::initTestCase()
{
    QString why;
    QVERIFY2(m_rig.start(&why), qPrintable(why));
    m_gateway = m_rig.primary.client(QStringLiteral("gateway"));
    QVERIFY2(m_gateway.isConnected(), qPrintable(m_gateway.lastError()));
}

void TestVariants::cleanupTestCase()
{
    m_gateway.disconnect();
    m_rig.stop();
}

void TestVariants::init()
{
    m_rig.wipe();
}

ApprovalResult TestVariants::run(const std::function<void()> &call)
{
    QSignalSpy spy(m_rig.service.get(), &ApprovalService::finished);
    call();
    ApprovalResult r;
    r.message = QStringLiteral("no result in time");
    waitResult(spy, &r);
    return r;
}

QString TestVariants::seedAndDeliver(const Proposal &p)
{
    const QString id = seedProposal(m_rig.client, p, {{QStringLiteral("nyc"), 2}});
    m_rig.client.command(
        {"XGROUP", "CREATE", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup), "0", "MKSTREAM"});
    m_rig.client.command({"XREADGROUP", "GROUP", qb(RedisSchema::kProposalsGroup), "test", "COUNT", "1000", "STREAMS",
                          qb(RedisSchema::kProposals), ">"});
    return id;
}

void TestVariants::approveWritesTheVector()
{
    const QString id = seedAndDeliver(makeProposal("v-main", "How do I reset my password?"));
    ApprovalRequest request;
    request.proposalId = id;
    request.ttlSeconds = 3600;
    const ApprovalResult r = run([&] { m_rig.service->approve(request); });
    QVERIFY2(r.ok, qPrintable(r.message));
    const QString key = keyOf(QStringLiteral("v-main"));
    const auto record = vector(key);
    QVERIFY(record.has_value());
    QCOMPARE(record->model, std::string("lexical-v1-d256"));
    QCOMPARE(record->ns, std::string("default"));
    QCOMPARE(record->modelFamily, std::string("gpt-4o"));
    QCOMPARE(record->threshold, SemanticThreshold::kInitial);
    QCOMPARE(record->systemSha256, EntryVectors::systemSha256("You are a helpful support agent."));
    QCOMPARE(record->vector, LexicalEmbedder().embed("How do I reset my password?"));
    // The entry's expiry.
    const qint64 ttl = m_rig.client.command({"TTL", qb(RedisSchema::vectorKey(key.toStdString()))}).integer;
    QVERIFY2(ttl > 3500 && ttl <= 3600, qPrintable(QString::number(ttl)));
    // On the replica too: the same transaction.
    RedisClient replica = m_rig.replica.client();
    QTRY_VERIFY_WITH_TIMEOUT(!replica.get(qb(RedisSchema::vectorKey(key.toStdString()))).isNull(), TimeScale::ms(5000));

    // Revoked with the entry.
    const ApprovalResult revoked = run([&] { m_rig.service->revoke(key, QStringLiteral("bob")); });
    QVERIFY2(revoked.ok, qPrintable(revoked.message));
    QVERIFY(get(RedisSchema::vectorKey(key.toStdString())).isNull());
}

void TestVariants::variantFollowsItsMainEntry()
{
    const QString mainId = seedAndDeliver(makeProposal("p-main", "How do I reset my password?"));
    ApprovalResult r = run([&] {
        m_rig.service->approve(mainId, QString(), QStringLiteral("Use the reset link."), QString(), QString());
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    const QString mainKey = keyOf(QStringLiteral("p-main"));

    Subscriber sub;
    QVERIFY(sub.start(m_rig.primary, qb(RedisSchema::kInvalidateChannel)));
    const QString aId = seedAndDeliver(makeProposal("p-a", "I forgot my password, what now?"));
    const QString bId = seedAndDeliver(makeProposal("p-b", "Can't log in, I don't remember my password"));
    for (const QString &id : {aId, bId}) {
        ApprovalRequest request;
        request.proposalId = id;
        request.variantOf = mainKey;
        request.actor = QStringLiteral("carol");
        r = run([&] { m_rig.service->approve(request); });
        QVERIFY2(r.ok, qPrintable(r.message));
        QCOMPARE(r.action, QStringLiteral("variant"));
    }
    const QString aKey = keyOf(QStringLiteral("p-a"));
    const QString bKey = keyOf(QStringLiteral("p-b"));
    const auto a = entry(aKey);
    QVERIFY(a.has_value());
    QCOMPARE(a->variantOf, mainKey.toStdString());
    QCOMPARE(a->response, std::string("Use the reset link."));
    QCOMPARE(a->prompt, std::string("I forgot my password, what now?"));
    QCOMPARE(a->approvedBy, std::string("carol"));
    QVERIFY(vector(aKey).has_value());
    QCOMPARE(vector(aKey)->vector, LexicalEmbedder().embed("I forgot my password, what now?"));
    const RedisValue members = m_rig.client.command({"SMEMBERS", qb(RedisSchema::variantsKey(mainKey.toStdString()))});
    QCOMPARE(members.elements.size(), 2);
    QVERIFY2(lastAudit().contains(QLatin1String("variant_of=") + mainKey), qPrintable(lastAudit()));
    QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains(bKey.toUtf8()), TimeScale::ms(5000));
    // Acked: the proposals left the queue.
    const RedisValue pending = m_rig.client.command(
        {"XPENDING", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup)});
    QCOMPARE(pending.elements.value(0).integer, 0);
    // A decided proposal is not attached twice.
    ApprovalRequest again;
    again.proposalId = aId;
    again.variantOf = mainKey;
    r = run([&] { m_rig.service->approve(again); });
    QCOMPARE(r.error, Kind::AlreadyDecided);

    // Editing the main entry rewrites what every variant serves.
    r = run(
        [&] { m_rig.service->edit(mainKey, QStringLiteral("Open Settings, then Reset."), 1, QStringLiteral("dan")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    for (const QString &key : {aKey, bKey}) {
        const auto v = entry(key);
        QVERIFY(v.has_value());
        QCOMPARE(v->response, std::string("Open Settings, then Reset."));
        QCOMPARE(v->version, 2);
        QCOMPARE(v->variantOf, mainKey.toStdString());
    }
    QVERIFY2(lastAudit().contains(QLatin1String("2 variant(s)")), qPrintable(lastAudit()));

    // Revoking it removes them all, each invalidated.
    Subscriber afterRevoke;
    QVERIFY(afterRevoke.start(m_rig.primary, qb(RedisSchema::kInvalidateChannel)));
    r = run([&] { m_rig.service->revoke(mainKey, QStringLiteral("erin")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    for (const QString &key : {mainKey, aKey, bKey}) {
        QVERIFY(!entry(key).has_value());
        QVERIFY(!vector(key).has_value());
    }
    QCOMPARE(m_rig.client.command({"EXISTS", qb(RedisSchema::variantsKey(mainKey.toStdString()))}).integer, 0);
    QTRY_VERIFY_WITH_TIMEOUT(afterRevoke.data().contains(aKey.toUtf8()) && afterRevoke.data().contains(bKey.toUtf8())
                                 && afterRevoke.data().contains(mainKey.toUtf8()),
                             TimeScale::ms(5000));
    QVERIFY2(lastAudit().contains(QLatin1String("2 variant(s)")), qPrintable(lastAudit()));
}

void TestVariants::variantRefusals()
{
    const QString mainId = seedAndDeliver(makeProposal("r-main", "What are your opening hours?"));
    ApprovalResult r = run([&] { m_rig.service->approve(mainId, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));
    const QString mainKey = keyOf(QStringLiteral("r-main"));

    // No such entry.
    Proposal p = makeProposal("r-a", "When are you open?");
    const QString aId = seedAndDeliver(p);
    ApprovalRequest request;
    request.proposalId = aId;
    request.variantOf = QStringLiteral("fedcba9876543210fedcba9876543210");
    r = run([&] { m_rig.service->approve(request); });
    QCOMPARE(r.error, Kind::NotFound);
    request.variantOf = QStringLiteral("not a key");
    r = run([&] { m_rig.service->approve(request); });
    QCOMPARE(r.error, Kind::InvalidArgument);

    // Another namespace: never a variant.
    Proposal other = makeProposal("r-other", "When are you open?");
    other.ns = "elsewhere";
    other.key = other.derivedKey();
    const QString otherId = seedAndDeliver(other);
    request.proposalId = otherId;
    request.variantOf = mainKey;
    r = run([&] { m_rig.service->approve(request); });
    QCOMPARE(r.error, Kind::InvalidArgument);
    QVERIFY2(r.message.contains(QLatin1String("namespace")), qPrintable(r.message));
    QVERIFY(!entry(QString::fromStdString(other.key)).has_value());

    // A variant of a variant is refused: attach to the main entry.
    request.proposalId = aId;
    r = run([&] { m_rig.service->approve(request); });
    QVERIFY2(r.ok, qPrintable(r.message));
    const QString bId = seedAndDeliver(makeProposal("r-b", "Opening hours?"));
    request.proposalId = bId;
    request.variantOf = keyOf(QStringLiteral("r-a"));
    r = run([&] { m_rig.service->approve(request); });
    QCOMPARE(r.error, Kind::InvalidArgument);
    QVERIFY2(r.message.contains(QLatin1String("itself a variant")), qPrintable(r.message));

    // Revoking the variant alone leaves the main entry, and takes it out of the set.
    r = run([&] { m_rig.service->revoke(keyOf(QStringLiteral("r-a")), QStringLiteral("bob")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    QVERIFY(entry(mainKey).has_value());
    QCOMPARE(m_rig.client.command({"SCARD", qb(RedisSchema::variantsKey(mainKey.toStdString()))}).integer, 0);
}

void TestVariants::negativePairTightensTheThreshold()
{
    const QString mainId = seedAndDeliver(makeProposal("n-main", "Is smoking allowed in the rooms?"));
    ApprovalResult r = run([&] { m_rig.service->approve(mainId, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));
    const QString mainKey = keyOf(QStringLiteral("n-main"));
    // The same words: an operator says they are not the same question (e.g. a context the
    // text does not show), so L1 must never serve this entry again.
    const std::string negative = "is smoking allowed in the rooms";
    const float similarity = EntryVectors::similarity("Is smoking allowed in the rooms?", negative);
    QVERIFY2(similarity > 0.99f, qPrintable(QString::number(similarity)));

    Subscriber sub;
    QVERIFY(sub.start(m_rig.primary, qb(RedisSchema::kInvalidateChannel)));
    r = run([&] {
        m_rig.service->markNegative(mainKey, QStringLiteral("0123456789abcdef0123456789abcdef"),
                                    QString::fromStdString(negative), QStringLiteral("fay"));
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.action, QStringLiteral("l1-negative"));
    const auto record = vector(mainKey);
    QVERIFY(record.has_value());
    QCOMPARE(record->threshold, EntryVectors::tightened(SemanticThreshold::kInitial, similarity));
    QCOMPARE(record->threshold, SemanticThreshold::kCeiling);
    QVERIFY(record->denied.has_value() && *record->denied >= 0.99f);
    QCOMPARE(m_rig.client
                 .command({"SISMEMBER", qb(RedisSchema::l1NegativeKey(mainKey.toStdString())),
                           "0123456789abcdef0123456789abcdef"})
                 .integer,
             1);
    QVERIFY2(lastAudit().contains(QLatin1String("not_same=0123456789abcdef0123456789abcdef")), qPrintable(lastAudit()));
    QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains(mainKey.toUtf8()), TimeScale::ms(5000));

    // No entry: nothing to tighten.
    r = run([&] {
        m_rig.service->markNegative(QStringLiteral("fedcba9876543210fedcba9876543210"), mainKey,
                                    QStringLiteral("anything"), QStringLiteral("fay"));
    });
    QCOMPARE(r.error, Kind::NotFound);
}

ApprovalResult TestVariants::attachNearMiss(const QString &mainKey, const QString &name, float l1Similarity)
{
    Proposal p = makeProposal(name.toStdString(),
                              "Which tram line runs to the harbour, stop " + name.toStdString() + "?");
    p.l1Key = mainKey.toStdString();
    p.l1Similarity = l1Similarity;
    ApprovalRequest request;
    request.proposalId = seedAndDeliver(p);
    request.variantOf = mainKey;
    return run([&] { m_rig.service->approve(request); });
}

ApprovalResult TestVariants::reviewSampled(const QString &entry, const QString &name, const QByteArray &similarity,
                                           bool confirmed)
{
    const QByteArray requestKey = QCryptographicHash::hash(name.toUtf8(), QCryptographicHash::Md5).toHex();
    const RedisValue sampled = m_gateway.command(
        {"FCALL", qb(ProposalFunction::kL1ReviewName), "0", requestKey, entry.toUtf8(), similarity, "default",
         "Which tram line runs to the harbour, stop " + name.toUtf8() + "?", "nyc"});
    if (sampled.isError()) {
        ApprovalResult r;
        r.message = QString::fromUtf8(sampled.str);
        return r;
    }
    const RedisValue last = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kL1Review), "+", "-", "COUNT", "1"});
    const QString id = QString::fromUtf8(last.elements.value(0).elements.value(0).str);
    return run([&] { m_rig.service->reviewL1(id, confirmed, QStringLiteral("gus")); });
}

// The rule of three at the default 5 % bound: 60 confirmations below the threshold open the band
// down to the lowest of them, never below the floor; both kinds of confirmation count.
void TestVariants::nearMissesLoosenTheThreshold()
{
    const std::string prompt = "How do I reset my password?";
    const QString mainId = seedAndDeliver(makeProposal("l-main", prompt));
    ApprovalResult r = run([&] { m_rig.service->approve(mainId, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));
    const QString mainKey = keyOf(QStringLiteral("l-main"));
    QVERIFY(EntryVectors::similarity(prompt, "Which tram line runs to the harbour, stop l-0?") < 0.5f);
    Subscriber sub;
    QVERIFY(sub.start(m_rig.primary, qb(RedisSchema::kInvalidateChannel)));

    // One L1 answer confirmed below the threshold (it was served before a tightening, say),
    // then near misses from 0.8972 down to 0.8508: evidence, kept with the entry.
    r = reviewSampled(mainKey, QStringLiteral("l-review"), "0.8980", true);
    QVERIFY2(r.ok, qPrintable(r.message));
    QVERIFY2(lastAudit().contains(QLatin1String("threshold=0.920->0.920")), qPrintable(lastAudit()));
    for (int i = 0; i < 58; ++i) {
        r = attachNearMiss(mainKey, QStringLiteral("l-%1").arg(i), 0.8972f - 0.0008f * float(i));
        QVERIFY2(r.ok, qPrintable(r.message));
    }
    auto record = vector(mainKey);
    QVERIFY(record.has_value());
    QCOMPARE(record->threshold, SemanticThreshold::kInitial);
    QCOMPARE(record->evidence.size(), std::size_t(59));
    QCOMPARE(record->evidence.back(), 0.898f);
    QVERIFY2(lastAudit().contains(QLatin1String("l1_similarity=0.852 threshold=0.920->0.920")),
             qPrintable(lastAudit()));

    // The 60th: the threshold drops to the lowest confirmed similarity, and the gateways hear of it.
    r = attachNearMiss(mainKey, QStringLiteral("l-last"), 0.85f);
    QVERIFY2(r.ok, qPrintable(r.message));
    record = vector(mainKey);
    QVERIFY(record.has_value());
    QCOMPARE(record->threshold, 0.85f);
    QVERIFY(record->evidence.empty()); // used up by the band it opened
    QCOMPARE(record->vector, LexicalEmbedder().embed(prompt));
    QVERIFY2(lastAudit().contains(QLatin1String("l1_similarity=0.850 threshold=0.920->0.850")),
             qPrintable(lastAudit()));
    QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains(mainKey.toUtf8()), TimeScale::ms(5000));
    RedisClient replica = m_rig.replica.client();
    QTRY_VERIFY_WITH_TIMEOUT(VectorRecordCodec::decode(
                                 replica.get(qb(RedisSchema::vectorKey(mainKey.toStdString()))).toStdString())
                                     .value_or(VectorRecord{})
                                     .threshold
                                 == 0.85f,
                             TimeScale::ms(5000));

    // Below the floor nothing counts; at the floor 60 confirmations reach it, and no further.
    for (int i = 0; i < 60; ++i) {
        r = attachNearMiss(mainKey, QStringLiteral("f-%1").arg(i), 0.79f);
        QVERIFY2(r.ok, qPrintable(r.message));
    }
    QCOMPARE(vector(mainKey)->threshold, 0.85f);
    QVERIFY(vector(mainKey)->evidence.empty());
    for (int i = 0; i < 60; ++i) {
        r = attachNearMiss(mainKey, QStringLiteral("g-%1").arg(i), SemanticThreshold::kFloor);
        QVERIFY2(r.ok, qPrintable(r.message));
    }
    QCOMPARE(vector(mainKey)->threshold, SemanticThreshold::kFloor);
    QVERIFY2(lastAudit().contains(QLatin1String("threshold=0.850->0.800")), qPrintable(lastAudit()));

    // A near miss of another entry is no evidence for this one.
    const QString otherId = seedAndDeliver(makeProposal("l-other", "What are your opening hours?"));
    r = run([&] { m_rig.service->approve(otherId, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));
    Proposal elsewhere = makeProposal("l-elsewhere", "Which tram line runs to the harbour at night?");
    elsewhere.l1Key = mainKey.toStdString();
    elsewhere.l1Similarity = 0.85f;
    ApprovalRequest request;
    request.proposalId = seedAndDeliver(elsewhere);
    request.variantOf = keyOf(QStringLiteral("l-other"));
    r = run([&] { m_rig.service->approve(request); });
    QVERIFY2(r.ok, qPrintable(r.message));
    QVERIFY2(!lastAudit().contains(QLatin1String("threshold=")), qPrintable(lastAudit()));
    QCOMPARE(vector(keyOf(QStringLiteral("l-other")))->threshold, SemanticThreshold::kInitial);
    QVERIFY(vector(keyOf(QStringLiteral("l-other")))->evidence.empty());
}

// A wrong answer at 0.86 leaves the threshold where it is but bars loosening to within its
// margin: confirmations there are no evidence; above it they still are.
void TestVariants::aDenialInTheBandKeepsItStrict()
{
    const QString mainId = seedAndDeliver(makeProposal("d-main", "How do I reset my password?"));
    ApprovalResult r = run([&] { m_rig.service->approve(mainId, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));
    const QString mainKey = keyOf(QStringLiteral("d-main"));

    r = reviewSampled(mainKey, QStringLiteral("d-review"), "0.8600", false);
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.action, QStringLiteral("l1-deny"));
    auto record = vector(mainKey);
    QVERIFY(record.has_value());
    QCOMPARE(record->threshold, SemanticThreshold::kInitial);
    QCOMPARE(record->denied.value_or(-1.0f), 0.86f);
    QVERIFY2(lastAudit().contains(QLatin1String("threshold=0.920->0.920")), qPrintable(lastAudit()));

    for (int i = 0; i < 60; ++i) {
        r = attachNearMiss(mainKey, QStringLiteral("d-%1").arg(i), 0.87f);
        QVERIFY2(r.ok, qPrintable(r.message));
    }
    record = vector(mainKey);
    QCOMPARE(record->threshold, SemanticThreshold::kInitial);
    QVERIFY(record->evidence.empty());
    QVERIFY2(lastAudit().contains(QLatin1String("l1_similarity=0.870 threshold=0.920->0.920")),
             qPrintable(lastAudit()));

    for (int i = 0; i < 60; ++i) {
        r = attachNearMiss(mainKey, QStringLiteral("e-%1").arg(i), 0.89f);
        QVERIFY2(r.ok, qPrintable(r.message));
    }
    QCOMPARE(vector(mainKey)->threshold, 0.89f);
    QCOMPARE(vector(mainKey)->denied.value_or(-1.0f), 0.86f);
}

QTEST_GUILESS_MAIN(TestVariants)
#include "tst_variants.moc"
