#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "core/common/entry.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/ctlrun.h"
#include "tests/support/managedprocess.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

// l0l3-ctl end to end: the binary against a real primary + replica.
class TestCtl : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void proposalsJsonThenApprove();
    void approveTwiceIsVersionConflict();
    void rejectAndRevoke();
    void editWithResponseFile();
    void reverifyListKeepAndBlastRadius();
    void badUsageExitsTwo_data();
    void badUsageExitsTwo();
    void replicaExitsOne();
    void unreachableExitsOne();
    void hostileTextNeverReachesTheTerminal();
    void fleetEscapesHostileRecords();
    void passwordInUrlWarns();
    // Trims the audit stream for good: the last test.
    void auditOfATrimmedStreamWarnsAndExitsOne();

private:
    using Run = CtlRun;
    Run ctl(const QStringList &args, const QString &url = {});

    ReplicatedRedis m_redis;
    QTemporaryDir m_dir;
};

void TestCtl::initTestCase()
{
    QString why;
    QVERIFY2(m_redis.start(&why), qPrintable(why));
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
}

void TestCtl::cleanupTestCase()
{
    m_redis.stop();
}

// The password travels through the environment, never the command line.
TestCtl::Run TestCtl::ctl(const QStringList &args, const QString &url)
{
    const QString primary = url.isEmpty() ? consoleUrl(m_redis.primary.host(), m_redis.primary.port()) : url;
    return runCtl(QStringList{QStringLiteral("--primary"), primary, QStringLiteral("--actor"), QStringLiteral("ci")}
                  + args);
}

void TestCtl::proposalsJsonThenApprove()
{
    seedProposal(m_redis.client, makeProposal("ctl-a", "How do I cancel?"),
                 {{QStringLiteral("nyc"), 5}, {QStringLiteral("eu"), 2}});
    seedProposal(m_redis.client, makeProposal("ctl-b", "Where is my order?"), {{QStringLiteral("tokyo"), 1}});
    const Run list = ctl({QStringLiteral("proposals"), QStringLiteral("--json")});
    QVERIFY2(list.code == 0, list.err.constData());
    QJsonParseError perr;
    const QJsonDocument doc = QJsonDocument::fromJson(list.out, &perr);
    QVERIFY2(doc.isArray(), qPrintable(perr.errorString() + u' ' + QString::fromUtf8(list.out)));
    const QJsonArray arr = doc.array();
    QVERIFY(arr.size() >= 2);
    const QJsonObject top = arr.at(0).toObject();
    for (const char *field : {"id", "key", "prompt", "response", "seen", "regions"})
        QVERIFY2(top.contains(QLatin1String(field)), field);
    QCOMPARE(top.value(QStringLiteral("key")).toString(), keyOf(QStringLiteral("ctl-a")));
    QCOMPARE(top.value(QStringLiteral("seen")).toInteger(), 7);
    QCOMPARE(top.value(QStringLiteral("regions")).toObject().value(QStringLiteral("nyc")).toInteger(), 5);

    const Run approve = ctl({QStringLiteral("approve"), top.value(QStringLiteral("id")).toString(),
                             QStringLiteral("--intent"), QStringLiteral("cancel")});
    QVERIFY2(approve.code == 0, approve.err.constData());
    QVERIFY2(approve.out.contains("replicas acknowledged: 1"), approve.out.constData());
    const auto entry = EntryCodec::decode(
        m_redis.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("ctl-a")).toUtf8())).toStdString());
    QVERIFY(entry.has_value());
    QCOMPARE(entry->approvedBy, std::string("ci"));
    QCOMPARE(entry->intent, std::string("cancel"));

    // Approved keys leave the list.
    const Run again = ctl({QStringLiteral("proposals"), QStringLiteral("--json")});
    QCOMPARE(again.code, 0);
    for (const QJsonValue &v : QJsonDocument::fromJson(again.out).array())
        QVERIFY(v.toObject().value(QStringLiteral("key")).toString() != keyOf(QStringLiteral("ctl-a")));

    const Run entries = ctl({QStringLiteral("entries"), QStringLiteral("--json")});
    QCOMPARE(entries.code, 0);
    QVERIFY(entries.out.contains(QByteArray('"' + keyOf(QStringLiteral("ctl-a")).toUtf8() + '"')));
    const Run audit = ctl({QStringLiteral("audit"), QStringLiteral("--json")});
    QCOMPARE(audit.code, 0);
    const QJsonObject last = QJsonDocument::fromJson(audit.out).array().at(0).toObject();
    QCOMPARE(last.value(QStringLiteral("action")).toString(), QStringLiteral("approve"));
    QCOMPARE(last.value(QStringLiteral("actor")).toString(), QStringLiteral("ci"));
    QCOMPARE(last.value(QStringLiteral("user")).toString(), QStringLiteral("console"));
    // The table names the authenticated user beside the asserted actor.
    const Run table = ctl({QStringLiteral("audit"), QStringLiteral("--limit"), QStringLiteral("1")});
    QCOMPARE(table.code, 0);
    QVERIFY2(table.out.contains("  ci (via console)  "), table.out.constData());
}

void TestCtl::approveTwiceIsVersionConflict()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ctl-twice", "Twice?"));
    QCOMPARE(ctl({QStringLiteral("approve"), id}).code, 0);
    const Run second = ctl({QStringLiteral("approve"), id});
    QCOMPARE(second.code, 3);
    QVERIFY2(second.err.contains("version"), second.err.constData());
}

void TestCtl::rejectAndRevoke()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ctl-rej", "Reject me"));
    const Run reject = ctl({QStringLiteral("reject"), id, QStringLiteral("--days"), QStringLiteral("3")});
    QVERIFY2(reject.code == 0, reject.err.constData());
    QVERIFY(!m_redis.client.command({"ZSCORE", qb(RedisSchema::kRejected), keyOf(QStringLiteral("ctl-rej")).toUtf8()})
                 .isNil());

    const QString id2 = seedProposal(m_redis.client, makeProposal("ctl-rev", "Revoke me"));
    QCOMPARE(ctl({QStringLiteral("approve"), id2}).code, 0);
    const Run revoke = ctl({QStringLiteral("revoke"), keyOf(QStringLiteral("ctl-rev"))});
    QVERIFY2(revoke.code == 0, revoke.err.constData());
    QVERIFY(m_redis.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("ctl-rev")).toUtf8())).isNull());
    const Run missing = ctl({QStringLiteral("revoke"), keyOf(QStringLiteral("ctl-rev"))});
    QCOMPARE(missing.code, 1);
    QVERIFY2(missing.err.contains("not-found"), missing.err.constData());
}

void TestCtl::editWithResponseFile()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ctl-edit", "Edit me"));
    QCOMPARE(ctl({QStringLiteral("approve"), id}).code, 0);
    const QString file = m_dir.filePath(QStringLiteral("response.txt"));
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("Edited answer.");
    f.close();
    const Run edit = ctl(
        {QStringLiteral("edit"), keyOf(QStringLiteral("ctl-edit")), QStringLiteral("--response-file"), file});
    QVERIFY2(edit.code == 0, edit.err.constData());
    const auto entry = EntryCodec::decode(
        m_redis.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("ctl-edit")).toUtf8())).toStdString());
    QCOMPARE(entry->response, std::string("Edited answer."));
    QCOMPARE(entry->version, 2);
    const Run stale = ctl({QStringLiteral("edit"), keyOf(QStringLiteral("ctl-edit")), QStringLiteral("--response-file"),
                           file, QStringLiteral("--expect-version"), QStringLiteral("1")});
    QCOMPARE(stale.code, 3);
}

// reverify list shows an entry past its review date, keep renews it (and it leaves the list); revoke
// and edit print the blast radius first; a wrong sub-command is a usage error.
void TestCtl::reverifyListKeepAndBlastRadius()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ctl-reverify", "Re-verify me"));
    QCOMPARE(ctl({QStringLiteral("approve"), id}).code, 0);
    const QString key = keyOf(QStringLiteral("ctl-reverify"));
    const QByteArray redisKey = "l0l3:v1:entry:" + key.toUtf8();
    auto approved = EntryCodec::decode(m_redis.client.get(redisKey).toStdString());
    QVERIFY(approved);
    // Approved with the default period, so not due; then its date is moved into the past.
    QVERIFY(approved->reviewByMs > QDateTime::currentMSecsSinceEpoch() + 89LL * 86400000);
    QVERIFY(!ctl({QStringLiteral("reverify"), QStringLiteral("list"), QStringLiteral("--json")})
                 .out.contains(key.toUtf8()));
    approved->reviewByMs = QDateTime::currentMSecsSinceEpoch() - 1000;
    QVERIFY(
        m_redis.client.command({"SET", redisKey, QByteArray::fromStdString(EntryCodec::encode(*approved))}).isStatus());

    const Run list = ctl({QStringLiteral("reverify"), QStringLiteral("list"), QStringLiteral("--json")});
    QVERIFY2(list.code == 0, qPrintable(list.describe(true)));
    const QJsonArray due = QJsonDocument::fromJson(list.out).array();
    bool listed = false;
    for (const QJsonValue &v : due)
        listed = listed || v[QStringLiteral("key")].toString() == key;
    QVERIFY2(listed, list.out.constData());
    const Run text = ctl({QStringLiteral("reverify"), QStringLiteral("list")});
    QVERIFY2(text.code == 0 && text.out.contains(key.toUtf8()), qPrintable(text.describe(true)));

    const Run keep = ctl(
        {QStringLiteral("reverify"), QStringLiteral("keep"), key, QStringLiteral("--days"), QStringLiteral("14")});
    QVERIFY2(keep.code == 0, qPrintable(keep.describe(true)));
    QVERIFY2(keep.out.contains("reverify-keep"), keep.out.constData());
    const auto kept = EntryCodec::decode(m_redis.client.get(redisKey).toStdString());
    QVERIFY(kept);
    QCOMPARE(kept->version, approved->version);
    QCOMPARE(kept->reviewDays, 14);
    QVERIFY(kept->reviewByMs > QDateTime::currentMSecsSinceEpoch() + 13LL * 86400000);
    QVERIFY(!ctl({QStringLiteral("reverify"), QStringLiteral("list"), QStringLiteral("--json")})
                 .out.contains(key.toUtf8()));

    const Run revoke = ctl({QStringLiteral("revoke"), key});
    QVERIFY2(revoke.code == 0, qPrintable(revoke.describe()));
    QVERIFY2(revoke.err.contains("Served no request"), revoke.err.constData());

    QCOMPARE(ctl({QStringLiteral("reverify"), QStringLiteral("again")}).code, 2);
    QCOMPARE(ctl({QStringLiteral("reverify"), QStringLiteral("keep")}).code, 2);
}

void TestCtl::badUsageExitsTwo_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::newRow("no command") << QStringList{};
    QTest::newRow("unknown command") << QStringList{QStringLiteral("explode")};
    QTest::newRow("approve without id") << QStringList{QStringLiteral("approve")};
    QTest::newRow("unknown option") << QStringList{QStringLiteral("proposals"), QStringLiteral("--bogus")};
    QTest::newRow("bad limit") << QStringList{QStringLiteral("proposals"), QStringLiteral("--limit"),
                                              QStringLiteral("many")};
    QTest::newRow("edit without file") << QStringList{QStringLiteral("edit"), QStringLiteral("k")};
}

void TestCtl::badUsageExitsTwo()
{
    QFETCH(QStringList, args);
    const Run r = ctl(args);
    QCOMPARE(r.code, 2);
    QVERIFY(r.err.contains("usage:"));
    QVERIFY(r.out.isEmpty());
}

void TestCtl::replicaExitsOne()
{
    const QString id = seedProposal(m_redis.client, makeProposal("ctl-replica", "Replica?"));
    RedisClient replica = m_redis.replica.client();
    QTRY_VERIFY_WITH_TIMEOUT(
        !replica.command({"XRANGE", qb(RedisSchema::kProposals), id.toUtf8(), id.toUtf8()}).elements.isEmpty(),
        TimeScale::ms(5000));
    const Run r = ctl({QStringLiteral("approve"), id},
                      QStringLiteral("redis://console@%1:%2").arg(m_redis.replica.host()).arg(m_redis.replica.port()));
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("primary"), r.err.constData());
    QVERIFY(m_redis.client.get(QByteArray("l0l3:v1:entry:" + keyOf(QStringLiteral("ctl-replica")).toUtf8())).isNull());
}

void TestCtl::unreachableExitsOne()
{
    RedisServer gone;
    QString why;
    QVERIFY2(gone.start({}, &why), qPrintable(why));
    const int port = gone.port();
    gone.stop();
    const Run r = ctl({QStringLiteral("entries")}, QStringLiteral("redis://console@127.0.0.1:%1").arg(port));
    QCOMPARE(r.code, 1);
    QVERIFY(!r.err.isEmpty());
}

// argv is readable by every local user: a password in --primary still
// works but draws a warning pointing at --password-file and the
// environment, without repeating the password. The usual way (the
// password in L0L3_REDIS_PASSWORD) draws none.
void TestCtl::passwordInUrlWarns()
{
    const QString password = TestCredentials::get().console;
    const Run inline_ = ctl(
        {QStringLiteral("entries")},
        QStringLiteral("redis://console:%1@%2:%3").arg(password, m_redis.primary.host()).arg(m_redis.primary.port()));
    QVERIFY2(inline_.code == 0, inline_.err.constData());
    QVERIFY2(inline_.err.contains("l0l3-ctl: warning: the password in --primary"), inline_.err.constData());
    QVERIFY2(inline_.err.contains("--password-file") && inline_.err.contains("L0L3_REDIS_PASSWORD"),
             inline_.err.constData());
    QVERIFY(!inline_.err.contains(password.toUtf8()));

    const Run fromEnv = ctl({QStringLiteral("entries")});
    QVERIFY2(fromEnv.code == 0, fromEnv.err.constData());
    QVERIFY2(!fromEnv.err.contains("warning"), fromEnv.err.constData());
}

namespace {

// Bytes a terminal acts on: C0 except the newline ending a row, DEL, C1
// (U+0080-U+009F, C2 80-C2 9F in UTF-8), bidi controls and separators.
QString terminalHazard(const QByteArray &out)
{
    const QString text = QString::fromUtf8(out);
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char16_t c = text[i].unicode();
        const bool c0 = c < 0x20 && c != u'\n';
        const bool c1 = c >= 0x7F && c <= 0x9F;
        const bool bidi = (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E || c == 0x200F
            || c == 0x061C || c == 0x2028 || c == 0x2029;
        if (c0 || c1 || bidi)
            return QStringLiteral("U+%1 at %2 in: %3")
                .arg(uint(c), 4, 16, QLatin1Char('0'))
                .arg(i)
                .arg(text.mid(std::max<qsizetype>(0, i - 40), 80));
    }
    return {};
}

} // namespace

// A prompt, answer and region name carrying terminal escapes and bidi
// overrides: no output of l0l3-ctl passes them on raw, in tables or in JSON,
// and the JSON still holds the exact text.
void TestCtl::hostileTextNeverReachesTheTerminal()
{
    const std::string hostile = "Hi\x1b[2J\x1b]0;owned\x07 \xe2\x80\xae"
                                "evil\xe2\x80\xac \xe2\x81\xa6x\xe2\x81\xa9 "
                                "\xc2\x9b"
                                "31m del\x7f nul-free\r\nsecond line\xe2\x80\xa8third \\ %2 %3";
    Proposal p = makeProposal("ctl-hostile", hostile, "ny\x1b[31mc\xe2\x80\xae");
    p.response = "Answer \x1b[5m\xe2\x80\xae"
                 "blink";
    p.ns = "ns\x1b[0m";
    p.key = p.derivedKey();
    proposalKeys().insert(QStringLiteral("ctl-hostile"), QString::fromStdString(p.key));
    const QString id = seedProposal(m_redis.client, p, {{QString::fromStdString(p.region), 500}});
    QVERIFY(!id.isEmpty());

    const Run table = ctl({QStringLiteral("proposals"), QStringLiteral("--limit"), QStringLiteral("1000")});
    QVERIFY2(table.code == 0, table.err.constData());
    QVERIFY2(table.out.contains("Hi\\x1B[2J"), table.out.constData());
    QVERIFY2(table.out.contains("\\u202Eevil"), table.out.constData());
    QString hazard = terminalHazard(table.out);
    QVERIFY2(hazard.isEmpty(), qPrintable(hazard));

    const Run json = ctl(
        {QStringLiteral("proposals"), QStringLiteral("--json"), QStringLiteral("--limit"), QStringLiteral("1000")});
    QVERIFY2(json.code == 0, json.err.constData());
    hazard = terminalHazard(json.out);
    QVERIFY2(hazard.isEmpty(), qPrintable(hazard));
    QJsonObject shown;
    for (const QJsonValue &v : QJsonDocument::fromJson(json.out).array())
        if (v.toObject().value(QStringLiteral("key")).toString() == keyOf(QStringLiteral("ctl-hostile")))
            shown = v.toObject();
    QCOMPARE(shown.value(QStringLiteral("prompt")).toString(), QString::fromStdString(hostile));
    QCOMPARE(shown.value(QStringLiteral("response")).toString(), QString::fromStdString(p.response));

    QCOMPARE(ctl({QStringLiteral("approve"), id}).code, 0);
    for (const QString &command : {QStringLiteral("entries"), QStringLiteral("audit")}) {
        for (const bool asJson : {false, true}) {
            QStringList args{command};
            if (asJson)
                args.append(QStringLiteral("--json"));
            const Run r = ctl(args);
            QVERIFY2(r.code == 0, r.err.constData());
            QVERIFY(r.out.contains(keyOf(QStringLiteral("ctl-hostile")).toUtf8()));
            hazard = terminalHazard(r.out) + terminalHazard(r.err);
            QVERIFY2(hazard.isEmpty(), qPrintable(command + u' ' + hazard));
        }
    }
}

// A registry record as a stolen gateway credential may write it: terminal
// escapes and bidi overrides in every string. l0l3-ctl fleet shows them
// escaped (table and JSON, with and without scraping) and JSON keeps the text.
void TestCtl::fleetEscapesHostileRecords()
{
    RedisClient gateway = m_redis.primary.client(QStringLiteral("gateway"));
    const QByteArray key = "l0l3:v1:fleet:gateway:gw\x1b[2J";
    const QByteArray record = R"({"instance":"gw\u001b[2J","region":"ny\u202ec","url":"http://127.0.0.1:1/\u0007",)"
                              R"("version":"\u009b31m","state":"normal\u2028x","period_ms":5000,"expiry_ms":15000})";
    QVERIFY(!gateway.command({"SET", key, record, "PX", "60000"}).isError());
    for (const bool asJson : {false, true}) {
        for (const bool scrape : {false, true}) {
            QStringList args{QStringLiteral("fleet")};
            if (asJson)
                args.append(QStringLiteral("--json"));
            if (!scrape)
                args.append(QStringLiteral("--no-scrape"));
            const Run r = ctl(args);
            QVERIFY2(r.code == 0, r.err.constData());
            const QString hazard = terminalHazard(r.out) + terminalHazard(r.err);
            QVERIFY2(hazard.isEmpty(), qPrintable(args.join(u' ') + u' ' + hazard));
            if (!asJson) {
                QVERIFY2(r.out.contains("gw\\x1B[2J"), r.out.constData());
                QVERIFY2(r.out.contains("ny\\u202Ec"), r.out.constData());
                continue;
            }
            const QJsonArray gateways = QJsonDocument::fromJson(r.out).object().value(u"gateways").toArray();
            QCOMPARE(gateways.size(), 1);
            const QJsonObject g = gateways.first().toObject();
            QCOMPARE(g.value(u"instance").toString(), QStringLiteral("gw\x1b[2J"));
            QCOMPARE(g.value(u"region").toString(), QStringLiteral("ny\u202ec"));
            if (scrape)
                QCOMPARE(g.value(u"metrics").toObject().value(u"up").toBool(true), false);
        }
    }
}

// The console user can trim the audit through XADD MAXLEN (no ACL rule refuses
// the option): l0l3-ctl still prints what is left, says so and exits 1.
void TestCtl::auditOfATrimmedStreamWarnsAndExitsOne()
{
    const Run before = ctl({QStringLiteral("audit"), QStringLiteral("--json")});
    QVERIFY2(before.code == 0, before.err.constData());
    QVERIFY(!before.err.contains("WARNING"));
    const RedisValue trimmed = m_redis.client.command(
        {"XADD", qb(RedisSchema::kAudit), "MAXLEN", "1", "*", "action", "approve"});
    QVERIFY2(trimmed.isString(), qPrintable(trimmed.toString()));
    for (const bool asJson : {false, true}) {
        QStringList args{QStringLiteral("audit")};
        if (asJson)
            args.append(QStringLiteral("--json"));
        const Run r = ctl(args);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("WARNING: the audit stream l0l3:v1:audit lost records"), r.err.constData());
        if (asJson)
            QVERIFY(QJsonDocument::fromJson(r.out).isArray()); // stdout stays the JSON it was
    }
}

QTEST_GUILESS_MAIN(TestCtl)
#include "tst_ctl.moc"
