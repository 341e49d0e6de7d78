#include <QDateTime>
#include <QDeadlineTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "core/common/redisschema.h"
#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"
#include "tests/integration/chatwire.h"
#include "tests/support/ctlrun.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/redisclient.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

QString why(const HttpResult &result)
{
    return QStringLiteral("status %1 %2 cache=%3 tier=%4\n%5")
        .arg(result.status)
        .arg(result.error, QString::fromUtf8(result.header("x-l0l3-cache")),
             QString::fromUtf8(result.header("x-l0l3-tier")), QString::fromUtf8(result.body.left(1000)));
}

} // namespace

// Variants end to end with real processes: three phrasings of one question
// miss and are proposed by a real gateway; one is approved, the two others
// are attached as its variants (ApprovalService, and `l0l3-ctl approve
// --variant-of`); each phrasing is then an L0 hit with the one approved
// answer, an edit of the main entry changes what all three serve, and a
// revoke takes all three away.
class TestVariantServing : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();
    void threePhrasingsOneAnswer();

private:
    HttpResult chat(const QString &prompt, bool noStore = false);
    // Drains the inbox into the stream and returns the stream id of each key's proposal.
    bool waitForProposals(const QList<QByteArray> &keys, QHash<QByteArray, QString> *ids);
    // Polls until prompt is answered from the cache with answer (or, with an empty answer, is a miss).
    bool waitForServed(const QString &prompt, const QString &answer, QString *last);
    ApprovalResult run(const std::function<void()> &call);

    GatewayStack m_stack;
    HttpClient m_http;
    RedisClient m_primary;
    std::unique_ptr<RedisConnection> m_conn;
    std::unique_ptr<ApprovalService> m_service;
};

void TestVariantServing::initTestCase()
{
    QString error;
    QVERIFY2(m_stack.start({}, &error), qPrintable(error));
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
    m_primary = m_stack.primary().client(QStringLiteral("console"));
    QVERIFY(m_primary.isConnected());
    RedisConnection::Options options;
    options.host = m_stack.primary().host();
    options.port = m_stack.primary().port();
    options.user = "console";
    options.password = TestCredentials::get().password(QStringLiteral("console")).toUtf8();
    m_conn = std::make_unique<RedisConnection>(options);
    QSignalSpy connected(m_conn.get(), &RedisConnection::connected);
    m_conn->open();
    QVERIFY(connected.wait(TimeScale::ms(5000)));
    m_service = std::make_unique<ApprovalService>(m_conn.get());
    m_service->setWaitTimeoutMs(3000);
}

void TestVariantServing::cleanupTestCase()
{
    m_service.reset();
    m_conn.reset();
    m_stack.stop();
}

void TestVariantServing::cleanup()
{
    m_stack.printLogsIfFailed();
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
}

HttpResult TestVariantServing::chat(const QString &prompt, bool noStore)
{
    HttpHeaders headers;
    if (noStore)
        headers.append(qMakePair(QByteArray("Cache-Control"), QByteArray("no-store")));
    return m_http.post(m_stack.gatewayUrl(), ChatWire::chatBody(prompt), headers, TimeScale::ms(10000));
}

ApprovalResult TestVariantServing::run(const std::function<void()> &call)
{
    QSignalSpy spy(m_service.get(), &ApprovalService::finished);
    call();
    ApprovalResult r;
    r.message = QStringLiteral("no result in time");
    if (spy.wait(TimeScale::ms(15000)) && !spy.isEmpty())
        r = spy.takeFirst().at(0).value<ApprovalResult>();
    return r;
}

bool TestVariantServing::waitForProposals(const QList<QByteArray> &keys, QHash<QByteArray, QString> *ids)
{
    m_primary.command(
        {"XGROUP", "CREATE", bytes(RedisSchema::kProposals), bytes(RedisSchema::kProposalsGroup), "0", "MKSTREAM"});
    QDeadlineTimer deadline(TimeScale::ms(15000));
    while (!deadline.hasExpired()) {
        m_primary.command({"FCALL", "l0l3_drain", "0", "1000"});
        m_primary.command({"XREADGROUP", "GROUP", bytes(RedisSchema::kProposalsGroup), "test", "COUNT", "1000",
                           "STREAMS", bytes(RedisSchema::kProposals), ">"});
        const RedisValue range = m_primary.command({"XRANGE", bytes(RedisSchema::kProposals), "-", "+"});
        for (const RedisValue &e : range.elements) {
            const RedisValue &fields = e.elements.value(1);
            for (qsizetype i = 0; i + 1 < fields.elements.size(); i += 2) {
                if (fields.elements[i].str == "key" && keys.contains(fields.elements[i + 1].str))
                    ids->insert(fields.elements[i + 1].str, QString::fromLatin1(e.elements.value(0).str));
            }
        }
        if (ids->size() == keys.size())
            return true;
        QTest::qWait(50);
    }
    return false;
}

bool TestVariantServing::waitForServed(const QString &prompt, const QString &answer, QString *last)
{
    QDeadlineTimer deadline(TimeScale::ms(10000));
    while (!deadline.hasExpired()) {
        const HttpResult r = chat(prompt, true);
        *last = why(r);
        const bool hit = r.header("x-l0l3-cache") == "hit";
        if (answer.isEmpty() ? (r.status == 200 && !hit)
                             : (hit && ChatWire::completionContent(r.body) == answer
                                && (r.header("x-l0l3-tier") == "L0" || r.header("x-l0l3-tier") == "L0.5")))
            return true;
        QTest::qWait(20);
    }
    return false;
}

void TestVariantServing::threePhrasingsOneAnswer()
{
    const QString runId = QString::number(QDateTime::currentMSecsSinceEpoch(), 36);
    const QStringList prompts{QStringLiteral("How do I reset my password? ") + runId,
                              QStringLiteral("I forgot my password, what now? ") + runId,
                              QStringLiteral("Can't log in, I don't remember my password ") + runId};
    QList<QByteArray> keys;
    for (const QString &prompt : prompts) {
        const HttpResult miss = chat(prompt);
        QVERIFY2(miss.status == 200 && miss.header("x-l0l3-cache") == "miss", qPrintable(why(miss)));
        keys.append(miss.header("x-l0l3-key"));
        QCOMPARE(keys.last().size(), 32);
    }
    QHash<QByteArray, QString> ids;
    QVERIFY2(waitForProposals(keys, &ids), "the gateway's proposals did not reach the stream");

    const QString answer = QStringLiteral("Open Settings, then Reset password.");
    ApprovalResult r = run([&] { m_service->approve(ids[keys[0]], QString(), answer, QString(), QString()); });
    QVERIFY2(r.ok, qPrintable(r.message));

    // One variant from a script, one through the service.
    const CtlRun ctl = runCtl({QStringLiteral("--primary"),
                               consoleUrl(m_stack.primary().host(), m_stack.primary().port()),
                               QStringLiteral("--actor"), QStringLiteral("ci"), QStringLiteral("approve"), ids[keys[1]],
                               QStringLiteral("--variant-of"), QString::fromLatin1(keys[0])});
    QVERIFY2(ctl.code == 0, qPrintable(ctl.describe(true)));
    ApprovalRequest request;
    request.proposalId = ids[keys[2]];
    request.variantOf = QString::fromLatin1(keys[0]);
    r = run([&] { m_service->approve(request); });
    QVERIFY2(r.ok, qPrintable(r.message));

    QString last;
    for (const QString &prompt : prompts)
        QVERIFY2(waitForServed(prompt, answer, &last), qPrintable(prompt + u'\n' + last));

    const CtlRun list = runCtl({QStringLiteral("--primary"),
                                consoleUrl(m_stack.primary().host(), m_stack.primary().port()),
                                QStringLiteral("variants"), QString::fromLatin1(keys[0]), QStringLiteral("--json")});
    QVERIFY2(list.code == 0, qPrintable(list.describe(true)));
    const QJsonObject doc = QJsonDocument::fromJson(list.out).object();
    QCOMPARE(doc.value(QStringLiteral("key")).toString(), QString::fromLatin1(keys[0]));
    const QJsonArray variants = doc.value(QStringLiteral("variants")).toArray();
    QCOMPARE(variants.size(), 2);
    QStringList listed;
    for (const QJsonValue &v : variants)
        listed.append(v.toObject().value(QStringLiteral("prompt")).toString());
    QVERIFY(listed.contains(prompts[1]) && listed.contains(prompts[2]));

    // An edit of the main entry changes what every phrasing serves.
    const QString edited = QStringLiteral("Use the link in the e-mail we send you.");
    r = run([&] { m_service->edit(QString::fromLatin1(keys[0]), edited, 1, QStringLiteral("ci")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    for (const QString &prompt : prompts)
        QVERIFY2(waitForServed(prompt, edited, &last), qPrintable(prompt + u'\n' + last));

    // A revoke takes all of them away.
    r = run([&] { m_service->revoke(QString::fromLatin1(keys[0]), QStringLiteral("ci")); });
    QVERIFY2(r.ok, qPrintable(r.message));
    for (const QString &prompt : prompts)
        QVERIFY2(waitForServed(prompt, QString(), &last), qPrintable(prompt + u'\n' + last));
}

QTEST_GUILESS_MAIN(TestVariantServing)
#include "tst_variantserving.moc"
