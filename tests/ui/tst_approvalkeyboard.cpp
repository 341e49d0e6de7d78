// Keyboard-only decisions in the console against a real primary + replica:
// proposals are seeded exactly as a gateway writes them (as the `gateway`
// ACL user), decisions are typed into the queue view, and the outcome is
// asserted on Redis itself.
#include <QAction>
#include <QApplication>
#include <QDateTime>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScopeGuard>
#include <QSet>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTcpServer>
#include <QTest>

#include <algorithm>
#include <memory>

#include "core/common/auditrecord.h"
#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/common/reviewpolicy.h"
#include "tests/support/auditreader.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "tests/ui/uitestsupport.h"
#include "ui/audit/auditpage.h"
#include "ui/audit/audittablemodel.h"
#include "ui/common/responseeditordialog.h"
#include "ui/entries/entriespage.h"
#include "ui/entries/entrytablemodel.h"
#include "ui/mainwindow.h"
#include "ui/proposals/proposaldetailpane.h"
#include "ui/proposals/proposalfiltermodel.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"
#include "ui/workers/controlclient.h"

using namespace l0l3;
using namespace l0l3::test;

class TestApprovalKeyboard : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void cleanup();

    void approveWithEnter();
    void rejectWithBackspace();
    void approvalWithoutEmbeddingsWarns();
    void editWithE();
    void undoApprovalWithCtrlZ();
    void moveWithJK();
    void typingInSearchNeverDecides();
    void shortcutsAreVisible();
    void entriesAndAuditFollowDecisions();
    void undoRejectWithCtrlZ();
    void bulkApproveWithConfirmation();
    void largeQueueShowsProgress();
    void detailShowsSimilarEntries();
    void hundredDecisionsByKeyboard();

private:
    // Does what a gateway does on a miss: ZSCORE rejected, HINCRBY seen,
    // XADD the proposal when _total became 1. Returns the cache key.
    QString seedProposal(const QString &prompt, const QString &response, const QString &region);
    // Every audit record, oldest first.
    QList<AuditRecord> auditRecords();
    // Stream id of each proposal by key.
    QHash<QString, QString> proposalIds();
    void openWindow();
    QTableView *focusKey(const QString &key);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<RedisServer> m_replica;
    std::unique_ptr<MainWindow> m_window;
    int m_seq = 0;
};

void TestApprovalKeyboard::initTestCase()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    m_replica = std::make_unique<RedisServer>();
    QVERIFY2(startPrimaryAndReplica(*m_primary, *m_replica, true, &error), qPrintable(error));
}

void TestApprovalKeyboard::cleanupTestCase()
{
    m_window.reset();
    m_replica.reset();
    m_primary.reset();
}

void TestApprovalKeyboard::init()
{
    ++m_seq;
}

void TestApprovalKeyboard::cleanup()
{
    m_window.reset();
}

QString TestApprovalKeyboard::seedProposal(const QString &prompt, const QString &response, const QString &region)
{
    // Unique per test function and run, so earlier decisions never interfere.
    const QString uniquePrompt =
        QStringLiteral("%1 [%2/%3]").arg(prompt).arg(m_seq).arg(QCoreApplication::applicationPid());
    const std::string p = uniquePrompt.toStdString();
    const std::string key = CacheKey::derive({"acme", "You are a support agent.", p, "gpt-4o-mini", "", "", ""});
    RedisClient gw = m_primary->client(QStringLiteral("gateway"));
    if (!gw.isConnected())
        return {};
    const RedisValue rejected = gw.command({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), bytes(key)});
    if (!rejected.isNil())
        return {};
    const QByteArray seen = bytes(RedisSchema::seenKey(key));
    gw.command({QByteArrayLiteral("HINCRBY"), seen, region.toUtf8(), QByteArrayLiteral("1")});
    const RedisValue total = gw.command(
        {QByteArrayLiteral("HINCRBY"), seen, bytes(RedisSchema::kSeenTotalField), QByteArrayLiteral("1")});
    if (!total.isInteger() || total.integer != 1)
        return QString::fromStdString(key);
    Proposal proposal;
    proposal.key = key;
    proposal.ns = "acme";
    proposal.system = "You are a support agent.";
    proposal.prompt = p;
    proposal.response = response.toStdString();
    proposal.model = "gpt-4o-mini";
    proposal.region = region.toStdString();
    proposal.tsMs = QDateTime::currentMSecsSinceEpoch();
    proposal.upstreamMs = 800;
    proposal.promptTokens = 20;
    proposal.completionTokens = 60;
    const RedisValue id = appendProposal(*m_primary, proposal);
    if (!id.isString())
        qWarning() << "XADD failed:" << id.toString();
    return id.isString() ? QString::fromStdString(key) : QString();
}

QList<AuditRecord> TestApprovalKeyboard::auditRecords()
{
    RedisClient c = m_primary->client(QStringLiteral("console"));
    return readAudit(c);
}

QHash<QString, QString> TestApprovalKeyboard::proposalIds()
{
    RedisClient c = m_primary->client(QStringLiteral("console"));
    const RedisValue all = c.command({QByteArrayLiteral("XRANGE"), bytes(RedisSchema::kProposals), "-", "+"});
    QHash<QString, QString> ids;
    for (const RedisValue &e : all.elements) {
        if (e.elements.size() != 2)
            continue;
        const auto &fields = e.elements[1].elements;
        for (qsizetype i = 0; i + 1 < fields.size(); i += 2) {
            if (fields[i].str == "key")
                ids.insert(QString::fromUtf8(fields[i + 1].str), QString::fromUtf8(e.elements[0].str));
        }
    }
    return ids;
}

void TestApprovalKeyboard::openWindow()
{
    m_window = std::make_unique<MainWindow>();
    QVERIFY(showConnected(*m_window, *m_primary));
    m_window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(m_window.get()));
}

QTableView *TestApprovalKeyboard::focusKey(const QString &key)
{
    ProposalsPage *page = m_window->proposalsPage();
    [&] { QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000)); }();
    if (QTest::currentTestFailed())
        return nullptr;
    page->selectKey(key);
    QTableView *view = page->view();
    view->setFocus();
    return view;
}

void TestApprovalKeyboard::approveWithEnter()
{
    const QString answer = QStringLiteral("Open Settings › Account › Reset password and follow the e-mail link.");
    const QString key = seedProposal(QStringLiteral("How do I reset my password?"), answer, QStringLiteral("nyc"));
    QVERIFY(!key.isEmpty());
    openWindow();
    QTableView *view = focusKey(key);
    QVERIFY(view);
    QCOMPARE(m_window->proposalsPage()->currentItem()->key, key);

    QTest::keyClick(view, Qt::Key_Return);

    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
    const Entry e = *readEntry(*m_primary, key);
    QCOMPARE(QString::fromStdString(e.response), answer);
    QCOMPARE(e.version, 1);
    // WAIT 1 made it to the replica, and the status bar says how many acknowledged.
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_replica, key).has_value(), TimeScale::ms(5000));
    QTRY_VERIFY_WITH_TIMEOUT(m_window->proposalsPage()->model()->rowOfKey(key) < 0, TimeScale::ms(5000));
    const auto labels = m_window->statusBar()->findChildren<QLabel *>();
    QTRY_VERIFY_WITH_TIMEOUT(std::any_of(labels.begin(), labels.end(),
                                         [](QLabel *l) {
                                             return l->text().contains(QStringLiteral("1 replica(s) acked"));
                                         }),
                             TimeScale::ms(5000));
}

// The profile's embeddings endpoint is down: the approval is written all the same, without
// its L1 vector, and the status bar keeps saying so.
void TestApprovalKeyboard::approvalWithoutEmbeddingsWarns()
{
    const QString key = seedProposal(QStringLiteral("Can I change my e-mail address?"),
                                     QStringLiteral("Yes: Settings › Account › E-mail."), QStringLiteral("nyc"));
    QVERIFY(!key.isEmpty());
    int downPort = -1;
    {
        QTcpServer probe; // a port nothing listens on: bound, then released
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        downPort = probe.serverPort();
    }
    openWindow();
    EmbeddingSettings embeddings;
    embeddings.url = QStringLiteral("http://127.0.0.1:%1").arg(downPort);
    embeddings.model = QStringLiteral("m");
    m_window->client()->setEmbeddings(embeddings);
    QTableView *view = focusKey(key);
    QVERIFY(view);

    QSignalSpy status(m_window->proposalsPage(), &ProposalsPage::statusMessage);
    QTest::keyClick(view, Qt::Key_Return);

    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
    RedisClient c = m_primary->client(QStringLiteral("console"));
    QVERIFY(c.get(bytes(RedisSchema::vectorKey(key.toStdString()))).isNull());
    const auto warned = [&status] {
        return std::any_of(status.cbegin(), status.cend(), [](const QList<QVariant> &args) {
            const QString text = args.value(0).toString();
            return text.contains(QLatin1String("Warning:")) && text.contains(QLatin1String("without its L1 vector"));
        });
    };
    QTRY_VERIFY_WITH_TIMEOUT(warned(), TimeScale::ms(10000));
}

void TestApprovalKeyboard::rejectWithBackspace()
{
    const QString key = seedProposal(QStringLiteral("Tell me a joke about the CEO"), QStringLiteral("Sure! ..."),
                                     QStringLiteral("tokyo"));
    QVERIFY(!key.isEmpty());
    openWindow();
    QTableView *view = focusKey(key);
    QVERIFY(view);

    QTest::keyClick(view, Qt::Key_Backspace);

    RedisClient c = m_primary->client(QStringLiteral("console"));
    QTRY_VERIFY_WITH_TIMEOUT(
        !c.command({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), key.toUtf8()}).isNil(),
        TimeScale::ms(10000));
    const RedisValue until = c.command({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), key.toUtf8()});
    QVERIFY(until.str.toDouble() > double(QDateTime::currentMSecsSinceEpoch()));
    QVERIFY(!readEntry(*m_primary, key).has_value());
    QTRY_VERIFY_WITH_TIMEOUT(m_window->proposalsPage()->model()->rowOfKey(key) < 0, TimeScale::ms(5000));
    // A gateway now refuses to propose it again.
    QVERIFY(
        seedProposal(QStringLiteral("Tell me a joke about the CEO"), QStringLiteral("again"), QStringLiteral("tokyo"))
            .isEmpty());
}

void TestApprovalKeyboard::editWithE()
{
    const QString original = QStringLiteral("Refunds take 5 days.");
    const QString key = seedProposal(QStringLiteral("How long do refunds take?"), original, QStringLiteral("eu"));
    QVERIFY(!key.isEmpty());
    // The namespace reviews its answers every 30 days: the editor starts there.
    RedisClient admin = m_primary->client(QStringLiteral("console"));
    QVERIFY(admin.command({"HSET", bytes(RedisSchema::kReviewPolicy), "acme", "30"}).isInteger());
    auto dropPolicy = qScopeGuard([this] {
        m_primary->client(QStringLiteral("console")).command({"DEL", bytes(RedisSchema::kReviewPolicy)});
    });
    openWindow();
    QTableView *view = focusKey(key);
    QVERIFY(view);

    QTest::keyClick(view, Qt::Key_E);
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->editor() != nullptr, TimeScale::ms(5000));
    ResponseEditorDialog *dialog = page->editor();
    QPlainTextEdit *editor = dialog->editor();
    // Keyboard only: select all, type the new answer, Ctrl+Return.
    QTest::keyClick(editor, Qt::Key_A, Qt::ControlModifier);
    const QString edited = QStringLiteral("Refunds take 3 to 5 business days.");
    QTest::keyClicks(editor, edited);
    QCOMPARE(dialog->response(), edited);
    QVERIFY(dialog->diffHtml().contains(QStringLiteral("business")));
    // This answer is re-verified every 14 days instead: typed into the review period field.
    QSpinBox *days = dialog->reviewDaysEdit();
    QVERIFY(days->isVisible());
    QCOMPARE(days->value(), 30);
    QCOMPARE(dialog->reviewDays(), 0);
    days->setFocus();
    days->selectAll();
    QTest::keyClicks(days, QStringLiteral("14"));
    QCOMPARE(dialog->reviewDays(), 14);
    const qint64 beforeApprove = QDateTime::currentMSecsSinceEpoch();
    QTest::keyClick(days, Qt::Key_Return, Qt::ControlModifier);

    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
    QCOMPARE(QString::fromStdString(readEntry(*m_primary, key)->response), edited);
    QCOMPARE(readEntry(*m_primary, key)->reviewDays, 14);
    const qint64 reviewBy = readEntry(*m_primary, key)->reviewByMs;
    QVERIFY(reviewBy >= beforeApprove + 14 * ReviewPolicy::kDayMs);
    QVERIFY(reviewBy <= QDateTime::currentMSecsSinceEpoch() + 14 * ReviewPolicy::kDayMs);
    QTRY_VERIFY_WITH_TIMEOUT(page->editor() == nullptr, TimeScale::ms(5000));
}

void TestApprovalKeyboard::undoApprovalWithCtrlZ()
{
    const QString key = seedProposal(QStringLiteral("Do you ship to Canada?"), QStringLiteral("Yes, in 5-7 days."),
                                     QStringLiteral("nyc"));
    QVERIFY(!key.isEmpty());
    openWindow();
    QTableView *view = focusKey(key);
    QVERIFY(view);
    ProposalsPage *page = m_window->proposalsPage();
    QVERIFY(!page->undoAction()->isEnabled());

    QTest::keyClick(view, Qt::Key_Enter);
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
    QTRY_VERIFY_WITH_TIMEOUT(page->undoAction()->isEnabled(), TimeScale::ms(5000));

    QTest::keyClick(view, Qt::Key_Z, Qt::ControlModifier);
    QTRY_VERIFY_WITH_TIMEOUT(!readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
    // The proposal is back in the queue and can be approved again.
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(5000));
    QCOMPARE(page->currentItem()->key, key);
    QTest::keyClick(view, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
}

void TestApprovalKeyboard::moveWithJK()
{
    QVERIFY(!seedProposal(QStringLiteral("first"), QStringLiteral("1"), QStringLiteral("nyc")).isEmpty());
    QVERIFY(!seedProposal(QStringLiteral("second"), QStringLiteral("2"), QStringLiteral("nyc")).isEmpty());
    openWindow();
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->proxy()->rowCount() >= 2, TimeScale::ms(15000));
    QTableView *view = page->view();
    view->setFocus();
    view->setCurrentIndex(page->proxy()->index(0, 0));
    QTest::keyClick(view, Qt::Key_J);
    QCOMPARE(view->currentIndex().row(), 1);
    QTest::keyClick(view, Qt::Key_K);
    QCOMPARE(view->currentIndex().row(), 0);
    QTest::keyClick(view, Qt::Key_Down);
    QCOMPARE(view->currentIndex().row(), 1);
    QTest::keyClick(view, Qt::Key_Up);
    QCOMPARE(view->currentIndex().row(), 0);
}

void TestApprovalKeyboard::typingInSearchNeverDecides()
{
    const QString key = seedProposal(QStringLiteral("Where is my parcel?"), QStringLiteral("Track it here."),
                                     QStringLiteral("eu"));
    QVERIFY(!key.isEmpty());
    openWindow();
    QTableView *view = focusKey(key);
    QVERIFY(view);
    ProposalsPage *page = m_window->proposalsPage();

    QTest::keyClick(view, Qt::Key_F, Qt::ControlModifier);
    QLineEdit *search = page->searchEdit();
    QTRY_VERIFY_WITH_TIMEOUT(search->hasFocus(), TimeScale::ms(5000));
    QTest::keyClicks(search, QStringLiteral("parcelx"));
    QTest::keyClick(search, Qt::Key_Backspace);
    QCOMPARE(search->text(), QStringLiteral("parcel"));
    QCOMPARE(page->proxy()->rowCount(), 1);
    QTest::keyClick(search, Qt::Key_E);
    QTest::keyClick(search, Qt::Key_Backspace);
    QVERIFY(page->editor() == nullptr);
    // Enter in the search box hands focus back to the queue, it does not approve.
    QTest::keyClick(search, Qt::Key_Return);
    QVERIFY(view->hasFocus());
    // A decision marks its row pending synchronously, before anything is sent.
    QVERIFY(!readEntry(*m_primary, key).has_value());
    RedisClient c = m_primary->client(QStringLiteral("console"));
    QVERIFY(c.command({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), key.toUtf8()}).isNil());
    QVERIFY(!page->model()->isPending(key));
}

void TestApprovalKeyboard::shortcutsAreVisible()
{
    openWindow();
    ProposalsPage *page = m_window->proposalsPage();
    auto *hints = page->findChild<QLabel *>(QStringLiteral("shortcutHints"));
    QVERIFY(hints);
    QVERIFY(hints->isVisible());
    for (const QString &k : {QStringLiteral("Enter"), QStringLiteral("Backspace"), QStringLiteral("<b>E</b>"),
                             QStringLiteral("Ctrl+F"), QStringLiteral("Ctrl+Z")})
        QVERIFY2(hints->text().contains(k), qPrintable(k));
    // Menus carry the same actions, so the shortcuts show next to them.
    QStringList menuShortcuts;
    for (QAction *menu : m_window->menuBar()->actions())
        for (QAction *a : menu->menu()->actions())
            if (!a->shortcut().isEmpty())
                menuShortcuts.append(a->shortcut().toString());
    for (const QString &k :
         {QStringLiteral("Return"), QStringLiteral("Backspace"), QStringLiteral("E"), QStringLiteral("J"),
          QStringLiteral("K"), QStringLiteral("Ctrl+F"), QStringLiteral("Ctrl+Z")})
        QVERIFY2(menuShortcuts.contains(k), qPrintable(k + QStringLiteral(" not in ") + menuShortcuts.join(u',')));
    for (QAction *a : page->decisionActions())
        QVERIFY2(a->toolTip().contains(a->shortcut().toString(QKeySequence::NativeText)), qPrintable(a->toolTip()));
}

void TestApprovalKeyboard::entriesAndAuditFollowDecisions()
{
    const QString key = seedProposal(QStringLiteral("Can I change my delivery address?"),
                                     QStringLiteral("Yes, until it ships."), QStringLiteral("nyc"));
    QVERIFY(!key.isEmpty());
    openWindow();
    QTableView *view = focusKey(key);
    QVERIFY(view);
    QTest::keyClick(view, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));

    // Entries tab: the new entry with its version and approver.
    EntriesPage *entries = m_window->entriesPage();
    m_window->tabs()->setCurrentWidget(entries);
    QTRY_VERIFY_WITH_TIMEOUT(entries->model()->rowOfKey(key) >= 0, TimeScale::ms(10000));
    const int row = entries->model()->rowOfKey(key);
    QCOMPARE(entries->model()->index(row, EntryTableModel::Version).data().toString(), QStringLiteral("1"));
    QVERIFY(!entries->model()->index(row, EntryTableModel::ApprovedBy).data().toString().isEmpty());

    // Audit tab: the approval is recorded.
    AuditPage *audit = m_window->auditPage();
    m_window->tabs()->setCurrentWidget(audit);
    auto auditHas = [audit, &key](const QString &action) {
        for (int r = 0; r < audit->model()->rowCount(); ++r) {
            if (audit->model()->index(r, AuditTableModel::Key).data().toString() == key
                && audit->model()->index(r, AuditTableModel::Action).data().toString() == action)
                return true;
        }
        return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(auditHas(QStringLiteral("approve")), TimeScale::ms(10000));

    // Edit from the entries tab (E, type, Ctrl+Return) writes version 2.
    m_window->tabs()->setCurrentWidget(entries);
    QTRY_VERIFY_WITH_TIMEOUT(entries->model()->rowOfKey(key) >= 0, TimeScale::ms(10000));
    auto *proxy = entries->view()->model();
    QModelIndex idx;
    for (int r = 0; r < proxy->rowCount(); ++r)
        if (proxy->index(r, EntryTableModel::Key).data().toString() == key)
            idx = proxy->index(r, 0);
    QVERIFY(idx.isValid());
    entries->view()->setCurrentIndex(idx);
    entries->view()->setFocus();
    QTest::keyClick(entries->view(), Qt::Key_E);
    ResponseEditorDialog *dialog = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((dialog = entries->findChild<ResponseEditorDialog *>()) != nullptr, TimeScale::ms(5000));
    QTest::keyClick(dialog->editor(), Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(dialog->editor(), QStringLiteral("Yes, until the parcel ships."));
    QTest::keyClick(dialog->editor(), Qt::Key_Return, Qt::ControlModifier);
    // Then the confirmation with the blast radius (the requests the entry served, per region).
    QMessageBox *confirm = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((confirm = entries->findChild<QMessageBox *>(QStringLiteral("blastRadiusConfirm")))
                                 && confirm->isVisible(),
                             TimeScale::ms(5000));
    confirm->button(QMessageBox::Ok)->click();
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key) && readEntry(*m_primary, key)->version == 2,
                             TimeScale::ms(10000));
    QCOMPARE(QString::fromStdString(readEntry(*m_primary, key)->response),
             QStringLiteral("Yes, until the parcel ships."));

    // Revoke (Delete, confirm) removes it from Redis.
    QTRY_VERIFY_WITH_TIMEOUT(
        entries->model()->rowOfKey(key) >= 0
            && entries->model()->index(entries->model()->rowOfKey(key), EntryTableModel::Version).data().toString()
                == QStringLiteral("2"),
        TimeScale::ms(10000));
    for (int r = 0; r < proxy->rowCount(); ++r)
        if (proxy->index(r, EntryTableModel::Key).data().toString() == key)
            idx = proxy->index(r, 0);
    entries->view()->setCurrentIndex(idx);
    entries->view()->setFocus();
    QVERIFY(entries->view()->currentIndex().isValid());
    QCOMPARE(entries->view()->currentIndex().siblingAtColumn(EntryTableModel::Key).data().toString(), key);
    QTest::keyClick(entries->view(), Qt::Key_Delete);
    QMessageBox *box = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((box = entries->findChild<QMessageBox *>(QStringLiteral("blastRadiusConfirm")))
                                 && box->isVisible(),
                             TimeScale::ms(5000));
    box->button(QMessageBox::Ok)->click();
    QTRY_VERIFY_WITH_TIMEOUT(!readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
    QTRY_VERIFY_WITH_TIMEOUT(entries->model()->rowOfKey(key) < 0, TimeScale::ms(5000));
}

void TestApprovalKeyboard::undoRejectWithCtrlZ()
{
    const QString key = seedProposal(QStringLiteral("Undo this rejection"), QStringLiteral("Fine answer."),
                                     QStringLiteral("eu"));
    QVERIFY(!key.isEmpty());
    openWindow();
    QTableView *view = focusKey(key);
    QVERIFY(view);
    ProposalsPage *page = m_window->proposalsPage();
    RedisClient c = m_primary->client(QStringLiteral("console"));
    auto rejected = [&] {
        return !c.command({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), key.toUtf8()}).isNil();
    };

    QTest::keyClick(view, Qt::Key_Backspace);
    QTRY_VERIFY_WITH_TIMEOUT(rejected(), TimeScale::ms(10000));
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) < 0, TimeScale::ms(5000));
    QTRY_VERIFY_WITH_TIMEOUT(page->undoAction()->isEnabled(), TimeScale::ms(5000));

    QTest::keyClick(view, Qt::Key_Z, Qt::ControlModifier);
    QTRY_VERIFY_WITH_TIMEOUT(!rejected(), TimeScale::ms(10000));
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(5000));
    QCOMPARE(page->currentItem()->key, key);
    // The re-shown (acked) proposal can still be approved.
    QTest::keyClick(view, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, key).has_value(), TimeScale::ms(10000));
}

void TestApprovalKeyboard::bulkApproveWithConfirmation()
{
    QStringList keys;
    for (int i = 0; i < 3; ++i) {
        keys << seedProposal(QStringLiteral("Bulk question %1").arg(i), QStringLiteral("Bulk answer %1").arg(i),
                             QStringLiteral("nyc"));
        QVERIFY(!keys.last().isEmpty());
    }
    openWindow();
    ProposalsPage *page = m_window->proposalsPage();
    for (const QString &k : keys)
        QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(k) >= 0, TimeScale::ms(15000));
    QTableView *view = page->view();
    view->setFocus();
    view->clearSelection();
    for (const QString &k : keys) {
        const QModelIndex idx = page->proxy()->mapFromSource(page->model()->index(page->model()->rowOfKey(k), 0));
        view->selectionModel()->select(idx, QItemSelectionModel::Select | QItemSelectionModel::Rows);
    }
    QCOMPARE(view->selectionModel()->selectedRows().size(), 3);

    QTest::keyClick(view, Qt::Key_Return, Qt::ControlModifier | Qt::ShiftModifier);
    QMessageBox *box = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget())) != nullptr,
                             TimeScale::ms(5000));
    QCOMPARE(box->objectName(), QStringLiteral("bulkConfirm"));
    QVERIFY2(box->text().contains(QLatin1String("3")), qPrintable(box->text()));
    box->button(QMessageBox::Ok)->click();

    for (const QString &k : keys)
        QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_primary, k).has_value(), TimeScale::ms(15000));
    for (const QString &k : keys)
        QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(k) < 0, TimeScale::ms(5000));
}

void TestApprovalKeyboard::largeQueueShowsProgress()
{
    // 3000 proposals straight into the stream (as the console's drain appends
    // them); the console reads them in pages of 1000.
    const int n = 3000;
    RedisClient console = m_primary->client(QStringLiteral("console"));
    const qint64 before = console.command({QByteArrayLiteral("XLEN"), bytes(RedisSchema::kProposals)}).integer;
    for (int i = 0; i < n; ++i) {
        Proposal p;
        p.prompt = QStringLiteral("bulk load %1 [%2/%3]")
                       .arg(i)
                       .arg(m_seq)
                       .arg(QCoreApplication::applicationPid())
                       .toStdString();
        p.key = CacheKey::derive({"acme", "", p.prompt, "gpt-4o-mini", "", "", ""});
        p.ns = "acme";
        p.response = "r";
        p.model = "gpt-4o-mini";
        p.region = "nyc";
        p.tsMs = QDateTime::currentMSecsSinceEpoch();
        QList<QByteArray> argv{QByteArrayLiteral("XADD"), bytes(RedisSchema::kProposals), QByteArrayLiteral("*")};
        for (const auto &[field, value] : ProposalCodec::encode(p)) {
            argv.append(bytes(field));
            argv.append(bytes(value));
        }
        QVERIFY(console.command(argv).isString()); // as the console's drain appends (gateways may not XADD)
    }
    QCOMPARE(console.command({QByteArrayLiteral("XLEN"), bytes(RedisSchema::kProposals)}).integer, before + n);

    m_window = std::make_unique<MainWindow>();
    ProposalsPage *page = m_window->proposalsPage();
    QSignalSpy progress(page, &ProposalsPage::loadProgress);
    QStringList texts;
    connect(page, &ProposalsPage::loadProgress, this, [&] { texts << page->progressLabel()->text(); });
    QVERIFY(showConnected(*m_window, *m_primary));

    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowCount() >= n, TimeScale::ms(60000));
    // The first page at once, later ones gathered (at most every 100 ms) and
    // the rest when the load ends: at least two updates for several pages.
    QVERIFY2(progress.size() >= 2, qPrintable(QString::number(progress.size())));
    const qint64 lastLoaded = progress.last().at(0).toLongLong();
    const qint64 lastTotal = progress.last().at(1).toLongLong();
    QVERIFY2(lastLoaded >= n && lastTotal >= n, qPrintable(QStringLiteral("%1 / %2").arg(lastLoaded).arg(lastTotal)));
    QVERIFY(!texts.isEmpty());
    QVERIFY2(texts.first().startsWith(QLatin1String("loaded ")) && texts.first().contains(QLatin1String(" / ")),
             qPrintable(texts.first()));
    QVERIFY2(texts.last().contains(QString::number(lastLoaded)), qPrintable(texts.last()));
}

void TestApprovalKeyboard::detailShowsSimilarEntries()
{
    const QString pid = QString::number(QCoreApplication::applicationPid());
    RedisClient c = m_primary->client(QStringLiteral("console"));
    auto seedEntry = [&](const QString &key, const QString &prompt, qint64 version) {
        Entry e;
        e.key = key.toStdString();
        e.prompt = prompt.toStdString();
        e.response = "answer";
        // Candidates are entries of the proposal's namespace, system prompt and model family.
        e.ns = "acme";
        e.system = "You are a support agent.";
        e.model = "gpt-4o-mini";
        e.version = version;
        e.approvedBy = "test";
        c.command({QByteArrayLiteral("SET"), bytes(RedisSchema::entryKey(e.key)), bytes(EntryCodec::encode(e))});
    };
    const QString similar = QStringLiteral("Which courier delivers parcels to Lapland in winter %1").arg(pid);
    const QString other = QStringLiteral("Which fruit is yellow %1").arg(pid);
    seedEntry(QStringLiteral("similar-%1").arg(pid), similar, 4);
    seedEntry(QStringLiteral("other-%1").arg(pid), other, 1);
    const QString key = seedProposal(QStringLiteral("Which courier delivers parcels to Lapland?"),
                                     QStringLiteral("Posti."), QStringLiteral("eu"));
    QVERIFY(!key.isEmpty());
    openWindow();
    QVERIFY(focusKey(key));
    QLabel *label = m_window->proposalsPage()->detailPane()->similarLabel();
    QTRY_VERIFY_WITH_TIMEOUT(label->text().contains(QLatin1String("Lapland in winter")), TimeScale::ms(10000));
    const QStringList lines = label->text().split(u'\n');
    QVERIFY2(lines.first().contains(similar) && lines.first().contains(QLatin1String("v4")), qPrintable(label->text()));
    QVERIFY(lines.size() <= 3);
    QVERIFY2(!lines.first().contains(QLatin1String("fruit")), qPrintable(label->text()));
}

// An operator's run: 100 proposals cleared with the keyboard only (Ctrl+F to
// narrow the queue, Enter, E + Ctrl+A + typing + Ctrl+Return, Backspace), each
// keystroke on whatever proposal the console shows next; then every outcome
// is checked in Redis: entries (text, version, approver, on the replica too),
// the rejected set, one audit record per decision, nothing left pending.
void TestApprovalKeyboard::hundredDecisionsByKeyboard()
{
    constexpr int kCount = 100;
    enum class Plan { Approve, Edit, Reject };
    const QString tag = QStringLiteral("kb100-%1").arg(QCoreApplication::applicationPid());
    QHash<QString, Plan> plan;
    QHash<QString, QString> proposed;
    for (int i = 0; i < kCount; ++i) {
        // Mixed: 6 approvals, 2 edits and 2 rejections in every 10.
        const Plan p = i % 10 < 6 ? Plan::Approve : i % 10 < 8 ? Plan::Edit : Plan::Reject;
        const QString answer = QStringLiteral("Answer %1 as proposed.").arg(i);
        const QString key = seedProposal(QStringLiteral("Question %1 %2").arg(i).arg(tag), answer,
                                         i % 3 == 0       ? QStringLiteral("nyc")
                                             : i % 3 == 1 ? QStringLiteral("tokyo")
                                                          : QStringLiteral("eu"));
        QVERIFY(!key.isEmpty());
        plan.insert(key, p);
        proposed.insert(key, answer);
    }
    const QHash<QString, QString> ids = proposalIds();
    openWindow();
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(plan.keyBegin(), plan.keyEnd(),
                                         [page](const QString &k) { return page->model()->rowOfKey(k) >= 0; }),
                             TimeScale::ms(15000));
    QTableView *view = page->view();
    view->setFocus();
    QTRY_VERIFY_WITH_TIMEOUT(view->hasFocus(), TimeScale::ms(5000));

    // Only this run's proposals: Ctrl+F, the tag, Enter (back to the queue).
    QTest::keyClick(view, Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY_WITH_TIMEOUT(page->searchEdit()->hasFocus(), TimeScale::ms(5000));
    QTest::keyClicks(page->searchEdit(), tag);
    QTest::keyClick(page->searchEdit(), Qt::Key_Return);
    QVERIFY(view->hasFocus());
    QCOMPARE(page->proxy()->rowCount(), kCount);
    QVERIFY(page->currentItem().has_value());

    QHash<QString, QString> edited;
    QStringList order;
    QList<qint64> nextShownMs;
    QElapsedTimer total;
    total.start();
    for (int i = 0; i < kCount; ++i) {
        const auto current = page->currentItem();
        QVERIFY2(current && plan.contains(current->key), qPrintable(QStringLiteral("decision %1").arg(i)));
        const QString key = current->key;
        QVERIFY2(!order.contains(key), qPrintable(QStringLiteral("%1 shown again after its decision").arg(key)));
        QVERIFY(!page->model()->isPending(key));
        order.append(key);
        QElapsedTimer t;
        t.start();
        switch (plan.value(key)) {
        case Plan::Approve: QTest::keyClick(view, Qt::Key_Return); break;
        case Plan::Reject: QTest::keyClick(view, Qt::Key_Backspace); break;
        case Plan::Edit: {
            QTest::keyClick(view, Qt::Key_E);
            QTRY_VERIFY_WITH_TIMEOUT(page->editor() != nullptr, TimeScale::ms(5000));
            QPlainTextEdit *editor = page->editor()->editor();
            QTest::keyClick(editor, Qt::Key_A, Qt::ControlModifier);
            const QString text = QStringLiteral("Edited answer for decision %1.").arg(i);
            QTest::keyClicks(editor, text);
            edited.insert(key, text);
            t.restart(); // the typing is the operator's time, not the console's
            QTest::keyClick(editor, Qt::Key_Return, Qt::ControlModifier);
            QTRY_VERIFY_WITH_TIMEOUT(page->editor() == nullptr, TimeScale::ms(5000));
            // The offscreen platform has no window manager to give the activation back to the
            // main window when the dialog closes: do what it would.
            if (!m_window->isActiveWindow())
                m_window->activateWindow();
            QTRY_VERIFY_WITH_TIMEOUT(view->hasFocus(), TimeScale::ms(5000));
            break;
        }
        }
        QVERIFY2(page->model()->isPending(key) || page->model()->rowOfKey(key) < 0,
                 qPrintable(QStringLiteral("decision %1 was not sent").arg(i)));
        if (i + 1 < kCount) {
            // The next proposal is shown: another row, not decided yet.
            QTRY_VERIFY_WITH_TIMEOUT(page->currentItem() && page->currentItem()->key != key
                                         && !page->model()->isPending(page->currentItem()->key),
                                     TimeScale::ms(10000));
            nextShownMs.append(t.elapsed());
        }
    }
    QTRY_VERIFY_WITH_TIMEOUT(page->proxy()->rowCount() == 0, TimeScale::ms(30000));
    const qint64 totalMs = total.elapsed();
    QCOMPARE(order.size(), kCount);
    std::sort(nextShownMs.begin(), nextShownMs.end());
    qInfo("%d decisions by keyboard in %lld ms; keystroke -> next proposal shown: median %lld ms, max %lld ms", kCount,
          totalMs, nextShownMs.at(nextShownMs.size() / 2), nextShownMs.last());

    // Redis: each outcome as typed.
    RedisClient c = m_primary->client(QStringLiteral("console"));
    QString approver;
    for (auto it = plan.cbegin(); it != plan.cend(); ++it) {
        const QString &key = it.key();
        const std::optional<Entry> e = readEntry(*m_primary, key);
        const bool rejected =
            !c.command({QByteArrayLiteral("ZSCORE"), bytes(RedisSchema::kRejected), key.toUtf8()}).isNil();
        if (it.value() == Plan::Reject) {
            QVERIFY2(rejected && !e, qPrintable(key));
            continue;
        }
        QVERIFY2(e && !rejected, qPrintable(key));
        const QString expected = it.value() == Plan::Edit ? edited.value(key) : proposed.value(key);
        QCOMPARE(QString::fromStdString(e->response), expected);
        QCOMPARE(e->version, 1);
        QVERIFY(!e->approvedBy.empty());
        if (approver.isEmpty())
            approver = QString::fromStdString(e->approvedBy);
        QCOMPARE(QString::fromStdString(e->approvedBy), approver);
        // WAIT 1 answered for each: the replica has it.
        QTRY_VERIFY_WITH_TIMEOUT(readEntry(*m_replica, key).has_value(), TimeScale::ms(5000));
        QCOMPARE(QString::fromStdString(readEntry(*m_replica, key)->response), expected);
    }
    // Audit: exactly one record per proposal, the action typed, by this operator.
    QHash<QString, QList<AuditRecord>> audited;
    for (const AuditRecord &r : auditRecords()) {
        const QString key = QString::fromStdString(r.key);
        if (plan.contains(key))
            audited[key].append(r);
    }
    for (auto it = plan.cbegin(); it != plan.cend(); ++it) {
        const QList<AuditRecord> records = audited.value(it.key());
        QVERIFY2(records.size() == 1,
                 qPrintable(QStringLiteral("%1: %2 audit records").arg(it.key()).arg(records.size())));
        const AuditRecord &r = records.first();
        QCOMPARE(QString::fromStdString(r.actor), approver);
        QCOMPARE(QString::fromStdString(r.action),
                 it.value() == Plan::Reject ? QStringLiteral("reject") : QStringLiteral("approve"));
        const QString detail = QString::fromStdString(r.detail);
        QVERIFY2(detail.contains(QStringLiteral("proposal=") + ids.value(it.key())), qPrintable(detail));
        QCOMPARE(detail.contains(QStringLiteral("edited")), it.value() == Plan::Edit);
    }
    // Every proposal acked: none of them is left in the group's pending entries.
    const RedisValue pending = c.command({QByteArrayLiteral("XPENDING"), bytes(RedisSchema::kProposals),
                                          bytes(RedisSchema::kProposalsGroup), "-", "+", "100000"});
    QVERIFY(pending.isArray());
    QSet<QString> ourIds;
    for (const QString &k : plan.keys())
        ourIds.insert(ids.value(k));
    QVERIFY(!ourIds.contains(QString()));
    for (const RedisValue &p : pending.elements)
        QVERIFY2(p.elements.isEmpty() || !ourIds.contains(QString::fromUtf8(p.elements.at(0).str)),
                 qPrintable(QString::fromUtf8(p.elements.at(0).str)));
}

QTEST_MAIN(TestApprovalKeyboard)
#include "tst_approvalkeyboard.moc"
