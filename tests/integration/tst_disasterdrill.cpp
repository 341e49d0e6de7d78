#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>
#include <QUuid>

#include <memory>

#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/control/corpusfile.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/support/ctlrun.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/poll.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kApprovals = 16;
// Entries restored in bulk before the drill, so its timings have a corpus to
// scale with; L0L3_DRILL_ENTRIES sets it for a measurement. A slower build
// restores 2000 / TimeScale of them (400 in the ASan stage): what that stage
// checks is the memory safety of every step, not how the timings scale.
constexpr int kDefaultBulkEntries = 2000;

int bulkEntries()
{
    bool ok = false;
    const int n = qEnvironmentVariableIntValue("L0L3_DRILL_ENTRIES", &ok);
    if (ok && n >= 0)
        return n;
    return static_cast<int>(kDefaultBulkEntries / TimeScale::factor());
}

} // namespace

// The "lost everything" drill of docs/RUNBOOK.md, end to end with real
// processes: a primary, a replica and a gateway per region (every data node
// persisted); approvals (edits, revokes, a rejected key, an intent) made
// with l0l3-ctl; `l0l3-ctl export --with-audit`; then every Redis process is
// killed and its data files deleted, fresh empty nodes start on the same
// addresses, the gateways restart, and `l0l3-ctl import` restores the file.
// Every entry must read back byte for byte (`entries --json`), every region
// must serve the approved answers again from Redis (tier L0 or L0.5, never a
// miss), the revoked keys must stay gone, the rejected key rejected, and the
// audit must record the restore. The drill's timeline is printed for the
// runbook.
class TestDisasterDrill : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void restoreFromExportAfterLosingEveryRedis();

private:
    CtlRun ctl(const QStringList &args);
    // A proposal for prompt as the gateways would file it, seeded on the primary; its stream id.
    QString seed(const QString &prompt, std::string *key);
    // The gateway's answer to prompt in region: status, cache, tier, content.
    HttpResult ask(const QString &region, const QString &prompt);
    // A corpus file of count synthetic entries (as an earlier export would hold them); their prompts.
    QStringList writeBulkCorpus(const QString &path, int count);
    // Kills a data server, deletes its AOF and RDB files, starts it again empty.
    bool wipe(RedisServer &server, QString *error);

    std::unique_ptr<E2eStack> m_stack;
    QTemporaryDir m_dir;
    QString m_runId;
};

void TestDisasterDrill::init()
{
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
    m_runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
    m_stack = std::make_unique<E2eStack>();
    E2eStack::Options options;
    options.regions = {QStringLiteral("tokyo"), QStringLiteral("eu")};
    options.persistence = true;
    QString error;
    QVERIFY2(m_stack->start(options, &error), qPrintable(error + u'\n' + m_stack->describe()));
}

void TestDisasterDrill::cleanup()
{
    if (QTest::currentTestFailed() && m_stack)
        qWarning().noquote() << m_stack->describe();
    m_stack.reset();
}

CtlRun TestDisasterDrill::ctl(const QStringList &args)
{
    const RedisServer &primary = m_stack->primary();
    return runCtl(QStringList{QStringLiteral("--primary"), consoleUrl(primary.host(), primary.port()),
                              QStringLiteral("--actor"), QStringLiteral("drill")}
                      + args,
                  ctlEnvironment(), 120000);
}

QString TestDisasterDrill::seed(const QString &prompt, std::string *key)
{
    Proposal p;
    p.ns = "default"; // the gateways' namespace when a request names none
    p.prompt = prompt.toStdString();
    p.response = "upstream answer";
    p.model = ChatWire::kModel;
    p.region = "tokyo";
    p.key = p.derivedKey();
    *key = p.key;
    RedisClient client = m_stack->primary().client();
    return QString::fromLatin1(E2eStack::addProposal(client, p));
}

HttpResult TestDisasterDrill::ask(const QString &region, const QString &prompt)
{
    HttpClient http;
    return http.post(m_stack->gatewayUrl(region), ChatWire::chatBody(prompt));
}

QStringList TestDisasterDrill::writeBulkCorpus(const QString &path, int count)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return {};
    CorpusWriter writer(&f);
    Corpus::Header header;
    header.source = QStringLiteral("redis://console@earlier-primary:6379");
    header.createdAtMs = QDateTime::currentMSecsSinceEpoch();
    header.contains = {QStringLiteral("entries"), QStringLiteral("rejected")};
    header.tool = QStringLiteral("tst_disasterdrill");
    if (!writer.writeHeader(header))
        return {};
    QStringList prompts;
    for (int i = 0; i < count; ++i) {
        Proposal p;
        p.ns = "default";
        p.prompt = QStringLiteral("Bulk drill question %1 of %2").arg(i).arg(m_runId).toStdString();
        p.model = ChatWire::kModel;
        Entry e;
        e.key = p.derivedKey();
        e.ns = p.ns;
        e.prompt = p.prompt;
        e.model = p.model;
        e.response = QStringLiteral("Bulk answer %1, approved long ago").arg(i).toStdString();
        e.version = 1 + i % 3;
        e.approvedBy = "earlier-operator";
        e.approvedAtMs = 1700000000000 + i;
        if (!writer.writeEntry(e, -1))
            return {};
        prompts.append(QString::fromStdString(p.prompt));
    }
    return writer.finish() ? prompts : QStringList();
}

bool TestDisasterDrill::wipe(RedisServer &server, QString *error)
{
    server.kill();
    QDir dir(server.dir());
    if (QDir(dir.filePath(QStringLiteral("appendonlydir"))).exists()
        && !QDir(dir.filePath(QStringLiteral("appendonlydir"))).removeRecursively()) {
        *error = QStringLiteral("cannot delete %1/appendonlydir").arg(dir.path());
        return false;
    }
    if (dir.exists(QStringLiteral("dump.rdb")) && !dir.remove(QStringLiteral("dump.rdb"))) {
        *error = QStringLiteral("cannot delete %1/dump.rdb").arg(dir.path());
        return false;
    }
    return true;
}

void TestDisasterDrill::restoreFromExportAfterLosingEveryRedis()
{
    // The corpus: entries approved earlier (restored in bulk), then approvals
    // (one with an intent), edits, revokes, a rejection.
    const int bulk = bulkEntries();
    const QString bulkFile = m_dir.filePath(QStringLiteral("bulk.jsonl"));
    const QStringList bulkPrompts = writeBulkCorpus(bulkFile, bulk);
    QCOMPARE(bulkPrompts.size(), bulk);
    if (bulk > 0) {
        const CtlRun r = ctl({QStringLiteral("import"), bulkFile});
        QVERIFY2(r.code == 0, QByteArray(r.out + r.err).constData());
    }
    QStringList prompts;
    QHash<QString, QString> answers; // prompt -> the answer every region must serve
    QHash<QString, QString> keys;    // prompt -> key
    for (int i = 0; i < kApprovals; ++i) {
        const QString prompt = QStringLiteral("Disaster drill question %1 of %2").arg(i).arg(m_runId);
        std::string key;
        const QString id = seed(prompt, &key);
        QVERIFY2(!id.isEmpty(), "seeding a proposal failed");
        const QString answer = QStringLiteral("Drill answer %1: \"exact\" \\ text\nline two \u00e9").arg(i);
        QFile response(m_dir.filePath(QStringLiteral("answer-%1.txt").arg(i)));
        QVERIFY(response.open(QIODevice::WriteOnly));
        response.write(answer.toUtf8());
        response.close();
        QStringList args{QStringLiteral("approve"), id, QStringLiteral("--response-file"), response.fileName()};
        if (i == 0)
            args << QStringLiteral("--intent") << QStringLiteral("drill-intent");
        const CtlRun r = ctl(args);
        QVERIFY2(r.code == 0, r.err.constData());
        prompts.append(prompt);
        answers.insert(prompt, answer);
        keys.insert(prompt, QString::fromStdString(key));
    }
    for (int i = 0; i < 2; ++i) {
        const QString prompt = prompts.at(i + 1);
        const QString edited = QStringLiteral("Edited drill answer %1").arg(i);
        QFile response(m_dir.filePath(QStringLiteral("edit-%1.txt").arg(i)));
        QVERIFY(response.open(QIODevice::WriteOnly));
        response.write(edited.toUtf8());
        response.close();
        const CtlRun r = ctl(
            {QStringLiteral("edit"), keys.value(prompt), QStringLiteral("--response-file"), response.fileName()});
        QVERIFY2(r.code == 0, r.err.constData());
        answers.insert(prompt, edited);
    }
    QStringList revoked;
    for (int i = 0; i < 2; ++i) {
        const QString prompt = prompts.at(kApprovals - 1 - i);
        const CtlRun r = ctl({QStringLiteral("revoke"), keys.value(prompt)});
        QVERIFY2(r.code == 0, r.err.constData());
        revoked.append(prompt);
        answers.remove(prompt);
    }
    std::string rejectedKey;
    const QString rejectedId = seed(QStringLiteral("A rejected drill question %1").arg(m_runId), &rejectedKey);
    const CtlRun rej = ctl({QStringLiteral("reject"), rejectedId, QStringLiteral("--days"), QStringLiteral("30")});
    QVERIFY2(rej.code == 0, rej.err.constData());

    // Served everywhere before the disaster.
    for (const QString &region : m_stack->regions())
        for (auto it = answers.cbegin(); it != answers.cend(); ++it)
            QTRY_COMPARE_WITH_TIMEOUT(ChatWire::completionContent(ask(region, it.key()).body), it.value(),
                                      TimeScale::ms(5000));

    const CtlRun before = ctl(
        {QStringLiteral("entries"), QStringLiteral("--json"), QStringLiteral("--limit"), QStringLiteral("1000000")});
    QVERIFY2(before.code == 0, before.err.constData());
    const QJsonArray beforeEntries = QJsonDocument::fromJson(before.out).array();
    QCOMPARE(beforeEntries.size(), bulk + kApprovals - 2);
    RedisClient primaryClient = m_stack->primary().client();
    const QByteArray rejectedScore =
        primaryClient
            .command({"ZSCORE", QByteArray(RedisSchema::kRejected.data(), RedisSchema::kRejected.size()),
                      QByteArray::fromStdString(rejectedKey)})
            .str;
    QVERIFY(!rejectedScore.isEmpty());

    // Backup.
    const QString file = m_dir.filePath(QStringLiteral("corpus.jsonl"));
    QElapsedTimer clock;
    clock.start();
    const CtlRun exported = ctl(
        {QStringLiteral("export"), QStringLiteral("--out"), file, QStringLiteral("--with-audit")});
    const qint64 exportMs = clock.elapsed();
    QVERIFY2(exported.code == 0, exported.err.constData());
    const qint64 fileBytes = QFileInfo(file).size();

    // The disaster: every Redis process killed, every data file deleted; the gateways go too.
    clock.restart();
    for (const QString &region : m_stack->regions())
        QVERIFY(m_stack->gateway(region).stop());
    QString error;
    for (RedisServer *server : m_stack->dataServers())
        QVERIFY2(wipe(*server, &error), qPrintable(error));
    // Fresh nodes on the same addresses: the primary first, then each replica (linked when started).
    QVERIFY2(m_stack->primary().restart(&error), qPrintable(error));
    for (const QString &region : m_stack->regions())
        QVERIFY2(m_stack->replica(region).restart(&error), qPrintable(error));
    const qint64 freshMs = clock.elapsed();
    RedisClient fresh = m_stack->primary().client();
    QVERIFY2(fresh.isConnected(), qPrintable(fresh.lastError()));
    const RedisValue scan = fresh.command({"SCAN", "0", "MATCH", "l0l3:v1:entry:*", "COUNT", "100000"});
    QVERIFY2(scan.elements.value(1).elements.isEmpty(), "the fresh primary is not empty");
    for (const QString &region : m_stack->regions())
        QVERIFY2(m_stack->restartGateway(region, &error), qPrintable(error));
    for (const QString &region : m_stack->regions())
        QCOMPARE(ask(region, prompts.first()).header("x-l0l3-cache"), QByteArray("miss"));

    // Restore.
    clock.restart();
    const CtlRun imported = ctl({QStringLiteral("import"), file});
    const qint64 importMs = clock.elapsed();
    QVERIFY2(imported.code == 0, QByteArray(imported.out + imported.err).constData());

    // Every region serves the approved answers again, from Redis (L0 or L0.5).
    QElapsedTimer served;
    served.start();
    for (const QString &region : m_stack->regions()) {
        for (auto it = answers.cbegin(); it != answers.cend(); ++it) {
            HttpResult hit;
            QVERIFY2(Poll::until(
                         [&] {
                             hit = ask(region, it.key());
                             return hit.header("x-l0l3-cache") == "hit";
                         },
                         TimeScale::ms(5000)),
                     qPrintable(QStringLiteral("%1 does not serve \"%2\" again: %3 %4")
                                    .arg(region, it.key(), QString::fromLatin1(hit.header("x-l0l3-cache")),
                                         QString::fromUtf8(hit.body.left(200)))));
            const QByteArray tier = hit.header("x-l0l3-tier");
            QVERIFY2(tier == "L0" || tier == "L0.5", tier.constData());
            QCOMPARE(ChatWire::completionContent(hit.body), it.value());
        }
        for (const QString &prompt : revoked)
            QCOMPARE(ask(region, prompt).header("x-l0l3-cache"), QByteArray("miss"));
        // A sample of the bulk entries (all of them are compared below, byte for byte).
        for (qsizetype i = 0; i < bulkPrompts.size(); i += qMax<qsizetype>(1, bulkPrompts.size() / 20))
            QCOMPARE(ask(region, bulkPrompts.at(i)).header("x-l0l3-cache"), QByteArray("hit"));
    }
    const qint64 servedMs = served.elapsed();

    // Byte for byte.
    const CtlRun after = ctl(
        {QStringLiteral("entries"), QStringLiteral("--json"), QStringLiteral("--limit"), QStringLiteral("1000000")});
    QVERIFY2(after.code == 0, after.err.constData());
    QCOMPARE(after.out, before.out);
    RedisClient restored = m_stack->primary().client();
    QCOMPARE(restored
                 .command({"ZSCORE", QByteArray(RedisSchema::kRejected.data(), RedisSchema::kRejected.size()),
                           QByteArray::fromStdString(rejectedKey)})
                 .str,
             rejectedScore);

    // The audit records the restore: one "import" record per entry, by the importer.
    const CtlRun audit = ctl(
        {QStringLiteral("audit"), QStringLiteral("--json"), QStringLiteral("--limit"), QStringLiteral("1000000")});
    QVERIFY2(audit.code == 0, audit.err.constData());
    int importRecords = 0;
    for (const QJsonValue &v : QJsonDocument::fromJson(audit.out).array()) {
        const QJsonObject record = v.toObject();
        if (record.value(QStringLiteral("action")).toString() == QLatin1String("import")
            && record.value(QStringLiteral("actor")).toString() == QLatin1String("drill"))
            ++importRecords;
    }
    // The wiped primary's audit starts with the restore: one record per entry and per rejected key.
    QVERIFY2(importRecords == bulk + kApprovals - 2 + 1, qPrintable(QString::fromUtf8(audit.out.left(2000))));

    // Importing the same file again changes nothing.
    const CtlRun again = ctl({QStringLiteral("import"), file});
    QVERIFY2(again.code == 0, QByteArray(again.out + again.err).constData());
    QCOMPARE(ctl({QStringLiteral("entries"), QStringLiteral("--json"), QStringLiteral("--limit"),
                  QStringLiteral("1000000")})
                 .out,
             before.out);

    qInfo("disaster drill: %lld entries, 1 rejected key, %lld bytes exported with the audit in %lld ms; every Redis "
          "killed and wiped, fresh primary + %lld replicas up in %lld ms; import %lld ms; every region served every "
          "entry from L0/L0.5 %lld ms after the import; entries --json identical; %d import audit records",
          qint64(beforeEntries.size()), fileBytes, exportMs, qint64(m_stack->regions().size()), freshMs, importMs,
          servedMs, importRecords);
    qInfo("export said: %s; import said: %s", exported.out.trimmed().constData(), imported.out.trimmed().constData());
}

QTEST_GUILESS_MAIN(TestDisasterDrill)
#include "tst_disasterdrill.moc"
