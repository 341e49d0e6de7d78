#include <QTest>

#include <cmath>
#include <random>

#include "core/common/semanticthreshold.h"

using l0l3::SemanticThreshold;

class TestSemanticThreshold : public QObject
{
    Q_OBJECT

private slots:
    void startsStrict();
    void denialTightensAtOnce();
    void denialCanTurnTheEntryOff();
    void loosensOnlyWithEnoughConfirmations();
    void neverBelowADenialOrTheFloor();
    void ignoresNonFinite();
    void restoreContinuesTheRule();
    void restoreIsNeverLooser();
    void wrongAnswersStayBelowTheThreshold();
};

void TestSemanticThreshold::startsStrict()
{
    const SemanticThreshold t;
    QCOMPARE(t.value(), SemanticThreshold::kInitial);
    QVERIFY(t.serves(0.93f));
    QVERIFY(!t.serves(0.91f));
}

void TestSemanticThreshold::denialTightensAtOnce()
{
    SemanticThreshold t;
    t.deny(0.95f);
    QVERIFY(std::abs(t.value() - 0.97f) < 1e-6f);
    QVERIFY(!t.serves(0.96f));
    // A denial below the threshold records the evidence but cannot loosen it.
    t.deny(0.85f);
    QVERIFY(std::abs(t.value() - 0.97f) < 1e-6f);
    QCOMPARE(t.denials(), std::size_t(2));
    QVERIFY(std::abs(t.highestDenied() - 0.95f) < 1e-6f);
}

void TestSemanticThreshold::denialCanTurnTheEntryOff()
{
    SemanticThreshold t;
    t.deny(0.999f);
    QCOMPARE(t.value(), SemanticThreshold::kCeiling);
    QVERIFY(!t.serves(1.0f));
}

// At the default 5 % bound, 60 confirmations (3 / 0.05) in the band opened.
void TestSemanticThreshold::loosensOnlyWithEnoughConfirmations()
{
    SemanticThreshold t;
    for (int i = 0; i < 59; ++i)
        t.confirm(0.88f);
    QCOMPARE(t.value(), SemanticThreshold::kInitial);
    t.confirm(0.88f);
    QVERIFY(std::abs(t.value() - 0.88f) < 1e-6f);
    // Confirmations above the threshold are counted but open nothing.
    for (int i = 0; i < 100; ++i)
        t.confirm(0.95f);
    QVERIFY(std::abs(t.value() - 0.88f) < 1e-6f);
    QCOMPARE(t.confirmations(), std::size_t(160));
    // A looser bound needs fewer: 3 / 0.25 = 12.
    SemanticThreshold loose(0.25f);
    for (int i = 0; i < 12; ++i)
        loose.confirm(0.9f - 0.001f * static_cast<float>(i));
    QVERIFY(std::abs(loose.value() - 0.889f) < 1e-5f);
}

void TestSemanticThreshold::neverBelowADenialOrTheFloor()
{
    SemanticThreshold t;
    t.deny(0.85f);
    for (int i = 0; i < 100; ++i)
        t.confirm(0.86f); // within the denial's margin: no evidence
    QCOMPARE(t.value(), SemanticThreshold::kInitial);
    for (int i = 0; i < 60; ++i)
        t.confirm(0.875f);
    QVERIFY(std::abs(t.value() - 0.875f) < 1e-6f);
    // A denial after loosening tightens again and discards the evidence below it.
    t.deny(0.88f);
    QVERIFY(std::abs(t.value() - 0.90f) < 1e-6f);

    SemanticThreshold floor;
    for (int i = 0; i < 100; ++i)
        floor.confirm(0.7f);
    QCOMPARE(floor.value(), SemanticThreshold::kInitial);
    for (int i = 0; i < 60; ++i)
        floor.confirm(SemanticThreshold::kFloor);
    QCOMPARE(floor.value(), SemanticThreshold::kFloor);
}

void TestSemanticThreshold::ignoresNonFinite()
{
    SemanticThreshold t;
    t.deny(std::nanf(""));
    t.confirm(std::nanf(""));
    t.deny(INFINITY);
    QCOMPARE(t.value(), SemanticThreshold::kInitial);
    QCOMPARE(t.denials(), std::size_t(0));
}

// Stored and restored after every verdict, the threshold moves exactly as one kept in memory.
void TestSemanticThreshold::restoreContinuesTheRule()
{
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> similarity(0.78f, 0.95f);
    SemanticThreshold memory;
    SemanticThreshold stored;
    for (int i = 0; i < 3000; ++i) {
        const float s = similarity(rng);
        const bool wrong = s < 0.83f && i % 7 == 0;
        for (SemanticThreshold *t : {&memory, &stored}) {
            if (wrong)
                t->deny(s);
            else
                t->confirm(s);
        }
        stored = SemanticThreshold::restore(stored.value(), stored.highestDenied(), stored.evidence());
        QCOMPARE(stored.value(), memory.value());
        QCOMPARE(stored.highestDenied(), memory.highestDenied());
        QCOMPARE(stored.evidence(), memory.evidence());
    }
    QVERIFY2(memory.value() < SemanticThreshold::kInitial, qPrintable(QString::number(memory.value())));
}

// What restore() is given may come from a file or an older writer: it is made to fit the rule.
void TestSemanticThreshold::restoreIsNeverLooser()
{
    // Below a denial + margin: raised to it; evidence out of place dropped; unsorted sorted.
    SemanticThreshold t = SemanticThreshold::restore(0.85f, 0.9f, {0.95f, 0.93f, 0.91f, 0.7f, NAN, 0.925f});
    QVERIFY(std::abs(t.value() - 0.92f) < 1e-6f);
    QCOMPARE(t.evidence(), std::vector<float>{});
    t = SemanticThreshold::restore(0.92f, -1.0f, {0.9f, 0.85f, 0.92f, 0.79f, 0.88f});
    QCOMPARE(t.value(), 0.92f);
    QCOMPARE(t.evidence(), (std::vector<float>{0.85f, 0.88f, 0.9f}));
    // Out of range or not finite.
    QCOMPARE(SemanticThreshold::restore(0.5f, -1.0f, {}).value(), SemanticThreshold::kFloor);
    QCOMPARE(SemanticThreshold::restore(2.0f, -1.0f, {}).value(), SemanticThreshold::kCeiling);
    QCOMPARE(SemanticThreshold::restore(NAN, NAN, {}).value(), SemanticThreshold::kInitial);
    QCOMPARE(SemanticThreshold::restore(NAN, NAN, {}).highestDenied(), -1.0f);
    // At most kMaxEvidence, the lowest kept.
    std::vector<float> many;
    for (std::size_t i = 0; i < SemanticThreshold::kMaxEvidence + 10; ++i)
        many.push_back(0.9f - 0.0001f * static_cast<float>(i));
    t = SemanticThreshold::restore(0.92f, -1.0f, many);
    QCOMPARE(t.evidence().size(), SemanticThreshold::kMaxEvidence);
    QCOMPARE(t.evidence().front(), many.back());
    // It loosens on the next confirmation once the band holds enough.
    t = SemanticThreshold::restore(0.92f, -1.0f, std::vector<float>(59, 0.86f));
    QCOMPARE(t.value(), 0.92f);
    t.confirm(0.87f);
    QVERIFY(std::abs(t.value() - 0.86f) < 1e-6f);
}

// An entry whose matches below 0.86 are wrong and above are right, reviewed
// in random order: the threshold moves down toward 0.86 and never below it.
void TestSemanticThreshold::wrongAnswersStayBelowTheThreshold()
{
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> similarity(0.80f, 0.93f);
    SemanticThreshold t;
    for (int i = 0; i < 5000; ++i) {
        const float s = similarity(rng);
        if (s < 0.86f)
            t.deny(s);
        else
            t.confirm(s);
        QVERIFY2(t.value() > 0.86f, qPrintable(QString::number(t.value())));
    }
    qInfo("threshold after 5000 verdicts: %.4f", t.value());
    QVERIFY(t.value() < 0.9f);
}

QTEST_GUILESS_MAIN(TestSemanticThreshold)
#include "tst_semanticthreshold.moc"
