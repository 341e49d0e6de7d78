#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/common/entry.h"
#include "core/common/lexicalembedder.h"
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
// entry, negative pairs tightening a threshold.
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

private:
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
};

void TestVariants::initTestCase()
{
    QString why;
    QVERIFY2(m_rig.start(&why), qPrintable(why));
}

void TestVariants::cleanupTestCase()
{
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

QTEST_GUILESS_MAIN(TestVariants)
#include "tst_variants.moc"
