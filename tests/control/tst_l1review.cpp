// The L1 review queue on a real primary (+ replica) with the ACL users of
// packaging/redis/users.acl: sampled L1 answers written as the gateway user
// through FCALL l0l3_l1_review, decided as an approver operator through
// ApprovalService::reviewL1 and through l0l3-ctl l1-review.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/common/auditrecord.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
#include "core/control/approvalservice.h"
#include "core/control/entryvectors.h"
#include "core/control/l1review.h"
#include "core/control/operatorstore.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/ctlrun.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;
using Kind = ApprovalResult::ErrorKind;

namespace {

const QString kOperatorPassword = QStringLiteral("anna-l1-review-password");

} // namespace

class TestL1Review : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void decodeRefusesMalformedItems();
    void denyTightensConfirmRecords();
    void aVerdictIsTakenOnce();
    void ctlListsConfirmsAndDenies();

private:
    // FCALL l0l3_l1_review as the gateway user; the new item's stream id.
    QString sample(const QString &requestKey, const QString &entry, const QByteArray &similarity,
                   const QByteArray &prompt);
    QString approveEntry(const std::string &name, const std::string &prompt);
    ApprovalResult review(ApprovalService *service, const QString &id, bool confirmed);
    std::optional<VectorRecord> vector(const QString &key)
    {
        const QByteArray json = m_rig.client.get(qb(RedisSchema::vectorKey(key.toStdString())));
        return json.isNull() ? std::nullopt : VectorRecordCodec::decode(json.toStdString());
    }
    // The audit records of an action about one review item (the audit outlives wipe()).
    QList<AuditRecord> audit(const QString &action, const QString &reviewId);
    QStringList queuedIds();

    ApprovalRig m_rig;
    RedisClient m_gateway;
    std::unique_ptr<RedisConnection> m_operatorConnection;
    std::unique_ptr<ApprovalService> m_operator;
};

void TestL1Review::initTestCase()
{
    QString why;
    QVERIFY2(m_rig.start(&why), qPrintable(why));
    m_gateway = m_rig.primary.client(QStringLiteral("gateway"));
    QVERIFY2(m_gateway.isConnected(), qPrintable(m_gateway.lastError()));
    // An approver operator, made as l0l3-ctl operators makes one: its role template's rules.
    RedisClient super = m_rig.primary.client(QStringLiteral("l0l3-superuser"));
    QVERIFY2(super.isConnected(), qPrintable(super.lastError()));
    QByteArray templateLine;
    for (const RedisValue &line : super.command({"ACL", "LIST"}).elements) {
        if (line.str.startsWith("user role-approver "))
            templateLine = line.str;
    }
    QVERIFY(!templateLine.isEmpty());
    QList<QByteArray> setuser{"ACL", "SETUSER", "op-anna", "on", ">" + kOperatorPassword.toUtf8()};
    setuser += OperatorStore::rulesOfAclListLine(templateLine);
    const RedisValue made = super.command(setuser);
    QVERIFY2(!made.isError(), made.str.constData());
    RedisConnection::Options o = optionsFor(m_rig.primary);
    o.user = "op-anna";
    o.password = kOperatorPassword.toUtf8();
    m_operatorConnection = std::make_unique<RedisConnection>(o);
    QSignalSpy connected(m_operatorConnection.get(), &RedisConnection::connected);
    m_operatorConnection->open();
    QVERIFY2(connected.wait(TimeScale::ms(5000)), qPrintable(m_operatorConnection->lastError()));
    m_operator = std::make_unique<ApprovalService>(m_operatorConnection.get());
    m_operator->setWaitTimeoutMs(3000);
}

void TestL1Review::cleanupTestCase()
{
    m_operator.reset();
    m_operatorConnection.reset();
    m_gateway.disconnect();
    m_rig.stop();
}

void TestL1Review::init()
{
    m_rig.wipe();
}

QString TestL1Review::sample(const QString &requestKey, const QString &entry, const QByteArray &similarity,
                             const QByteArray &prompt)
{
    const RedisValue r = m_gateway.command({"FCALL", qb(ProposalFunction::kL1ReviewName), "0", requestKey.toUtf8(),
                                            entry.toUtf8(), similarity, "default", prompt, "nyc"});
    if (r.isError())
        return QString::fromUtf8(r.str);
    const RedisValue last = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kL1Review), "+", "-", "COUNT", "1"});
    return QString::fromUtf8(last.elements.value(0).elements.value(0).str);
}

QString TestL1Review::approveEntry(const std::string &name, const std::string &prompt)
{
    const QString id = seedProposal(m_rig.client, makeProposal(name, prompt));
    m_rig.client.command(
        {"XGROUP", "CREATE", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup), "0", "MKSTREAM"});
    m_rig.client.command({"XREADGROUP", "GROUP", qb(RedisSchema::kProposalsGroup), "test", "COUNT", "1000", "STREAMS",
                          qb(RedisSchema::kProposals), ">"});
    QSignalSpy spy(m_rig.service.get(), &ApprovalService::finished);
    m_rig.service->approve(id, QString(), std::nullopt, QString(), QString());
    ApprovalResult r;
    if (!waitResult(spy, &r) || !r.ok)
        return {};
    return keyOf(QString::fromStdString(name));
}

ApprovalResult TestL1Review::review(ApprovalService *service, const QString &id, bool confirmed)
{
    QSignalSpy spy(service, &ApprovalService::finished);
    service->reviewL1(id, confirmed, QStringLiteral("someone-else"));
    ApprovalResult r;
    r.message = QStringLiteral("no result in time");
    waitResult(spy, &r);
    return r;
}

QList<AuditRecord> TestL1Review::audit(const QString &action, const QString &reviewId)
{
    QList<AuditRecord> records;
    const RedisValue v = m_rig.client.command({"XRANGE", qb(RedisSchema::kAudit), "-", "+"});
    for (const RedisValue &e : v.elements) {
        StreamFields fields;
        const RedisValue &f = e.elements.value(1);
        for (qsizetype i = 0; i + 1 < f.elements.size(); i += 2)
            fields.emplace_back(f.elements[i].str.toStdString(), f.elements[i + 1].str.toStdString());
        if (auto r = AuditCodec::decode(e.elements.value(0).str.toStdString(), fields); r
            && r->action == action.toStdString()
            && QString::fromStdString(r->detail).contains(u"review=" + reviewId + u' '))
            records.append(*r);
    }
    return records;
}

QStringList TestL1Review::queuedIds()
{
    QStringList ids;
    for (const RedisValue &e : m_rig.client.command({"XRANGE", qb(RedisSchema::kL1Review), "-", "+"}).elements)
        ids.append(QString::fromUtf8(e.elements.value(0).str));
    return ids;
}

void TestL1Review::decodeRefusesMalformedItems()
{
    const std::string key(32, 'a');
    const StreamFields good{{"key", key},
                            {"entry", std::string(32, 'b')},
                            {"similarity", "0.950"},
                            {"ns", "default"},
                            {"prompt", "hi"},
                            {"region", "nyc"},
                            {"ts", "1700000000000"}};
    const auto item = L1Review::decode("1-0", good);
    QVERIFY(item.has_value());
    QCOMPARE(item->similarity, 0.95);
    QCOMPARE(item->region, QStringLiteral("nyc"));
    std::string why;
    StreamFields twice = good;
    twice.emplace_back("key", key);
    QVERIFY(!L1Review::decode("1-0", twice, &why));
    StreamFields badKey = good;
    badKey[1].second = "../../x";
    QVERIFY(!L1Review::decode("1-0", badKey, &why));
    StreamFields badSimilarity = good;
    badSimilarity[2].second = "1.5";
    QVERIFY(!L1Review::decode("1-0", badSimilarity, &why));
    StreamFields missing(good.begin(), good.end() - 1);
    QVERIFY(!L1Review::decode("1-0", missing, &why));
    QVERIFY(!L1Review::decode("1-0 ", good, &why));
    QVERIFY(!L1Review::isValidId(QStringLiteral("+")));
    QVERIFY(!L1Review::isValidId(QStringLiteral("-")));
}

void TestL1Review::denyTightensConfirmRecords()
{
    const QString entry = approveEntry("r-main", "How do I reset my password?");
    QVERIFY(!entry.isEmpty());
    QCOMPARE(vector(entry)->threshold, SemanticThreshold::kInitial);
    const QString request1 = QString(32, u'1');
    const QString request2 = QString(32, u'2');
    const QByteArray wrongPrompt = "How do I reset my password on the router?";
    const QString denied = sample(request1, entry, "0.950", wrongPrompt);
    const QString confirmed = sample(request2, entry, "0.960", "how do I reset my password");
    QCOMPARE(queuedIds(), (QStringList{denied, confirmed}));

    const ApprovalResult deny = review(m_operator.get(), denied, false);
    QVERIFY2(deny.ok, qPrintable(deny.message));
    QCOMPARE(deny.action, QStringLiteral("l1-deny"));
    QCOMPARE(deny.key, entry);
    // Tightened past the higher of the gateway's similarity and the recomputed one.
    const float similarity = std::max(
        0.95f, EntryVectors::similarity("How do I reset my password?", wrongPrompt.toStdString()));
    const float tightened = EntryVectors::tightened(SemanticThreshold::kInitial, similarity);
    QVERIFY(tightened > 0.95f);
    QCOMPARE(vector(entry)->threshold, tightened);
    QCOMPARE(m_rig.client.command({"SISMEMBER", qb(RedisSchema::l1NegativeKey(entry.toStdString())), request1.toUtf8()})
                 .integer,
             1);
    QCOMPARE(queuedIds(), QStringList{confirmed});
    const QList<AuditRecord> denials = audit(QStringLiteral("l1-deny"), denied);
    QCOMPARE(denials.size(), 1);
    // The authenticated operator, whatever actor the caller passed.
    QCOMPARE(denials[0].user, std::string("op-anna"));
    QCOMPARE(denials[0].actor, std::string("anna"));
    QCOMPARE(denials[0].key, entry.toStdString());
    QVERIFY2(QString::fromStdString(denials[0].detail).contains(u"review=" + denied + u" request=" + request1),
             denials[0].detail.c_str());

    const ApprovalResult confirm = review(m_operator.get(), confirmed, true);
    QVERIFY2(confirm.ok, qPrintable(confirm.message));
    QCOMPARE(confirm.action, QStringLiteral("l1-confirm"));
    QCOMPARE(vector(entry)->threshold, tightened); // served at or above it: no evidence below it
    QVERIFY(queuedIds().isEmpty());
    QCOMPARE(audit(QStringLiteral("l1-confirm"), confirmed).size(), 1);
    QCOMPARE(audit(QStringLiteral("l1-confirm"), confirmed)[0].user, std::string("op-anna"));

    // Decided: not again.
    const ApprovalResult again = review(m_operator.get(), denied, false);
    QVERIFY(!again.ok);
    QCOMPARE(again.error, Kind::AlreadyDecided);
    QCOMPARE(audit(QStringLiteral("l1-deny"), denied).size(), 1);
    // A review whose entry was revoked since is only recorded.
    const QString orphan = sample(QString(32, u'3'), QString(32, u'f'), "0.930", "anything");
    const ApprovalResult gone = review(m_operator.get(), orphan, false);
    QVERIFY2(gone.ok, qPrintable(gone.message));
    QVERIFY(m_rig.client.get(qb(RedisSchema::vectorKey(std::string(32, 'f')))).isNull());
    QVERIFY(queuedIds().isEmpty());
}

void TestL1Review::aVerdictIsTakenOnce()
{
    const QString entry = approveEntry("o-main", "Which is the largest city in Canada?");
    QVERIFY(!entry.isEmpty());
    const QString id = sample(QString(32, u'4'), entry, "0.940", "which city in canada is the largest");
    // Two consoles at once: one verdict, the other AlreadyDecided, one audit record.
    QSignalSpy first(m_operator.get(), &ApprovalService::finished);
    QSignalSpy second(m_rig.service.get(), &ApprovalService::finished);
    m_operator->reviewL1(id, false, QString());
    m_rig.service->reviewL1(id, true, QString());
    ApprovalResult a, b;
    QVERIFY(waitResult(first, &a));
    QVERIFY(waitResult(second, &b));
    QVERIFY2(a.ok != b.ok, qPrintable(a.message + u" / " + b.message));
    QCOMPARE((a.ok ? b : a).error, Kind::AlreadyDecided);
    QCOMPARE(audit(QStringLiteral("l1-deny"), id).size() + audit(QStringLiteral("l1-confirm"), id).size(), 1);
    QVERIFY(queuedIds().isEmpty());
}

void TestL1Review::ctlListsConfirmsAndDenies()
{
    const QString entry = approveEntry("c-main", "What are your opening hours?");
    QVERIFY(!entry.isEmpty());
    const QString a = sample(QString(32, u'5'), entry, "0.930", "what are the opening hours");
    const QString b = sample(QString(32, u'6'), entry, "0.935", "opening hours on sunday?\x1b[31m");
    const QString url = consoleUrl(m_rig.primary.host(), m_rig.primary.port());
    const CtlRun list = runCtl({QStringLiteral("--primary"), url, QStringLiteral("l1-review"), QStringLiteral("list"),
                                QStringLiteral("--json")});
    QVERIFY2(list.code == 0, qPrintable(list.describe(true)));
    const QJsonArray items = QJsonDocument::fromJson(list.out).array();
    QCOMPARE(items.size(), 2);
    QCOMPARE(items[0].toObject().value(QStringLiteral("id")).toString(), a);
    QCOMPARE(items[0].toObject().value(QStringLiteral("entry")).toString(), entry);
    QCOMPARE(items[1].toObject().value(QStringLiteral("similarity")).toDouble(), 0.935);
    const CtlRun text = runCtl({QStringLiteral("--primary"), url, QStringLiteral("l1-review"), QStringLiteral("list")});
    QVERIFY2(text.code == 0, qPrintable(text.describe(true)));
    QVERIFY2(!text.out.contains('\x1b'), text.out.constData()); // escaped, never raw
    QVERIFY(text.out.contains(b.toUtf8()));

    const CtlRun deny = runCtl({QStringLiteral("--primary"), url, QStringLiteral("--actor"), QStringLiteral("dora"),
                                QStringLiteral("l1-review"), QStringLiteral("deny"), b});
    QVERIFY2(deny.code == 0, qPrintable(deny.describe(true)));
    QVERIFY(vector(entry)->threshold > 0.935f);
    const CtlRun confirm = runCtl(
        {QStringLiteral("--primary"), url, QStringLiteral("l1-review"), QStringLiteral("confirm"), a});
    QVERIFY2(confirm.code == 0, qPrintable(confirm.describe(true)));
    QVERIFY(queuedIds().isEmpty());
    QCOMPARE(audit(QStringLiteral("l1-deny"), b).value(0).actor, std::string("dora"));
    QCOMPARE(audit(QStringLiteral("l1-deny"), b).value(0).user, std::string("console"));
    // Decided already: a non-zero exit, nothing written.
    const CtlRun again = runCtl(
        {QStringLiteral("--primary"), url, QStringLiteral("l1-review"), QStringLiteral("confirm"), a});
    QVERIFY2(again.code != 0, qPrintable(again.describe(true)));
    QCOMPARE(audit(QStringLiteral("l1-confirm"), a).size(), 1);
    const CtlRun bad = runCtl({QStringLiteral("--primary"), url, QStringLiteral("l1-review"), QStringLiteral("deny")});
    QVERIFY(bad.code != 0);
}

QTEST_GUILESS_MAIN(TestL1Review)
#include "tst_l1review.moc"
