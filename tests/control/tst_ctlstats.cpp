#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTest>

#include <functional>
#include <memory>

#include "core/control/approvalservice.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/ctlrun.h"
#include "tests/support/managedprocess.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

// `l0l3-ctl stats` end to end: decisions made through ApprovalService against
// a real primary + replica, then the binary's figures read back.
class TestCtlStats : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void statsJsonCountsRealDecisions();
    void statsTextEscapesActors();
    void badDaysExitsTwo();

private:
    using Run = CtlRun;
    Run ctl(const QStringList &args);
    ApprovalResult run(const std::function<void(ApprovalService::ResultCallback)> &call);
    QString seedAndDeliver(const std::string &name, qint64 idMs);

    ReplicatedRedis m_redis;
    std::unique_ptr<RedisConnection> m_conn;
    std::unique_ptr<ApprovalService> m_service;
    qint64 m_proposedMs = 0;
};

namespace {
const QString kHostile = QStringLiteral("eve\x1b[31m\u202Eevil");
}

void TestCtlStats::initTestCase()
{
    QString why;
    QVERIFY2(m_redis.start(&why), qPrintable(why));
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
    m_conn = std::make_unique<RedisConnection>(optionsFor(m_redis.primary));
    QSignalSpy connected(m_conn.get(), &RedisConnection::connected);
    m_conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    m_service = std::make_unique<ApprovalService>(m_conn.get());
    m_service->setWaitTimeoutMs(3000);

    // Four proposals queued 90 s ago (their stream ids say so), then decided
    // now: alice approves two (one with an edited answer), bob rejects one,
    // a hostile actor name approves one.
    m_proposedMs = QDateTime::currentMSecsSinceEpoch() - 90000;
    const QString a1 = seedAndDeliver("st-a1", m_proposedMs);
    const QString a2 = seedAndDeliver("st-a2", m_proposedMs + 1);
    const QString b1 = seedAndDeliver("st-b1", m_proposedMs + 2);
    const QString e1 = seedAndDeliver("st-e1", m_proposedMs + 3);
    ApprovalResult r = run([&](auto cb) {
        m_service->approve(a1, keyOf(QStringLiteral("st-a1")), std::nullopt, QString(), QStringLiteral("alice"), cb);
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    r = run([&](auto cb) {
        m_service->approve(a2, keyOf(QStringLiteral("st-a2")), QStringLiteral("Edited."), QString(),
                           QStringLiteral("alice"), cb);
    });
    QVERIFY2(r.ok, qPrintable(r.message));
    r = run([&](auto cb) { m_service->reject(b1, QString(), QStringLiteral("bob"), 3, cb); });
    QVERIFY2(r.ok, qPrintable(r.message));
    r = run([&](auto cb) { m_service->approve(e1, QString(), std::nullopt, QString(), kHostile, cb); });
    QVERIFY2(r.ok, qPrintable(r.message));
}

void TestCtlStats::cleanupTestCase()
{
    m_service.reset();
    m_conn.reset();
    m_redis.stop();
}

ApprovalResult TestCtlStats::run(const std::function<void(ApprovalService::ResultCallback)> &call)
{
    ApprovalResult r;
    bool done = false;
    call([&](const ApprovalResult &result) {
        r = result;
        done = true;
    });
    // The callers assert on r.ok: a result that never came is a failed one.
    if (!QTest::qWaitFor([&] { return done; }, TimeScale::ms(15000))) {
        r.ok = false;
        r.message = QStringLiteral("no result in time");
    }
    return r;
}

QString TestCtlStats::seedAndDeliver(const std::string &name, qint64 idMs)
{
    const QString id = seedProposal(m_redis.client, makeProposal(name, "Stats " + name), {},
                                    QByteArray::number(idMs) + "-0");
    m_redis.client.command(
        {"XGROUP", "CREATE", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup), "0", "MKSTREAM"});
    m_redis.client.command({"XREADGROUP", "GROUP", qb(RedisSchema::kProposalsGroup), "test", "COUNT", "1000", "STREAMS",
                            qb(RedisSchema::kProposals), ">"});
    return id;
}

TestCtlStats::Run TestCtlStats::ctl(const QStringList &args)
{
    return runCtl(QStringList{QStringLiteral("--primary"), consoleUrl(m_redis.primary.host(), m_redis.primary.port())}
                  + args);
}

void TestCtlStats::statsJsonCountsRealDecisions()
{
    const Run r = ctl(
        {QStringLiteral("stats"), QStringLiteral("--json"), QStringLiteral("--days"), QStringLiteral("2")});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(!r.out.contains('\x1b'), r.out.constData());
    QJsonParseError perr;
    const QJsonObject root = QJsonDocument::fromJson(r.out, &perr).object();
    QVERIFY2(!root.isEmpty(), qPrintable(perr.errorString() + u' ' + QString::fromUtf8(r.out)));
    QCOMPARE(root.value(QStringLiteral("days")).toInt(), 2);

    QHash<QString, QJsonObject> ops;
    for (const QJsonValue &v : root.value(QStringLiteral("operators")).toArray())
        ops.insert(v.toObject().value(QStringLiteral("actor")).toString(), v.toObject());
    QCOMPARE(ops.size(), 3);
    const QJsonObject alice = ops.value(QStringLiteral("alice"));
    QCOMPARE(alice.value(QStringLiteral("decisions")).toInt(), 2);
    QCOMPARE(alice.value(QStringLiteral("decisions_today")).toInt(), 2);
    QCOMPARE(alice.value(QStringLiteral("approve")).toInt(), 2);
    QCOMPARE(alice.value(QStringLiteral("approve_edited")).toInt(), 1);
    QCOMPARE(alice.value(QStringLiteral("approve_ratio")).toDouble(), 1.0);
    // two decisions in a row: one timed gap, well under the break
    QCOMPARE(alice.value(QStringLiteral("timed_decisions")).toInt(), 1);
    QVERIFY(alice.value(QStringLiteral("median_ms")).toDouble() >= 0);
    QVERIFY(alice.value(QStringLiteral("median_ms")).toDouble() < 60000);
    // waited since the proposals' stream ids, 90 s ago (Redis clock)
    QCOMPARE(alice.value(QStringLiteral("waits")).toInt(), 2);
    QVERIFY2(alice.value(QStringLiteral("wait_median_ms")).toDouble() >= 85000, r.out.constData());
    QVERIFY2(alice.value(QStringLiteral("wait_p90_ms")).toDouble() < 600000, r.out.constData());

    const QJsonObject bob = ops.value(QStringLiteral("bob"));
    QCOMPARE(bob.value(QStringLiteral("reject")).toInt(), 1);
    QCOMPARE(bob.value(QStringLiteral("reject_ratio")).toDouble(), 1.0);
    QVERIFY(bob.value(QStringLiteral("median_ms")).isNull());
    // the hostile name comes back as the same string, escaped on the wire
    QVERIFY(ops.contains(kHostile));

    qint64 inflow = 0, outflow = 0;
    for (const QJsonValue &v : root.value(QStringLiteral("flow")).toArray()) {
        inflow += v.toObject().value(QStringLiteral("inflow")).toInteger();
        outflow += v.toObject().value(QStringLiteral("outflow")).toInteger();
        QVERIFY(!v.toObject().value(QStringLiteral("inflow_partial")).toBool());
    }
    QCOMPARE(inflow, 4);
    QCOMPARE(outflow, 4);
}

void TestCtlStats::statsTextEscapesActors()
{
    const Run r = ctl({QStringLiteral("stats")});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(r.out.contains("alice"), r.out.constData());
    QVERIFY2(r.out.contains("bob"), r.out.constData());
    QVERIFY2(!r.out.contains('\x1b'), r.out.constData());
    QVERIFY2(r.out.contains("eve\\x1B[31m\\u202Eevil"), r.out.constData());
    QVERIFY2(r.out.contains("last 7 day(s)"), r.out.constData());
}

void TestCtlStats::badDaysExitsTwo()
{
    QCOMPARE(ctl({QStringLiteral("stats"), QStringLiteral("--days"), QStringLiteral("0")}).code, 2);
    QCOMPARE(ctl({QStringLiteral("stats"), QStringLiteral("extra")}).code, 2);
}

QTEST_GUILESS_MAIN(TestCtlStats)
#include "tst_ctlstats.moc"
