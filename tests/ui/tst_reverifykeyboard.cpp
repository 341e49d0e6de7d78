// The "To re-verify" page, keyboard only, against a real primary + replica:
// entries past their review date are seeded as the console writes them,
// served counts as gateways flush them (FCALL l0l3_served as the gateway ACL
// user); Enter keeps, Backspace revokes after the blast-radius confirmation,
// E edits; every outcome is asserted on Redis itself.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QDateTime>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableView>
#include <QTest>

#include <memory>

#include "core/common/auditrecord.h"
#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/reviewpolicy.h"
#include "tests/support/auditreader.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"
#include "tests/ui/uitestsupport.h"
#include "ui/common/responseeditordialog.h"
#include "ui/mainwindow.h"
#include "ui/reverify/reverifypage.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

} // namespace

class TestReverifyKeyboard : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void keepRevokeAndEditByKeyboard();

private:
    // An approved entry whose review date passed daysOverdue days ago; its key.
    QString seedEntry(const QString &prompt, int daysOverdue);
    QStringList auditActions(const QString &key);
    QMessageBox *waitForConfirm();
    int rowOf(const QString &key);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<RedisServer> m_replica;
    std::unique_ptr<MainWindow> m_window;
};

void TestReverifyKeyboard::initTestCase()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    m_replica = std::make_unique<RedisServer>();
    QVERIFY2(startPrimaryAndReplica(*m_primary, *m_replica, true, &error), qPrintable(error));
}

void TestReverifyKeyboard::cleanupTestCase()
{
    m_window.reset();
    m_replica.reset();
    m_primary.reset();
}

QString TestReverifyKeyboard::seedEntry(const QString &prompt, int daysOverdue)
{
    Entry e;
    e.ns = "acme";
    e.system = "You are a support agent.";
    e.prompt = QStringLiteral("%1 [%2]").arg(prompt).arg(QCoreApplication::applicationPid()).toStdString();
    e.model = "gpt-4o-mini";
    e.key = CacheKey::derive({e.ns, e.system, e.prompt, e.model, "", "", ""});
    e.response = "The answer as it was approved.";
    e.approvedBy = "bob";
    e.approvedAtMs = nowMs() - 100LL * ReviewPolicy::kDayMs;
    e.reviewByMs = nowMs() - daysOverdue * ReviewPolicy::kDayMs;
    return writeEntry(*m_primary, e) ? QString::fromStdString(e.key) : QString();
}

QStringList TestReverifyKeyboard::auditActions(const QString &key)
{
    RedisClient c = m_primary->client(QStringLiteral("console"));
    QStringList actions;
    for (const AuditRecord &rec : readAudit(c)) {
        if (rec.key == key.toStdString())
            actions << QString::fromStdString(rec.action);
    }
    return actions;
}

QMessageBox *TestReverifyKeyboard::waitForConfirm()
{
    QMessageBox *box = nullptr;
    (void)QTest::qWaitFor(
        [&] {
            box = m_window->findChild<QMessageBox *>(QStringLiteral("blastRadiusConfirm"));
            return box && box->isVisible();
        },
        TimeScale::ms(10000));
    return box && box->isVisible() ? box : nullptr;
}

int TestReverifyKeyboard::rowOf(const QString &key)
{
    QStandardItemModel *model = m_window->reverifyPage()->model();
    for (int row = 0; row < model->rowCount(); ++row) {
        if (model->index(row, ReverifyPage::Key).data(ReverifyPage::SortRole).toString() == key)
            return row;
    }
    return -1;
}

void TestReverifyKeyboard::keepRevokeAndEditByKeyboard()
{
    const QString keepKey = seedEntry(QStringLiteral("Which plans include phone support?"), 3);
    const QString revokeKey = seedEntry(QStringLiteral("Is the old API still supported?"), 2);
    const QString editKey = seedEntry(QStringLiteral("How long does a refund take?"), 1);
    QVERIFY(!keepKey.isEmpty() && !revokeKey.isEmpty() && !editKey.isEmpty());
    const QString fresh = seedEntry(QStringLiteral("Not due yet"), -10);
    QVERIFY(!fresh.isEmpty());
    // What the gateways counted the entry to revoke serving, as they flush it.
    RedisClient gateway = m_primary->client(QStringLiteral("gateway"));
    QCOMPARE(
        gateway.command({"FCALL", bytes(ProposalFunction::kServedName), "0", "nyc", revokeKey.toUtf8(), "7"}).integer,
        1);
    QCOMPARE(
        gateway.command({"FCALL", bytes(ProposalFunction::kServedName), "0", "tokyo", revokeKey.toUtf8(), "3"}).integer,
        1);

    m_window = std::make_unique<MainWindow>();
    QVERIFY(showConnected(*m_window, *m_primary));
    ReverifyPage *page = m_window->reverifyPage();
    QAbstractItemModelTester tester(page->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    // Shown: the queue loads once connected (a reload after the connection is as good).
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            m_window->tabs()->setCurrentWidget(page);
            page->reload();
            return QTest::qWaitFor([&] { return rowOf(editKey) >= 0; }, 2000);
        }(),
        TimeScale::ms(15000));
    QVERIFY(rowOf(keepKey) >= 0 && rowOf(revokeKey) >= 0);
    QCOMPARE(rowOf(fresh), -1);
    // Most overdue first.
    QVERIFY(rowOf(keepKey) < rowOf(revokeKey) && rowOf(revokeKey) < rowOf(editKey));
    QTableView *view = page->view();
    view->setCurrentIndex(page->model()->index(rowOf(keepKey), 0));
    view->setFocus();

    // Enter: kept, the date renewed by the default 90 days, the row gone and the next selected.
    const qint64 beforeKeep = nowMs();
    QTest::keyClick(view, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, keepKey)
                                 && readEntry(*m_primary, keepKey)->reviewByMs
                                     >= beforeKeep + 89 * ReviewPolicy::kDayMs,
                             TimeScale::ms(10000));
    QCOMPARE(readEntry(*m_primary, keepKey)->version, 1);
    QVERIFY(auditActions(keepKey).contains(QStringLiteral("reverify-keep")));
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(keepKey), -1, TimeScale::ms(5000));
    QCOMPARE(QString::fromStdString(page->currentItem()->item.entry.key), revokeKey);

    // Backspace: the confirmation shows the blast radius per region; Enter revokes.
    QTest::keyClick(view, Qt::Key_Backspace);
    QMessageBox *box = waitForConfirm();
    QVERIFY(box);
    QVERIFY2(box->text().contains(QStringLiteral("nyc: 7 this hour")), qPrintable(box->text()));
    QVERIFY2(box->text().contains(QStringLiteral("tokyo: 3 this hour")), qPrintable(box->text()));
    QVERIFY2(box->text().contains(QStringLiteral("10 in the last 24 h")), qPrintable(box->text()));
    QTest::keyClick(box, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(!readEntry(*m_primary, revokeKey).has_value(), TimeScale::ms(10000));
    QVERIFY(auditActions(revokeKey).contains(QStringLiteral("revoke")));
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(revokeKey), -1, TimeScale::ms(5000));
    QCOMPARE(QString::fromStdString(page->currentItem()->item.entry.key), editKey);

    // E: the editor, then the confirmation (no counts: "served no request"), then version 2, date renewed.
    view->setFocus();
    QTest::keyClick(view, Qt::Key_E);
    ResponseEditorDialog *editor = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((editor = page->findChild<ResponseEditorDialog *>(QStringLiteral("reverifyEditor"))),
                             TimeScale::ms(5000));
    editor->editor()->setPlainText(QStringLiteral("Refunds take five working days."));
    // The period field starts at the namespace's default; this entry is re-verified weekly from now on.
    QCOMPARE(editor->reviewDaysEdit()->value(), int(ReviewPolicy::kDefaultDays));
    editor->reviewDaysEdit()->setValue(7);
    editor->accept();
    box = waitForConfirm();
    QVERIFY(box);
    QVERIFY2(box->text().contains(QStringLiteral("Served no request")), qPrintable(box->text()));
    const qint64 beforeEdit = nowMs();
    QTest::keyClick(box, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, editKey) && readEntry(*m_primary, editKey)->version == 2,
                             TimeScale::ms(10000));
    QCOMPARE(QString::fromStdString(readEntry(*m_primary, editKey)->response),
             QStringLiteral("Refunds take five working days."));
    QCOMPARE(readEntry(*m_primary, editKey)->reviewDays, 7);
    QVERIFY(readEntry(*m_primary, editKey)->reviewByMs >= beforeEdit + 7 * ReviewPolicy::kDayMs);
    QVERIFY(readEntry(*m_primary, editKey)->reviewByMs <= nowMs() + 7 * ReviewPolicy::kDayMs);
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(editKey), -1, TimeScale::ms(5000));
    QVERIFY(readEntry(*m_primary, fresh).has_value());
}

QTEST_MAIN(TestReverifyKeyboard)
#include "tst_reverifykeyboard.moc"
