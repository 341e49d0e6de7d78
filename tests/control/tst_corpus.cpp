#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "core/common/entry.h"
#include "core/common/vectorrecord.h"
#include "core/control/corpusfile.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/ctlrun.h"
#include "tests/support/managedprocess.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

bool has(const QByteArray &text, const QByteArray &part)
{
    return text.contains(part);
}

} // namespace

// l0l3-ctl export and import end to end: a primary + replica with approvals,
// edits and rejections, exported, then imported into fresh servers.
class TestCorpus : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void roundTripIsExact();
    void secondImportChangesNothing();
    void fileWithoutUsersStillImports();
    void dryRunWritesNothing();
    void conflictsAreReportedAndPreferDecides();
    void truncatedFileIsRefusedWithItsLine();
    void corruptedChecksumIsRefused();
    void forgedKeyIsRefused();
    void hostileStringsArePrintedEscaped();
    void variantsAndNegativePairsRoundTrip();

private:
    using Run = CtlRun;
    Run ctl(const RedisServer &server, const QStringList &args);
    std::unique_ptr<RedisServer> freshServer();
    QString approve(const std::string &name, const std::string &prompt, const QString &intent = {});
    static QByteArray dbsize(const RedisServer &server);
    QString path(const QString &name) const { return m_dir.filePath(name); }
    QList<QByteArray> exportLines() const;
    static QByteArray hazard(const QByteArray &text);

    ReplicatedRedis m_redis;
    std::unique_ptr<RedisServer> m_restored; // fresh server the round trip imported into
    QTemporaryDir m_dir;
    QString m_hostileKey;
    QString m_editedKey;
    QString m_rejectedKey;
};

void TestCorpus::initTestCase()
{
    QString why;
    QVERIFY2(m_redis.start(&why), qPrintable(why));
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));

    approve("c-a", "How do I cancel my plan?", QStringLiteral("cancel"));
    approve("c-b", "Where is my order?");
    m_editedKey = approve("c-c", "What are your opening hours?");
    QFile response(path(QStringLiteral("edit.txt")));
    QVERIFY(response.open(QIODevice::WriteOnly));
    response.write("We are open 9 to 5, Monday to Friday.\n");
    response.close();
    const Run edit = ctl(m_redis.primary,
                         {QStringLiteral("edit"), m_editedKey, QStringLiteral("--response-file"), response.fileName()});
    QVERIFY2(edit.code == 0, edit.err.constData());

    // Text that must round-trip exactly and never reach a terminal raw.
    Proposal hostile = makeProposal("c-hostile",
                                    "<script>alert(1)</script>\x1b[2J\xe2\x80\xae"
                                    "evil\r\nline two \\ %1 \xc2\x9b"
                                    "31m");
    hostile.system = "<b>system</b>\x07\t\xe2\x80\xa8";
    hostile.response = "<img src=x onerror=alert(1)>\x1b]0;owned\x07 \"quoted\"";
    hostile.key = hostile.derivedKey();
    const QString hid = seedProposal(m_redis.client, hostile);
    QVERIFY(!hid.isEmpty());
    const Run ok = ctl(m_redis.primary, {QStringLiteral("approve"), hid});
    QVERIFY2(ok.code == 0, ok.err.constData());
    m_hostileKey = QString::fromStdString(hostile.key);

    const Proposal rejected = makeProposal("c-rejected", "Tell me a secret");
    const QString rid = seedProposal(m_redis.client, rejected);
    const Run rej = ctl(m_redis.primary,
                        {QStringLiteral("reject"), rid, QStringLiteral("--days"), QStringLiteral("7")});
    QVERIFY2(rej.code == 0, rej.err.constData());
    m_rejectedKey = QString::fromStdString(rejected.key);

    const Run exp = ctl(m_redis.primary,
                        {QStringLiteral("export"), QStringLiteral("--out"), path(QStringLiteral("corpus.jsonl")),
                         QStringLiteral("--with-audit")});
    QVERIFY2(exp.code == 0, exp.err.constData());
    QVERIFY2(exp.out.contains("exported 4 entries, 1 rejected keys"), exp.out.constData());
    QVERIFY(QFile(path(QStringLiteral("corpus.jsonl"))).permissions() & QFileDevice::ReadOwner);
    QVERIFY(!(QFile(path(QStringLiteral("corpus.jsonl"))).permissions() & QFileDevice::ReadOther));
}

void TestCorpus::cleanupTestCase()
{
    if (m_restored)
        QVERIFY(m_restored->stop());
    m_redis.stop();
}

TestCorpus::Run TestCorpus::ctl(const RedisServer &server, const QStringList &args)
{
    return runCtl(QStringList{QStringLiteral("--primary"), consoleUrl(server.host(), server.port()),
                              QStringLiteral("--actor"), QStringLiteral("ci"), QStringLiteral("--wait-ms"),
                              QStringLiteral("200")}
                      + args,
                  ctlEnvironment(), 60000);
}

std::unique_ptr<RedisServer> TestCorpus::freshServer()
{
    auto server = std::make_unique<RedisServer>();
    QString why;
    if (!server->start({}, &why)) {
        qWarning("fresh redis-server: %s", qPrintable(why));
        return nullptr;
    }
    return server;
}

QString TestCorpus::approve(const std::string &name, const std::string &prompt, const QString &intent)
{
    const Proposal p = makeProposal(name, prompt);
    const QString id = seedProposal(m_redis.client, p);
    QStringList args{QStringLiteral("approve"), id};
    if (!intent.isEmpty())
        args << QStringLiteral("--intent") << intent;
    const Run r = ctl(m_redis.primary, args);
    if (r.code != 0)
        qWarning("approve failed: %s", r.err.constData());
    return QString::fromStdString(p.key);
}

QByteArray TestCorpus::dbsize(const RedisServer &server)
{
    // The console user may not run KEYS or DBSIZE: SCAN everything it may see.
    RedisClient c = server.client();
    const RedisValue page = c.command({"SCAN", "0", "MATCH", "l0l3:*", "COUNT", "100000"});
    if (!page.isArray() || page.elements.size() != 2)
        return "scan failed";
    return QByteArray::number(page.elements[1].elements.size());
}

QList<QByteArray> TestCorpus::exportLines() const
{
    QFile f(path(QStringLiteral("corpus.jsonl")));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    QList<QByteArray> lines = f.readAll().split('\n');
    if (!lines.isEmpty() && lines.last().isEmpty())
        lines.removeLast();
    return lines;
}

// A control character, DEL, a C1 control or a bidi override / line separator, raw.
QByteArray TestCorpus::hazard(const QByteArray &text)
{
    for (qsizetype i = 0; i < text.size(); ++i) {
        const auto c = uchar(text[i]);
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return "control byte " + QByteArray::number(c) + " at " + QByteArray::number(i);
        if (c == 0xc2 && i + 1 < text.size() && uchar(text[i + 1]) >= 0x80 && uchar(text[i + 1]) < 0xa0)
            return "C1 control at " + QByteArray::number(i);
        if (c == 0xe2 && i + 2 < text.size() && uchar(text[i + 1]) == 0x80
            && (uchar(text[i + 2]) == 0xae || uchar(text[i + 2]) == 0xa8))
            return "bidi/separator at " + QByteArray::number(i);
    }
    return {};
}

void TestCorpus::roundTripIsExact()
{
    const QList<QByteArray> lines = exportLines();
    QVERIFY(lines.size() >= 7);
    QVERIFY(lines.first().contains("\"t\":\"header\"") && lines.first().contains("\"format\":\"l0l3-corpus\""));
    QVERIFY(lines.last().contains("\"t\":\"trailer\"") && lines.last().contains("\"sha256\":\""));
    QVERIFY2(hazard(lines.join('\n')).isEmpty(), hazard(lines.join('\n')).constData());
    // Each audit record with the ACL user that wrote it, beside the actor it asserted.
    qsizetype auditLines = 0;
    for (const QByteArray &line : lines) {
        if (!line.contains("\"t\":\"audit\""))
            continue;
        ++auditLines;
        QVERIFY2(line.contains("\"actor\":\"ci\",\"user\":\"console\""), line.constData());
    }
    QVERIFY(auditLines >= 5);

    m_restored = freshServer();
    QVERIFY(m_restored);
    const Run imp = ctl(*m_restored, {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl"))});
    QVERIFY2(imp.code == 0, imp.err.constData());
    QVERIFY2(imp.out.contains("imported 5 (replaced 0), unchanged 0, conflicts 0, skipped 0"), imp.out.constData());

    // Every stored entry byte for byte (EntryCodec is deterministic): every field, version, approver, time.
    RedisClient source = m_redis.primary.client();
    RedisClient restored = m_restored->client();
    const RedisValue scan = source.command({"SCAN", "0", "MATCH", "l0l3:v1:entry:*", "COUNT", "100000"});
    QCOMPARE(scan.elements.size(), 2);
    const QList<RedisValue> keys = scan.elements[1].elements;
    QCOMPARE(keys.size(), 4);
    for (const RedisValue &k : keys) {
        const QByteArray before = source.get(k.str);
        QCOMPARE(restored.get(k.str), before);
        const auto e = EntryCodec::decode(before.toStdString());
        QVERIFY(e && !e->system.empty());
    }
    const auto edited = EntryCodec::decode(
        restored.get(qb(RedisSchema::entryKey(m_editedKey.toStdString()))).toStdString());
    QVERIFY(edited);
    QCOMPARE(edited->version, 2);
    QCOMPARE(edited->approvedBy, std::string("ci"));
    QCOMPARE(restored.command({"ZSCORE", "l0l3:v1:rejected", m_rejectedKey.toUtf8()}).str,
             source.command({"ZSCORE", "l0l3:v1:rejected", m_rejectedKey.toUtf8()}).str);

    // entries --json compares equal (the drill compares it byte for byte), system prompt included.
    const Run a = ctl(m_redis.primary, {QStringLiteral("entries"), QStringLiteral("--json")});
    const Run b = ctl(*m_restored, {QStringLiteral("entries"), QStringLiteral("--json")});
    QCOMPARE(a.code, 0);
    QCOMPARE(b.out, a.out);
    QVERIFY(a.out.contains("\"system\": \"You are a helpful support agent.\""));

    // The restore is audited: one "import" record per entry and rejected key, by who imported.
    const RedisValue audit = restored.command({"XRANGE", "l0l3:v1:audit", "-", "+"});
    QCOMPARE(audit.elements.size(), 5);
    for (const RedisValue &record : audit.elements) {
        const QList<RedisValue> &f = record.elements[1].elements;
        QCOMPARE(f[0].str, QByteArray("action"));
        QCOMPARE(f[1].str, QByteArray("import"));
        QCOMPARE(f[5].str, QByteArray("ci"));
        QByteArray user;
        for (qsizetype i = 0; i + 1 < f.size(); i += 2) {
            if (f[i].str == "user")
                user = f[i + 1].str;
        }
        QCOMPARE(user, QByteArray("console"));
    }
}

void TestCorpus::fileWithoutUsersStillImports()
{
    // A file exported before audit lines carried "user": the same file without it, checksum recomputed.
    QVERIFY(m_restored);
    const QList<QByteArray> lines = exportLines();
    QByteArray body;
    qsizetype stripped = 0;
    for (qsizetype i = 0; i + 1 < lines.size(); ++i) {
        QByteArray line = lines[i];
        if (line.contains("\"t\":\"audit\"")) {
            line.replace(",\"user\":\"console\"", "");
            stripped += line.contains("\"user\"") ? 0 : 1;
        }
        body += line + '\n';
    }
    QVERIFY(stripped >= 5);
    QByteArray trailer = lines.last();
    const qsizetype at = trailer.indexOf("\"sha256\":\"") + 10;
    trailer.replace(at, 64, QCryptographicHash::hash(body, QCryptographicHash::Sha256).toHex());
    QFile old(path(QStringLiteral("before-users.jsonl")));
    QVERIFY(old.open(QIODevice::WriteOnly));
    old.write(body + trailer + '\n');
    old.close();
    const Run r = ctl(*m_restored, {QStringLiteral("import"), old.fileName()});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(r.out.contains("imported 0 (replaced 0), unchanged 5, conflicts 0"), r.out.constData());
}

void TestCorpus::secondImportChangesNothing()
{
    QVERIFY(m_restored);
    RedisClient restored = m_restored->client();
    const qint64 auditBefore = restored.command({"XLEN", "l0l3:v1:audit"}).integer;
    const Run again = ctl(*m_restored, {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl"))});
    QVERIFY2(again.code == 0, again.err.constData());
    QVERIFY2(again.out.contains("imported 0 (replaced 0), unchanged 5, conflicts 0"), again.out.constData());
    // Nothing written, so nothing audited.
    QCOMPARE(restored.command({"XLEN", "l0l3:v1:audit"}).integer, auditBefore);
}

void TestCorpus::dryRunWritesNothing()
{
    auto fresh = freshServer();
    QVERIFY(fresh);
    const Run dry = ctl(*fresh,
                        {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl")), QStringLiteral("--dry-run")});
    QVERIFY2(dry.code == 0, dry.err.constData());
    QVERIFY2(has(dry.out, QByteArray("would-import entry ") + m_hostileKey.toUtf8()), dry.out.constData());
    QVERIFY2(has(dry.out, QByteArray("would-import rejected ") + m_rejectedKey.toUtf8()), dry.out.constData());
    QVERIFY(dry.out.contains("dry run, nothing written"));
    QCOMPARE(dbsize(*fresh), QByteArray("0"));
    QVERIFY(fresh->stop());
}

void TestCorpus::conflictsAreReportedAndPreferDecides()
{
    auto server = freshServer();
    QVERIFY(server);
    QCOMPARE(ctl(*server, {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl"))}).code, 0);
    // The server moves on: the edited entry gets version 3.
    QFile response(path(QStringLiteral("edit3.txt")));
    QVERIFY(response.open(QIODevice::WriteOnly));
    response.write("Open 8 to 8 now.");
    response.close();
    QCOMPARE(ctl(*server, {QStringLiteral("edit"), m_editedKey, QStringLiteral("--response-file"), response.fileName()})
                 .code,
             0);
    RedisClient c = server->client();
    const QByteArray entryKey = qb(RedisSchema::entryKey(m_editedKey.toStdString()));
    auto version = [&] { return EntryCodec::decode(c.get(entryKey).toStdString())->version; };

    const Run plain = ctl(*server, {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl"))});
    QCOMPARE(plain.code, 3);
    QVERIFY2(has(plain.out, QByteArray("conflict entry ") + m_editedKey.toUtf8()), plain.out.constData());
    QVERIFY(plain.out.contains("conflicts 1"));
    QCOMPARE(version(), 3);

    const Run server_ = ctl(*server,
                            {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl")), QStringLiteral("--prefer"),
                             QStringLiteral("server")});
    QVERIFY2(server_.code == 0, server_.err.constData());
    QVERIFY2(has(server_.out, QByteArray("kept entry ") + m_editedKey.toUtf8()), server_.out.constData());
    QCOMPARE(version(), 3);

    const Run newer = ctl(*server,
                          {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl")), QStringLiteral("--prefer"),
                           QStringLiteral("newer")});
    QCOMPARE(newer.code, 0);
    QVERIFY(newer.out.contains("skipped 1"));
    QCOMPARE(version(), 3);

    const qint64 auditBefore = c.command({"XLEN", "l0l3:v1:audit"}).integer;
    const Run file = ctl(*server,
                         {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl")), QStringLiteral("--prefer"),
                          QStringLiteral("file")});
    QCOMPARE(file.code, 0);
    QVERIFY2(has(file.out, QByteArray("replaced entry ") + m_editedKey.toUtf8()), file.out.constData());
    QCOMPARE(version(), 2);
    QCOMPARE(c.command({"XLEN", "l0l3:v1:audit"}).integer, auditBefore + 1);
    const RedisValue last = c.command({"XREVRANGE", "l0l3:v1:audit", "+", "-", "COUNT", "1"});
    QVERIFY(last.elements[0].elements[1].elements[13].str.contains("replaced version 3"));

    // An older server entry (same version, earlier approval): newer takes the file's.
    Entry older = *EntryCodec::decode(c.get(entryKey).toStdString());
    older.approvedAtMs -= 1000;
    older.response = "stale";
    QVERIFY(c.set(entryKey, qb(EntryCodec::encode(older))));
    const Run newer2 = ctl(*server,
                           {QStringLiteral("import"), path(QStringLiteral("corpus.jsonl")), QStringLiteral("--prefer"),
                            QStringLiteral("newer")});
    QCOMPARE(newer2.code, 0);
    QVERIFY(has(newer2.out, QByteArray("replaced entry ") + m_editedKey.toUtf8()));
    QVERIFY(EntryCodec::decode(c.get(entryKey).toStdString())->response != "stale");
    QVERIFY(server->stop());
}

void TestCorpus::truncatedFileIsRefusedWithItsLine()
{
    QList<QByteArray> lines = exportLines();
    const qsizetype count = lines.size();
    auto server = freshServer();
    QVERIFY(server);

    // Without its trailer.
    QFile cut(path(QStringLiteral("cut.jsonl")));
    QVERIFY(cut.open(QIODevice::WriteOnly));
    cut.write(lines.mid(0, count - 1).join('\n') + '\n');
    cut.close();
    Run r = ctl(*server, {QStringLiteral("import"), cut.fileName()});
    QCOMPARE(r.code, 1);
    QVERIFY2(has(r.err, QByteArray("line ") + QByteArray::number(count) + ": the file ends without its trailer"),
             r.err.constData());
    QCOMPARE(dbsize(*server), QByteArray("0"));

    // Cut in the middle of an entry line.
    QVERIFY(cut.open(QIODevice::WriteOnly | QIODevice::Truncate));
    cut.write(lines.mid(0, 2).join('\n') + '\n' + lines[2].left(lines[2].size() / 2));
    cut.close();
    r = ctl(*server, {QStringLiteral("import"), cut.fileName()});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("line 3: the line has no end"), r.err.constData());
    QCOMPARE(dbsize(*server), QByteArray("0"));
    QVERIFY(server->stop());
}

void TestCorpus::corruptedChecksumIsRefused()
{
    QList<QByteArray> lines = exportLines();
    // One answer changed, still valid JSON: only the checksum sees it.
    for (QByteArray &line : lines) {
        if (line.contains("Answer to: Where is my order?")) {
            line.replace("Answer to: Where is my order?", "Answer to: Where is my ordeR?");
            break;
        }
    }
    QFile bad(path(QStringLiteral("bad.jsonl")));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write(lines.join('\n') + '\n');
    bad.close();
    auto server = freshServer();
    QVERIFY(server);
    const Run r = ctl(*server, {QStringLiteral("import"), bad.fileName()});
    QCOMPARE(r.code, 1);
    QVERIFY2(has(r.err, QByteArray("line ") + QByteArray::number(lines.size()) + ": checksum mismatch"),
             r.err.constData());
    QCOMPARE(dbsize(*server), QByteArray("0"));
    QVERIFY(server->stop());
}

void TestCorpus::forgedKeyIsRefused()
{
    // An entry filed under another key, with a trailer recomputed to match: the key check refuses it.
    QList<QByteArray> lines = exportLines();
    QByteArray body;
    qsizetype forgedLine = -1;
    for (qsizetype i = 0; i + 1 < lines.size(); ++i) {
        QByteArray line = lines[i];
        if (forgedLine < 0 && line.contains("\"t\":\"entry\"")
            && line.contains(keyOf(QStringLiteral("c-b")).toUtf8())) {
            line.replace(keyOf(QStringLiteral("c-b")).toUtf8(), keyOf(QStringLiteral("c-a")).toUtf8());
            forgedLine = i + 1;
        }
        body += line + '\n';
    }
    QVERIFY(forgedLine > 1);
    const QByteArray sha = QCryptographicHash::hash(body, QCryptographicHash::Sha256).toHex();
    QByteArray trailer = lines.last();
    const qsizetype at = trailer.indexOf("\"sha256\":\"") + 10;
    trailer.replace(at, 64, sha);
    QFile forged(path(QStringLiteral("forged.jsonl")));
    QVERIFY(forged.open(QIODevice::WriteOnly));
    forged.write(body + trailer + '\n');
    forged.close();
    auto server = freshServer();
    QVERIFY(server);
    const Run r = ctl(*server, {QStringLiteral("import"), forged.fileName()});
    QCOMPARE(r.code, 1);
    QVERIFY2(has(r.err, QByteArray("line ") + QByteArray::number(forgedLine) + ": key "), r.err.constData());
    QVERIFY(r.err.contains("forged or damaged"));
    QCOMPARE(dbsize(*server), QByteArray("0"));
    QVERIFY(server->stop());
}

void TestCorpus::hostileStringsArePrintedEscaped()
{
    // A server entry approved by a hostile name conflicts with the file's: the conflict is printed escaped.
    auto server = freshServer();
    QVERIFY(server);
    RedisClient c = server->client();
    Entry e = *EntryCodec::decode(
        m_redis.client.get(qb(RedisSchema::entryKey(m_hostileKey.toStdString()))).toStdString());
    e.approvedBy = "mallory\x1b[2J\xe2\x80\xae<script>";
    e.version = 9;
    QVERIFY(c.set(qb(RedisSchema::entryKey(e.key)), qb(EntryCodec::encode(e))));
    for (const QStringList &extra : {QStringList{}, QStringList{QStringLiteral("--dry-run")}}) {
        const Run r = ctl(*server, QStringList{QStringLiteral("import"), path(QStringLiteral("corpus.jsonl"))} + extra);
        QCOMPARE(r.code, 3);
        QVERIFY2(r.out.contains("mallory\\x1B[2J\\u202E<script>"), r.out.constData());
        QVERIFY2(hazard(r.out + r.err).isEmpty(), hazard(r.out + r.err).constData());
    }
    // The hostile text itself came back exactly (also checked byte for byte in roundTripIsExact).
    QVERIFY(m_restored);
    const auto restored = EntryCodec::decode(
        m_restored->client().get(qb(RedisSchema::entryKey(m_hostileKey.toStdString()))).toStdString());
    QVERIFY(restored);
    QCOMPARE(restored->system, std::string("<b>system</b>\x07\t\xe2\x80\xa8"));
    QVERIFY(server->stop());
}

void TestCorpus::variantsAndNegativePairsRoundTrip()
{
    // A corpus with a main entry, a variant attached to it and a negative pair that tightened it
    // (denied at 0.90, and two confirmations since between it and the threshold).
    std::unique_ptr<RedisServer> source = freshServer();
    QVERIFY(source);
    RedisClient src = source->client();
    const Proposal main = makeProposal("v-main", "How do I reset my password?");
    const Proposal variant = makeProposal("v-variant", "I forgot my password, what now?");
    const QString mainId = seedProposal(src, main);
    const QString variantId = seedProposal(src, variant);
    const QString mainKey = QString::fromStdString(main.key);
    const QString variantKey = QString::fromStdString(variant.key);
    const Run approved = ctl(*source, {QStringLiteral("approve"), mainId});
    QVERIFY2(approved.code == 0, approved.err.constData());
    const Run attached = ctl(*source, {QStringLiteral("approve"), variantId, QStringLiteral("--variant-of"), mainKey});
    QVERIFY2(attached.code == 0, attached.err.constData());
    const QByteArray vectorKey = qb(RedisSchema::vectorKey(main.key));
    auto record = VectorRecordCodec::decode(src.get(vectorKey).toStdString());
    QVERIFY(record);
    record->threshold = 0.95f;
    record->denied = 0.90f;
    record->evidence = {0.93f, 0.94f};
    const std::optional<std::string> tightened = VectorRecordCodec::encode(*record);
    QVERIFY(tightened);
    QCOMPARE(src.command({"SET", vectorKey, qb(*tightened)}).str, QByteArray("OK"));
    const QByteArray negative = QByteArray(32, 'e');
    QCOMPARE(src.command({"SADD", qb(RedisSchema::l1NegativeKey(main.key)), negative}).integer, 1);

    const QString file = path(QStringLiteral("variants.jsonl"));
    const Run exp = ctl(*source, {QStringLiteral("export"), QStringLiteral("--out"), file});
    QVERIFY2(exp.code == 0, exp.err.constData());
    QFile f(file);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray text = f.readAll();
    const QByteArray variantOf = QByteArray("\"variant_of\":\"") + mainKey.toUtf8() + QByteArray("\"");
    const QByteArray negatives = QByteArray("\"l1_negatives\":[\"") + negative + QByteArray("\"]");
    QVERIFY2(text.contains(variantOf), text.constData());
    QVERIFY2(text.contains(negatives), text.constData());
    QVERIFY2(text.contains("\"l1_denied\":0.89999") && text.contains("\"l1_evidence\":[0.93000"), text.constData());

    std::unique_ptr<RedisServer> target = freshServer();
    QVERIFY(target);
    const Run imp = ctl(*target, {QStringLiteral("import"), file});
    QVERIFY2(imp.code == 0, imp.err.constData());
    RedisClient dst = target->client();
    // The main entry knows its variant again, keeps its tightened threshold and its negative pair.
    const RedisValue variants = dst.command({"SMEMBERS", qb(RedisSchema::variantsKey(main.key))});
    QCOMPARE(variants.elements.size(), 1);
    QCOMPARE(variants.elements[0].str, variantKey.toUtf8());
    const auto restored = VectorRecordCodec::decode(dst.get(vectorKey).toStdString());
    QVERIFY(restored);
    QCOMPARE(restored->threshold, 0.95f);
    QCOMPARE(restored->denied.value_or(-1.0f), 0.90f);
    QCOMPARE(restored->evidence, (std::vector<float>{0.93f, 0.94f}));
    const RedisValue negativePairs = dst.command({"SMEMBERS", qb(RedisSchema::l1NegativeKey(main.key))});
    QCOMPARE(negativePairs.elements.size(), 1);
    QCOMPARE(negativePairs.elements[0].str, negative);
    // So revoking the main entry on the restored server takes its variant with it.
    const Run revoked = ctl(*target, {QStringLiteral("revoke"), mainKey});
    QVERIFY2(revoked.code == 0, revoked.err.constData());
    QVERIFY(dst.get(qb(RedisSchema::entryKey(variant.key))).isEmpty());
    QVERIFY(dst.get(vectorKey).isEmpty());

    QVERIFY(source->stop());
    QVERIFY(target->stop());
}

QTEST_GUILESS_MAIN(TestCorpus)
#include "tst_corpus.moc"
