#include <QTest>

#include <string>

#include "core/common/visibletext.h"

using l0l3::VisibleText;

class TestVisibleText : public QObject
{
    Q_OBJECT

private slots:
    void escape_data();
    void escape();
    void everyHazardIsEscaped();
    void escapeJsonKeepsTheValue();
};

void TestVisibleText::escape_data()
{
    QTest::addColumn<QByteArray>("in");
    QTest::addColumn<uint>("flags");
    QTest::addColumn<QByteArray>("out");
    const uint def = VisibleText::EscapeBackslash;
    QTest::newRow("plain") << QByteArray("How do I reset my password?") << def
                           << QByteArray("How do I reset my password?");
    QTest::newRow("utf-8 kept") << QByteArray("Öffnen – 東京 😀") << def << QByteArray("Öffnen – 東京 😀");
    QTest::newRow("html is not a terminal's business") << QByteArray("<b>x</b>") << def << QByteArray("<b>x</b>");
    QTest::newRow("csi sequence") << QByteArray("a\x1b[2J\x1b]0;owned\x07z") << def
                                  << QByteArray("a\\x1B[2J\\x1B]0;owned\\x07z");
    QTest::newRow("nul and del") << QByteArray("a\0b\x7f", 4) << def << QByteArray("a\\x00b\\x7F");
    QTest::newRow("newline escaped") << QByteArray("a\nb\r\tc") << def << QByteArray("a\\nb\\r\\tc");
    QTest::newRow("newline kept") << QByteArray("a\nb\r\tc") << uint(VisibleText::KeepNewlines)
                                  << QByteArray("a\nb\\r\\tc");
    QTest::newRow("tab kept") << QByteArray("a\tb") << uint(VisibleText::KeepTabs) << QByteArray("a\tb");
    QTest::newRow("c1 csi") << QByteArray("a\xc2\x9b"
                                          "2Jz")
                            << def << QByteArray("a\\u009B2Jz");
    QTest::newRow("rlo and pdf") << QByteArray("user\xe2\x80\xae"
                                               "fdp.exe\xe2\x80\xac")
                                 << def << QByteArray("user\\u202Efdp.exe\\u202C");
    QTest::newRow("isolates") << QByteArray("\xe2\x81\xa6x\xe2\x81\xa9") << def << QByteArray("\\u2066x\\u2069");
    QTest::newRow("marks") << QByteArray("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c") << def
                           << QByteArray("\\u200E\\u200F\\u061C");
    QTest::newRow("separators") << QByteArray("a\xe2\x80\xa8"
                                              "b\xe2\x80\xa9")
                                << def << QByteArray("a\\u2028b\\u2029");
    QTest::newRow("backslash escaped") << QByteArray("C:\\x") << def << QByteArray("C:\\\\x");
    QTest::newRow("backslash kept") << QByteArray("C:\\x") << 0u << QByteArray("C:\\x");
    QTest::newRow("invalid byte") << QByteArray("a\xff"
                                                "b")
                                  << def << QByteArray("a\\xFFb");
    QTest::newRow("overlong slash") << QByteArray("\xc0\xaf") << def << QByteArray("\\xC0\\xAF");
    QTest::newRow("encoded surrogate") << QByteArray("\xed\xa0\x80") << def << QByteArray("\\xED\\xA0\\x80");
    QTest::newRow("truncated sequence") << QByteArray("ok\xe2\x80") << def << QByteArray("ok\\xE2\\x80");
}

void TestVisibleText::escape()
{
    QFETCH(QByteArray, in);
    QFETCH(uint, flags);
    QFETCH(QByteArray, out);
    const std::string got = VisibleText::escape(std::string_view(in.constData(), size_t(in.size())), flags);
    QCOMPARE(QByteArray::fromStdString(got), out);
}

// Every code point: a hazard never comes out raw, and the output is valid UTF-8.
void TestVisibleText::everyHazardIsEscaped()
{
    int hazards = 0;
    for (char32_t c = 0; c <= 0x10FFFF; ++c) {
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        const QString s = QString::fromUcs4(&c, 1);
        const QByteArray utf8 = s.toUtf8();
        const std::string got = VisibleText::escape(std::string_view(utf8.constData(), size_t(utf8.size())));
        if (!VisibleText::isHazard(c))
            continue;
        ++hazards;
        const QString back = QString::fromUtf8(got.data(), qsizetype(got.size()));
        QVERIFY2(!back.contains(s), qPrintable(QString::number(uint(c), 16)));
        for (const QChar ch : back)
            QVERIFY2(ch.unicode() >= 0x20 && ch.unicode() < 0x7F, qPrintable(QString::number(uint(c), 16)));
    }
    // C0 (32), DEL and C1 (33), ALM, LRM, RLM, LS, PS (5), embeddings/overrides (5), isolates (4).
    QCOMPARE(hazards, 32 + 33 + 5 + 5 + 4);
}

void TestVisibleText::escapeJsonKeepsTheValue()
{
    const std::string json = "[\n    {\n        \"p\": \"a\xe2\x80\xae"
                             "b\x7f"
                             "c\xc2\x9b"
                             "d\\u001b\xe2\x81\xa6\"\n    }\n]\n";
    const std::string got = VisibleText::escapeJson(json);
    QCOMPARE(QByteArray::fromStdString(got),
             QByteArray("[\n    {\n        \"p\": \"a\\u202Eb\\u007Fc\\u009Bd\\u001b\\u2066\"\n    }\n]\n"));
    for (const unsigned char b : got)
        QVERIFY(b == '\n' || (b >= 0x20 && b < 0x7F));
}

QTEST_GUILESS_MAIN(TestVisibleText)
#include "tst_visibletext.moc"
