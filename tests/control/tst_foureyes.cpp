// The four-eyes rule end to end: real l0l3-ctl processes against a real
// primary that loaded packaging/redis/users.acl, as real operator ACL users.
// In a namespace an admin marked, the first approval only signs off (no
// entry, the proposal stays pending), the same user cannot approve it again,
// a different user approving the same answer writes the entry, an edited
// answer restarts the sign-off, a rejection ends it, and the audit names
// every authenticated user. Other namespaces are unchanged.

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include "core/common/auditrecord.h"
#include "core/common/entry.h"
#include "core/control/operatorstore.h"
#include "core/localstack/aclfile.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/auditreader.h"
#include "tests/support/ctlrun.h"
#include "tests/support/managedprocess.h"

using namespace l0l3;
using namespace l0l3::test;

class TestFourEyes : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void onlyAdminsMarkNamespaces();
    void secondApproverWritesTheEntry();
    void editedAnswerRestartsTheSignOff();
    void rejectEndsTheSignOff();
    void otherNamespacesAreUnchanged();
    void queueLoadsWithAnAclOlderThanSignOffs();

private:
    CtlRun ctl(const QString &user, const QString &password, const QStringList &args);
    CtlRun as(const QString &op, const QStringList &args) { return ctl(u"op-" + op, m_passwords.value(op), args); }
    QString writeFile(const QString &name, const QByteArray &content);
    QString seed(const std::string &name, const std::string &prompt, const std::string &ns);
    std::optional<Entry> entryOf(const std::string &name);
    bool hasSignOff(const std::string &name);
    QList<AuditRecord> auditOf(const std::string &name);

    RedisServer m_primary;
    RedisClient m_client;
    QTemporaryDir m_dir;
    QHash<QString, QString> m_passwords;
};

void TestFourEyes::initTestCase()
{
    QString why;
    QVERIFY2(m_primary.start({}, &why), qPrintable(why));
    m_client = m_primary.client();
    QVERIFY(m_client.isConnected());
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
    const QList<std::pair<QString, QString>> operators{{QStringLiteral("alice"), QStringLiteral("admin")},
                                                       {QStringLiteral("anna"), QStringLiteral("approver")},
                                                       {QStringLiteral("bob"), QStringLiteral("approver")}};
    for (const auto &[name, role] : operators) {
        m_passwords.insert(name, AclFile::randomPassword());
        const CtlRun r = ctl(QStringLiteral("l0l3-superuser"), TestCredentials::get().superuser,
                             {QStringLiteral("operators"), QStringLiteral("add"), name, QStringLiteral("--role"), role,
                              QStringLiteral("--password-file"),
                              writeFile(name + QStringLiteral(".pw"), m_passwords.value(name).toUtf8())});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
    }
}

void TestFourEyes::cleanupTestCase()
{
    m_client.disconnect();
    m_primary.stop();
}

CtlRun TestFourEyes::ctl(const QString &user, const QString &password, const QStringList &args)
{
    // No replica: WAIT would only add its timeout.
    return runCtlAs(m_primary, user, password, QStringList{QStringLiteral("--wait-ms"), QStringLiteral("0")} + args);
}

QString TestFourEyes::writeFile(const QString &name, const QByteArray &content)
{
    const QString path = m_dir.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return {};
    f.write(content);
    return path;
}

QString TestFourEyes::seed(const std::string &name, const std::string &prompt, const std::string &ns)
{
    Proposal p = makeProposal(name, prompt);
    p.ns = ns;
    p.key = p.derivedKey();
    proposalKeys().insert(QString::fromStdString(name), QString::fromStdString(p.key));
    return seedProposal(m_client, p);
}

std::optional<Entry> TestFourEyes::entryOf(const std::string &name)
{
    const QByteArray json = m_client.get(qb(RedisSchema::entryKey(keyOf(QString::fromStdString(name)).toStdString())));
    if (json.isEmpty())
        return std::nullopt;
    return EntryCodec::decode(json.toStdString());
}

bool TestFourEyes::hasSignOff(const std::string &name)
{
    const RedisValue v = m_client.command(
        {"HGET", qb(RedisSchema::kSignOffs), keyOf(QString::fromStdString(name)).toUtf8()});
    return !v.isError() && !v.str.isEmpty();
}

QList<AuditRecord> TestFourEyes::auditOf(const std::string &name)
{
    const std::string key = keyOf(QString::fromStdString(name)).toStdString();
    QList<AuditRecord> records = readAudit(m_client);
    records.removeIf([&](const AuditRecord &r) { return r.key != key; });
    return records;
}

void TestFourEyes::onlyAdminsMarkNamespaces()
{
    const CtlRun refused = as(QStringLiteral("anna"),
                              {QStringLiteral("four-eyes"), QStringLiteral("set"), QStringLiteral("medical")});
    QVERIFY2(refused.code == 1 && refused.err.contains("NOPERM"), qPrintable(refused.describe()));

    for (const QString &ns : {QStringLiteral("medical"), QStringLiteral("legal")}) {
        const CtlRun r = as(QStringLiteral("alice"), {QStringLiteral("four-eyes"), QStringLiteral("set"), ns});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
    }
    const CtlRun unset = as(QStringLiteral("alice"),
                            {QStringLiteral("four-eyes"), QStringLiteral("unset"), QStringLiteral("legal")});
    QVERIFY2(unset.code == 0, qPrintable(unset.describe()));
    const CtlRun list = as(QStringLiteral("bob"),
                           {QStringLiteral("four-eyes"), QStringLiteral("list"), QStringLiteral("--json")});
    QVERIFY2(list.code == 0, qPrintable(list.describe()));
    QCOMPARE(QJsonDocument::fromJson(list.out).array(), QJsonArray{QStringLiteral("medical")});
    // Marking is audited with the admin's authenticated user.
    int audited = 0;
    for (const AuditRecord &a : auditOf("medical"))
        audited += a.action == "four-eyes" && a.user == "op-alice" && a.detail == "on";
    QCOMPARE(audited, 1);
}

void TestFourEyes::secondApproverWritesTheEntry()
{
    const QString id = seed("fe-dose", "What is the maximum daily dose?", "medical");

    // First approval: a sign-off, no entry; the proposal stays pending and shows as waiting.
    const CtlRun first = as(QStringLiteral("anna"), {QStringLiteral("approve"), id});
    QVERIFY2(first.code == 0, qPrintable(first.describe(true)));
    QVERIFY2(first.out.contains("waiting for second approval"), first.out.constData());
    QVERIFY(!entryOf("fe-dose"));
    QVERIFY(hasSignOff("fe-dose"));
    const CtlRun proposals = as(QStringLiteral("bob"), {QStringLiteral("proposals"), QStringLiteral("--json")});
    QVERIFY2(proposals.code == 0, qPrintable(proposals.describe()));
    bool marked = false;
    for (const QJsonValue &v : QJsonDocument::fromJson(proposals.out).array()) {
        if (v[QStringLiteral("id")].toString() == id)
            marked = v[QStringLiteral("waiting_for_second_approval")][QStringLiteral("first_user")].toString()
                == QStringLiteral("op-anna");
    }
    QVERIFY2(marked, proposals.out.constData());
    const CtlRun pending = as(QStringLiteral("bob"),
                              {QStringLiteral("four-eyes"), QStringLiteral("pending"), QStringLiteral("--json")});
    QVERIFY2(pending.code == 0, qPrintable(pending.describe()));
    const QJsonArray waiting = QJsonDocument::fromJson(pending.out).array();
    QCOMPARE(waiting.size(), 1);
    QCOMPARE(waiting[0][QStringLiteral("key")].toString(), keyOf(QStringLiteral("fe-dose")));
    QCOMPARE(waiting[0][QStringLiteral("first_user")].toString(), QStringLiteral("op-anna"));
    QCOMPARE(waiting[0][QStringLiteral("state")].toString(), QStringLiteral("waiting for second approval"));

    // The same user again: refused, still no entry.
    const CtlRun again = as(QStringLiteral("anna"), {QStringLiteral("approve"), id});
    QCOMPARE(again.code, 1);
    QVERIFY2(again.err.contains("second-approver-needed") && again.err.contains("a different user"),
             qPrintable(again.describe()));
    QVERIFY(!entryOf("fe-dose"));

    // Another user approving the same answer writes the entry.
    const CtlRun second = as(QStringLiteral("bob"), {QStringLiteral("approve"), id});
    QVERIFY2(second.code == 0, qPrintable(second.describe(true)));
    const std::optional<Entry> entry = entryOf("fe-dose");
    QVERIFY(entry);
    QCOMPARE(entry->approvedBy, std::string("bob"));
    QCOMPARE(entry->response, std::string("Answer to: What is the maximum daily dose?"));
    QVERIFY(!hasSignOff("fe-dose"));
    const CtlRun after = as(QStringLiteral("bob"), {QStringLiteral("proposals"), QStringLiteral("--json")});
    QVERIFY(!after.out.contains(id.toUtf8()));

    const QList<AuditRecord> records = auditOf("fe-dose");
    QCOMPARE(records.size(), 2);
    QCOMPARE(records[0].action, std::string("first-approval"));
    QCOMPARE(records[0].user, std::string("op-anna"));
    QCOMPARE(records[0].actor, std::string("anna"));
    QCOMPARE(records[1].action, std::string("approve"));
    QCOMPARE(records[1].user, std::string("op-bob"));
    QVERIFY2(records[1].detail.find("first by op-anna") != std::string::npos, records[1].detail.c_str());

    // One approver cannot make that answer serve another question either: no variants here.
    const QString other = seed("fe-dose-2", "What's the max dose per day?", "medical");
    const CtlRun variant = as(QStringLiteral("anna"),
                              {QStringLiteral("approve"), other, QStringLiteral("--variant-of"),
                               keyOf(QStringLiteral("fe-dose"))});
    QVERIFY2(variant.code == 2 && variant.err.contains("four-eyes"), qPrintable(variant.describe()));
    QVERIFY(!entryOf("fe-dose-2"));
}

void TestFourEyes::editedAnswerRestartsTheSignOff()
{
    const QString id = seed("fe-edit", "Can I take it with ibuprofen?", "medical");
    QVERIFY(as(QStringLiteral("bob"), {QStringLiteral("approve"), id}).code == 0);
    QVERIFY(hasSignOff("fe-edit"));

    // Anna edits the answer: not a second approval of what bob signed off, but a first one of hers.
    const QString edited = writeFile(QStringLiteral("edited.txt"), "Ask your pharmacist first.");
    const CtlRun edit = as(QStringLiteral("anna"),
                           {QStringLiteral("approve"), id, QStringLiteral("--response-file"), edited});
    QVERIFY2(edit.code == 0, qPrintable(edit.describe(true)));
    QVERIFY2(edit.out.contains("waiting for second approval"), edit.out.constData());
    QVERIFY(!entryOf("fe-edit"));
    const CtlRun pending = as(QStringLiteral("bob"),
                              {QStringLiteral("four-eyes"), QStringLiteral("pending"), QStringLiteral("--json")});
    const QJsonArray waiting = QJsonDocument::fromJson(pending.out).array();
    QCOMPARE(waiting.size(), 1);
    QCOMPARE(waiting[0][QStringLiteral("first_user")].toString(), QStringLiteral("op-anna"));
    QCOMPARE(waiting[0][QStringLiteral("response")].toString(), QStringLiteral("Ask your pharmacist first."));

    // Bob approving the original answer would sign off another answer again; the edited one completes it.
    const CtlRun second = as(QStringLiteral("bob"),
                             {QStringLiteral("approve"), id, QStringLiteral("--response-file"), edited});
    QVERIFY2(second.code == 0, qPrintable(second.describe(true)));
    const std::optional<Entry> entry = entryOf("fe-edit");
    QVERIFY(entry);
    QCOMPARE(entry->response, std::string("Ask your pharmacist first."));
    QCOMPARE(entry->approvedBy, std::string("bob"));

    // Once served, one approver cannot change the answer by editing it: refused, the entry unchanged.
    const QString changed = writeFile(QStringLiteral("changed.txt"), "Take two with water.");
    const CtlRun edit2 = as(QStringLiteral("anna"),
                            {QStringLiteral("edit"), keyOf(QStringLiteral("fe-edit")),
                             QStringLiteral("--response-file"), changed});
    QVERIFY2(edit2.code != 0 && edit2.err.contains("four-eyes rule: an edit would serve an answer one person approved"),
             qPrintable(edit2.describe(true)));
    QCOMPARE(entryOf("fe-edit")->response, std::string("Ask your pharmacist first."));
}

void TestFourEyes::rejectEndsTheSignOff()
{
    const QString id = seed("fe-reject", "Is it safe in pregnancy?", "medical");
    QVERIFY(as(QStringLiteral("anna"), {QStringLiteral("approve"), id}).code == 0);
    QVERIFY(hasSignOff("fe-reject"));
    const CtlRun reject = as(QStringLiteral("bob"), {QStringLiteral("reject"), id});
    QVERIFY2(reject.code == 0, qPrintable(reject.describe()));
    QVERIFY(!hasSignOff("fe-reject"));
    QVERIFY(!entryOf("fe-reject"));
    // Decided: a later approval finds it rejected.
    const CtlRun late = as(QStringLiteral("bob"), {QStringLiteral("approve"), id});
    QCOMPARE(late.code, 3);
    QVERIFY(!entryOf("fe-reject"));
}

void TestFourEyes::otherNamespacesAreUnchanged()
{
    const QString id = seed("fe-plain", "What are your opening hours?", "legal");
    const CtlRun r = as(QStringLiteral("anna"), {QStringLiteral("approve"), id});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));
    QVERIFY(!r.out.contains("waiting"));
    const std::optional<Entry> entry = entryOf("fe-plain");
    QVERIFY(entry);
    QCOMPARE(entry->approvedBy, std::string("anna"));
    QVERIFY(!hasSignOff("fe-plain"));
    const QList<AuditRecord> records = auditOf("fe-plain");
    QCOMPARE(records.size(), 1);
    QCOMPARE(records[0].action, std::string("approve"));
}

void TestFourEyes::queueLoadsWithAnAclOlderThanSignOffs()
{
    // A viewer whose rules predate l0l3:v1:signoffs (a users.acl not redeployed): HMGET of the
    // sign-offs is refused, and the queue still loads, without the marks.
    const QString id = seed("fe-legacy", "Does it interact with alcohol?", "medical");
    RedisClient root = m_primary.client(QStringLiteral("l0l3-superuser"));
    QByteArray viewerLine;
    for (const RedisValue &line : root.command({"ACL", "LIST"}).elements) {
        if (line.str.startsWith(QByteArray("user " + OperatorStore::templateUser(QStringLiteral("viewer")) + ' ')))
            viewerLine = line.str;
    }
    QVERIFY(viewerLine.contains(" %R~l0l3:v1:signoffs "));
    viewerLine.replace(" %R~l0l3:v1:signoffs ", " ");
    OperatorRecord record;
    record.name = QStringLiteral("legacy");
    record.role = QStringLiteral("viewer");
    const QString password = AclFile::randomPassword();
    record.passwordSha256 = AclFile::passwordHash(password);
    QCOMPARE(root.command(OperatorStore::setUserCommand(record, OperatorStore::rulesOfAclListLine(viewerLine))).str,
             QByteArray("OK"));
    const CtlRun proposals = ctl(QStringLiteral("op-legacy"), password,
                                 {QStringLiteral("proposals"), QStringLiteral("--json")});
    QVERIFY2(proposals.code == 0, qPrintable(proposals.describe()));
    QVERIFY(proposals.out.contains(id.toUtf8()));
}

QTEST_GUILESS_MAIN(TestFourEyes)
#include "tst_foureyes.moc"
