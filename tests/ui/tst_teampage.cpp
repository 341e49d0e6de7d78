#include <QApplication>
#include <QDateTime>
#include <QTabWidget>
#include <QTableWidget>
#include <QTest>

#include <memory>

#include "core/common/auditrecord.h"
#include "core/common/redisschema.h"
#include "core/control/redisconnection.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"
#include "ui/mainwindow.h"
#include "ui/team/teampage.h"

using namespace l0l3;
using namespace l0l3::test;

// The Team tab against a real primary: audit records of three operators (one
// with a hostile name) become one row each, and F5 reads them again.
class TestTeamPage : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void showsTheOperators();
    void f5ReadsAgain();

private:
    void audit(const std::string &actor, const std::string &action, qint64 tsMs);
    QString text(int row, int column) const;
    int rowOf(const QString &shownActor) const;

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<MainWindow> m_window;
    TeamPage *m_page = nullptr;
    qint64 m_t0 = 0;
};

namespace {
QByteArray qb(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}
} // namespace

void TestTeamPage::audit(const std::string &actor, const std::string &action, qint64 tsMs)
{
    AuditRecord r;
    r.action = action;
    r.key = "key-" + std::to_string(tsMs);
    r.actor = actor;
    r.tsMs = tsMs;
    r.detail = action == "reject" ? "proposal=1-0 days=30" : "proposal=1-0";
    QList<QByteArray> argv{"XADD", qb(RedisSchema::kAudit), "*"};
    for (const auto &[f, v] : AuditCodec::encode(r))
        argv << qb(f) << qb(v);
    RedisClient console = m_primary->client(QStringLiteral("console"));
    QVERIFY(!console.command(argv).isError());
}

QString TestTeamPage::text(int row, int column) const
{
    const QTableWidgetItem *item = m_page->operatorTable()->item(row, column);
    return item ? item->text() : QString();
}

int TestTeamPage::rowOf(const QString &shownActor) const
{
    for (int row = 0; row < m_page->operatorTable()->rowCount(); ++row)
        if (text(row, 0) == shownActor)
            return row;
    return -1;
}

void TestTeamPage::initTestCase()
{
    m_primary = std::make_unique<RedisServer>();
    QString why;
    QVERIFY2(m_primary->start({}, &why), qPrintable(why));
    // Minutes ago, within today (UTC) unless the test runs just after midnight.
    m_t0 = qMax(QDateTime::currentMSecsSinceEpoch() - 5 * 60000,
                QDateTime::currentMSecsSinceEpoch() / 86400000 * 86400000);
    audit("alice", "approve", m_t0);
    audit("alice", "approve", m_t0 + 20000);
    audit("alice", "reject", m_t0 + 40000);
    audit("alice", "unreject", m_t0 + 41000); // not a decision
    audit("bob", "edit", m_t0 + 1000);
    audit("eve\x1b[31m\xe2\x80\xae<b>x</b>", "approve", m_t0 + 2000);

    m_window = std::make_unique<MainWindow>();
    auto options = RedisConnection::Options::fromUrl(m_primary->url(QStringLiteral("console")));
    QVERIFY(options);
    m_window->connectWith(*options, QStringLiteral("test primary"));
    m_window->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
    m_page = m_window->findChild<TeamPage *>();
    QVERIFY(m_page);
}

void TestTeamPage::cleanupTestCase()
{
    m_window.reset();
    if (m_primary)
        QVERIFY(m_primary->stop());
}

void TestTeamPage::showsTheOperators()
{
    auto *tabs = m_window->findChild<QTabWidget *>();
    QVERIFY(tabs);
    QVERIFY(tabs->indexOf(m_page) >= 0);
    // Shown: it reads at once (a read before the connection is up says so and
    // is retried here until the rows come).
    tabs->setCurrentWidget(m_page);
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            if (m_page->operatorTable()->rowCount() == 3)
                return true;
            m_page->refresh();
            return false;
        }(),
        TimeScale::ms(15000));

    const int alice = rowOf(QStringLiteral("alice"));
    QVERIFY(alice >= 0);
    QCOMPARE(text(alice, 1), QStringLiteral("3")); // today
    QCOMPARE(text(alice, 2), QStringLiteral("3"));
    QCOMPARE(text(alice, 3), QStringLiteral("20.0 s")); // median gap
    QCOMPARE(text(alice, 5), QStringLiteral("67%"));    // approve
    QCOMPARE(text(alice, 7), QStringLiteral("33%"));    // reject
    const int bob = rowOf(QStringLiteral("bob"));
    QVERIFY(bob >= 0);
    QCOMPARE(text(bob, 6), QStringLiteral("100%")); // edit
    QCOMPARE(text(bob, 3), QStringLiteral("—"));    // a single decision is not timed

    // The hostile name is plain, escaped text.
    int eve = -1;
    for (int row = 0; row < 3; ++row)
        if (text(row, 0).startsWith(QStringLiteral("eve")))
            eve = row;
    QVERIFY(eve >= 0);
    QVERIFY2(!text(eve, 0).contains(QChar(0x1b)), qPrintable(text(eve, 0)));
    QVERIFY2(!text(eve, 0).contains(QChar(0x202E)), qPrintable(text(eve, 0)));
    QVERIFY2(text(eve, 0).contains(QStringLiteral("\\x1B")), qPrintable(text(eve, 0)));

    // Per day: today's outflow is the approvals and rejections (4 of 5 decisions).
    QTableWidget *flow = m_page->flowTable();
    QCOMPARE(flow->rowCount(), m_page->days());
    QCOMPARE(flow->item(0, 2)->text(), QStringLiteral("4"));
    QCOMPARE(flow->item(0, 3)->text(), QStringLiteral("5"));
}

void TestTeamPage::f5ReadsAgain()
{
    audit("alice", "approve", m_t0 + 60000);
    const int before = m_page->refreshCount();
    m_window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(m_window.get()));
    m_page->operatorTable()->setFocus();
    QTest::keyClick(m_page->operatorTable(), Qt::Key_F5);
    QTRY_VERIFY_WITH_TIMEOUT(m_page->refreshCount() > before, TimeScale::ms(15000));
    const int alice = rowOf(QStringLiteral("alice"));
    QVERIFY(alice >= 0);
    QCOMPARE(text(alice, 2), QStringLiteral("4"));
}

QTEST_MAIN(TestTeamPage)
#include "tst_teampage.moc"
