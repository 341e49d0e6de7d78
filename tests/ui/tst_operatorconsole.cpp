// A console logged in as an operator: what Redis (ACL DRYRUN) says the role
// may not do is greyed out with the reason, on every page. A viewer: the
// decisions, variants, entry edit and revoke, re-verification, import, the
// topology controls, the Control menu and guidelines editing; Enter on a
// proposal says why in the status bar and writes nothing. An approver:
// only the admin controls. An admin: nothing. A real redis-server with
// packaging/redis/users.acl; the operators are created from the role
// templates exactly as `l0l3-ctl operators add` does.

#include <QAbstractButton>
#include <QAction>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QStatusBar>
#include <QTableView>
#include <QTest>

#include "core/localstack/aclfile.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/auditreader.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "tests/ui/uitestsupport.h"
#include "ui/common/rolegate.h"
#include "ui/entries/entriespage.h"
#include "ui/l1review/l1reviewpage.h"
#include "ui/mainwindow.h"
#include "ui/proposals/guidelinespane.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"
#include "ui/reverify/reverifypage.h"
#include "ui/topology/topologypage.h"

using namespace l0l3;
using namespace l0l3::test;

class TestOperatorConsole : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void viewerSeesDecisionsGreyedOut();
    void approverKeepsDecisions();
    void adminKeepsEverything();

private:
    // The controls an approver may use, and those only an admin may, on every page.
    static QList<QObject *> decideControls(MainWindow &w);
    static QList<QObject *> adminControls(MainWindow &w);
    static bool enabled(const QObject *control);
    static QString toolTip(const QObject *control);
    static QString text(const QObject *control);
    // ACL SETUSER op-NAME with the rules of role-ROLE as the server lists them.
    static QString userLabel(MainWindow &w);

    RedisServer m_server;
};

void TestOperatorConsole::initTestCase()
{
    QString why;
    QVERIFY2(m_server.start({}, &why), qPrintable(why));
}

void TestOperatorConsole::cleanupTestCase()
{
    QVERIFY(m_server.stop());
}

QList<QObject *> TestOperatorConsole::decideControls(MainWindow &w)
{
    QList<QObject *> controls;
    for (QAction *a : w.proposalsPage()->decisionActions() + w.proposalsPage()->variantActions()
             + w.proposalsPage()->reservationActions())
        controls.append(a);
    controls += w.entriesPage()->writeControls() + w.reverifyPage()->writeControls();
    controls += w.findChild<L1ReviewPage *>()->writeControls();
    controls.append(w.findChild<QAction *>(QStringLiteral("importCorpusAction")));
    return controls;
}

QList<QObject *> TestOperatorConsole::adminControls(MainWindow &w)
{
    QList<QObject *> controls = w.topologyPage()->adminControls();
    for (QAction *menu : w.menuBar()->actions()) {
        if (menu->text() != QLatin1String("&Control"))
            continue;
        for (QAction *a : menu->menu()->actions()) {
            if (!a->isSeparator())
                controls.append(a);
        }
    }
    controls.append(w.proposalsPage()->guidelinesPane()->editButton());
    return controls;
}

bool TestOperatorConsole::enabled(const QObject *control)
{
    if (auto *a = qobject_cast<const QAction *>(control))
        return a->isEnabled();
    return qobject_cast<const QAbstractButton *>(control)->isEnabled();
}

QString TestOperatorConsole::toolTip(const QObject *control)
{
    if (auto *a = qobject_cast<const QAction *>(control))
        return a->toolTip();
    return qobject_cast<const QAbstractButton *>(control)->toolTip();
}

QString TestOperatorConsole::text(const QObject *control)
{
    if (auto *a = qobject_cast<const QAction *>(control))
        return a->text();
    return qobject_cast<const QAbstractButton *>(control)->text();
}

QString TestOperatorConsole::userLabel(MainWindow &w)
{
    for (QLabel *label : w.findChildren<QLabel *>()) {
        if (label->text().startsWith(QLatin1String("user: ")))
            return label->text();
    }
    return {};
}

void TestOperatorConsole::viewerSeesDecisionsGreyedOut()
{
    const QString password = AclFile::randomPassword();
    QVERIFY(addOperatorUser(m_server, QStringLiteral("victor"), QStringLiteral("viewer"), password));
    auto w = openConsoleAs(m_server, QStringLiteral("op-victor"), password);
    QVERIFY(Poll::until([&] { return !userLabel(*w).isEmpty(); }, 20000));
    QCOMPARE(userLabel(*w), QStringLiteral("user: op-victor (viewer)"));
    const QList<QObject *> decide = decideControls(*w);
    const QList<QObject *> admin = adminControls(*w);
    // 5 decisions + 3 variant + 4 reservation actions, entries 4, re-verify 6, L1 review 4, import; topology
    // 7, Control menu 7, guidelines.
    QCOMPARE(decide.size(), 27);
    QCOMPARE(admin.size(), 15);
    for (QObject *c : decide + admin) {
        QVERIFY2(!enabled(c), qPrintable(text(c)));
        QVERIFY2(toolTip(c).contains(QLatin1String("op-victor (viewer) may not use \"")), qPrintable(toolTip(c)));
        QVERIFY2(toolTip(c).contains(QLatin1String("Redis ACL refuses it to this role")), qPrintable(toolTip(c)));
    }
    QVERIFY(toolTip(w->entriesPage()->writeControls().at(1))
                .endsWith(QLatin1String("op-victor (viewer) may not use \"Revoke\": Redis ACL refuses it to this "
                                        "role (approvers and admins only)")));
    // A page's own state changes never re-enable what the role may not do.
    w->topologyPage()->setFrozen(true);
    w->proposalsPage()->guidelinesPane()->showNamespace(QStringLiteral("billing"));
    for (QObject *c : admin)
        QVERIFY2(!enabled(c), qPrintable(text(c)));

    // Enter on a proposal: the status bar says why nothing happens, and nothing is written.
    RedisClient console = m_server.client();
    const Proposal p = makeProposal("viewer-enter", "Can a viewer approve this?");
    QVERIFY(!seedProposal(console, p).isEmpty());
    const QString key = QString::fromStdString(p.key);
    ProposalsPage *page = w->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000));
    page->selectKey(key);
    QCOMPARE(page->currentItem()->key, key);
    page->view()->setFocus();
    QAction *approve = page->decisionActions().at(0);
    QCOMPARE(RoleGate::label(approve), QStringLiteral("Approve"));
    QVERIFY(!approve->isEnabled());
    QVERIFY(w->statusBar()->currentMessage() != RoleGate::refusal(approve));
    QTest::keyClick(page->view(), Qt::Key_Return);
    QCOMPARE(w->statusBar()->currentMessage(), RoleGate::refusal(approve));
    QVERIFY(w->statusBar()->currentMessage().startsWith(QLatin1String("op-victor (viewer) may not use \"Approve\"")));
    QVERIFY(page->model()->rowOfKey(key) >= 0);
    QVERIFY(console.get(qb(RedisSchema::entryKey(p.key))).isEmpty());
    for (const AuditRecord &a : readAudit(console))
        QVERIFY2(a.key != p.key, a.action.c_str());
}

void TestOperatorConsole::approverKeepsDecisions()
{
    const QString password = AclFile::randomPassword();
    QVERIFY(addOperatorUser(m_server, QStringLiteral("anna"), QStringLiteral("approver"), password));
    auto w = openConsoleAs(m_server, QStringLiteral("op-anna"), password);
    QVERIFY(Poll::until([&] { return !userLabel(*w).isEmpty(); }, 20000));
    QCOMPARE(userLabel(*w), QStringLiteral("user: op-anna (approver)"));
    for (QObject *c : decideControls(*w)) {
        QVERIFY2(enabled(c), qPrintable(text(c)));
        QVERIFY2(!toolTip(c).contains(QLatin1String("refuses")), qPrintable(toolTip(c)));
    }
    w->topologyPage()->setFrozen(true);
    w->proposalsPage()->guidelinesPane()->showNamespace(QStringLiteral("billing"));
    for (QObject *c : adminControls(*w)) {
        QVERIFY2(!enabled(c), qPrintable(text(c)));
        QVERIFY2(toolTip(c).contains(QLatin1String("op-anna (approver) may not use \"")), qPrintable(toolTip(c)));
        QVERIFY2(toolTip(c).endsWith(QLatin1String("Redis ACL refuses it to this role (admins only)")),
                 qPrintable(toolTip(c)));
    }
}

void TestOperatorConsole::adminKeepsEverything()
{
    const QString password = AclFile::randomPassword();
    QVERIFY(addOperatorUser(m_server, QStringLiteral("ada"), QStringLiteral("admin"), password));
    auto w = openConsoleAs(m_server, QStringLiteral("op-ada"), password);
    QVERIFY(Poll::until([&] { return !userLabel(*w).isEmpty(); }, 20000));
    QCOMPARE(userLabel(*w), QStringLiteral("user: op-ada (admin)"));
    w->proposalsPage()->guidelinesPane()->showNamespace(QStringLiteral("billing"));
    // Freeze and unfreeze also follow the frozen flag (the worker's role check, at any time): below.
    QPushButton *freeze = qobject_cast<QPushButton *>(w->topologyPage()->adminControls().at(5));
    QPushButton *unfreeze = qobject_cast<QPushButton *>(w->topologyPage()->adminControls().at(6));
    QVERIFY(freeze && unfreeze);
    for (QObject *c : decideControls(*w) + adminControls(*w)) {
        QVERIFY2(!toolTip(c).contains(QLatin1String("refuses")), qPrintable(toolTip(c)));
        if (c != freeze && c != unfreeze)
            QVERIFY2(enabled(c), qPrintable(text(c)));
    }
    // The page's own state still applies to an admin: frozen, only unfreeze.
    w->topologyPage()->setFrozen(true);
    QVERIFY(!freeze->isEnabled());
    QVERIFY(unfreeze->isEnabled());
    w->topologyPage()->setFrozen(false);
    QVERIFY(freeze->isEnabled());
    QVERIFY(!unfreeze->isEnabled());
}

QTEST_MAIN(TestOperatorConsole)
#include "tst_operatorconsole.moc"
