// A console logged in as an operator: a viewer's decision actions are greyed
// out with the reason, because Redis (ACL DRYRUN) says the role may not
// write; an approver's stay enabled. A real redis-server with
// packaging/redis/users.acl; the operators are created from the role
// templates exactly as `l0l3-ctl operators add` does.

#include <QAction>
#include <QLabel>
#include <QTest>

#include "core/control/operatorstore.h"
#include "core/localstack/aclfile.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "ui/mainwindow.h"
#include "ui/proposals/proposalspage.h"

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

private:
    // ACL SETUSER op-NAME with the rules of role-ROLE as the server lists them.
    bool addOperator(const QString &name, const QString &role, const QString &password);
    std::unique_ptr<MainWindow> openAs(const QString &user, const QString &password);
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

bool TestOperatorConsole::addOperator(const QString &name, const QString &role, const QString &password)
{
    RedisClient root = m_server.client(QStringLiteral("l0l3-superuser"));
    const RedisValue list = root.command({"ACL", "LIST"});
    for (const RedisValue &line : list.elements) {
        if (!line.str.startsWith(QByteArray("user " + OperatorStore::templateUser(role) + ' ')))
            continue;
        OperatorRecord record;
        record.name = name;
        record.role = role;
        record.passwordSha256 = AclFile::passwordHash(password);
        return root.command(OperatorStore::setUserCommand(record, OperatorStore::rulesOfAclListLine(line.str))).str
            == "OK";
    }
    return false;
}

std::unique_ptr<MainWindow> TestOperatorConsole::openAs(const QString &user, const QString &password)
{
    auto w = std::make_unique<MainWindow>();
    RedisConnection::Options o;
    o.host = m_server.host();
    o.port = m_server.port();
    o.user = user.toUtf8();
    o.password = password.toUtf8();
    w->connectWith(o, user);
    w->show();
    return w;
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
    QVERIFY(addOperator(QStringLiteral("victor"), QStringLiteral("viewer"), password));
    auto w = openAs(QStringLiteral("op-victor"), password);
    QVERIFY(Poll::until([&] { return !userLabel(*w).isEmpty(); }, 20000));
    QCOMPARE(userLabel(*w), QStringLiteral("user: op-victor (viewer)"));
    const QList<QAction *> actions = w->proposalsPage()->decisionActions();
    QVERIFY(!actions.isEmpty());
    for (QAction *a : actions) {
        QVERIFY2(!a->isEnabled(), qPrintable(a->text()));
        QVERIFY2(a->toolTip().contains(QLatin1String("Redis refuses")), qPrintable(a->toolTip()));
    }
}

void TestOperatorConsole::approverKeepsDecisions()
{
    const QString password = AclFile::randomPassword();
    QVERIFY(addOperator(QStringLiteral("anna"), QStringLiteral("approver"), password));
    auto w = openAs(QStringLiteral("op-anna"), password);
    QVERIFY(Poll::until([&] { return !userLabel(*w).isEmpty(); }, 20000));
    QCOMPARE(userLabel(*w), QStringLiteral("user: op-anna (approver)"));
    for (QAction *a : w->proposalsPage()->decisionActions())
        QVERIFY2(a->isEnabled(), qPrintable(a->text()));
}

QTEST_MAIN(TestOperatorConsole)
#include "tst_operatorconsole.moc"
