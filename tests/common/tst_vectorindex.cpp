#include <QTest>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/common/lexicalembedder.h"
#include "core/common/vectorindex.h"

using l0l3::LexicalEmbedder;
using l0l3::VectorIndex;

class TestVectorIndex : public QObject
{
    Q_OBJECT

private slots:
    void findsItself();
    void scopesAreSeparate();
    void eraseAndUpdate();
    void thresholdAndK();
    void rejectsBadVectors();
    void quantisationError();
    void swapRemoveKeepsEveryEntry();
    void sketchStageAgreesWithExact();
    void memoryIsAccounted();
};

namespace {

const std::string kScope = VectorIndex::scopeKey("default", "0123abcd", "gpt-4o");

// Pseudo-questions over a vocabulary of made-up words: texts that share few words.
struct Corpus
{
    std::vector<std::string> vocabulary;
    std::mt19937 rng{20};

    Corpus()
    {
        std::uniform_int_distribution<int> len(3, 9);
        std::uniform_int_distribution<int> letter('a', 'z');
        for (int i = 0; i < 3000; ++i) {
            std::string w;
            for (int n = len(rng); n > 0; --n)
                w += static_cast<char>(letter(rng));
            vocabulary.push_back(w);
        }
    }
    std::string text()
    {
        std::uniform_int_distribution<int> count(5, 14);
        std::uniform_int_distribution<std::size_t> pick(0, vocabulary.size() - 1);
        std::string t;
        for (int n = count(rng); n > 0; --n)
            t += vocabulary[pick(rng)] + ' ';
        return t;
    }
    // A paraphrase by typo: one letter of one word changed.
    std::string typo(std::string t)
    {
        std::uniform_int_distribution<std::size_t> at(0, t.size() - 2);
        std::size_t i = at(rng);
        while (t[i] == ' ')
            i = (i + 1) % t.size();
        t[i] = t[i] == 'z' ? 'a' : static_cast<char>(t[i] + 1);
        return t;
    }
};

std::vector<float> randomUnit(std::mt19937 &rng, std::size_t d)
{
    std::normal_distribution<float> g;
    std::vector<float> v(d);
    double n = 0;
    for (float &x : v) {
        x = g(rng);
        n += x * x;
    }
    for (float &x : v)
        x = static_cast<float>(x / std::sqrt(n));
    return v;
}

} // namespace

void TestVectorIndex::findsItself()
{
    const LexicalEmbedder e;
    VectorIndex index(e.dimension());
    QVERIFY(index.upsert(kScope, "k1", e.embed("How do I reset my password?")));
    QVERIFY(index.upsert(kScope, "k2", e.embed("What are your opening hours?")));
    const auto hits = index.search(kScope, e.embed("how do i reset my pasword"), 5, 0.5f);
    QCOMPARE(hits.size(), std::size_t(1));
    QCOMPARE(hits[0].key, std::string("k1"));
    QVERIFY(hits[0].similarity > 0.7f && hits[0].similarity < 0.9f);
    const auto self = index.search(kScope, e.embed("What are your opening hours?"), 1, 0.0f);
    QCOMPARE(self.size(), std::size_t(1));
    QCOMPARE(self[0].key, std::string("k2"));
    QVERIFY2(std::abs(self[0].similarity - 1.0f) < 0.01f, qPrintable(QString::number(self[0].similarity)));
}

void TestVectorIndex::scopesAreSeparate()
{
    const LexicalEmbedder e;
    VectorIndex index(e.dimension());
    const auto v = e.embed("How do I reset my password?");
    const std::string otherNs = VectorIndex::scopeKey("other", "0123abcd", "gpt-4o");
    const std::string otherSystem = VectorIndex::scopeKey("default", "ffff", "gpt-4o");
    const std::string otherModel = VectorIndex::scopeKey("default", "0123abcd", "claude");
    QVERIFY(index.upsert(otherNs, "a", v));
    QVERIFY(index.upsert(otherSystem, "b", v));
    QVERIFY(index.upsert(otherModel, "c", v));
    QCOMPARE(index.scopeCount(), std::size_t(3));
    QVERIFY(index.search(kScope, v, 10, -1.0f).empty());
    QCOMPARE(index.search(otherNs, v, 10, 0.0f).size(), std::size_t(1));
    QCOMPARE(index.search(otherNs, v, 10, 0.0f)[0].key, std::string("a"));
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    QVERIFY(VectorIndex::scopeKey("ab", "c", "m") != VectorIndex::scopeKey("a", "bc", "m"));
}

void TestVectorIndex::eraseAndUpdate()
{
    const LexicalEmbedder e;
    VectorIndex index(e.dimension());
    const auto reset = e.embed("How do I reset my password?");
    const auto hours = e.embed("What are your opening hours?");
    QVERIFY(index.upsert(kScope, "k", reset));
    QCOMPARE(index.search(kScope, reset, 1, 0.9f).size(), std::size_t(1));
    // Update in place: the key now stands for the other text.
    QVERIFY(index.upsert(kScope, "k", hours));
    QCOMPARE(index.size(), std::size_t(1));
    QVERIFY(index.search(kScope, reset, 1, 0.9f).empty());
    QCOMPARE(index.search(kScope, hours, 1, 0.9f).size(), std::size_t(1));
    // Moving to another scope leaves nothing behind.
    const std::string other = VectorIndex::scopeKey("other", "", "");
    QVERIFY(index.upsert(other, "k", hours));
    QCOMPARE(index.size(), std::size_t(1));
    QCOMPARE(index.scopeCount(), std::size_t(1));
    QVERIFY(index.search(kScope, hours, 1, 0.0f).empty());
    QVERIFY(index.erase("k"));
    QVERIFY(!index.erase("k"));
    QCOMPARE(index.size(), std::size_t(0));
    QCOMPARE(index.scopeCount(), std::size_t(0));
    QVERIFY(index.search(other, hours, 1, -1.0f).empty());
}

void TestVectorIndex::thresholdAndK()
{
    const LexicalEmbedder e;
    VectorIndex index(e.dimension());
    const char *texts[] = {"How do I reset my password?", "How can I reset my password please?",
                           "Reset my password, how?", "how to reset password", "What are your opening hours?"};
    for (int i = 0; i < 5; ++i)
        QVERIFY(index.upsert(kScope, "k" + std::to_string(i), e.embed(texts[i])));
    const auto q = e.embed(texts[0]);
    const auto all = index.search(kScope, q, 10, -1.0f);
    QCOMPARE(all.size(), std::size_t(5));
    for (std::size_t i = 1; i < all.size(); ++i)
        QVERIFY(all[i - 1].similarity >= all[i].similarity);
    QCOMPARE(all[0].key, std::string("k0"));
    QCOMPARE(index.search(kScope, q, 2, -1.0f).size(), std::size_t(2));
    QCOMPARE(index.search(kScope, q, 0, -1.0f).size(), std::size_t(0));
    for (const auto &m : index.search(kScope, q, 10, 0.75f))
        QVERIFY(m.similarity >= 0.75f);
    QVERIFY(index.search(kScope, q, 10, 0.75f).size() < 5);
}

void TestVectorIndex::rejectsBadVectors()
{
    VectorIndex index(256);
    QVERIFY(!index.upsert(kScope, "short", std::vector<float>(255, 0.1f)));
    QVERIFY(!index.upsert(kScope, "long", std::vector<float>(257, 0.1f)));
    std::vector<float> nan(256, 0.0f);
    nan[3] = std::nanf("");
    QVERIFY(!index.upsert(kScope, "nan", nan));
    QCOMPARE(index.size(), std::size_t(0));
    QVERIFY(index.search(kScope, std::vector<float>(12, 0.1f), 1, -1.0f).empty());
    // A dimension that is not a multiple of 32 works (padded inside).
    std::mt19937 rng(1);
    VectorIndex odd(100);
    const auto v = randomUnit(rng, 100);
    QVERIFY(odd.upsert(kScope, "v", v));
    const auto hits = odd.search(kScope, v, 1, 0.99f);
    QCOMPARE(hits.size(), std::size_t(1));
}

// int8 storage: similarities stay within 0.01 of the float dot product.
void TestVectorIndex::quantisationError()
{
    std::mt19937 rng(7);
    const LexicalEmbedder e;
    Corpus corpus;
    VectorIndex index(e.dimension());
    std::vector<std::vector<float>> vectors;
    for (int i = 0; i < 200; ++i) {
        vectors.push_back(e.embed(corpus.text()));
        QVERIFY(index.upsert(kScope, std::to_string(i), vectors.back()));
    }
    float worst = 0.0f;
    for (int i = 0; i < 50; ++i) {
        const auto q = e.embed(corpus.typo(corpus.text()));
        for (const auto &m : index.searchExact(kScope, q, 200, -2.0f)) {
            const float exact = l0l3::dot(q, vectors[std::stoul(m.key)]);
            worst = std::max(worst, std::abs(exact - m.similarity));
        }
    }
    qInfo("worst quantisation error %.5f", worst);
    QVERIFY(worst < 0.01f);
}

void TestVectorIndex::swapRemoveKeepsEveryEntry()
{
    std::mt19937 rng(3);
    VectorIndex index(64);
    std::vector<std::vector<float>> vectors;
    for (int i = 0; i < 300; ++i) {
        vectors.push_back(randomUnit(rng, 64));
        QVERIFY(index.upsert(kScope, "k" + std::to_string(i), vectors.back()));
    }
    for (int i = 0; i < 300; i += 3)
        QVERIFY(index.erase("k" + std::to_string(i)));
    QCOMPARE(index.size(), std::size_t(200));
    for (int i = 0; i < 300; ++i) {
        const auto hits = index.search(kScope, vectors[static_cast<std::size_t>(i)], 1, 0.95f);
        if (i % 3 == 0) {
            QVERIFY(hits.empty() || hits[0].key != "k" + std::to_string(i));
        } else {
            QCOMPARE(hits.size(), std::size_t(1));
            QCOMPARE(hits[0].key, "k" + std::to_string(i));
        }
    }
}

// Above exactScanLimit the sketch chooses what is scored: for near paraphrases
// (a typo) it must find the same best entry as the exact scan.
void TestVectorIndex::sketchStageAgreesWithExact()
{
    const LexicalEmbedder e;
    Corpus corpus;
    VectorIndex index(e.dimension(), VectorIndex::Options{0, 128});
    std::vector<std::string> texts;
    for (int i = 0; i < 20000; ++i) {
        texts.push_back(corpus.text());
        QVERIFY(index.upsert(kScope, std::to_string(i), e.embed(texts.back())));
    }
    int agree = 0;
    int asked = 0;
    std::uniform_int_distribution<std::size_t> pick(0, texts.size() - 1);
    for (int i = 0; i < 300; ++i) {
        const auto q = e.embed(corpus.typo(texts[pick(corpus.rng)]));
        const auto exact = index.searchExact(kScope, q, 1, 0.5f);
        if (exact.empty())
            continue;
        ++asked;
        const auto fast = index.search(kScope, q, 1, 0.5f);
        agree += !fast.empty() && fast[0].key == exact[0].key ? 1 : 0;
    }
    qInfo("sketch stage found the exact best in %d of %d queries", agree, asked);
    QVERIFY(asked > 250);
    QVERIFY(agree >= asked * 99 / 100);
}

void TestVectorIndex::memoryIsAccounted()
{
    std::mt19937 rng(5);
    VectorIndex index(256);
    for (int i = 0; i < 1000; ++i)
        QVERIFY(index.upsert(kScope, std::string(32, 'a') + std::to_string(i), randomUnit(rng, 256)));
    const double perEntry = static_cast<double>(index.memoryBytes()) / 1000.0;
    qInfo("%.0f bytes per entry", perEntry);
    QVERIFY(perEntry > 256 + 32 + 8);
    QVERIFY(perEntry < 1024);
}

QTEST_GUILESS_MAIN(TestVectorIndex)
#include "tst_vectorindex.moc"
