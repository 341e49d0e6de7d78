// AuditLog against a real redis-server: the audit stream's records, and the
// check that it never lost one (XINFO STREAM), as the console user sees them.

#include <QCryptographicHash>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/control/approvalservice.h"
#include "core/control/auditarchiver.h"
#include "core/control/auditlog.h"
#include "core/control/corpusfile.h"
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
    void archiveTrimsExactlyWhatItWrote();
    void consoleCannotArchiveOrForgeTheMarker();
    void archiveRefusesAStreamThatLostRecords();

private:
    // reload() and its first page; the details of tamperDetected in *tamper.
    bool reload(AuditLog &log, QStringList *tamper, QList<AuditRecord> *records = nullptr);
    void addRecords(int n);
    ApprovalResult approve(ApprovalService &service, const Proposal &p);
    // XADDs records with ids 1000-0, 1001-0, ... (old) as the console.
    void addOldRecords(int n);
    // Turns packaging's audit-archiver user on in the server's ACL file (as
    // an operator would) and restarts the server; a connection as that user.
    std::unique_ptr<RedisConnection> enableArchiver();
    AuditArchiver::Result archive(RedisConnection *connection, qint64 beforeMs, const QString &path);

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

void TestAuditLog::addOldRecords(int n)
{
    // The first as an operator's record names its ACL user; the others as records written before it
    // was recorded.
    for (int i = 0; i < n; ++i) {
        QList<QByteArray> xadd{"XADD",
                               qb(RedisSchema::kAudit),
                               QByteArray::number(1000 + i) + "-0",
                               "action",
                               "approve",
                               "key",
                               QByteArray::number(i),
                               "actor",
                               "alice",
                               "ts_ms",
                               "1",
                               "version",
                               "1"};
        if (i == 0)
            xadd << "user"
                 << "op-alice";
        const RedisValue id = m_console.command(xadd);
        QVERIFY2(id.isString(), qPrintable(id.toString()));
    }
}

std::unique_ptr<RedisConnection> TestAuditLog::enableArchiver()
{
    const QString password = QUuid::createUuid().toString(QUuid::Id128);
    QFile acl(m_server->dir() + QStringLiteral("/users.acl"));
    if (!acl.open(QIODevice::ReadOnly))
        return nullptr;
    QByteArray text = acl.readAll();
    acl.close();
    const QByteArray off = "user audit-archiver off ";
    if (!text.contains(off))
        return nullptr;
    const QByteArray hash = QCryptographicHash::hash(password.toUtf8(), QCryptographicHash::Sha256).toHex();
    text.replace(off, QByteArray("user audit-archiver on #" + hash + ' '));
    if (!acl.open(QIODevice::WriteOnly | QIODevice::Truncate) || acl.write(text) != text.size())
        return nullptr;
    acl.close();
    QString why;
    if (!m_server->restart(&why)) {
        qWarning("restart: %s", qPrintable(why));
        return nullptr;
    }
    m_console = m_server->client(QStringLiteral("console"));
    RedisConnection::Options o = optionsFor(*m_server);
    o.user = QByteArrayLiteral("audit-archiver");
    o.password = password.toUtf8();
    auto connection = std::make_unique<RedisConnection>(o);
    QSignalSpy connected(connection.get(), &RedisConnection::connected);
    connection->open();
    if (!connected.wait(TimeScale::ms(5000)))
        return nullptr;
    // The console's connection comes back by itself.
    QDeadlineTimer deadline(TimeScale::ms(5000));
    while (!m_conn->isReady() && !deadline.hasExpired())
        QTest::qWait(20);
    return m_conn->isReady() ? std::move(connection) : nullptr;
}

AuditArchiver::Result TestAuditLog::archive(RedisConnection *connection, qint64 beforeMs, const QString &path)
{
    AuditArchiver archiver(connection, {beforeMs, path, QStringLiteral("archivist")});
    AuditArchiver::Result result;
    result.message = QStringLiteral("no result in time");
    QSignalSpy finished(&archiver, &AuditArchiver::finished);
    archiver.start();
    if (finished.wait(TimeScale::ms(10000)))
        result = finished.first().first().value<AuditArchiver::Result>();
    return result;
}

// audit-archive writes the old records to a checked file, trims exactly
// them and records that in the marker: AuditLog finds the stream whole, and
// still reports a trim beyond it.
void TestAuditLog::archiveTrimsExactlyWhatItWrote()
{
    // First: the fixture's server keeps nothing across the restart.
    auto archiver = enableArchiver();
    QVERIFY(archiver);
    addOldRecords(3);
    addRecords(2);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("audit-1.jsonl"));
    const AuditArchiver::Result r = archive(archiver.get(), 2000, path);
    QVERIFY2(r.ok, qPrintable(r.message));
    QCOMPARE(r.archived, 3);
    QCOMPARE(r.totalArchived, 3);
    QCOMPARE(r.through, QStringLiteral("1002-0"));

    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(!(file.permissions() & QFileDevice::ReadOther));
    CorpusReader reader(&file);
    QVERIFY2(reader.validateAll(), qPrintable(reader.errorString()));
    QCOMPARE(reader.audit(), 3);
    QCOMPARE(reader.entries(), 0);
    // Each record with its authenticated user, as the stream had it (none in the older ones).
    file.seek(0);
    CorpusReader lines(&file);
    QStringList users;
    while (const auto line = lines.next()) {
        if (line->type == Corpus::Line::Type::Audit)
            users.append(QString::fromStdString(line->audit.user));
    }
    QVERIFY2(!lines.hasError(), qPrintable(lines.errorString()));
    QCOMPARE(users, (QStringList{QStringLiteral("op-alice"), QString(), QString()}));
    file.seek(0);
    QCOMPARE(QCryptographicHash::hash(file.readAll(), QCryptographicHash::Sha256).toHex(), r.sha256);

    const RedisValue marker = m_console.command({"HGET", qb(RedisSchema::kAuditArchived), "through"});
    QVERIFY2(marker.isError(), "the console reads the marker with HGETALL only");
    const RedisValue all = m_console.command({"HGETALL", qb(RedisSchema::kAuditArchived)});
    QVERIFY2(all.isArray() && all.elements.size() == 12, qPrintable(all.toString()));

    AuditLog log(m_conn.get());
    QStringList tamper;
    QList<AuditRecord> records;
    QVERIFY(reload(log, &tamper, &records));
    QVERIFY2(tamper.isEmpty(), qPrintable(tamper.join(u'\n')));
    // The two newer records and the archive's own.
    QCOMPARE(records.size(), 3);
    QCOMPARE(QString::fromStdString(records.first().action), QStringLiteral("audit-archive"));
    QCOMPARE(QString::fromStdString(records.first().actor), QStringLiteral("archivist"));
    QCOMPARE(QString::fromStdString(records.first().user), QStringLiteral("audit-archiver"));

    // A second archive adds to the total; nothing older is left to trim.
    const AuditArchiver::Result again = archive(archiver.get(), 2000, dir.filePath(QStringLiteral("audit-2.jsonl")));
    QVERIFY2(again.ok && again.archived == 0, qPrintable(again.message));

    // Any other loss is still reported.
    const RedisValue trimmed = m_console.command(
        {"XADD", qb(RedisSchema::kAudit), "MAXLEN", "1", "*", "action", "approve"});
    QVERIFY2(trimmed.isString(), qPrintable(trimmed.toString()));
    tamper.clear();
    QVERIFY(reload(log, &tamper));
    QCOMPARE(tamper.size(), 1);
    QVERIFY2(tamper.first().contains(QStringLiteral("3 of them were archived through 1002-0")),
             qPrintable(tamper.first()));
}

// The console user may not trim the audit or write the marker: an archive
// run as the console writes its file and trims nothing.
void TestAuditLog::consoleCannotArchiveOrForgeTheMarker()
{
    addOldRecords(3);
    QCOMPARE(m_console.command({"HSET", qb(RedisSchema::kAuditArchived), "archived", "3"}).isError(), true);
    QCOMPARE(m_console.command({"XTRIM", qb(RedisSchema::kAudit), "MINID", "2000-0"}).isError(), true);
    QTemporaryDir dir;
    const AuditArchiver::Result r = archive(m_conn.get(), 2000, dir.filePath(QStringLiteral("audit.jsonl")));
    QVERIFY(!r.ok);
    QVERIFY2(r.message.contains(QStringLiteral("NOPERM")), qPrintable(r.message));
    QCOMPARE(m_console.command({"XLEN", qb(RedisSchema::kAudit)}).integer, 3);
    AuditLog log(m_conn.get());
    QStringList tamper;
    QVERIFY(reload(log, &tamper));
    QVERIFY2(tamper.isEmpty(), qPrintable(tamper.join(u'\n')));
}

void TestAuditLog::archiveRefusesAStreamThatLostRecords()
{
    auto archiver = enableArchiver();
    QVERIFY(archiver);
    addOldRecords(3);
    const RedisValue trimmed = m_console.command(
        {"XADD", qb(RedisSchema::kAudit), "MAXLEN", "2", "*", "action", "approve"});
    QVERIFY2(trimmed.isString(), qPrintable(trimmed.toString()));
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("audit.jsonl"));
    const AuditArchiver::Result r = archive(archiver.get(), 2000, path);
    QVERIFY(!r.ok);
    QVERIFY2(r.message.startsWith(QStringLiteral("refusing to archive")), qPrintable(r.message));
    QVERIFY(!QFile::exists(path));
    QCOMPARE(m_console.command({"XLEN", qb(RedisSchema::kAudit)}).integer, 2);
}

QTEST_GUILESS_MAIN(TestAuditLog)
#include "tst_auditlog.moc"
