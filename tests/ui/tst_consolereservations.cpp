// Reservations in the console against a real primary that loaded
// packaging/redis/users.acl, with real operator ACL users: op-anna claims
// with l0l3-ctl (another process), op-ben's console shows who holds what
// without a reload, its keyboard flow (J/K, the move after a decision) skips
// the proposals anna holds, a short claim expires out of the view, anna's
// release frees it, and ben's own claims (R, G, Shift+R) reach l0l3-ctl.
// A cluster claim (named by the cluster's representative) covers every
// phrasing of that cluster and no other row.
#include <QApplication>
#include <QDateTime>
#include <QElapsedTimer>
#include <QLabel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "core/common/cachekey.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/control/reservationstore.h"
#include "core/localstack/aclfile.h"
#include "tests/support/ctlrun.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"
#include "tests/ui/uitestsupport.h"
#include "ui/mainwindow.h"
#include "ui/proposals/heldrowdelegate.h"
#include "ui/proposals/proposalfiltermodel.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"

using namespace l0l3;
using namespace l0l3::test;

class TestConsoleReservations : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void claimsShowLiveAndAreSkipped();
    void clusterClaimCoversItsPhrasings();

private:
    CtlRun ctl(const QString &op, const QStringList &args);
    QString seedProposal(const QString &prompt, const std::string &ns, const std::string &region);
    QString label() const { return m_window->proposalsPage()->reservationsLabel()->text(); }

    RedisServer m_primary;
    QTemporaryDir m_dir;
    QHash<QString, QString> m_passwords;
    std::unique_ptr<MainWindow> m_window;
};

void TestConsoleReservations::initTestCase()
{
    QString why;
    QVERIFY2(m_primary.start({}, &why), qPrintable(why));
    for (const QString &name : {QStringLiteral("anna"), QStringLiteral("ben")}) {
        m_passwords.insert(name, AclFile::randomPassword());
        const CtlRun r = addOperatorWithCtl(m_primary, name, QStringLiteral("approver"), m_passwords.value(name),
                                            m_dir.path());
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
    }
}

void TestConsoleReservations::cleanupTestCase()
{
    m_window.reset();
    m_primary.stop();
}

CtlRun TestConsoleReservations::ctl(const QString &op, const QStringList &args)
{
    return runCtlAs(m_primary, u"op-" + op, m_passwords.value(op), QStringList{QStringLiteral("reservations")} + args);
}

QString TestConsoleReservations::seedProposal(const QString &prompt, const std::string &ns, const std::string &region)
{
    const std::string p = QStringLiteral("%1 [%2]").arg(prompt).arg(QCoreApplication::applicationPid()).toStdString();
    Proposal proposal;
    proposal.ns = ns;
    proposal.system = "You are a support agent.";
    proposal.prompt = p;
    proposal.model = "gpt-4o-mini";
    proposal.key = CacheKey::derive({ns, proposal.system, p, proposal.model, "", "", ""});
    proposal.response = "An answer.";
    proposal.region = region;
    proposal.tsMs = QDateTime::currentMSecsSinceEpoch();
    proposal.upstreamMs = 800;
    proposal.promptTokens = 20;
    proposal.completionTokens = 60;
    RedisClient console = m_primary.client(QStringLiteral("console"));
    const QByteArray seen = bytes(RedisSchema::seenKey(proposal.key));
    console.command({"HINCRBY", seen, QByteArray::fromStdString(region), "1"});
    console.command({"HINCRBY", seen, bytes(RedisSchema::kSeenTotalField), "1"});
    return appendProposal(m_primary, proposal).isString() ? QString::fromStdString(proposal.key) : QString();
}

void TestConsoleReservations::claimsShowLiveAndAreSkipped()
{
    // Sorted by prompt: a, b, c. b is in the namespace anna will hold.
    const QString a = seedProposal(QStringLiteral("a: do you ship to Canada?"), "shop", "nyc");
    const QString b = seedProposal(QStringLiteral("b: how do I reset my password?"), "acme", "nyc");
    const QString c = seedProposal(QStringLiteral("c: can I pay by invoice?"), "shop", "nyc");
    QVERIFY(!a.isEmpty() && !b.isEmpty() && !c.isEmpty());

    m_window = std::make_unique<MainWindow>();
    RedisConnection::Options o;
    o.host = m_primary.host();
    o.port = m_primary.port();
    o.user = "op-ben";
    o.password = m_passwords.value(QStringLiteral("ben")).toUtf8();
    QVERIFY(showConnected(*m_window, o));
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(a) >= 0 && page->model()->rowOfKey(b) >= 0
                                 && page->model()->rowOfKey(c) >= 0,
                             TimeScale::ms(15000));
    QTableView *view = page->view();
    view->sortByColumn(ProposalTableModel::Prompt, Qt::AscendingOrder);
    QVERIFY(!page->reservationsLabel()->isVisible());

    // anna claims namespace acme in another process: ben's console shows it without a reload.
    CtlRun r = ctl(QStringLiteral("anna"),
                   {QStringLiteral("claim"), QStringLiteral("namespace"), QStringLiteral("acme"),
                    QStringLiteral("10")});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));
    QElapsedTimer shown;
    shown.start();
    QTRY_VERIFY_WITH_TIMEOUT(label().contains(QStringLiteral("namespace acme — op-anna until")), TimeScale::ms(5000));
    qInfo("claim by l0l3-ctl shown in the console after %lld ms (after the process exited)", shown.elapsed());
    QVERIFY(page->reservationsLabel()->isVisible());

    // b's row is marked with its holder; a's is not.
    auto *delegate = qobject_cast<HeldRowDelegate *>(view->itemDelegate());
    QVERIFY(delegate);
    auto proxyIndexOf = [&](const QString &key) {
        return page->proxy()->mapFromSource(page->model()->index(page->model()->rowOfKey(key), 0));
    };
    QVERIFY2(delegate->holderAt(proxyIndexOf(b)).startsWith(QStringLiteral("Held by op-anna until ")),
             qPrintable(delegate->holderAt(proxyIndexOf(b))));
    QVERIFY(delegate->holderAt(proxyIndexOf(a)).isEmpty());
    // J from a skips b (held by anna) to c; K goes back to a.
    page->selectKey(a);
    view->setFocus();
    QTest::keyClick(view, Qt::Key_J);
    QCOMPARE(page->currentItem()->key, c);
    QTest::keyClick(view, Qt::Key_K);
    QCOMPARE(page->currentItem()->key, a);
    // Selected by hand, b says whose it is.
    page->selectKey(b);
    QVERIFY2(label().contains(QLatin1String("This proposal is in op-anna's reservation (namespace acme)")),
             qPrintable(label()));

    // anna's short claim on a region expires: the console drops it (and audits the expiry).
    {
        RedisConnection::Options annaOptions = o;
        annaOptions.user = "op-anna";
        annaOptions.password = m_passwords.value(QStringLiteral("anna")).toUtf8();
        RedisConnection anna(annaOptions);
        anna.open();
        QTRY_VERIFY_WITH_TIMEOUT(anna.isReady(), TimeScale::ms(10000));
        ReservationStore store(&anna);
        bool ok = false;
        bool done = false;
        store.claim(QStringLiteral("region"), QStringLiteral("tokyo"), TimeScale::ms(3000),
                    [&](const ReservationStore::Result &res) {
                        ok = res.ok;
                        done = true;
                    });
        QTRY_VERIFY_WITH_TIMEOUT(done, TimeScale::ms(10000));
        QVERIFY(ok);
    }
    QTRY_VERIFY_WITH_TIMEOUT(label().contains(QStringLiteral("region tokyo — op-anna")), TimeScale::ms(5000));
    QTRY_VERIFY_WITH_TIMEOUT(!label().contains(QLatin1String("region tokyo")), TimeScale::ms(20000));
    RedisClient console = m_primary.client(QStringLiteral("console"));
    QTRY_COMPARE_WITH_TIMEOUT(console.command({"HEXISTS", bytes(RedisSchema::kReservations), "region:tokyo"}).integer,
                              0LL, TimeScale::ms(5000));

    // ben's own claims, by keyboard: R reserves a's namespace; anna's l0l3-ctl sees it.
    page->selectKey(a);
    view->setFocus();
    QTest::keyClick(view, Qt::Key_R);
    QTRY_VERIFY_WITH_TIMEOUT(label().contains(QStringLiteral("namespace shop — you until")), TimeScale::ms(5000));
    r = ctl(QStringLiteral("anna"), {QStringLiteral("list")});
    QVERIFY2(r.code == 0 && r.out.contains("namespace:shop\top-ben\tuntil "), qPrintable(r.describe(true)));
    // Not skipped for its holder: J from a goes on to c.
    QTest::keyClick(view, Qt::Key_J);
    QCOMPARE(page->currentItem()->key, c);
    // Shift+R gives it back.
    QTest::keyClick(view, Qt::Key_R, Qt::ShiftModifier);
    QTRY_VERIFY_WITH_TIMEOUT(!label().contains(QLatin1String("namespace shop")), TimeScale::ms(5000));

    // anna releases acme: b is free again for ben's keyboard flow.
    r = ctl(QStringLiteral("anna"), {QStringLiteral("release"), QStringLiteral("namespace"), QStringLiteral("acme")});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));
    QTRY_VERIFY_WITH_TIMEOUT(!page->reservationsLabel()->isVisible(), TimeScale::ms(5000));
    QVERIFY(delegate->holderAt(proxyIndexOf(b)).isEmpty());
    page->selectKey(a);
    QTest::keyClick(view, Qt::Key_J);
    QCOMPARE(page->currentItem()->key, b);
}

void TestConsoleReservations::clusterClaimCoversItsPhrasings()
{
    QVERIFY(m_window);
    ProposalsPage *page = m_window->proposalsPage();
    const QString first = seedProposal(QStringLiteral("How do I change my email address?"), "mail", "nyc");
    const QString second = seedProposal(QStringLiteral("how can I change my email address"), "mail", "nyc");
    const QString other = seedProposal(QStringLiteral("Is there a student discount?"), "billing", "nyc");
    QVERIFY(!first.isEmpty() && !second.isEmpty() && !other.isEmpty());
    ProposalTableModel *model = page->model();
    // The queue's clusters are computed off the UI thread: wait until the two phrasings share one.
    auto clusterOf = [&](const QString &key) {
        const ProposalTableModel::ClusterSummary *c = model->clusterAt(model->rowOfKey(key));
        return c ? c->representativeKey : QString();
    };
    QTRY_VERIFY_WITH_TIMEOUT(!clusterOf(first).isEmpty() && clusterOf(first) == clusterOf(second),
                             TimeScale::ms(15000));
    const QString cluster = clusterOf(first);
    QVERIFY(cluster == first || cluster == second);

    const CtlRun r = ctl(QStringLiteral("anna"),
                         {QStringLiteral("claim"), QStringLiteral("cluster"), cluster, QStringLiteral("10")});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));
    QTRY_VERIFY_WITH_TIMEOUT(label().contains(QStringLiteral("cluster %1 — op-anna until").arg(cluster)),
                             TimeScale::ms(5000));
    auto *delegate = qobject_cast<HeldRowDelegate *>(page->view()->itemDelegate());
    QVERIFY(delegate);
    auto holderOf = [&](const QString &key) {
        return delegate->holderAt(page->proxy()->mapFromSource(model->index(model->rowOfKey(key), 0)));
    };
    QVERIFY2(holderOf(first).startsWith(QStringLiteral("Held by op-anna until ")), qPrintable(holderOf(first)));
    QVERIFY2(holderOf(second).startsWith(QStringLiteral("Held by op-anna until ")), qPrintable(holderOf(second)));
    QVERIFY2(holderOf(other).isEmpty(), qPrintable(holderOf(other)));

    const CtlRun released = ctl(QStringLiteral("anna"),
                                {QStringLiteral("release"), QStringLiteral("cluster"), cluster});
    QVERIFY2(released.code == 0, qPrintable(released.describe(true)));
    QTRY_VERIFY_WITH_TIMEOUT(holderOf(first).isEmpty() && holderOf(second).isEmpty(), TimeScale::ms(5000));
}

QTEST_MAIN(TestConsoleReservations)
#include "tst_consolereservations.moc"
