#include <QElapsedTimer>
#include <QRandomGenerator>
#include <QTest>

#include <limits>

#include "core/common/promptnormaliser.h"

using l0l3::PromptNormaliser;

class TestPromptNormaliser : public QObject
{
    Q_OBJECT

private slots:
    void normalise_data();
    void normalise();
    void equivalentPrompts_data();
    void equivalentPrompts();
    void randomBytesGiveCleanUtf8();
    void randomMarksStayStreamSafe();
    void worstCaseIsLinear();
};

namespace {

const QByteArray kAcute = QByteArray("\xCC\x81");      // U+0301, combining class 230
const QByteArray kGraveBelow = QByteArray("\xCC\x96"); // U+0316, combining class 220
const QByteArray kJoiner = QByteArray("\xCD\x8F");     // U+034F COMBINING GRAPHEME JOINER

// The gateway's default --max-body-bytes: the largest prompt a client can send.
constexpr std::size_t kMaxBodyBytes = 1u << 20;

// A starter and then marks in the reverse of canonical order, the input that
// makes canonical reordering do the most swaps: `bytes` long.
std::string reversedMarks(std::size_t bytes)
{
    std::string s = "a";
    while (s.size() + 4 <= bytes)
        s += "\xCC\x81\xCC\x96";
    return s;
}

// Ordinary accented text that goes through the same utf8proc path: `bytes` long.
std::string accentedText(std::size_t bytes)
{
    std::string s;
    while (s.size() + 7 <= bytes)
        s += "caf\xC3\xA9 x";
    return s;
}

qint64 normaliseNs(const std::string &text)
{
    QElapsedTimer timer;
    timer.start();
    const std::string out = PromptNormaliser::normalise(text);
    const qint64 ns = timer.nsecsElapsed();
    static volatile std::size_t sink = 0; // keeps the call from being optimised away
    sink = sink + out.size();
    return ns;
}

// Non-starters in a row at most, counting code points of a normalised string
// (every mark used by these tests is a non-starter; U+034F and ASCII are starters).
int longestMarkRun(const std::string &s)
{
    int longest = 0;
    int run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if ((c & 0xC0) == 0x80)
            continue;
        const bool mark = c == 0xCC || (c == 0xCD && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0x8F);
        run = mark ? run + 1 : 0;
        longest = std::max(longest, run);
    }
    return longest;
}

} // namespace

void TestPromptNormaliser::normalise_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("plain") << QByteArray("what is x") << QByteArray("what is x");
    QTest::newRow("question mark") << QByteArray("What is X?") << QByteArray("what is x");
    QTest::newRow("shouting, spaces, ?!") << QByteArray("  WHAT  is x?!") << QByteArray("what is x");
    QTest::newRow("space before punctuation") << QByteArray("x ? ! ") << QByteArray("x");
    QTest::newRow("ellipsis dots") << QByteArray("wait...") << QByteArray("wait");
    QTest::newRow("ellipsis char") << QByteArray("hello\xE2\x80\xA6") << QByteArray("hello");
    QTest::newRow("comma colon semicolon") << QByteArray("list:;,") << QByteArray("list");
    QTest::newRow("interior punctuation kept") << QByteArray("a, b. c?") << QByteArray("a, b. c");
    QTest::newRow("closing bracket kept") << QByteArray("what is f(x)?") << QByteArray("what is f(x)");
    QTest::newRow("closing quote kept") << QByteArray("say \"hi\".") << QByteArray("say \"hi\"");
    QTest::newRow("leading punctuation kept") << QByteArray("\xC2\xBFqu\xC3\xA9?") << QByteArray("\xC2\xBFqu\xC3\xA9");
    QTest::newRow("only punctuation") << QByteArray("?!") << QByteArray("");
    QTest::newRow("empty") << QByteArray("") << QByteArray("");
    QTest::newRow("only white space") << QByteArray(" \t\r\n ") << QByteArray("");
    QTest::newRow("NFC stays") << QByteArray("caf\xC3\xA9") << QByteArray("caf\xC3\xA9");
    QTest::newRow("NFD composed") << QByteArray("cafe\xCC\x81") << QByteArray("caf\xC3\xA9");
    QTest::newRow("upper NFD") << QByteArray("CAFE\xCC\x81") << QByteArray("caf\xC3\xA9");
    QTest::newRow("German sharp s") << QByteArray("Stra\xC3\x9F"
                                                  "e")
                                    << QByteArray("strasse");
    QTest::newRow("capital sharp s") << QByteArray("STRASSE") << QByteArray("strasse");
    QTest::newRow("Turkish dotted I") << QByteArray("\xC4\xB0stanbul") << QByteArray("i\xCC\x87stanbul");
    QTest::newRow("Kelvin sign") << QByteArray("\xE2\x84\xAA") << QByteArray("k");
    QTest::newRow("fi ligature") << QByteArray("\xEF\xAC\x81le") << QByteArray("file");
    QTest::newRow("Greek final sigma") << QByteArray("\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x9F\xCE\xA3")
                                       << QByteArray("\xCF\x83\xCE\xBF\xCF\x86\xCE\xBF\xCF\x83");
    QTest::newRow("full-width exclamation")
        << QByteArray("\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x81") << QByteArray("\xE4\xBD\xA0\xE5\xA5\xBD");
    QTest::newRow("full-width question") << QByteArray("\xE6\x98\xAF\xE5\x90\x97\xEF\xBC\x9F")
                                         << QByteArray("\xE6\x98\xAF\xE5\x90\x97");
    QTest::newRow("ideographic full stop") << QByteArray("\xE5\xA5\xBD\xE3\x80\x82") << QByteArray("\xE5\xA5\xBD");
    QTest::newRow("emoji kept") << QByteArray("I \xE2\x9D\xA4\xEF\xB8\x8F pizza \xF0\x9F\x8D\x95!")
                                << QByteArray("i \xE2\x9D\xA4\xEF\xB8\x8F pizza \xF0\x9F\x8D\x95");
    QTest::newRow("ZWJ emoji kept") << QByteArray("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9")
                                    << QByteArray("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9");
    QTest::newRow("zero-width space dropped") << QByteArray("hel\xE2\x80\x8Blo") << QByteArray("hello");
    QTest::newRow("zero-width space inside NFD") << QByteArray("e\xE2\x80\x8B\xCC\x81") << QByteArray("\xC3\xA9");
    QTest::newRow("BOM dropped") << QByteArray("\xEF\xBB\xBFhi") << QByteArray("hi");
    QTest::newRow("NBSP") << QByteArray("a\xC2\xA0"
                                        "b")
                          << QByteArray("a b");
    QTest::newRow("ideographic space") << QByteArray("a\xE3\x80\x80"
                                                     "b")
                                       << QByteArray("a b");
    QTest::newRow("tabs and newlines") << QByteArray("a\t\n\r\v\f b") << QByteArray("a b");
    QTest::newRow("NEL") << QByteArray("a\xC2\x85"
                                       "b")
                         << QByteArray("a b");
    QTest::newRow("line separator") << QByteArray("a\xE2\x80\xA8"
                                                  "b\xE2\x80\xA9")
                                    << QByteArray("a b");
    QTest::newRow("leading white space") << QByteArray("\n\t  x") << QByteArray("x");
    QTest::newRow("invalid byte") << QByteArray("ab\xFF"
                                                "cd")
                                  << QByteArray("ab\xEF\xBF\xBD"
                                                "cd");
    QTest::newRow("truncated sequence") << QByteArray("x\xC3") << QByteArray("x\xEF\xBF\xBD");
    QTest::newRow("lone continuation") << QByteArray("\x80"
                                                     "a")
                                       << QByteArray("\xEF\xBF\xBD"
                                                     "a");
    QTest::newRow("marks reordered") << QByteArray("a" + kAcute + kGraveBelow) << QByteArray("\xC3\xA1" + kGraveBelow);
    QTest::newRow("30 marks: no joiner") << QByteArray("a" + kAcute.repeated(30))
                                         << QByteArray("\xC3\xA1" + kAcute.repeated(29));
    QTest::newRow("31 marks: joiner before the 31st")
        << QByteArray("a" + kAcute.repeated(31)) << QByteArray("\xC3\xA1" + kAcute.repeated(29) + kJoiner + kAcute);
    QTest::newRow("61 marks: two joiners")
        << QByteArray("a" + kAcute.repeated(61))
        << QByteArray("\xC3\xA1" + kAcute.repeated(29) + kJoiner + kAcute.repeated(30) + kJoiner + kAcute);
    QTest::newRow("31 marks, no base") << kGraveBelow.repeated(31)
                                       << QByteArray(kGraveBelow.repeated(30) + kJoiner + kGraveBelow);
    // U+01FA decomposes to A, ring above, acute: its two trailing marks count.
    QTest::newRow("precomposed marks count") << QByteArray("\xC7\xBA" + kAcute.repeated(29))
                                             << QByteArray("\xC7\xBB" + kAcute.repeated(28) + kJoiner + kAcute);
    QTest::newRow("a joiner resets the run")
        << QByteArray("a" + kAcute.repeated(20) + kJoiner + kAcute.repeated(20))
        << QByteArray("\xC3\xA1" + kAcute.repeated(19) + kJoiner + kAcute.repeated(20));
    QTest::newRow("overlong slash") << QByteArray("\xC0\xAF") << QByteArray("\xEF\xBF\xBD\xEF\xBF\xBD");
}

void TestPromptNormaliser::normalise()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, expected);
    const std::string out = PromptNormaliser::normalise(std::string_view(input.constData(), input.size()));
    QCOMPARE(QByteArray::fromStdString(out), expected);
    // Normalising twice must not change the key.
    QCOMPARE(PromptNormaliser::normalise(out), out);
}

void TestPromptNormaliser::equivalentPrompts_data()
{
    QTest::addColumn<QByteArray>("a");
    QTest::addColumn<QByteArray>("b");
    QTest::addColumn<bool>("same");

    QTest::newRow("question forms") << QByteArray("What is X?") << QByteArray("  WHAT  is x?!") << true;
    QTest::newRow("NFC vs NFD") << QByteArray("\xC3\xA9t\xC3\xA9") << QByteArray("e\xCC\x81te\xCC\x81") << true;
    QTest::newRow("sharp s vs ss") << QByteArray("gro\xC3\x9F") << QByteArray("GROSS") << true;
    QTest::newRow("NBSP vs space") << QByteArray("a\xC2\xA0"
                                                 "b")
                                   << QByteArray("a b") << true;
    QTest::newRow("different words") << QByteArray("what is x") << QByteArray("what is y") << false;
    QTest::newRow("space matters between words") << QByteArray("ab") << QByteArray("a b") << false;
    QTest::newRow("bracket matters") << QByteArray("f(x)") << QByteArray("f(x") << false;
    QTest::newRow("dotless vs dotted i") << QByteArray("\xC4\xB1") << QByteArray("i") << false;
}

void TestPromptNormaliser::equivalentPrompts()
{
    QFETCH(QByteArray, a);
    QFETCH(QByteArray, b);
    QFETCH(bool, same);
    QCOMPARE(PromptNormaliser::normalise(a.toStdString()) == PromptNormaliser::normalise(b.toStdString()), same);
}

void TestPromptNormaliser::randomBytesGiveCleanUtf8()
{
    QRandomGenerator rng(42);
    const char alphabet[] = {'a',    'Z',    ' ',    '\t',   '?',    '.',    '\xC3', '\xA9',
                             '\xE2', '\x80', '\x8B', '\xFF', '\xF0', '\x9F', '\xCC', '\x81'};
    for (int round = 0; round < 3000; ++round) {
        std::string in;
        const int len = rng.bounded(0, 24);
        for (int i = 0; i < len; ++i)
            in.push_back(rng.bounded(2) ? alphabet[rng.bounded(int(sizeof alphabet))] : char(rng.bounded(256)));
        const std::string out = PromptNormaliser::normalise(in);
        const QByteArray bytes = QByteArray::fromStdString(out);
        QVERIFY2(QUtf8StringView(bytes).isValidUtf8(), bytes.toHex().constData());
        QVERIFY(!out.starts_with(' ') && !out.ends_with(' '));
        QVERIFY(out.find("  ") == std::string::npos);
        QCOMPARE(PromptNormaliser::normalise(out), out);
    }
}

void TestPromptNormaliser::randomMarksStayStreamSafe()
{
    QRandomGenerator rng(7);
    const QByteArray pieces[] = {kAcute,
                                 kGraveBelow,
                                 kJoiner,
                                 QByteArray("e"),
                                 QByteArray("\xC7\xBA"),
                                 QByteArray("\xCD\x84"),
                                 QByteArray("\xE2\x80\x8B")};
    for (int round = 0; round < 500; ++round) {
        QByteArray in;
        const int len = rng.bounded(0, 200);
        for (int i = 0; i < len; ++i)
            in += rng.bounded(8) ? pieces[rng.bounded(2)] : pieces[rng.bounded(int(std::size(pieces)))];
        const std::string out = PromptNormaliser::normalise(in.toStdString());
        QVERIFY2(longestMarkRun(out) <= 30, in.toHex().constData());
        QCOMPARE(PromptNormaliser::normalise(out), out);
    }
}

// The bound is relative to the same amount of ordinary accented text normalised in the same run, so
// it holds on a slow or busy machine and under sanitizers; bench/micro's BM_NormaliseWorstCase
// measures the absolute time. A quadratic normaliser fails the small size already (within seconds).
void TestPromptNormaliser::worstCaseIsLinear()
{
    constexpr qint64 kFactor = 10;
    for (const std::size_t bytes : {kMaxBodyBytes / 16, kMaxBodyBytes}) {
        const std::string worst = reversedMarks(bytes);
        const std::string reference = accentedText(bytes);
        qint64 referenceNs = std::numeric_limits<qint64>::max();
        for (int i = 0; i < 3; ++i)
            referenceNs = std::min(referenceNs, normaliseNs(reference));
        qint64 worstNs = std::numeric_limits<qint64>::max();
        for (int i = 0; i < 3 && worstNs > kFactor * referenceNs; ++i)
            worstNs = std::min(worstNs, normaliseNs(worst));
        QVERIFY2(worstNs <= kFactor * referenceNs,
                 qPrintable(QStringLiteral("%1 bytes: reversed marks %2 ms, accented text %3 ms")
                                .arg(bytes)
                                .arg(double(worstNs) / 1e6)
                                .arg(double(referenceNs) / 1e6)));
        QVERIFY(longestMarkRun(PromptNormaliser::normalise(worst)) <= 30);
    }
}

QTEST_GUILESS_MAIN(TestPromptNormaliser)
#include "tst_promptnormaliser.moc"
