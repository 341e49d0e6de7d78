#include <QTest>

#include <string>

#include "core/common/semanticguard.h"

using l0l3::SemanticGuard;
using Reason = SemanticGuard::Reason;

Q_DECLARE_METATYPE(SemanticGuard::Reason)

class TestSemanticGuard : public QObject
{
    Q_OBJECT

private slots:
    void refuses_data();
    void refuses();
    void allows_data();
    void allows();
    void symmetric();
    void boundedInput();
};

void TestSemanticGuard::refuses_data()
{
    QTest::addColumn<QString>("request");
    QTest::addColumn<QString>("candidate");
    QTest::addColumn<Reason>("reason");
    QTest::newRow("not allowed") << "Is smoking allowed in the hotel?"
                                 << "Is smoking not allowed in the hotel?" << Reason::Negation;
    QTest::newRow("can't") << "Can I log in with my old password?"
                           << "I can't log in with my old password" << Reason::Negation;
    QTest::newRow("never") << "Should I water cactus daily?"
                           << "Should I never water cactus daily?" << Reason::Negation;
    QTest::newRow("without") << "Should I take it with food?"
                             << "Should I take it without food?" << Reason::Negation;
    QTest::newRow("don't") << "Do I need a visa for Japan?"
                           << "Don't I need a visa for Japan?" << Reason::Negation;
    QTest::newRow("order number") << "Where is order 48213?"
                                  << "Where is order 48231?" << Reason::Number;
    QTest::newRow("missing number") << "Where is order 48213?"
                                    << "Where is my order?" << Reason::Number;
    QTest::newRow("amount") << "Can I withdraw $500 today?"
                            << "Can I withdraw 500 today?" << Reason::Number;
    QTest::newRow("date") << "Is the office open on 24 December?"
                          << "Is the office open on 25 December?" << Reason::Number;
    QTest::newRow("month") << "Is the shop open in March?"
                           << "Is the shop open in April?" << Reason::Number;
    QTest::newRow("identifier") << "What does error E1042 mean?"
                                << "What does error E1024 mean?" << Reason::Number;
    QTest::newRow("ordinal") << "Who was the first president?"
                             << "Who was the second president?" << Reason::Number;
    QTest::newRow("follow-up") << "and the second largest?"
                               << "What is the largest city in Germany?" << Reason::FollowUp;
    QTest::newRow("what about") << "What about Spain?"
                                << "What is the capital of Spain?" << Reason::FollowUp;
    QTest::newRow("quoted") << "What does \"carpe diem\" mean?"
                            << "What does \"carpe noctem\" mean?" << Reason::QuotedText;
    QTest::newRow("curly quoted") << "Translate \xE2\x80\x9Cgood morning\xE2\x80\x9D"
                                  << "Translate \xE2\x80\x9Cgood night\xE2\x80\x9D" << Reason::QuotedText;
    QTest::newRow("named entity") << "What is the capital of France?"
                                  << "What is the capital of Germany?" << Reason::NamedEntity;
    QTest::newRow("acronym") << "How do I install SQL Server?"
                             << "How do I install the server?" << Reason::NamedEntity;
    QTest::newRow("script") << "How do I reset my password?"
                            << "\xD0\x9A\xD0\xB0\xD0\xBA \xD1\x81\xD0\xB1\xD1\x80\xD0\xBE\xD1\x81\xD0\xB8\xD1\x82\xD1"
                               "\x8C \xD0\xBF\xD0\xB0\xD1\x80\xD0\xBE\xD0\xBB\xD1\x8C?"
                            << Reason::Script;
    QTest::newRow("language") << "How do I reset my password?"
                              << "Comment est-ce que je change mon mot de passe?" << Reason::Language;
    QTest::newRow("length") << "Reset password?"
                            << "I need to reset my password for the staff portal because it expired yesterday "
                               "while I was away on holiday"
                            << Reason::Number;
    QTest::newRow("length only") << "Reset password?"
                                 << "I need to reset my password for the staff portal because it expired while I "
                                    "was away on holiday"
                                 << Reason::Length;
    QTest::newRow("empty") << ""
                           << "How do I reset my password?" << Reason::Length;
}

void TestSemanticGuard::refuses()
{
    QFETCH(QString, request);
    QFETCH(QString, candidate);
    QFETCH(Reason, reason);
    const Reason got = SemanticGuard::check(request.toStdString(), candidate.toStdString());
    QCOMPARE(QString::fromUtf8(SemanticGuard::reasonName(got)), QString::fromUtf8(SemanticGuard::reasonName(reason)));
}

void TestSemanticGuard::allows_data()
{
    QTest::addColumn<QString>("request");
    QTest::addColumn<QString>("candidate");
    QTest::newRow("same") << "How do I reset my password?"
                          << "How do I reset my password?";
    QTest::newRow("case, punctuation") << "how do i reset my password"
                                       << "How do I reset my password?";
    QTest::newRow("reordering") << "Reset my password, how?"
                                << "How do I reset my password?";
    QTest::newRow("filler") << "Hi! How can I cancel my subscription please?"
                            << "How do I cancel my subscription?";
    QTest::newRow("typo") << "How do I reset my pasword?"
                          << "How do I reset my password?";
    QTest::newRow("inflection") << "what payment method do you accept"
                                << "What payment methods do you accept?";
    QTest::newRow("lower-case entity") << "capital of france?"
                                       << "What is the capital of France?";
    QTest::newRow("same number") << "Where is order 48213?"
                                 << "where's my order 48213";
    QTest::newRow("password forgot") << "I forgot my password, what now?"
                                     << "How do I reset my password?";
    QTest::newRow("password can't") << "Can't log in, I don't remember my password"
                                    << "How do I reset my password?";
    QTest::newRow("same negation") << "Why is smoking not allowed?"
                                   << "Why isn't smoking allowed?";
    QTest::newRow("sentence-start capital") << "Where is my order? Tracking says nothing"
                                            << "Where is my order? tracking says nothing";
}

void TestSemanticGuard::allows()
{
    QFETCH(QString, request);
    QFETCH(QString, candidate);
    const Reason got = SemanticGuard::check(request.toStdString(), candidate.toStdString());
    QCOMPARE(QString::fromUtf8(SemanticGuard::reasonName(got)), QStringLiteral("none"));
}

void TestSemanticGuard::symmetric()
{
    const char *pairs[][2] = {{"Is smoking allowed in the hotel?", "Is smoking not allowed in the hotel?"},
                              {"Where is order 48213?", "Where is order 48231?"},
                              {"What is the capital of France?", "What is the capital of Germany?"},
                              {"and the second largest?", "What is the largest city in Germany?"}};
    for (const auto &p : pairs) {
        QVERIFY(SemanticGuard::check(p[0], p[1]) != Reason::None);
        QVERIFY(SemanticGuard::check(p[1], p[0]) != Reason::None);
    }
}

// A text longer than kMaxInputBytes is refused, however alike: the guard reads
// no further, so it cannot vouch for the rest. Up to the cap it reads everything.
void TestSemanticGuard::boundedInput()
{
    std::string a = "Where is my order? ";
    while (a.size() + 10 <= SemanticGuard::kMaxInputBytes)
        a += "more text ";
    QCOMPARE(SemanticGuard::check(a, a), Reason::None);
    QCOMPARE(SemanticGuard::check(a + "1", a + "2"), Reason::Number);
    const std::string huge = a + std::string(1 << 20, 'x');
    QCOMPARE(SemanticGuard::check(huge, huge), Reason::Length);
    QCOMPARE(SemanticGuard::check(a, huge), Reason::Length);
}

QTEST_GUILESS_MAIN(TestSemanticGuard)
#include "tst_semanticguard.moc"
