// The "L1 review" page, keyboard only, against a real primary + replica:
// sampled L1 answers are written as the gateway ACL user through FCALL
// l0l3_l1_review; J/K move, Enter confirms, D and Backspace deny; every
// verdict is asserted on Redis (the stream, the entry's threshold, the
// audit). Items written later show up live, and an item another console
// decides leaves the page.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QTableView>
#include <QTest>

#include <memory>

#include "core/common/auditrecord.h"
#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
#include "core/control/approvalservice.h"
#include "core/control/entryvectors.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"
#include "tests/ui/uitestsupport.h"
#include "ui/l1review/l1reviewpage.h"
#include "ui/workers/controlclient.h"

using namespace l0l3;
using namespace l0l3::test;

class TestL1ReviewKeyboard : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void confirmAndDenyByKeyboard();

private:
    QString seedEntry(const std::string &prompt);
    QString sample(const QString &entry, char requestDigit, const QByteArray &similarity, const QByteArray &prompt);
    float threshold(const QString &entry);
    QStringList queued();
    QStringList audited(const QString &action);
    int rowOf(const QString &id);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<RedisServer> m_replica;
    std::unique_ptr<ControlClient> m_client;
    std::unique_ptr<L1ReviewPage> m_page;
};

void TestL1ReviewKeyboard::initTestCase()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    m_replica = std::make_unique<RedisServer>();
    QVERIFY2(startPrimaryAndReplica(*m_primary, *m_replica, true, &error), qPrintable(error));
}

void TestL1ReviewKeyboard::cleanupTestCase()
{
    m_page.reset();
    m_client.reset();
    m_replica.reset();
    m_primary.reset();
}

QString TestL1ReviewKeyboard::seedEntry(const std::string &prompt)
{
    // As ApprovalService writes an approved entry: the entry and its L1 vector.
    Entry e;
    e.ns = "default";
    e.system = "You are a support agent.";
    e.prompt = prompt;
    e.model = "gpt-4o-mini";
    e.key = CacheKey::derive({e.ns, e.system, e.prompt, e.model, "", "", ""});
    e.response = "The approved answer.";
    e.version = 1;
    e.approvedBy = "bob";
    e.approvedAtMs = 1700000000000;
    RedisClient console = m_primary->client(QStringLiteral("console"));
    if (!console.command({"SET", bytes(RedisSchema::entryKey(e.key)), bytes(EntryCodec::encode(e))}).isStatus())
        return {};
    QList<QByteArray> vector = EntryVectors::setCommand(e, SemanticThreshold::kInitial, {});
    if (vector.isEmpty() || !console.command(vector).isStatus())
        return {};
    return QString::fromStdString(e.key);
}

QString TestL1ReviewKeyboard::sample(const QString &entry, char requestDigit, const QByteArray &similarity,
                                     const QByteArray &prompt)
{
    RedisClient gateway = m_primary->client(QStringLiteral("gateway"));
    const RedisValue r = gateway.command({"FCALL", bytes(ProposalFunction::kL1ReviewName), "0",
                                          QByteArray(32, requestDigit), entry.toUtf8(), similarity, "default", prompt,
                                          "nyc"});
    if (r.isError())
        return {};
    RedisClient console = m_primary->client(QStringLiteral("console"));
    const RedisValue last = console.command({"XREVRANGE", bytes(RedisSchema::kL1Review), "+", "-", "COUNT", "1"});
    return QString::fromUtf8(last.elements.value(0).elements.value(0).str);
}

float TestL1ReviewKeyboard::threshold(const QString &entry)
{
    RedisClient console = m_primary->client(QStringLiteral("console"));
    const QByteArray json = console.get(bytes(RedisSchema::vectorKey(entry.toStdString())));
    const auto record = VectorRecordCodec::decode(json.toStdString());
    return record ? record->threshold : -1.0f;
}

QStringList TestL1ReviewKeyboard::queued()
{
    RedisClient console = m_primary->client(QStringLiteral("console"));
    QStringList ids;
    for (const RedisValue &e : console.command({"XRANGE", bytes(RedisSchema::kL1Review), "-", "+"}).elements)
        ids.append(QString::fromUtf8(e.elements.value(0).str));
    return ids;
}

QStringList TestL1ReviewKeyboard::audited(const QString &action)
{
    RedisClient console = m_primary->client(QStringLiteral("console"));
    QStringList details;
    for (const RedisValue &e : console.command({"XRANGE", bytes(RedisSchema::kAudit), "-", "+"}).elements) {
        StreamFields fields;
        const RedisValue &f = e.elements.value(1);
        for (qsizetype i = 0; i + 1 < f.elements.size(); i += 2)
            fields.emplace_back(f.elements[i].str.toStdString(), f.elements[i + 1].str.toStdString());
        if (auto r = AuditCodec::decode(e.elements.value(0).str.toStdString(), fields);
            r && r->action == action.toStdString())
            details << QString::fromStdString(r->detail);
    }
    return details;
}

int TestL1ReviewKeyboard::rowOf(const QString &id)
{
    return m_page->rowOf(id);
}

void TestL1ReviewKeyboard::confirmAndDenyByKeyboard()
{
    const QString entry = seedEntry("How do I reset my password?");
    QVERIFY(!entry.isEmpty());
    const QString first = sample(entry, '1', "0.950", "how do i reset my password");
    const QString second = sample(entry, '2', "0.930", "How do I reset my router password?");
    const QString third = sample(entry, '3', "0.940", "reset password how");
    QVERIFY(!first.isEmpty() && !second.isEmpty() && !third.isEmpty());

    m_client = std::make_unique<ControlClient>();
    auto options = RedisConnection::Options::fromUrl(m_primary->url(QStringLiteral("console")));
    QVERIFY(options);
    m_client->connectTo(*options, QStringLiteral("tester"));
    m_page = std::make_unique<L1ReviewPage>(m_client.get());
    QAbstractItemModelTester tester(m_page->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    m_page->resize(1000, 600);
    m_page->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_page.get()));
    // Shown before the connection is ready, the page reads the queue once it can.
    QTRY_COMPARE_WITH_TIMEOUT(m_page->model()->rowCount(), 3, TimeScale::ms(15000));
    QCOMPARE(m_page->model()->index(0, L1ReviewPage::Request).data().toString(),
             QStringLiteral("how do i reset my password"));
    QCOMPARE(m_page->model()->index(0, L1ReviewPage::Entry).data().toString(),
             QStringLiteral("How do I reset my password?"));
    QCOMPARE(m_page->model()->index(1, L1ReviewPage::Similarity).data().toString(), QStringLiteral("0.930"));
    QCOMPARE(m_page->currentItem()->id, first);

    QTableView *view = m_page->view();
    view->setFocus();
    QTest::keyClick(view, Qt::Key_J);
    QCOMPARE(m_page->currentItem()->id, second);
    QTest::keyClick(view, Qt::Key_K);
    QCOMPARE(m_page->currentItem()->id, first);

    // Enter confirms: the item leaves the stream, the threshold stays, audited; the next is current.
    QTest::keyClick(view, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(!queued().contains(first), TimeScale::ms(10000));
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(first), -1, TimeScale::ms(5000));
    QCOMPARE(threshold(entry), SemanticThreshold::kInitial);
    QCOMPARE(audited(QStringLiteral("l1-confirm")).size(), 1);
    QVERIFY(audited(QStringLiteral("l1-confirm"))[0].contains(u"review=" + first));
    QCOMPARE(m_page->currentItem()->id, second);

    // D denies: the entry's threshold tightens past the similarity, audited.
    QTest::keyClick(view, Qt::Key_D);
    QTRY_VERIFY_WITH_TIMEOUT(!queued().contains(second), TimeScale::ms(10000));
    QVERIFY2(threshold(entry) > 0.93f, qPrintable(QString::number(threshold(entry))));
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(second), -1, TimeScale::ms(5000));
    QCOMPARE(audited(QStringLiteral("l1-deny")).size(), 1);
    QVERIFY(audited(QStringLiteral("l1-deny"))[0].contains(u"review=" + second));
    QCOMPARE(m_page->currentItem()->id, third);

    // Live: an item sampled now shows without a reload.
    const QString later = sample(entry, '4', "0.990", "how do i reset my password please");
    QVERIFY(!later.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(later) >= 0, TimeScale::ms(10000));

    // Another console decides it: it leaves this page too (the audit tail).
    {
        auto conn = std::make_unique<RedisConnection>(*options);
        QSignalSpy connected(conn.get(), &RedisConnection::connected);
        conn->open();
        QVERIFY(connected.wait(TimeScale::ms(5000)));
        ApprovalService other(conn.get());
        other.setWaitTimeoutMs(0);
        QSignalSpy done(&other, &ApprovalService::finished);
        other.reviewL1(later, true, QStringLiteral("someone"));
        QVERIFY(done.wait(TimeScale::ms(10000)));
        QVERIFY(done.first().at(0).value<ApprovalResult>().ok);
    }
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(later), -1, TimeScale::ms(10000));

    // Backspace denies the last one.
    view->setFocus();
    QCOMPARE(m_page->currentItem()->id, third);
    QTest::keyClick(view, Qt::Key_Backspace);
    QTRY_VERIFY_WITH_TIMEOUT(queued().isEmpty(), TimeScale::ms(10000));
    QTRY_COMPARE_WITH_TIMEOUT(m_page->model()->rowCount(), 0, TimeScale::ms(5000));
    QCOMPARE(audited(QStringLiteral("l1-deny")).size(), 2);
}

QTEST_MAIN(TestL1ReviewKeyboard)
#include "tst_l1reviewkeyboard.moc"
