// Variants from the keyboard, against a real primary + replica: three
// phrasings of one question end up served by one approved answer after one
// approval (Enter) and two keystrokes (V), asserted on Redis itself.
#include <QApplication>
#include <QLabel>
#include <QStatusBar>
#include <QTableView>
#include <QTest>

#include <algorithm>
#include <memory>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "ui/mainwindow.h"
#include "ui/proposals/proposaldetailpane.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

constexpr const char *kNs = "acme";
constexpr const char *kSystem = "You are a support agent.";
constexpr const char *kModel = "gpt-4o-mini";

} // namespace

class TestVariantKeys : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void threePhrasingsOneApprovalTwoKeystrokes();
    void clusterApprovedWithOneKey();
    void splitMemberStaysOut();

private:
    // Appends a proposal as the console's drain does with what a gateway proposed. Returns its key.
    QString seedProposal(const QString &prompt, const QString &response);
    std::optional<Entry> entry(const QString &key);
    // Selects key with its nearest approved entries looked up afresh (another row first).
    QTableView *focusWithCandidates(const QString &key, const QString &other, const QString &candidatePrompt);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<RedisServer> m_replica;
    std::unique_ptr<MainWindow> m_window;
};

void TestVariantKeys::initTestCase()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    m_replica = std::make_unique<RedisServer>();
    QVERIFY2(startPrimaryAndReplica(*m_primary, *m_replica, true, &error), qPrintable(error));
}

void TestVariantKeys::cleanupTestCase()
{
    m_window.reset();
    m_replica.reset();
    m_primary.reset();
}

QString TestVariantKeys::seedProposal(const QString &prompt, const QString &response)
{
    const std::string p = prompt.toStdString();
    Proposal proposal;
    proposal.key = CacheKey::derive({kNs, kSystem, p, kModel, "", "", ""});
    proposal.ns = kNs;
    proposal.system = kSystem;
    proposal.prompt = p;
    proposal.response = response.toStdString();
    proposal.model = kModel;
    proposal.region = "nyc";
    proposal.tsMs = QDateTime::currentMSecsSinceEpoch();
    proposal.upstreamMs = 800;
    RedisClient gw = m_primary->client(QStringLiteral("gateway"));
    gw.command({QByteArrayLiteral("HINCRBY"), bytes(RedisSchema::seenKey(proposal.key)), QByteArrayLiteral("nyc"),
                QByteArrayLiteral("1")});
    QList<QByteArray> argv{QByteArrayLiteral("XADD"), bytes(RedisSchema::kProposals), QByteArrayLiteral("*")};
    for (const auto &[field, value] : ProposalCodec::encode(proposal)) {
        argv.append(bytes(field));
        argv.append(bytes(value));
    }
    RedisClient console = m_primary->client(QStringLiteral("console"));
    const RedisValue id = console.command(argv);
    return id.isString() ? QString::fromStdString(proposal.key) : QString();
}

std::optional<Entry> TestVariantKeys::entry(const QString &key)
{
    RedisClient c = m_primary->client(QStringLiteral("console"));
    const QByteArray json = c.get(bytes(RedisSchema::entryKey(key.toStdString())));
    if (json.isNull())
        return std::nullopt;
    return EntryCodec::decode(std::string_view(json.constData(), size_t(json.size())));
}

QTableView *TestVariantKeys::focusWithCandidates(const QString &key, const QString &other,
                                                 const QString &candidatePrompt)
{
    ProposalsPage *page = m_window->proposalsPage();
    [&] { QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000)); }();
    if (QTest::currentTestFailed())
        return nullptr;
    if (!other.isEmpty() && page->model()->rowOfKey(other) >= 0)
        page->selectKey(other);
    page->selectKey(key);
    QLabel *label = page->detailPane()->similarLabel();
    [&] {
        // The pane shows this proposal (it follows the selection a moment later) and its candidates.
        auto paneShowsKey = [&] {
            const auto labels = page->detailPane()->findChildren<QLabel *>();
            return std::any_of(labels.begin(), labels.end(), [&](QLabel *l) { return l->text().contains(key); });
        };
        QTRY_VERIFY_WITH_TIMEOUT(page->currentItem() && page->currentItem()->key == key && paneShowsKey()
                                     && label->text().contains(candidatePrompt),
                                 TimeScale::ms(15000));
    }();
    if (QTest::currentTestFailed())
        return nullptr;
    QTableView *view = page->view();
    view->setFocus();
    return view;
}

void TestVariantKeys::threePhrasingsOneApprovalTwoKeystrokes()
{
    const QString run = QString::number(QCoreApplication::applicationPid());
    const QString main = QStringLiteral("How do I reset my password? %1").arg(run);
    const QString forgot = QStringLiteral("I forgot my password, what now? %1").arg(run);
    const QString cannot = QStringLiteral("Can't log in, I don't remember my password %1").arg(run);
    const QString answer = QStringLiteral("Open Settings › Account › Reset password.");
    const QString k0 = seedProposal(main, answer);
    const QString k1 = seedProposal(forgot, QStringLiteral("Another answer the model gave."));
    const QString k2 = seedProposal(cannot, QStringLiteral("A third answer the model gave."));
    QVERIFY(!k0.isEmpty() && !k1.isEmpty() && !k2.isEmpty());

    m_window = std::make_unique<MainWindow>();
    auto options = RedisConnection::Options::fromUrl(m_primary->url(QStringLiteral("console")));
    QVERIFY(options);
    m_window->connectWith(*options, QStringLiteral("test primary"));
    m_window->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
    m_window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(m_window.get()));

    // One approval.
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(k0) >= 0, TimeScale::ms(15000));
    page->selectKey(k0);
    page->view()->setFocus();
    QTest::keyClick(page->view(), Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(entry(k0).has_value(), TimeScale::ms(10000));

    // Two keystrokes: each other phrasing shows the approved entry as its nearest, V attaches it.
    QTableView *view = focusWithCandidates(k2, k1, main);
    QVERIFY(view);
    QTest::keyClick(view, Qt::Key_V);
    QTRY_VERIFY_WITH_TIMEOUT(entry(k2).has_value(), TimeScale::ms(10000));
    // The console has taken that decision in (k2 left the queue) before the next one.
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(k2) < 0, TimeScale::ms(10000));
    view = focusWithCandidates(k1, k2, main);
    QVERIFY(view);
    QStringList results;
    QObject resultsContext;
    connect(page, &ProposalsPage::writeFinished, &resultsContext,
            [&results](const ApprovalResult &r) { results.append(r.action + u' ' + r.key + u' ' + r.message); });
    QTest::keyClick(view, Qt::Key_V);
    QTRY_VERIFY2_WITH_TIMEOUT(entry(k1).has_value(),
                              qPrintable(m_window->statusBar()->currentMessage() + QStringLiteral(" current=")
                                         + (page->currentItem() ? page->currentItem()->key : QString()) + u' ' + k1
                                         + QStringLiteral(" focus=") + QString::number(view->hasFocus()) + u'\n'
                                         + page->detailPane()->similarLabel()->text() + u'\n' + results.join(u'\n')),
                              TimeScale::ms(10000));

    for (const QString &key : {k0, k1, k2}) {
        const auto e = entry(key);
        QVERIFY(e.has_value());
        QCOMPARE(QString::fromStdString(e->response), answer);
        QCOMPARE(QString::fromStdString(e->variantOf), key == k0 ? QString() : k0);
    }
    RedisClient c = m_primary->client(QStringLiteral("console"));
    QCOMPARE(c.command({QByteArrayLiteral("SCARD"), bytes(RedisSchema::variantsKey(k0.toStdString()))}).integer, 2);
    // All three decided: the queue is empty of them.
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(k1) < 0 && page->model()->rowOfKey(k2) < 0, TimeScale::ms(5000));
}

void TestVariantKeys::clusterApprovedWithOneKey()
{
    const QString run = QStringLiteral("c%1").arg(QCoreApplication::applicationPid());
    const QStringList prompts{QStringLiteral("Where is my invoice for March? %1").arg(run),
                              QStringLiteral("where can I find my March invoice %1").arg(run),
                              QStringLiteral("Invoice for March, where is it? %1").arg(run)};
    QStringList keys;
    for (const QString &prompt : prompts) {
        keys.append(seedProposal(prompt, QStringLiteral("Billing › Invoices, for: ") + prompt));
        QVERIFY(!keys.last().isEmpty());
    }
    const QString unrelated = seedProposal(QStringLiteral("Do you ship to Lapland? %1").arg(run),
                                           QStringLiteral("No."));
    QVERIFY(!unrelated.isEmpty());
    if (!m_window) {
        m_window = std::make_unique<MainWindow>();
        auto options = RedisConnection::Options::fromUrl(m_primary->url(QStringLiteral("console")));
        QVERIFY(options);
        m_window->connectWith(*options, QStringLiteral("test primary"));
        m_window->show();
        QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
    }
    ProposalsPage *page = m_window->proposalsPage();
    for (const QString &key : keys)
        QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000));
    page->selectKey(keys[1]);
    page->view()->setFocus();
    QTest::keyClick(page->view(), Qt::Key_C);

    QTRY_VERIFY_WITH_TIMEOUT(entry(keys[0]) && entry(keys[1]) && entry(keys[2]), TimeScale::ms(15000));
    // One answer (the representative's) for all three; the two others are its variants.
    QString main;
    for (const QString &key : keys) {
        if (entry(key)->variantOf.empty())
            main = key;
    }
    QVERIFY(!main.isEmpty());
    for (const QString &key : keys) {
        const Entry e = *entry(key);
        QCOMPARE(QString::fromStdString(e.response), QString::fromStdString(entry(main)->response));
        QCOMPARE(QString::fromStdString(e.variantOf), key == main ? QString() : main);
    }
    // The unrelated question was not part of it.
    QVERIFY(!entry(unrelated).has_value());
    QVERIFY(page->model()->rowOfKey(unrelated) >= 0);
}

void TestVariantKeys::splitMemberStaysOut()
{
    const QString run = QStringLiteral("s%1").arg(QCoreApplication::applicationPid());
    const QStringList prompts{QStringLiteral("How do I export my contacts? %1").arg(run),
                              QStringLiteral("how can I export my contacts %1").arg(run),
                              QStringLiteral("Export contacts, how do I do it? %1").arg(run)};
    QStringList keys;
    for (const QString &prompt : prompts) {
        keys.append(seedProposal(prompt, QStringLiteral("Contacts › Export, for: ") + prompt));
        QVERIFY(!keys.last().isEmpty());
    }
    QVERIFY(m_window);
    ProposalsPage *page = m_window->proposalsPage();
    for (const QString &key : keys)
        QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000));
    page->selectKey(keys[2]);
    page->view()->setFocus();
    QTest::keyClick(page->view(), Qt::Key_S);
    page->selectKey(keys[0]);
    page->view()->setFocus();
    QTest::keyClick(page->view(), Qt::Key_C);

    QTRY_VERIFY_WITH_TIMEOUT(entry(keys[0]) && entry(keys[1]), TimeScale::ms(15000));
    const bool firstIsMain = entry(keys[0])->variantOf.empty();
    const QString main = firstIsMain ? keys[0] : keys[1];
    QCOMPARE(QString::fromStdString(entry(firstIsMain ? keys[1] : keys[0])->variantOf), main);
    // The split one was left out: still in the queue, no entry.
    QVERIFY(!entry(keys[2]).has_value());
    QVERIFY(page->model()->rowOfKey(keys[2]) >= 0);
}

QTEST_MAIN(TestVariantKeys)
#include "tst_variantkeys.moc"
