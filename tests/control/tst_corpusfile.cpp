#include <QBuffer>
#include <QCryptographicHash>
#include <QTest>

#include "core/common/cachekey.h"
#include "core/control/corpusfile.h"

using namespace l0l3;

// CorpusWriter and CorpusReader without Redis: what the writer produces reads
// back field for field, and every kind of damaged file is refused with the
// line it is on.
class TestCorpusFile : public QObject
{
    Q_OBJECT

private slots:
    void writtenFileReadsBackExactly();
    void damagedFilesAreRefusedWithTheirLine_data();
    void damagedFilesAreRefusedWithTheirLine();
    void partialKeysAreCountedNotRefused();
    void auditLinesWithoutUserStillRead();

private:
    static Entry entry(const std::string &prompt);
    static QByteArray sample();
    static QByteArray withTrailer(const QByteArray &body, qint64 entries, qint64 rejected = 0, qint64 audit = 0);
    static QString readAll(const QByteArray &file, qint64 *unverified = nullptr);
};

Entry TestCorpusFile::entry(const std::string &prompt)
{
    Entry e;
    e.ns = "acme";
    e.system = "Be <b>brief</b>.\x1b[31m";
    e.prompt = prompt;
    e.model = "gpt-4o";
    e.key = CacheKey::derive({e.ns, e.system, e.prompt, e.model, {}, {}, {}});
    e.response = "Answer\n\t\"quoted\" \xe2\x80\xae \\";
    e.intent = "billing";
    e.version = 3;
    e.approvedBy = "alice";
    e.approvedAtMs = 1700000000123;
    e.ttlSeconds = 3600;
    return e;
}

QByteArray TestCorpusFile::sample()
{
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    CorpusWriter w(&buffer);
    Corpus::Header h;
    h.source = QStringLiteral("redis://console@127.0.0.1:6379/0");
    h.createdAtMs = 1700000001000;
    h.contains = {QStringLiteral("entries"), QStringLiteral("rejected"), QStringLiteral("audit")};
    h.tool = QStringLiteral("test");
    w.writeHeader(h);
    w.writeEntry(entry("How do I pay?"), 120);
    w.writeEntry(entry("Where is my invoice?"), -1);
    w.writeRejected(QString::fromStdString(entry("x").key), 1800000000000);
    AuditRecord r;
    r.id = "1700000000000-0";
    r.action = "approve";
    r.key = entry("How do I pay?").key;
    r.actor = "alice\x07";
    r.user = "op-alice";
    r.tsMs = 1700000000000;
    r.version = 1;
    r.detail = "proposal=1-0";
    w.writeAudit(r);
    w.finish();
    return bytes;
}

QByteArray TestCorpusFile::withTrailer(const QByteArray &body, qint64 entries, qint64 rejected, qint64 audit)
{
    const QByteArray sha = QCryptographicHash::hash(body, QCryptographicHash::Sha256).toHex();
    return body + "{\"t\":\"trailer\",\"lines\":" + QByteArray::number(body.count('\n'))
        + ",\"entries\":" + QByteArray::number(entries) + ",\"rejected\":" + QByteArray::number(rejected)
        + ",\"audit\":" + QByteArray::number(audit) + ",\"sha256\":\"" + sha + "\"}\n";
}

QString TestCorpusFile::readAll(const QByteArray &file, qint64 *unverified)
{
    QBuffer buffer;
    buffer.setData(file);
    buffer.open(QIODevice::ReadOnly);
    CorpusReader reader(&buffer);
    const bool ok = reader.validateAll();
    if (unverified)
        *unverified = reader.unverifiedKeys();
    return ok ? QString() : reader.errorString();
}

void TestCorpusFile::writtenFileReadsBackExactly()
{
    const QByteArray file = sample();
    // Safe to cat: no raw control characters or bidi overrides.
    for (const char c : file)
        QVERIFY(uchar(c) >= 0x20 || c == '\n');
    QVERIFY(!file.contains("\xe2\x80\xae"));

    QBuffer buffer;
    buffer.setData(file);
    buffer.open(QIODevice::ReadOnly);
    CorpusReader reader(&buffer);
    auto header = reader.next();
    QVERIFY(header && header->type == Corpus::Line::Type::Header);
    QCOMPARE(header->header.createdAtMs, 1700000001000);
    QCOMPARE(header->header.contains.size(), 3);
    auto first = reader.next();
    QVERIFY(first && first->type == Corpus::Line::Type::Entry);
    QCOMPARE(first->entry.entry, entry("How do I pay?"));
    QCOMPARE(first->entry.ttlRemainingSeconds, 120);
    QVERIFY(first->entry.keyFieldsComplete);
    auto second = reader.next();
    QVERIFY(second && second->entry.ttlRemainingSeconds == -1);
    auto rejected = reader.next();
    QVERIFY(rejected && rejected->type == Corpus::Line::Type::Rejected);
    QCOMPARE(rejected->rejected.untilMs, 1800000000000);
    auto audit = reader.next();
    QVERIFY(audit && audit->type == Corpus::Line::Type::Audit);
    QCOMPARE(audit->audit.actor, std::string("alice\x07"));
    QCOMPARE(audit->audit.user, std::string("op-alice"));
    auto trailer = reader.next();
    QVERIFY2(trailer && trailer->type == Corpus::Line::Type::Trailer, qPrintable(reader.errorString()));
    QVERIFY(!reader.next());
    QVERIFY(!reader.hasError());
    QCOMPARE(reader.entries(), 2);
}

void TestCorpusFile::damagedFilesAreRefusedWithTheirLine_data()
{
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<QString>("error");
    const QByteArray good = sample();
    QList<QByteArray> lines = good.split('\n');
    lines.removeLast();
    const QByteArray body = lines.mid(0, lines.size() - 1).join('\n') + '\n';

    QTest::newRow("empty") << QByteArray() << QStringLiteral("line 1: the file is empty");
    QTest::newRow("not a header") << QByteArray(lines[1] + '\n')
                                  << QStringLiteral("line 1: the first line is not a header");
    QByteArray newer = lines[0];
    newer.replace("\"version\":1", "\"version\":2");
    QTest::newRow("newer format") << withTrailer(newer + '\n', 0) << QStringLiteral("line 1: format version 2");
    QTest::newRow("no trailer") << body << QStringLiteral("line 6: the file ends without its trailer");
    QTest::newRow("cut line") << good.left(good.size() - 5) << QStringLiteral("line 6: the line has no end");
    QTest::newRow("after trailer") << QByteArray(good + lines[1] + '\n')
                                   << QStringLiteral("line 7: there is more after the trailer");
    QTest::newRow("not json") << withTrailer(lines[0] + "\n{nope\n", 0) << QStringLiteral("line 2: not JSON");
    QTest::newRow("unknown type") << withTrailer(lines[0] + "\n{\"t\":\"variant\"}\n", 0)
                                  << QStringLiteral("line 2: unknown line type \"variant\"");
    QByteArray noVersion = lines[1];
    noVersion.replace("\"version\":3", "\"version\":\"3\"");
    QTest::newRow("wrong type") << withTrailer(lines[0] + '\n' + noVersion + '\n', 1)
                                << QStringLiteral("line 2: field \"version\" is missing or not an integer");
    QByteArray badKey = lines[1];
    badKey.replace(QByteArray::fromStdString(entry("How do I pay?").key), "ABC");
    QTest::newRow("bad key") << withTrailer(lines[0] + '\n' + badKey + '\n', 1)
                             << QStringLiteral("line 2: key \"ABC\" is not 32 lower-case hex digits");
    QByteArray forged = lines[1];
    forged.replace("How do I pay?", "How do I steal?");
    QTest::newRow("forged key") << withTrailer(lines[0] + '\n' + forged + '\n', 1) << QStringLiteral("line 2: key ");
    QTest::newRow("counts") << withTrailer(body, 3, 1, 1) << QStringLiteral("line 6: the trailer counts 3 entries");
    QByteArray longNs = lines[1];
    longNs.replace("\"ns\":\"acme\"", QByteArray("\"ns\":\"" + QByteArray(2000, 'n') + '"'));
    QTest::newRow("long name") << withTrailer(lines[0] + '\n' + longNs + '\n', 1)
                               << QStringLiteral("line 2: field \"ns\" is longer than 1024 bytes");
    QByteArray badUser = lines[4];
    badUser.replace("\"user\":\"op-alice\"", "\"user\":7");
    QTest::newRow("user not a string") << withTrailer(lines[0] + '\n' + badUser + '\n', 0, 0, 1)
                                       << QStringLiteral("line 2: field \"user\" is missing or not a string");
    // The L1 threshold's state: bounded numbers only.
    auto withL1 = [&](const QByteArray &members) {
        QByteArray line = lines[1];
        line.chop(1);
        return withTrailer(lines[0] + '\n' + line + ",\"l1_threshold\":0.9," + members + "}\n", 1);
    };
    QTest::newRow("l1_denied out of range")
        << withL1("\"l1_denied\":1.5") << QStringLiteral("line 2: field \"l1_denied\" is not a number");
    QTest::newRow("l1_denied string") << withL1("\"l1_denied\":\"0.9\"")
                                      << QStringLiteral("line 2: field \"l1_denied\" is not a number");
    QTest::newRow("l1_evidence not an array")
        << withL1("\"l1_evidence\":0.85") << QStringLiteral("line 2: field \"l1_evidence\" is not an array");
    QByteArray many = "\"l1_evidence\":[0.85";
    for (int i = 0; i < 256; ++i)
        many += ",0.85";
    QTest::newRow("l1_evidence too long")
        << withL1(many + ']') << QStringLiteral("line 2: field \"l1_evidence\" is not an array");
    QTest::newRow("l1_evidence below the floor")
        << withL1("\"l1_evidence\":[0.85,0.5]") << QStringLiteral("line 2: field \"l1_evidence\" holds something");
    QTest::newRow("l1_evidence not numbers")
        << withL1("\"l1_evidence\":[\"0.85\"]") << QStringLiteral("line 2: field \"l1_evidence\" holds something");
    QByteArray flipped = good;
    flipped.replace("How do I pay?", "How do I paY?");
    QTest::newRow("checksum") << flipped << QStringLiteral("line 6: checksum mismatch");
}

void TestCorpusFile::damagedFilesAreRefusedWithTheirLine()
{
    QFETCH(QByteArray, file);
    QFETCH(QString, error);
    const QString got = readAll(file);
    QVERIFY2(got.startsWith(error), qPrintable(got));
}

void TestCorpusFile::partialKeysAreCountedNotRefused()
{
    QList<QByteArray> lines = sample().split('\n');
    QByteArray partial = lines[1];
    partial.replace("How do I pay?", "How do I pay with tools?");
    partial.replace("\"key_fields\":\"complete\"", "\"key_fields\":\"partial\"");
    qint64 unverified = 0;
    const QString error = readAll(withTrailer(lines[0] + '\n' + partial + '\n', 1), &unverified);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(unverified, 1);
}

// A file written before audit lines carried the authenticated user: the record reads with none.
void TestCorpusFile::auditLinesWithoutUserStillRead()
{
    const QList<QByteArray> lines = sample().split('\n');
    QByteArray old = lines[4];
    QVERIFY(old.contains("\"t\":\"audit\""));
    QVERIFY(old.contains(",\"user\":\"op-alice\""));
    old.replace(",\"user\":\"op-alice\"", "");
    QBuffer buffer;
    buffer.setData(withTrailer(lines[0] + '\n' + old + '\n', 0, 0, 1));
    buffer.open(QIODevice::ReadOnly);
    CorpusReader reader(&buffer);
    QVERIFY(reader.next());
    const auto audit = reader.next();
    QVERIFY2(audit && audit->type == Corpus::Line::Type::Audit, qPrintable(reader.errorString()));
    QCOMPARE(audit->audit.actor, std::string("alice\x07"));
    QCOMPARE(audit->audit.user, std::string());
    const auto trailer = reader.next();
    QVERIFY2(trailer && trailer->type == Corpus::Line::Type::Trailer, qPrintable(reader.errorString()));
}

QTEST_GUILESS_MAIN(TestCorpusFile)
#include "tst_corpusfile.moc"
