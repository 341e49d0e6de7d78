// The topology page against a real primary, replica and three Sentinels: the
// operator's Sentinel failover and manual promotion, driven through the
// page's buttons with the confirmation accepted, move the primary on the
// servers themselves, and the page then shows the new primary.
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>
#include <QTreeWidget>

#include <memory>

#include "core/common/redisschema.h"
#include "core/control/approvalresult.h"
#include "tests/support/poll.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "ui/topology/topologypage.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/monitorclient.h"
#include "ui/workers/monitorconfig.h"
#include "ui/workers/monitorworker.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

const QString kRegion = QStringLiteral("tokyo");

QString address(const RedisServer &s)
{
    return QStringLiteral("%1:%2").arg(s.host()).arg(s.port());
}

RedisConnection::Options consoleOptions(const RedisServer &s)
{
    RedisConnection::Options o;
    o.host = s.host();
    o.port = s.port();
    o.user = QByteArrayLiteral("console");
    o.password = TestCredentials::get().console.toUtf8();
    return o;
}

} // namespace

class TestTopologyFailover : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void cleanup();

    void sentinelFailoverFromPage();
    void manualPromotionFromPage();

private:
    // Every Sentinel sees the primary, the replica and the other two.
    bool waitForSentinels(QString *error);
    QTreeWidgetItem *sectionRow(const QString &section, int index = 0) const;
    QTreeWidgetItem *replicaRow() const;
    QString quorumText() const;
    // Clicks the named control and accepts its confirmation; the confirmation's text.
    QString clickAndConfirm(const QString &button);
    // The page shows server as the primary, with the Sentinels' view when
    // fromSentinels, else the replication heartbeat's.
    void verifyShownPrimary(const RedisServer &server, bool fromSentinels);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<RedisServer> m_replica;
    std::vector<std::unique_ptr<RedisServer>> m_sentinels;
    std::unique_ptr<ControlClient> m_control;
    std::unique_ptr<MonitorClient> m_monitor;
    std::unique_ptr<TopologyPage> m_page;
};

void TestTopologyFailover::init()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    QVERIFY2(m_primary->start({}, &error), qPrintable(error));
    RedisServer::Options ro;
    ro.replicaOfPort = m_primary->port();
    m_replica = std::make_unique<RedisServer>();
    QVERIFY2(m_replica->start(ro, &error), qPrintable(error));
    for (int i = 0; i < 3; ++i) {
        RedisServer::Options so;
        so.sentinel = true;
        so.monitorPort = m_primary->port();
        so.quorum = 2;
        m_sentinels.push_back(std::make_unique<RedisServer>());
        QVERIFY2(m_sentinels.back()->start(so, &error), qPrintable(error));
    }
    QVERIFY2(waitForSentinels(&error), qPrintable(error));

    // As the console gets them in production: the Sentinels' ACL user and
    // the data nodes it may authenticate to, from the environment.
    qputenv("L0L3_SENTINEL_AUTH_USER", m_sentinels.front()->adminUser().toUtf8());
    qputenv("L0L3_SENTINEL_AUTH_PASSWORD", TestCredentials::get().sentinelAuth.toUtf8());
    qputenv("L0L3_REDIS_HOSTS", (address(*m_primary) + u',' + address(*m_replica)).toUtf8());

    MonitorConfig config;
    config.hasPrimary = true;
    config.primary = consoleOptions(*m_primary);
    config.topologyUser = QByteArrayLiteral("topology");
    config.topologyPassword = TestCredentials::get().topology.toUtf8();
    config.replicas.append({kRegion, consoleOptions(*m_replica)});
    for (const auto &s : m_sentinels)
        config.sentinels.append({s->host(), s->port()});

    m_control = std::make_unique<ControlClient>();
    m_monitor = std::make_unique<MonitorClient>();
    m_page = std::make_unique<TopologyPage>(m_control.get(), m_monitor.get());
    // The control connection follows the primary the Sentinels announce, as
    // MainWindow wires it.
    connect(m_monitor->worker(), &MonitorWorker::primaryChanged, m_control.get(),
            [this](const QString &host, int port) { m_control->repoint(host, port); });
    m_page->setConfig(config);
    m_monitor->configure(config);
    m_control->connectTo(consoleOptions(*m_primary), QStringLiteral("tst_topologyfailover"));
    m_page->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_page.get()));
}

void TestTopologyFailover::cleanup()
{
    if (QTest::currentTestFailed()) {
        for (const auto &s : m_sentinels)
            qWarning().noquote() << "sentinel" << s->port() << '\n' << s->logTail(20);
    }
    m_page.reset();
    m_monitor.reset();
    m_control.reset();
    for (auto &s : m_sentinels)
        QVERIFY2(s->stop(), qPrintable(s->logTail()));
    m_sentinels.clear();
    if (m_replica)
        QVERIFY2(m_replica->stop(), qPrintable(m_replica->logTail()));
    if (m_primary)
        QVERIFY2(m_primary->stop(), qPrintable(m_primary->logTail()));
    m_replica.reset();
    m_primary.reset();
}

bool TestTopologyFailover::waitForSentinels(QString *error)
{
    QString last;
    const bool ok = Poll::until(
        [&] {
            for (const auto &s : m_sentinels) {
                RedisClient client = s->client(s->adminUser());
                if (!client.isConnected()) {
                    last = client.lastError();
                    return false;
                }
                const RedisValue master = client.command({"SENTINEL", "MASTER", "l0l3"});
                QHash<QByteArray, QByteArray> fields;
                for (qsizetype i = 0; i + 1 < master.elements.size(); i += 2)
                    fields.insert(master.elements[i].str, master.elements[i + 1].str);
                if (fields.value("flags") != "master" || fields.value("num-slaves") != "1"
                    || fields.value("num-other-sentinels") != "2") {
                    last = QStringLiteral("sentinel %1: flags=%2 num-slaves=%3 num-other-sentinels=%4")
                               .arg(s->port())
                               .arg(QString::fromUtf8(fields.value("flags")),
                                    QString::fromUtf8(fields.value("num-slaves")),
                                    QString::fromUtf8(fields.value("num-other-sentinels")));
                    return false;
                }
            }
            return true;
        },
        30000, 200);
    if (!ok)
        *error = QStringLiteral("the Sentinels never saw the whole topology: ") + last;
    return ok;
}

QTreeWidgetItem *TestTopologyFailover::sectionRow(const QString &section, int index) const
{
    QTreeWidget *tree = m_page->tree();
    for (int i = 0; i < tree->topLevelItemCount(); ++i) {
        QTreeWidgetItem *s = tree->topLevelItem(i);
        if (s->text(0) == section)
            return index < s->childCount() ? s->child(index) : nullptr;
    }
    return nullptr;
}

QTreeWidgetItem *TestTopologyFailover::replicaRow() const
{
    for (int i = 0; QTreeWidgetItem *row = sectionRow(QStringLiteral("Replicas"), i); ++i) {
        if (row->data(0, Qt::UserRole).toString() == kRegion)
            return row;
    }
    return nullptr;
}

QString TestTopologyFailover::quorumText() const
{
    auto *label = m_page->findChild<QLabel *>(QStringLiteral("sentinelStatus"));
    return label ? label->text() : QString();
}

QString TestTopologyFailover::clickAndConfirm(const QString &button)
{
    auto *control = m_page->findChild<QPushButton *>(button);
    if (!control)
        return QStringLiteral("no button %1").arg(button);
    control->click();
    QMessageBox *box = nullptr;
    Poll::until(
        [&] {
            box = m_page->findChild<QMessageBox *>(QStringLiteral("controlConfirm"));
            return box && box->isVisible();
        },
        5000);
    if (!box)
        return QStringLiteral("no confirmation after %1").arg(button);
    const QString text = box->text();
    box->button(QMessageBox::Ok)->click();
    return text;
}

void TestTopologyFailover::verifyShownPrimary(const RedisServer &server, bool fromSentinels)
{
    const QString addr = address(server);
    auto shown = [&] {
        const QTreeWidgetItem *row = sectionRow(QStringLiteral("Primary"));
        return row ? QStringLiteral("%1 | %2 | %3").arg(row->text(1), row->text(2), row->text(3)) : QString();
    };
    QTRY_VERIFY2_WITH_TIMEOUT(shown().startsWith(addr + QStringLiteral(" | master"))
                                  && shown().endsWith(QStringLiteral(" | up")),
                              qPrintable(shown() + u'\n' + quorumText()), TimeScale::ms(20000));
    if (fromSentinels) {
        QTRY_VERIFY2_WITH_TIMEOUT(quorumText().contains(QStringLiteral(" at %1 ").arg(addr))
                                      && quorumText().contains(QStringLiteral("CKQUORUM OK")),
                                  qPrintable(quorumText()), TimeScale::ms(20000));
    }
}

void TestTopologyFailover::sentinelFailoverFromPage()
{
    verifyShownPrimary(*m_primary, true);
    if (QTest::currentTestFailed())
        return;
    QSignalSpy status(m_page.get(), &TopologyPage::statusMessage);
    QSignalSpy written(m_page.get(), &TopologyPage::writeFinished);

    const QString confirmation = clickAndConfirm(QStringLiteral("sentinelFailover"));
    QVERIFY2(confirmation.contains(QStringLiteral("(%1)").arg(address(*m_primary))), qPrintable(confirmation));

    // The Sentinels promoted the replica and demoted the old primary.
    QTRY_COMPARE_WITH_TIMEOUT(m_replica->role(), QByteArray("master"), TimeScale::ms(30000));
    QTRY_COMPARE_WITH_TIMEOUT(m_primary->role(), QByteArray("slave"), TimeScale::ms(30000));
    QStringList messages;
    for (const QList<QVariant> &args : std::as_const(status))
        messages << args.first().toString();
    QVERIFY2(messages.filter(QStringLiteral("sentinel-failover: Sentinel")).size() == 1,
             qPrintable(messages.join(u'\n')));

    verifyShownPrimary(*m_replica, true);
    QTRY_VERIFY_WITH_TIMEOUT(!written.isEmpty(), TimeScale::ms(15000));
    const ApprovalResult result = written.first().first().value<ApprovalResult>();
    QVERIFY2(result.ok, qPrintable(result.message));
}

void TestTopologyFailover::manualPromotionFromPage()
{
    verifyShownPrimary(*m_primary, true);
    if (QTest::currentTestFailed())
        return;
    // The Sentinels are gone: no quorum, the case manual promotion is for.
    for (auto &s : m_sentinels)
        QVERIFY2(s->stop(), qPrintable(s->logTail()));
    QTreeWidgetItem *replica = replicaRow();
    QVERIFY(replica);
    m_page->tree()->setCurrentItem(replica);
    QSignalSpy written(m_page.get(), &TopologyPage::writeFinished);

    const QString confirmation = clickAndConfirm(QStringLiteral("manualPromotion"));
    QVERIFY2(confirmation.contains(QStringLiteral("(%1)").arg(address(*m_replica))), qPrintable(confirmation));

    QTRY_COMPARE_WITH_TIMEOUT(m_replica->role(), QByteArray("master"), TimeScale::ms(15000));
    QTRY_COMPARE_WITH_TIMEOUT(m_primary->role(), QByteArray("slave"), TimeScale::ms(15000));
    verifyShownPrimary(*m_replica, false);

    // The promotion is audited on the new primary.
    QTRY_VERIFY_WITH_TIMEOUT(!written.isEmpty(), TimeScale::ms(15000));
    const ApprovalResult result = written.first().first().value<ApprovalResult>();
    QVERIFY2(result.ok, qPrintable(result.message));
    RedisClient client = m_replica->client();
    const std::string_view audit = RedisSchema::kAudit;
    const RedisValue entries = client.command({"XRANGE", QByteArray(audit.data(), qsizetype(audit.size())), "-", "+"});
    QVERIFY2(entries.toString().contains(QStringLiteral("promote %1").arg(address(*m_replica))),
             qPrintable(entries.toString()));
}

QTEST_MAIN(TestTopologyFailover)
#include "tst_topologyfailover.moc"
