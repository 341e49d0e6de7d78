// AuditLog against a real redis-server: the audit stream's records, and the
// check that it never lost one (XINFO STREAM), as the console user sees them.

#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/auditlog.h"
#include "tests/control/controltestsupport.h"

using namespace l0l3;
using namespace l0l3::test;

class TestAuditLog : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();
    void missingStreamIsClean();
    void streamWrittenByApprovalsIsClean();
    void streamTrimmedThroughXaddMaxlenIsReported();
    void streamTrimmedThroughXaddMinidIsReported();

private:
    // reload() and its first page; the details of tamperDetected in *tamper.
    bool reload(AuditLog &log, QStringList *tamper, QList<AuditRecord> *records = nullptr);
    void addRecords(int n);
    ApprovalResult approve(ApprovalService &service, const Proposal &p);

    std::unique_ptr<RedisServer> m_server;
    std::unique_ptr<RedisConnection> m_conn;
    RedisClient m_console;
};

// A fresh server per test: no user may delete the audit stream.
void TestAuditLog::init()
{
    m_server = std::make_unique<RedisServer>();
    QString why;
    QVERIFY2(m_server->start({}, &why), qPrintable(why));
    m_console = m_server->client(QStringLiteral("console"));
    QVERIFY2(m_console.isConnected(), qPrintable(m_console.lastError()));
    m_conn = std::make_unique<RedisConnection>(optionsFor(*m_server));
    QSignalSpy connected(m_conn.get(), &RedisConnection::connected);
    m_conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
}

void TestAuditLog::cleanup()
{
    m_conn.reset();
    m_console.disconnect();
    if (m_server)
        QVERIFY(m_server->stop());
    m_server.reset();
}

bool TestAuditLog::reload(AuditLog &log, QStringList *tamper, QList<AuditRecord> *records)
{
    QSignalSpy pages(&log, &AuditLog::pageLoaded);
    QSignalSpy failed(&log, &AuditLog::failed);
    QSignalSpy tampered(&log, &AuditLog::tamperDetected);
    log.reload();
    if (!pages.wait(TimeScale::ms(5000)) || !failed.isEmpty())
        return false;
    // The check is answered before the page it came with.
    for (const QList<QVariant> &args : std::as_const(tampered))
        tamper->append(args.at(0).toString());
    if (records)
        *records = pages.first().at(0).value<QList<AuditRecord>>();
    return true;
}

void TestAuditLog::addRecords(int n)
{
    for (int i = 0; i < n; ++i) {
        const RedisValue id = m_console.command({"XADD", qb(RedisSchema::kAudit), "*", "action", "approve", "key",
                                                 QByteArray::number(i), "actor", "alice", "ts_ms", "1", "version",
                                                 "1"});
        QVERIFY2(id.isString(), qPrintable(id.toString()));
    }
}

ApprovalResult TestAuditLog::approve(ApprovalService &service, const Proposal &p)
{
    const QString id = seedProposal(m_console, p);
    m_console.command(
        {"XGROUP", "CREATE", qb(RedisSchema::kProposals), qb(RedisSchema::kProposalsGroup), "0", "MKSTREAM"});
    m_console.command({"XREADGROUP", "GROUP", qb(RedisSchema::kProposalsGroup), "test", "COUNT", "1000", "STREAMS",
                       qb(RedisSchema::kProposals), ">"});
    QSignalSpy finished(&service, &ApprovalService::finished);
    service.approve(id, QString::fromStdString(p.key), std::nullopt, {}, {});
    ApprovalResult r;
    r.message = QStringLiteral("no result in time");
    waitResult(finished, &r);
    return r;
}

void TestAuditLog::missingStreamIsClean()
{
    AuditLog log(m_conn.get());
    QStringList tamper;
    QVERIFY(reload(log, &tamper));
    QVERIFY2(tamper.isEmpty(), qPrintable(tamper.join(u'\n')));
    QVERIFY(log.tamperDetail().isEmpty());
}

// What our own code writes (ApprovalService's audit XADD, edits and rejects
// included) never trims the stream.
void TestAuditLog::streamWrittenByApprovalsIsClean()
{
    ApprovalService service(m_conn.get());
    service.setDefaultActor(QStringLiteral("alice"));
    service.setWaitTimeoutMs(0);
    for (int i = 0; i < 3; ++i) {
        const ApprovalResult r = approve(
            service, makeProposal("audit-clean-" + std::to_string(i), "Question " + std::to_string(i)));
        QVERIFY2(r.ok, qPrintable(r.message));
    }
    AuditLog log(m_conn.get());
    QStringList tamper;
    QList<AuditRecord> records;
    QVERIFY(reload(log, &tamper, &records));
    QCOMPARE(records.size(), 3);
    QVERIFY2(tamper.isEmpty(), qPrintable(tamper.join(u'\n')));
}

// The console user may XADD to the audit stream and no ACL rule refuses the
// MAXLEN option: the trim is not prevented, but it is reported.
void TestAuditLog::streamTrimmedThroughXaddMaxlenIsReported()
{
    addRecords(5);
    AuditLog log(m_conn.get());
    QStringList tamper;
    QVERIFY(reload(log, &tamper));
    QVERIFY2(tamper.isEmpty(), qPrintable(tamper.join(u'\n')));

    const RedisValue trimmed = m_console.command(
        {"XADD", qb(RedisSchema::kAudit), "MAXLEN", "1", "*", "action", "approve"});
    QVERIFY2(trimmed.isString(), qPrintable(trimmed.toString()));
    QList<AuditRecord> records;
    QVERIFY(reload(log, &tamper, &records));
    QCOMPARE(records.size(), 1);
    QCOMPARE(tamper.size(), 1);
    QVERIFY2(tamper.first().contains(QStringLiteral("lost records: 6 were added, 1 are left")),
             qPrintable(tamper.first()));
    QCOMPARE(log.tamperDetail(), tamper.first());

    // Appending more does not make it whole again.
    addRecords(1);
    tamper.clear();
    QVERIFY(reload(log, &tamper));
    QCOMPARE(tamper.size(), 1);
}

void TestAuditLog::streamTrimmedThroughXaddMinidIsReported()
{
    addRecords(3);
    const QByteArray newest = m_console.command({"XREVRANGE", qb(RedisSchema::kAudit), "+", "-", "COUNT", "1"})
                                  .elements.value(0)
                                  .elements.value(0)
                                  .str;
    QVERIFY(!newest.isEmpty());
    const RedisValue trimmed = m_console.command(
        {"XADD", qb(RedisSchema::kAudit), "MINID", newest, "*", "action", "approve"});
    QVERIFY2(trimmed.isString(), qPrintable(trimmed.toString()));
    AuditLog log(m_conn.get());
    QStringList tamper;
    QVERIFY(reload(log, &tamper));
    QCOMPARE(tamper.size(), 1);
    QVERIFY2(tamper.first().contains(QStringLiteral("4 were added, 2 are left")), qPrintable(tamper.first()));
}

QTEST_GUILESS_MAIN(TestAuditLog)
#include "tst_auditlog.moc"
