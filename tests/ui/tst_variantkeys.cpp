// Variants from the keyboard, against a real primary + replica: three
// phrasings of one question end up served by one approved answer after one
// approval (Enter) and two keystrokes (V), asserted on Redis itself.
#include <QApplication>
#include <QLabel>
#include <QSet>
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
#include "tests/ui/uitestsupport.h"
#include "ui/mainwindow.h"
#include "ui/proposals/proposaldetailpane.h"
#include "ui/proposals/proposalfiltermodel.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

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
    void clusterSummaryInRows();
    void detailShowsShadowCandidate();
    void candidateColumn();
    void vAttachesToShadowCandidate();

private:
    // Appends a proposal as the console's drain does with what a gateway proposed. Returns its key.
    QString seedProposal(const QString &prompt, const QString &response, const QString &l1Key = {},
                         float l1Similarity = 0, const char *ns = kNs);
    std::optional<Entry> entry(const QString &key);
    // Selects key with its nearest approved entries looked up afresh (another row first).
    QTableView *focusWithCandidates(const QString &key, const QString &other, const QString &candidatePrompt);
    // The Cluster cell of the row of key ("" when the key is no row).
    QString clusterCell(const QString &key);
    // A cell of the row of key, in role ("" when the key is no row).
    QString cell(const QString &key, int column, int role = Qt::DisplayRole);
    // Approves the proposal of key with Enter and waits for its entry.
    void approveWithEnter(const QString &key);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<RedisServer> m_replica;
    std::unique_ptr<MainWindow> m_window;
    // candidateColumn's: the approved entry the shadowed proposal names, the nearer one's prompt.
    QString m_candidate;
    QString m_decoy;
    QString m_shadowed;
    QString m_plain;
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

QString TestVariantKeys::seedProposal(const QString &prompt, const QString &response, const QString &l1Key,
                                      float l1Similarity, const char *ns)
{
    const std::string p = prompt.toStdString();
    Proposal proposal;
    proposal.key = CacheKey::derive({ns, kSystem, p, kModel, "", "", ""});
    proposal.ns = ns;
    proposal.system = kSystem;
    proposal.prompt = p;
    proposal.response = response.toStdString();
    proposal.model = kModel;
    proposal.region = "nyc";
    proposal.tsMs = QDateTime::currentMSecsSinceEpoch();
    proposal.upstreamMs = 800;
    proposal.l1Key = l1Key.toStdString();
    proposal.l1Similarity = l1Similarity;
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
    return readEntry(*m_primary, key);
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
    QVERIFY(showConnected(*m_window, *m_primary));
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
        QVERIFY(showConnected(*m_window, *m_primary));
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

QString TestVariantKeys::clusterCell(const QString &key)
{
    ProposalTableModel *model = m_window->proposalsPage()->model();
    const int row = model->rowOfKey(key);
    return row < 0 ? QString() : model->index(row, ProposalTableModel::Cluster).data().toString();
}

// The queue's rows show their clusters, kept current as proposals arrive and leave, and the
// Cluster column ranks clusters by summed savings with each cluster's rows together.
void TestVariantKeys::clusterSummaryInRows()
{
    // A namespace of its own: clusters never cross namespaces, so proposals the other cases
    // leave in the queue (their wording is close) cannot join these clusters.
    constexpr const char *ns = "cluster-rows";
    const QString run = QStringLiteral("r%1").arg(QCoreApplication::applicationPid());
    const QStringList prompts{QStringLiteral("How do I change my email address? %1").arg(run),
                              QStringLiteral("how can I change my email address %1").arg(run),
                              QStringLiteral("Change my email address, how do I do it? %1").arg(run)};
    QStringList keys;
    for (const QString &prompt : prompts.first(2)) {
        keys.append(seedProposal(prompt, QStringLiteral("Settings › Email, for: ") + prompt, {}, 0, ns));
        QVERIFY(!keys.last().isEmpty());
    }
    const QString alone = seedProposal(QStringLiteral("Is there a student discount? %1").arg(run),
                                       QStringLiteral("Yes, 20 %."), {}, 0, ns);
    QVERIFY(!alone.isEmpty());
    QVERIFY(m_window);
    ProposalsPage *page = m_window->proposalsPage();
    // The representative's row carries the summary, the other member's points at it.
    auto summaryRow = [&](int phrasings) {
        const QString summary = QStringLiteral("%1 phrasings, seen %1 times, savings").arg(phrasings);
        int withSummary = 0;
        int pointing = 0;
        for (const QString &key : std::as_const(keys)) {
            const QString cell = clusterCell(key);
            withSummary += cell.startsWith(summary) ? 1 : 0;
            pointing += cell.startsWith(QStringLiteral("↳ with")) ? 1 : 0;
        }
        return withSummary == 1 && pointing == phrasings - 1;
    };
    QTRY_VERIFY2_WITH_TIMEOUT(summaryRow(2), qPrintable(clusterCell(keys[0]) + u'|' + clusterCell(keys[1])),
                              TimeScale::ms(15000));
    QVERIFY(page->model()->rowOfKey(alone) >= 0);
    QCOMPARE(clusterCell(alone), QString());

    // A third phrasing arrives: the same row now counts it.
    keys.append(seedProposal(prompts[2], QStringLiteral("Settings › Email, for: ") + prompts[2], {}, 0, ns));
    QVERIFY(!keys.last().isEmpty());
    QTRY_VERIFY2_WITH_TIMEOUT(
        summaryRow(3), qPrintable(clusterCell(keys[0]) + u'|' + clusterCell(keys[1]) + u'|' + clusterCell(keys[2])),
        TimeScale::ms(15000));

    // Ranked by summed savings: the cluster's three rows first, its representative on top.
    page->view()->sortByColumn(ProposalTableModel::Cluster, Qt::DescendingOrder);
    QAbstractItemModel *proxy = page->view()->model();
    QStringList top;
    for (int row = 0; row < 3 && row < proxy->rowCount(); ++row)
        top.append(proxy->index(row, 0).data(ProposalTableModel::KeyRole).toString());
    QCOMPARE(QSet<QString>(top.begin(), top.end()), QSet<QString>(keys.begin(), keys.end()));
    QVERIFY2(proxy->index(0, ProposalTableModel::Cluster).data().toString().startsWith(u"3 phrasings"),
             qPrintable(proxy->index(0, ProposalTableModel::Cluster).data().toString()));
    page->view()->sortByColumn(ProposalTableModel::Savings, Qt::DescendingOrder);

    // One leaves (rejected): the others' row counts two again.
    page->selectKey(keys[2]);
    page->view()->setFocus();
    QTest::keyClick(page->view(), Qt::Key_Backspace);
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(keys[2]) < 0, TimeScale::ms(15000));
    keys.removeLast();
    QTRY_VERIFY2_WITH_TIMEOUT(summaryRow(2), qPrintable(clusterCell(keys[0]) + u'|' + clusterCell(keys[1])),
                              TimeScale::ms(15000));
}

// A proposal a shadow-mode gateway sent with its L1 candidate: the detail pane says what L1
// would have answered with; one without says there was none.
void TestVariantKeys::detailShowsShadowCandidate()
{
    const QString run = QStringLiteral("l%1").arg(QCoreApplication::applicationPid());
    const QString entryKey = QString::fromStdString(CacheKey::derive(
        {kNs, kSystem, QStringLiteral("How do I close my account? %1").arg(run).toStdString(), kModel, "", "", ""}));
    const QString shadowed = seedProposal(QStringLiteral("how can I close my account %1").arg(run),
                                          QStringLiteral("Settings › Account › Close."), entryKey, 0.9312f);
    const QString plain = seedProposal(QStringLiteral("Do you have a dark mode? %1").arg(run), QStringLiteral("Yes."));
    QVERIFY(!shadowed.isEmpty() && !plain.isEmpty());
    QVERIFY(m_window);
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(shadowed) >= 0 && page->model()->rowOfKey(plain) >= 0,
                             TimeScale::ms(15000));
    QLabel *label = page->detailPane()->l1CandidateLabel();
    QCOMPARE(label->textFormat(), Qt::PlainText);
    page->selectKey(shadowed);
    QTRY_COMPARE_WITH_TIMEOUT(
        label->text(), QStringLiteral("L1 would have answered with entry %1 at 0.93 (V attaches to it)").arg(entryKey),
        TimeScale::ms(5000));
    page->selectKey(plain);
    QTRY_VERIFY2_WITH_TIMEOUT(label->text().startsWith(u"no candidate"), qPrintable(label->text()),
                              TimeScale::ms(5000));
}

QString TestVariantKeys::cell(const QString &key, int column, int role)
{
    ProposalTableModel *model = m_window->proposalsPage()->model();
    const int row = model->rowOfKey(key);
    return row < 0 ? QString() : model->index(row, column).data(role).toString();
}

void TestVariantKeys::approveWithEnter(const QString &key)
{
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000));
    page->selectKey(key);
    page->view()->setFocus();
    QTest::keyClick(page->view(), Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(entry(key).has_value(), TimeScale::ms(10000));
}

// The L1 column shows a proposal's shadow candidate (similarity and the entry's prompt, read
// from Redis, as plain text), nothing without one, and sorts by similarity.
void TestVariantKeys::candidateColumn()
{
    const QString run = QStringLiteral("v%1").arg(QCoreApplication::applicationPid());
    // The candidate's prompt: a bidi override, a control character and markup.
    const QString hostile = QStringLiteral("Rotate\u202E the <b>key</b>\x07 now %1").arg(run);
    const QString decoy = QStringLiteral("How do I rotate my API token? %1").arg(run);
    const QString candidate = seedProposal(hostile, QStringLiteral("Settings › API › Rotate."));
    const QString nearest = seedProposal(decoy, QStringLiteral("Settings › API › Tokens."));
    QVERIFY(!candidate.isEmpty() && !nearest.isEmpty());
    QVERIFY(m_window);
    approveWithEnter(candidate);
    approveWithEnter(nearest);

    const QString shadowed = seedProposal(QStringLiteral("how do I rotate my API token %1").arg(run),
                                          QStringLiteral("Rotate it in Settings."), candidate, 0.8765f);
    const QString plain = seedProposal(QStringLiteral("Can I pay by invoice? %1").arg(run), QStringLiteral("Yes."));
    QVERIFY(!shadowed.isEmpty() && !plain.isEmpty());
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(shadowed) >= 0 && page->model()->rowOfKey(plain) >= 0,
                             TimeScale::ms(15000));

    // The similarity at once, the entry's prompt once read, escaped; the markup stays text.
    const QString shown = QStringLiteral("≈ 0.88 Rotate\\u202E the <b>key</b>\\x07 now %1").arg(run);
    QTRY_COMPARE_WITH_TIMEOUT(cell(shadowed, ProposalTableModel::L1Candidate), shown, TimeScale::ms(10000));
    QCOMPARE(cell(plain, ProposalTableModel::L1Candidate), QString());
    const QString tip = cell(shadowed, ProposalTableModel::L1Candidate, Qt::ToolTipRole);
    QVERIFY2(tip.contains(u"V attaches this proposal as its variant") && tip.contains(candidate)
                 && tip.contains(u"&lt;b&gt;key&lt;/b&gt;") && !tip.contains(u"<b>key") && !tip.contains(QChar(0x202E)),
             qPrintable(tip));
    QVERIFY(page->model()
                ->headerData(ProposalTableModel::L1Candidate, Qt::Horizontal, Qt::ToolTipRole)
                .toString()
                .startsWith(u"The approved entry L1 would have matched (shadow mode)"));

    // Sorted by similarity: a row with a candidate above one without, and below when ascending.
    auto proxyRow = [page](const QString &key) {
        return page->proxy()->mapFromSource(page->model()->index(page->model()->rowOfKey(key), 0)).row();
    };
    page->view()->sortByColumn(ProposalTableModel::L1Candidate, Qt::DescendingOrder);
    QVERIFY(proxyRow(shadowed) < proxyRow(plain));
    page->view()->sortByColumn(ProposalTableModel::L1Candidate, Qt::AscendingOrder);
    QVERIFY(proxyRow(shadowed) > proxyRow(plain));
    page->view()->sortByColumn(ProposalTableModel::Savings, Qt::DescendingOrder);
    m_candidate = candidate;
    m_decoy = decoy;
    m_shadowed = shadowed;
    m_plain = plain;
}

// V attaches to the shadow candidate even when the detail pane lists another entry as the
// nearest, and the status bar names it.
void TestVariantKeys::vAttachesToShadowCandidate()
{
    QVERIFY(!m_shadowed.isEmpty());
    const QString candidate = m_candidate;
    const QString decoy = m_decoy;
    const QString shadowed = m_shadowed;
    ProposalsPage *page = m_window->proposalsPage();
    QTableView *view = focusWithCandidates(shadowed, m_plain, decoy);
    QVERIFY(view);
    QVERIFY2(page->detailPane()->similarLabel()->text().section(u'\n', 0, 0).contains(decoy),
             qPrintable(page->detailPane()->similarLabel()->text()));
    QTest::keyClick(view, Qt::Key_V);
    QTRY_VERIFY_WITH_TIMEOUT(entry(shadowed).has_value(), TimeScale::ms(10000));
    QCOMPARE(QString::fromStdString(entry(shadowed)->variantOf), candidate);
    QCOMPARE(QString::fromStdString(entry(shadowed)->response), QStringLiteral("Settings › API › Rotate."));
    // The status bar names the entry it attached to.
    QTRY_VERIFY2_WITH_TIMEOUT(
        m_window->statusBar()->currentMessage().startsWith(
            QStringLiteral("Attached %1 as a variant of the L1 candidate “Rotate\\u202E").arg(shadowed.left(16))),
        qPrintable(m_window->statusBar()->currentMessage()), TimeScale::ms(10000));
    QVERIFY(m_window->statusBar()->currentMessage().contains(candidate.left(16)));
}

QTEST_MAIN(TestVariantKeys)
#include "tst_variantkeys.moc"
