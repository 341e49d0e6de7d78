#include <QDateTime>
#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/common/auditrecord.h"
#include "core/common/entry.h"
#include "core/control/approvalservice.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;
using Kind = ApprovalResult::ErrorKind;

// ApprovalService against a real primary (+ replica): every write is one
// audited, published, version-checked transaction, then WAIT.
class TestApprovalService : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void approveWritesEntryAuditAndPublishes();
    void approveWithEditedResponseAndConflictOnSecondApprove();
    void noReplicaMeansZeroAcked();
    void refusedOnReplica();
    void refusedWhileFrozen();
    void concurrentEditsOneWinsOneConflicts();
    void editBumpsVersion();
    void rejectAddsToRejectedSetAndAcks();
    void aDecidedProposalIsNotDecidedAgain();
    void revokeDeletesAuditsAndPublishes();
    void revokeMissingIsNotFound();
    void unknownProposalIsNotFound();
    void forgedProposalIsNeitherApprovedNorRejected();
    void controlDrainIsAuditedAndPublished();
    void controlMessagesFollowTheCodec_data();
    void controlMessagesFollowTheCodec();
    void writesAreSerialisedInCallOrder();
    void connectionDestroyedUnderPendingWrite();
    void gatewayUserIsDenied_data();
    void gatewayUserIsDenied();
    void unrejectRemovesKeyAndAudits();
    void unrejectRefusedOnReplicaAndWhenNotRejected();

private:
    ApprovalResult run(ApprovalService &svc, const std::function<void()> &call);
    QString seedAndDeliver(const Proposal &p);

    ApprovalRig m_rig;
};

void TestApprovalService::initTestCase()
{
    QString why;
    QVERIFY2(m_rig.start(&why), qPrintable(why));
}

void TestApprovalService::cleanupTestCase()
{
    m_rig.stop();
}

void TestApprovalService::init()
{
    m_rig.wipe();
}

ApprovalResult TestApprovalService::run(ApprovalService &svc, const std::function<void()> &call)
{
    QSignalSpy spy(&svc, &ApprovalService::finished);
    call();
    ApprovalResult r;
    r.message = QStringLiteral("no result in time");
    waitResult(spy, &r);
    return r;
}

// Seeds like a gateway and moves the proposal into the console group's pending list.
QString TestApprovalService::seedAndDeliver(const Proposal &p)
{
    const QString id = seedProposal(m_rig.client, p, {{QStringLiteral("nyc"), 2}, {QStringLiteral("tokyo"), 1}});
    m_rig.client.command(
        {"XGROUP", "CREATE", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup), "0", "MKSTREAM"});
    m_rig.client.command({"XREADGROUP", "GROUP", qb(RedisSchema::kProposalsGroup), "test", "COUNT", "1000", "STREAMS",
                          qb(RedisSchema::kProposals), ">"});
    return id;
}

void TestApprovalService::approveWritesEntryAuditAndPublishes()
{
    Subscriber sub;
    QVERIFY(sub.start(m_rig.primary, qb(RedisSchema::kInvalidateChannel)));
    const QString id = seedAndDeliver(makeProposal("k-approve", "How do I reset my password?"));
    const ApprovalResult r = run(*m_rig.service, [&] {
        m_rig.service->approve(id, keyOf(QStringLiteral("k-approve")), std::nullopt, QStringLiteral("password-reset"),
                               QString());
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.action, QStringLiteral("approve"));
    QCOMPARE(r.version, 1);
    QCOMPARE(r.replicasAcked, 1);

    const auto entry = EntryCodec::decode(
        m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-approve")).toUtf8())).toStdString());
    QVERIFY(entry.has_value());
    QCOMPARE(entry->response, std::string("Answer to: How do I reset my password?"));
    QCOMPARE(entry->intent, std::string("password-reset"));
    QCOMPARE(entry->approvedBy, std::string("alice"));
    QCOMPARE(entry->version, 1);
    QVERIFY(entry->approvedAtMs > 0);

    // On the replica too (WAIT said so).
    RedisClient replica = m_rig.replica.client();
    QVERIFY(!replica.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-approve")).toUtf8())).isNull());

    const RedisValue audit = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
    QCOMPARE(audit.elements.size(), 1);
    StreamFields fields;
    const RedisValue &kv = audit.elements[0].elements[1];
    for (qsizetype i = 0; i + 1 < kv.elements.size(); i += 2)
        fields.emplace_back(kv.elements[i].str.toStdString(), kv.elements[i + 1].str.toStdString());
    const auto rec = AuditCodec::decode(audit.elements[0].elements[0].str.toStdString(), fields);
    QVERIFY(rec.has_value());
    QCOMPARE(rec->action, std::string("approve"));
    QCOMPARE(rec->key, keyOf(QStringLiteral("k-approve")).toStdString());
    QCOMPARE(rec->actor, std::string("alice"));
    QCOMPARE(rec->version, 1);
    QCOMPARE(rec->prevVersion, 0);
    QVERIFY(QString::fromStdString(rec->detail).contains(id));

    QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains(keyOf(QStringLiteral("k-approve")).toUtf8()), TimeScale::ms(5000));
    // Acked and demand forgotten.
    const RedisValue pending = m_rig.client.command(
        {"XPENDING", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup)});
    QCOMPARE(pending.elements.value(0).integer, 0);
    QCOMPARE(m_rig.client.command({"EXISTS", QByteArray("l0l3:v1:seen:" + keyOf(QStringLiteral("k-approve")).toUtf8())})
                 .integer,
             0);
}

void TestApprovalService::approveWithEditedResponseAndConflictOnSecondApprove()
{
    const QString id = seedAndDeliver(makeProposal("k-edited", "Opening hours?"));
    ApprovalResult r = run(*m_rig.service, [&] {
        m_rig.service->approve(id, QString(), QStringLiteral("We are open 9-5."), QString(), QStringLiteral("bob"));
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.key, keyOf(QStringLiteral("k-edited")));
    const auto entry = EntryCodec::decode(
        m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-edited")).toUtf8())).toStdString());
    QCOMPARE(entry->response, std::string("We are open 9-5."));
    QCOMPARE(entry->approvedBy, std::string("bob"));

    r = run(*m_rig.service, [&] { m_rig.service->approve(id, QString(), std::nullopt, QString(), QString()); });
    QVERIFY(!r.ok);
    QCOMPARE(r.error, Kind::AlreadyDecided);
    QVERIFY2(r.message.contains(QLatin1String("already approved")), qPrintable(r.message));
    // Not overwritten.
    QCOMPARE(
        EntryCodec::decode(
            m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-edited")).toUtf8())).toStdString())
            ->response,
        std::string("We are open 9-5."));

    // A key that does not match the proposal is refused.
    r = run(*m_rig.service,
            [&] { m_rig.service->approve(id, QStringLiteral("other"), std::nullopt, QString(), QString()); });
    QCOMPARE(r.error, Kind::InvalidArgument);
}

void TestApprovalService::noReplicaMeansZeroAcked()
{
    RedisServer lonely;
    QString why;
    QVERIFY2(lonely.start({}, &why), qPrintable(why));
    RedisClient client = lonely.client();
    const QString id = seedProposal(client, makeProposal("k-lonely", "Alone?"));
    RedisConnection conn(optionsFor(lonely));
    conn.open();
    ApprovalService svc(&conn);
    svc.setWaitTimeoutMs(200);
    const ApprovalResult r = run(svc,
                                 [&] { svc.approve(id, QString(), std::nullopt, QString(), QStringLiteral("carol")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.replicasAcked, 0);
    QVERIFY2(r.message.contains(QLatin1String("0 replica")), qPrintable(r.message));
}

// A gateway's credential can append a proposal that shows one question under
// another question's key: approving it would serve the shown answer for the
// other question. The service recomputes the key from the fields and refuses.
void TestApprovalService::forgedProposalIsNeitherApprovedNorRejected()
{
    const Proposal victim = makeProposal("k-victim", "What are your opening hours?");
    Proposal forged = makeProposal("k-forged", "Tell me a joke");
    forged.response = "We never open.";
    forged.key = victim.key;
    const QString id = seedAndDeliver(forged);

    ApprovalResult r = run(*m_rig.service, [&] {
        m_rig.service->approve(id, QString(), std::nullopt, QString(), QStringLiteral("olga"));
    });
    QVERIFY(!r.ok);
    QCOMPARE(r.error, Kind::InvalidArgument);
    QVERIFY2(r.message.contains(QLatin1String("forged")) && r.message.contains(QString::fromStdString(victim.key)),
             qPrintable(r.message));
    r = run(*m_rig.service, [&] { m_rig.service->reject(id, QString(), QStringLiteral("olga")); });
    QVERIFY(!r.ok);
    QCOMPARE(r.error, Kind::InvalidArgument);

    QVERIFY(m_rig.client.get(QByteArray("l0l3:v1:entry:" + QByteArray::fromStdString(victim.key))).isNull());
    QVERIFY(
        m_rig.client.command({"ZSCORE", qb(RedisSchema::kRejected), QByteArray::fromStdString(victim.key)}).isNil());
    // Left pending in the stream, as every proposal the console cannot use.
    const RedisValue pending = m_rig.client.command(
        {"XPENDING", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup)});
    QVERIFY(pending.elements.value(0).integer >= 1);
}

void TestApprovalService::refusedOnReplica()
{
    const QString id = seedAndDeliver(makeProposal("k-replica", "Where am I?"));
    RedisClient replica = m_rig.replica.client();
    QTRY_VERIFY_WITH_TIMEOUT(
        !replica.command({"XRANGE", qb(RedisSchema::kProposals), id.toUtf8(), id.toUtf8()}).elements.isEmpty(),
        TimeScale::ms(5000));
    RedisConnection conn(optionsFor(m_rig.replica));
    conn.open();
    ApprovalService svc(&conn);
    ApprovalResult r = run(svc, [&] { svc.approve(id, QString(), std::nullopt, QString(), QStringLiteral("dave")); });
    QVERIFY(!r.ok);
    QCOMPARE(r.error, Kind::ReadOnlyReplica);
    QVERIFY2(r.message.contains(QLatin1String("not the primary")), qPrintable(r.message));
    r = run(svc, [&] { svc.freezeApprovals(QStringLiteral("dave")); });
    QCOMPARE(r.error, Kind::ReadOnlyReplica);
    QVERIFY(m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-replica")).toUtf8())).isNull());
}

void TestApprovalService::refusedWhileFrozen()
{
    const QString id = seedAndDeliver(makeProposal("k-frozen", "Frozen?"));
    ApprovalResult r = run(*m_rig.service, [&] { m_rig.service->freezeApprovals(QStringLiteral("eve")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(m_rig.client.get(qb(RedisSchema::kFrozen)), QByteArray("1"));
    r = run(*m_rig.service, [&] { m_rig.service->approve(id, QString(), std::nullopt, QString(), QString()); });
    QVERIFY(!r.ok);
    QCOMPARE(r.error, Kind::Frozen);
    QVERIFY2(r.message.contains(QLatin1String("frozen")), qPrintable(r.message));
    QVERIFY(m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-frozen")).toUtf8())).isNull());

    r = run(*m_rig.service, [&] { m_rig.service->unfreezeApprovals(QStringLiteral("eve")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    r = run(*m_rig.service, [&] { m_rig.service->approve(id, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));
}

void TestApprovalService::concurrentEditsOneWinsOneConflicts()
{
    const QString id = seedAndDeliver(makeProposal("k-race", "Race?"));
    ApprovalResult r = run(*m_rig.service,
                           [&] { m_rig.service->approve(id, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));

    RedisConnection connB(optionsFor(m_rig.primary));
    QSignalSpy connected(&connB, &RedisConnection::connected);
    connB.open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    ApprovalService svcB(&connB);
    QSignalSpy spyA(m_rig.service.get(), &ApprovalService::finished);
    QSignalSpy spyB(&svcB, &ApprovalService::finished);
    m_rig.service->edit(keyOf(QStringLiteral("k-race")), QStringLiteral("from A"), 1, QStringLiteral("alice"));
    svcB.edit(keyOf(QStringLiteral("k-race")), QStringLiteral("from B"), 1, QStringLiteral("bob"));
    ApprovalResult a, b;
    QVERIFY(waitResult(spyA, &a));
    QVERIFY(waitResult(spyB, &b));
    QVERIFY2(a.ok != b.ok, qPrintable(a.message + u" | " + b.message));
    const ApprovalResult &loser = a.ok ? b : a;
    QCOMPARE(loser.error, Kind::VersionConflict);
    const auto entry = EntryCodec::decode(
        m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-race")).toUtf8())).toStdString());
    QCOMPARE(entry->version, 2);
    QCOMPARE(entry->response, a.ok ? std::string("from A") : std::string("from B"));
}

void TestApprovalService::editBumpsVersion()
{
    const QString id = seedAndDeliver(makeProposal("k-editv", "Edit me"));
    ApprovalResult r = run(*m_rig.service,
                           [&] { m_rig.service->approve(id, QString(), std::nullopt, QString(), QString()); });
    QVERIFY(r.ok);
    r = run(*m_rig.service, [&] {
        m_rig.service->edit(keyOf(QStringLiteral("k-editv")), QStringLiteral("v2"), 1, QStringLiteral("frank"));
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.version, 2);
    QCOMPARE(r.prevVersion, 1);
    r = run(*m_rig.service, [&] {
        m_rig.service->edit(keyOf(QStringLiteral("k-editv")), QStringLiteral("stale"), 1, QStringLiteral("frank"));
    });
    QCOMPARE(r.error, Kind::VersionConflict);
    const auto entry = EntryCodec::decode(
        m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-editv")).toUtf8())).toStdString());
    QCOMPARE(entry->response, std::string("v2"));
    QCOMPARE(entry->approvedBy, std::string("frank"));
    r = run(*m_rig.service,
            [&] { m_rig.service->edit(QStringLiteral("k-nope"), QStringLiteral("x"), 1, QStringLiteral("frank")); });
    QCOMPARE(r.error, Kind::NotFound);
}

// Two operators on one proposal: the second decision, approve or reject, is refused as
// AlreadyDecided with who and when, and nothing more is written.
void TestApprovalService::aDecidedProposalIsNotDecidedAgain()
{
    const auto auditLength = [this] { return m_rig.client.command({"XLEN", qb(RedisSchema::kAudit)}).integer; };
    const QString approvedId = seedAndDeliver(makeProposal("k-twice-a", "Approved first?"));
    ApprovalResult r = run(*m_rig.service, [&] {
        m_rig.service->approve(approvedId, QString(), std::nullopt, QString(), QStringLiteral("alice"));
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    const qint64 audited = auditLength();
    r = run(*m_rig.service, [&] { m_rig.service->reject(approvedId, QString(), QStringLiteral("bob"), 7); });
    QCOMPARE(r.error, Kind::AlreadyDecided);
    QVERIFY2(r.message.contains(QLatin1String("already approved by alice at ")), qPrintable(r.message));
    QVERIFY(m_rig.client.command({"ZSCORE", qb(RedisSchema::kRejected), keyOf(QStringLiteral("k-twice-a")).toUtf8()})
                .isNil());

    const QString rejectedId = seedAndDeliver(makeProposal("k-twice-r", "Rejected first?"));
    r = run(*m_rig.service, [&] { m_rig.service->reject(rejectedId, QString(), QStringLiteral("alice"), 7); });
    QVERIFY2(r.ok, qPrintable(r.message));
    r = run(*m_rig.service,
            [&] { m_rig.service->approve(rejectedId, QString(), std::nullopt, QString(), QStringLiteral("bob")); });
    QCOMPARE(r.error, Kind::AlreadyDecided);
    QVERIFY2(r.message.contains(QLatin1String("already rejected until")), qPrintable(r.message));
    QVERIFY(m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-twice-r")).toUtf8())).isNull());
    QCOMPARE(auditLength(), audited + 1); // the one rejection, no refused decision
}

void TestApprovalService::rejectAddsToRejectedSetAndAcks()
{
    const QString id = seedAndDeliver(makeProposal("k-reject", "Spam?"));
    const RedisValue before = m_rig.client.command(
        {"XPENDING", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup)});
    QCOMPARE(before.elements.value(0).integer, 1);
    const qint64 t0 = QDateTime::currentMSecsSinceEpoch();
    const ApprovalResult r = run(*m_rig.service,
                                 [&] { m_rig.service->reject(id, QString(), QStringLiteral("gina"), 7); });
    const qint64 t1 = QDateTime::currentMSecsSinceEpoch();
    QVERIFY2(r.ok, qPrintable(r.message));
    const RedisValue score = m_rig.client.command(
        {"ZSCORE", qb(RedisSchema::kRejected), keyOf(QStringLiteral("k-reject")).toUtf8()});
    const qint64 until = score.str.toLongLong();
    const qint64 week = 7LL * 86400 * 1000;
    QVERIFY2(until >= t0 + week && until <= t1 + week, score.str.constData());
    const RedisValue after = m_rig.client.command(
        {"XPENDING", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup)});
    QCOMPARE(after.elements.value(0).integer, 0);
    QCOMPARE(m_rig.client.command({"EXISTS", QByteArray("l0l3:v1:seen:" + keyOf(QStringLiteral("k-reject")).toUtf8())})
                 .integer,
             0);
    QVERIFY(m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-reject")).toUtf8())).isNull());
    const RedisValue audit = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
    QVERIFY(audit.elements.value(0).elements.value(1).toString().contains(QLatin1String("reject")));
}

void TestApprovalService::revokeDeletesAuditsAndPublishes()
{
    const QString id = seedAndDeliver(makeProposal("k-revoke", "Revoke me"));
    ApprovalResult r = run(*m_rig.service,
                           [&] { m_rig.service->approve(id, QString(), std::nullopt, QString(), QString()); });
    QVERIFY(r.ok);
    Subscriber sub;
    QVERIFY(sub.start(m_rig.primary, qb(RedisSchema::kInvalidateChannel)));
    r = run(*m_rig.service, [&] { m_rig.service->revoke(keyOf(QStringLiteral("k-revoke")), QStringLiteral("henry")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.prevVersion, 1);
    QVERIFY(m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-revoke")).toUtf8())).isNull());
    QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains(keyOf(QStringLiteral("k-revoke")).toUtf8()), TimeScale::ms(5000));
    const RedisValue audit = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
    const QString text = audit.elements.value(0).elements.value(1).toString();
    QVERIFY2(text.contains(QLatin1String("revoke")) && text.contains(QLatin1String("henry")), qPrintable(text));
}

void TestApprovalService::revokeMissingIsNotFound()
{
    const ApprovalResult r = run(*m_rig.service,
                                 [&] { m_rig.service->revoke(QStringLiteral("k-never"), QStringLiteral("ian")); });
    QCOMPARE(r.error, Kind::NotFound);
}

void TestApprovalService::unknownProposalIsNotFound()
{
    ApprovalResult r = run(*m_rig.service, [&] {
        m_rig.service->approve(QStringLiteral("1-1"), QString(), std::nullopt, QString(), QString());
    });
    QCOMPARE(r.error, Kind::NotFound);
    r = run(*m_rig.service, [&] {
        m_rig.service->approve(QStringLiteral("not-an-id"), QString(), std::nullopt, QString(), QString());
    });
    QCOMPARE(r.error, Kind::InvalidArgument);
}

void TestApprovalService::controlDrainIsAuditedAndPublished()
{
    Subscriber sub;
    QVERIFY(sub.start(m_rig.primary, qb(RedisSchema::kControlChannel)));
    ApprovalResult r = run(*m_rig.service, [&] {
        m_rig.service->publishControl(QStringLiteral("drain tokyo"), QStringLiteral("judy"));
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(m_rig.client.command({"HGET", qb(RedisSchema::kDrained), "tokyo"}).str, QByteArray("1"));
    QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains("drain tokyo"), TimeScale::ms(5000));
    const RedisValue audit = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
    QVERIFY(audit.elements.value(0).elements.value(1).toString().contains(QLatin1String("control")));
    r = run(*m_rig.service,
            [&] { m_rig.service->publishControl(QStringLiteral("undrain tokyo"), QStringLiteral("judy")); });
    QVERIFY(r.ok);
    QVERIFY(m_rig.client.command({"HGET", qb(RedisSchema::kDrained), "tokyo"}).isNil());
    r = run(*m_rig.service, [&] { m_rig.service->publishControl(QStringLiteral("explode"), QStringLiteral("judy")); });
    QCOMPARE(r.error, Kind::InvalidArgument);
}

void TestApprovalService::controlMessagesFollowTheCodec_data()
{
    QTest::addColumn<QString>("message");
    QTest::addColumn<bool>("accepted");
    QTest::addColumn<QByteArray>("audited"); // the canonical text, also what is published
    QTest::addColumn<bool>("published");

    QTest::newRow("flush") << QStringLiteral("flush") << true << QByteArray("flush") << true;
    QTest::newRow("flush one region") << QStringLiteral("flush tokyo") << true << QByteArray("flush tokyo") << true;
    QTest::newRow("spaces simplified") << QStringLiteral("  undrain   tokyo ") << true << QByteArray("undrain tokyo")
                                       << true;
    QTest::newRow("failover audited only")
        << QStringLiteral("failover 10.0.0.7:6380") << true << QByteArray("failover 10.0.0.7:6380") << false;
    QTest::newRow("failover, new primary unknown")
        << QStringLiteral("failover") << true << QByteArray("failover") << false;
    QTest::newRow("region with a dot") << QStringLiteral("drain eu.west") << false << QByteArray() << false;
    QTest::newRow("two regions") << QStringLiteral("drain tokyo nyc") << false << QByteArray() << false;
    QTest::newRow("port zero") << QStringLiteral("promote redis-b:0") << false << QByteArray() << false;
    QTest::newRow("freeze without the flag") << QStringLiteral("freeze") << false << QByteArray() << false;
    QTest::newRow("unknown verb") << QStringLiteral("explode") << false << QByteArray() << false;
}

void TestApprovalService::controlMessagesFollowTheCodec()
{
    QFETCH(QString, message);
    QFETCH(bool, accepted);
    QFETCH(QByteArray, audited);
    QFETCH(bool, published);
    Subscriber sub;
    QVERIFY(sub.start(m_rig.primary, qb(RedisSchema::kControlChannel)));
    // The console may not delete the audit stream: it outlives init().
    const qint64 auditBefore = m_rig.client.command({"XLEN", qb(RedisSchema::kAudit)}).integer;
    const ApprovalResult r = run(*m_rig.service,
                                 [&] { m_rig.service->publishControl(message, QStringLiteral("judy")); });
    const RedisValue audit = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
    if (!accepted) {
        QCOMPARE(r.error, Kind::InvalidArgument);
        QCOMPARE(m_rig.client.command({"XLEN", qb(RedisSchema::kAudit)}).integer, auditBefore);
        QVERIFY(m_rig.client.command({"HLEN", qb(RedisSchema::kDrained)}).integer == 0);
        return;
    }
    QVERIFY2(r.ok, qPrintable(r.message));
    const QList<RedisValue> fields = audit.elements.value(0).elements.value(1).elements;
    QByteArray detail;
    for (qsizetype i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str == "detail")
            detail = fields[i + 1].str;
    }
    QCOMPARE(detail, audited);
    if (published) {
        QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains(audited), TimeScale::ms(5000));
    } else {
        // Published messages follow the audit in the same EXEC: a flush sent after it arrives after it.
        QVERIFY(run(*m_rig.service, [&] {
                    m_rig.service->publishControl(QStringLiteral("flush"), QStringLiteral("judy"));
                }).ok);
        QTRY_VERIFY_WITH_TIMEOUT(sub.data().contains("flush"), TimeScale::ms(5000));
        QVERIFY(!sub.data().contains(audited));
    }
}

void TestApprovalService::writesAreSerialisedInCallOrder()
{
    const QString id = seedAndDeliver(makeProposal("k-serial", "Serial?"));
    QSignalSpy spy(m_rig.service.get(), &ApprovalService::finished);
    QList<ApprovalResult> viaCallback;
    auto cb = [&](const ApprovalResult &r) { viaCallback.append(r); };
    // Issued back to back: each later write relies on the earlier one's version.
    m_rig.service->approve(id, QString(), std::nullopt, QString(), QStringLiteral("kim"), cb);
    m_rig.service->edit(keyOf(QStringLiteral("k-serial")), QStringLiteral("v2"), 1, QStringLiteral("kim"), cb);
    m_rig.service->edit(keyOf(QStringLiteral("k-serial")), QStringLiteral("v3"), 2, QStringLiteral("kim"), cb);
    QCOMPARE(m_rig.service->queuedCount(), 3);
    QVERIFY(viaCallback.isEmpty()); // never synchronous
    QTRY_COMPARE_WITH_TIMEOUT(spy.count(), 3, TimeScale::ms(15000));
    QCOMPARE(viaCallback.size(), 3);
    for (int i = 0; i < 3; ++i)
        QVERIFY2(viaCallback[i].ok, qPrintable(viaCallback[i].message));
    QCOMPARE(viaCallback[2].version, 3);
    QCOMPARE(
        EntryCodec::decode(
            m_rig.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-serial")).toUtf8())).toStdString())
            ->response,
        std::string("v3"));
}

void TestApprovalService::connectionDestroyedUnderPendingWrite()
{
    RedisServer server;
    QString why;
    QVERIFY2(server.start({}, &why), qPrintable(why));
    RedisClient client = server.client();
    const QString id = seedProposal(client, makeProposal("k-teardown", "Teardown?"));
    auto conn = std::make_unique<RedisConnection>(optionsFor(server));
    QSignalSpy connected(conn.get(), &RedisConnection::connected);
    conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    ApprovalService svc(conn.get());
    QSignalSpy spy(&svc, &ApprovalService::finished);
    // A hung server: the first write is on the wire, the second queued.
    server.pause();
    svc.approve(id, QString(), std::nullopt, QString(), QStringLiteral("lea"));
    svc.revoke(keyOf(QStringLiteral("k-teardown")), QStringLiteral("lea"));
    QTRY_VERIFY_WITH_TIMEOUT(conn->pendingCount() > 0, TimeScale::ms(5000));
    conn.reset();
    QTRY_COMPARE_WITH_TIMEOUT(spy.count(), 2, TimeScale::ms(5000));
    for (const QList<QVariant> &args : std::as_const(spy)) {
        const auto r = args.at(0).value<ApprovalResult>();
        QVERIFY(!r.ok);
        QCOMPARE(r.error, Kind::NotConnected);
    }
    server.resume();
    QVERIFY(client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("k-teardown")).toUtf8())).isNull());
}

void TestApprovalService::gatewayUserIsDenied_data()
{
    QTest::addColumn<QList<QByteArray>>("argv");
    QTest::newRow("SET entry") << QList<QByteArray>{"SET", "l0l3:v1:entry:x", "{}"};
    QTest::newRow("DEL entry") << QList<QByteArray>{"DEL", "l0l3:v1:entry:x"};
    QTest::newRow("XRANGE audit") << QList<QByteArray>{"XRANGE", qb(RedisSchema::kAudit), "-", "+"};
    QTest::newRow("XADD audit") << QList<QByteArray>{"XADD", qb(RedisSchema::kAudit), "*", "a", "b"};
    QTest::newRow("SET frozen") << QList<QByteArray>{"SET", qb(RedisSchema::kFrozen), "1"};
}

void TestApprovalService::gatewayUserIsDenied()
{
    QFETCH(QList<QByteArray>, argv);
    RedisClient gateway = m_rig.primary.client(QStringLiteral("gateway"));
    QVERIFY(gateway.isConnected());
    const RedisValue v = gateway.command(argv);
    QVERIFY2(v.isError() && v.str.startsWith("NOPERM"), qPrintable(v.toString()));
}

void TestApprovalService::unrejectRemovesKeyAndAudits()
{
    const QString id = seedAndDeliver(makeProposal("k-unreject", "Undo my reject"));
    ApprovalResult r = run(*m_rig.service, [&] { m_rig.service->reject(id, QString(), QStringLiteral("jane"), 7); });
    QVERIFY2(r.ok, qPrintable(r.message));
    QVERIFY(!m_rig.client.command({"ZSCORE", qb(RedisSchema::kRejected), keyOf(QStringLiteral("k-unreject")).toUtf8()})
                 .isNil());
    r = run(*m_rig.service,
            [&] { m_rig.service->unreject(keyOf(QStringLiteral("k-unreject")), QStringLiteral("jane")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.action, QStringLiteral("unreject"));
    QVERIFY(m_rig.client.command({"ZSCORE", qb(RedisSchema::kRejected), keyOf(QStringLiteral("k-unreject")).toUtf8()})
                .isNil());
    const RedisValue audit = m_rig.client.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"});
    const QString text = audit.elements.value(0).elements.value(1).toString();
    QVERIFY2(text.contains(QLatin1String("unreject")) && text.contains(QLatin1String("jane"))
                 && text.contains(keyOf(QStringLiteral("k-unreject"))),
             qPrintable(text));
    // Approving the (acked) proposal afterwards still works: it is read back by id.
    r = run(*m_rig.service, [&] { m_rig.service->approve(id, QString(), std::nullopt, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));
}

void TestApprovalService::unrejectRefusedOnReplicaAndWhenNotRejected()
{
    ApprovalResult r = run(*m_rig.service,
                           [&] { m_rig.service->unreject(QStringLiteral("k-never-rejected"), QString()); });
    QCOMPARE(r.error, Kind::NotFound);
    m_rig.client.command({"ZADD", qb(RedisSchema::kRejected), "99999999999999", "k-unreject-replica"});
    RedisClient replica = m_rig.replica.client();
    QTRY_VERIFY_WITH_TIMEOUT(!replica.command({"ZSCORE", qb(RedisSchema::kRejected), "k-unreject-replica"}).isNil(),
                             TimeScale::ms(5000));
    RedisConnection conn(optionsFor(m_rig.replica));
    conn.open();
    ApprovalService svc(&conn);
    r = run(svc, [&] { svc.unreject(QStringLiteral("k-unreject-replica"), QStringLiteral("kim")); });
    QVERIFY(!r.ok);
    QCOMPARE(r.error, Kind::ReadOnlyReplica);
    QVERIFY(!m_rig.client.command({"ZSCORE", qb(RedisSchema::kRejected), "k-unreject-replica"}).isNil());
    // Frozen: refused too.
    r = run(*m_rig.service, [&] { m_rig.service->freezeApprovals(QStringLiteral("kim")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    r = run(*m_rig.service,
            [&] { m_rig.service->unreject(QStringLiteral("k-unreject-replica"), QStringLiteral("kim")); });
    QCOMPARE(r.error, Kind::Frozen);
    r = run(*m_rig.service, [&] { m_rig.service->unfreezeApprovals(QStringLiteral("kim")); });
    QVERIFY2(r.ok, qPrintable(r.message));
}

QTEST_GUILESS_MAIN(TestApprovalService)
#include "tst_approvalservice.moc"
