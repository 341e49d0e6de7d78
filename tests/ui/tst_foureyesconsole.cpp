// The console under the four-eyes rule: a real redis-server with
// packaging/redis/users.acl, two approver operators. The first operator's
// approval keeps the proposal on the Proposals page, marked "waiting for
// second approval"; the console of another operator, open meanwhile, marks
// it too (the audit tail), names the first approver in the detail pane, and
// its approval writes the entry.

#include <QLabel>
#include <QTest>

#include "core/localstack/aclfile.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/poll.h"
#include "tests/ui/uitestsupport.h"
#include "ui/mainwindow.h"
#include "ui/proposals/proposaldetailpane.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"

using namespace l0l3;
using namespace l0l3::test;

class TestFourEyesConsole : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void firstApprovalWaitsForASecondOperator();

private:
    // The Prompt column of the key's row; empty while the row is not there.
    static QString promptText(MainWindow &w, const QString &key);

    RedisServer m_server;
};

void TestFourEyesConsole::initTestCase()
{
    QString why;
    QVERIFY2(m_server.start({}, &why), qPrintable(why));
}

void TestFourEyesConsole::cleanupTestCase()
{
    QVERIFY(m_server.stop());
}

QString TestFourEyesConsole::promptText(MainWindow &w, const QString &key)
{
    ProposalTableModel *model = w.proposalsPage()->model();
    const int row = model->rowOfKey(key);
    return row < 0 ? QString() : model->index(row, ProposalTableModel::Prompt).data().toString();
}

void TestFourEyesConsole::firstApprovalWaitsForASecondOperator()
{
    const QString annaPassword = AclFile::randomPassword();
    const QString bobPassword = AclFile::randomPassword();
    QVERIFY(addOperatorUser(m_server, QStringLiteral("anna"), QStringLiteral("approver"), annaPassword));
    QVERIFY(addOperatorUser(m_server, QStringLiteral("bob"), QStringLiteral("approver"), bobPassword));
    RedisClient console = m_server.client();
    QCOMPARE(console.command({"SADD", qb(RedisSchema::kFourEyes), "medical"}).integer, 1);
    Proposal p = makeProposal("fe-console", "How often may I take it?");
    p.ns = "medical";
    p.key = p.derivedKey();
    const QString key = QString::fromStdString(p.key);
    QVERIFY(!seedProposal(console, p).isEmpty());
    auto signedOff = [&] {
        const RedisValue v = console.command({"HGET", qb(RedisSchema::kSignOffs), key.toUtf8()});
        return !v.isError() && v.str.contains("\"op-anna\"");
    };
    auto entryWritten = [&] { return !console.get(qb(RedisSchema::entryKey(p.key))).isEmpty(); };

    // Bob's console is open before anna decides: the sign-off reaches it live (the audit tail).
    auto bob = openConsoleAs(m_server, QStringLiteral("op-bob"), bobPassword);
    QVERIFY(Poll::until([&] { return !promptText(*bob, key).isEmpty(); }, 20000));
    QVERIFY(!promptText(*bob, key).contains(QStringLiteral("waiting")));
    {
        auto anna = openConsoleAs(m_server, QStringLiteral("op-anna"), annaPassword);
        QVERIFY(Poll::until([&] { return !promptText(*anna, key).isEmpty(); }, 20000));
        anna->proposalsPage()->selectKey(key);
        anna->proposalsPage()->approveCurrent();
        QVERIFY(Poll::until(signedOff, 20000));
        // The row stays, marked, and is no longer pending.
        QVERIFY2(Poll::until(
                     [&] {
                         return promptText(*anna, key).startsWith(QStringLiteral("⧗ waiting for second approval"))
                             && !anna->proposalsPage()->model()->isPending(key);
                     },
                     20000),
                 qPrintable(promptText(*anna, key)));
        QVERIFY(!entryWritten());
    }

    QVERIFY2(Poll::until([&] { return promptText(*bob, key).contains(QStringLiteral("waiting for second approval")); },
                         20000),
             qPrintable(promptText(*bob, key)));
    bob->proposalsPage()->selectKey(key);
    QVERIFY(Poll::until(
        [&] {
            const auto labels = bob->proposalsPage()->detailPane()->findChildren<QLabel *>();
            return std::any_of(labels.begin(), labels.end(), [](const QLabel *l) {
                return l->text().contains(QStringLiteral("waiting for second approval: first approved by op-anna"));
            });
        },
        10000));
    bob->proposalsPage()->approveCurrent();
    QVERIFY(Poll::until(entryWritten, 20000));
    QVERIFY(Poll::until([&] { return bob->proposalsPage()->model()->rowOfKey(key) < 0; }, 20000));
    QVERIFY(!signedOff());
}

QTEST_MAIN(TestFourEyesConsole)
#include "tst_foureyesconsole.moc"
