#include <QTest>

#include <cmath>
#include <string>

#include "core/common/lexicalembedder.h"

using l0l3::LexicalEmbedder;

class TestLexicalEmbedder : public QObject
{
    Q_OBJECT

private slots:
    void unitLengthAndDimension();
    void deterministicAcrossRuns();
    void emptyTextIsZero();
    void invalidDimensionFallsBack();
    void similar_data();
    void similar();
    void dissimilar_data();
    void dissimilar();
    void passwordPhrasings();
    void inputIsCapped();
    void wordsKeepInnerApostrophes();
};

namespace {

float similarity(const LexicalEmbedder &e, const char *a, const char *b)
{
    return l0l3::dot(e.embed(a), e.embed(b));
}

} // namespace

void TestLexicalEmbedder::unitLengthAndDimension()
{
    const LexicalEmbedder e;
    QCOMPARE(e.dimension(), LexicalEmbedder::kDefaultDimension);
    QCOMPARE(e.modelId(), std::string("lexical-v1-d256"));
    const auto v = e.embed("How do I reset my password?");
    QCOMPARE(v.size(), e.dimension());
    QVERIFY(std::abs(l0l3::dot(v, v) - 1.0f) < 1e-5f);
}

// The hash and the features are fixed: these sums are the same on every platform and build.
void TestLexicalEmbedder::deterministicAcrossRuns()
{
    const LexicalEmbedder e(64);
    const auto a = e.embed("What is the capital of France?");
    const auto b = LexicalEmbedder(64).embed("What is the capital of France?");
    QCOMPARE(a, b);
    int nonZero = 0;
    for (const float x : a)
        nonZero += x != 0.0f ? 1 : 0;
    QVERIFY(nonZero > 20);
}

void TestLexicalEmbedder::emptyTextIsZero()
{
    const LexicalEmbedder e;
    for (const char *text : {"", "   ", "?!."}) {
        const auto v = e.embed(text);
        for (const float x : v)
            QCOMPARE(x, 0.0f);
    }
}

void TestLexicalEmbedder::invalidDimensionFallsBack()
{
    QCOMPARE(LexicalEmbedder(100).dimension(), LexicalEmbedder::kDefaultDimension);
    QCOMPARE(LexicalEmbedder(0).dimension(), LexicalEmbedder::kDefaultDimension);
    QCOMPARE(LexicalEmbedder(1024).dimension(), std::size_t(1024));
    std::vector<float> wrong(10, 1.0f);
    LexicalEmbedder().embedInto("hello", wrong);
    for (const float x : wrong)
        QCOMPARE(x, 0.0f);
}

void TestLexicalEmbedder::similar_data()
{
    QTest::addColumn<QString>("a");
    QTest::addColumn<QString>("b");
    QTest::addColumn<double>("atLeast");
    QTest::newRow("case and punctuation") << "How do I reset my password?"
                                          << "how do i reset my password" << 0.99;
    QTest::newRow("reordering") << "How do I reset my password?"
                                << "Reset my password, how?" << 0.85;
    QTest::newRow("filler") << "How do I cancel my subscription?"
                            << "How can I cancel my subscription" << 0.85;
    QTest::newRow("typo") << "How do I reset my password?"
                          << "How do I reset my pasword?" << 0.65;
    QTest::newRow("inflection") << "What payment methods do you accept?"
                                << "what payment method do you accept" << 0.75;
}

void TestLexicalEmbedder::similar()
{
    QFETCH(QString, a);
    QFETCH(QString, b);
    QFETCH(double, atLeast);
    const LexicalEmbedder e;
    const float s = similarity(e, a.toUtf8().constData(), b.toUtf8().constData());
    QVERIFY2(s >= atLeast, qPrintable(QString::number(s)));
}

void TestLexicalEmbedder::dissimilar_data()
{
    QTest::addColumn<QString>("a");
    QTest::addColumn<QString>("b");
    QTest::newRow("different topics") << "How do I reset my password?"
                                      << "What are your opening hours?";
    QTest::newRow("different topics 2") << "Where is my order?"
                                        << "How long does shipping take?";
    QTest::newRow("different topics 3") << "What is the capital of France?"
                                        << "How do I delete my account?";
}

void TestLexicalEmbedder::dissimilar()
{
    QFETCH(QString, a);
    QFETCH(QString, b);
    const LexicalEmbedder e;
    const float s = similarity(e, a.toUtf8().constData(), b.toUtf8().constData());
    QVERIFY2(s < 0.5f, qPrintable(QString::number(s)));
}

// The lexical provider does not know synonyms: of the three phrasings of one
// question only the words "my password" are shared. Their similarities are low;
// the operator's variants (exact alias keys) are what join them.
void TestLexicalEmbedder::passwordPhrasings()
{
    const LexicalEmbedder e;
    const char *reset = "How do I reset my password?";
    const char *forgot = "I forgot my password, what now?";
    const char *cant = "Can't log in, I don't remember my password";
    const float s1 = similarity(e, reset, forgot);
    const float s2 = similarity(e, reset, cant);
    const float s3 = similarity(e, forgot, cant);
    qInfo("reset/forgot %.3f reset/can't %.3f forgot/can't %.3f", s1, s2, s3);
    QVERIFY(s1 > 0.15f && s1 < 0.6f);
    QVERIFY(s2 > 0.15f && s2 < 0.6f);
    QVERIFY(s3 > 0.15f && s3 < 0.6f);
}

void TestLexicalEmbedder::inputIsCapped()
{
    const LexicalEmbedder e;
    std::string head = "How do I reset my password? ";
    while (head.size() < LexicalEmbedder::kMaxInputBytes + 10)
        head += "\xC3\xA9t\xC3\xA9 ";
    const std::string longer = head + std::string(1 << 20, 'x');
    QCOMPARE(e.embed(head), e.embed(longer));
}

void TestLexicalEmbedder::wordsKeepInnerApostrophes()
{
    const auto words = LexicalEmbedder::words("can't log in, 'quoted' it\xE2\x80\x99s 42");
    const std::vector<std::string> expected = {"can't", "log", "in", "quoted", "it's", "42"};
    QCOMPARE(words, expected);
}

QTEST_GUILESS_MAIN(TestLexicalEmbedder)
#include "tst_lexicalembedder.moc"
