#include <QTest>

#include <cmath>
#include <vector>

#include "core/control/entryvectors.h"
#include "core/control/proposalclusters.h"

using namespace l0l3;

namespace {

ProposalItem item(const QString &key, const QString &prompt, double savings, qint64 seen = 1,
                  const QString &ns = QStringLiteral("acme"))
{
    ProposalItem p;
    p.id = QStringLiteral("1-") + key;
    p.key = key;
    p.prompt = prompt;
    p.system = QStringLiteral("You are a support agent.");
    p.ns = ns;
    p.model = QStringLiteral("gpt-4o-mini");
    p.seenTotal = seen;
    p.savingsScore = savings;
    return p;
}

QStringList keysOf(const ProposalCluster &c)
{
    QStringList keys;
    for (const ProposalItem &p : c.members)
        keys.append(p.key);
    return keys;
}

} // namespace

class TestProposalClusters : public QObject
{
    Q_OBJECT

private slots:
    void paraphrasesGroupAndOthersDoNot();
    void noChainThroughAMember();
    void givenVectorsNeverChain();
    void scopesNeverMix();
    void splitKeysStayAlone();
    void emptyAndSingle();
    void givenVectorsDecide();
};

void TestProposalClusters::paraphrasesGroupAndOthersDoNot()
{
    const QList<ProposalItem> items{
        item(QStringLiteral("a"), QStringLiteral("How do I reset my password?"), 10, 20),
        item(QStringLiteral("b"), QStringLiteral("I forgot my password, what now?"), 30, 30),
        item(QStringLiteral("c"), QStringLiteral("Can't log in, I don't remember my password"), 5, 7),
        item(QStringLiteral("d"), QStringLiteral("What are your opening hours?"), 8, 4),
        item(QStringLiteral("e"), QStringLiteral("When are you open? opening hours please"), 2, 1),
        item(QStringLiteral("f"), QStringLiteral("Do you ship to Lapland?"), 1, 1),
    };
    // The synonym pair shares "my password" only, yet clears the default bar; c is further from
    // the representative b than the bar, so it stays out even though it is close to a.
    const auto similarity = [&](int x, int y) {
        return EntryVectors::similarity(items[x].prompt.toStdString(), items[y].prompt.toStdString());
    };
    QVERIFY2(similarity(0, 1) >= ProposalClusters::kDefaultThreshold, qPrintable(QString::number(similarity(0, 1))));
    QVERIFY2(similarity(1, 2) < ProposalClusters::kDefaultThreshold, qPrintable(QString::number(similarity(1, 2))));
    const QList<ProposalCluster> clusters = ProposalClusters::build(items);
    QCOMPARE(clusters.size(), 4);
    // By summed savings; the representative is the member with the most.
    QCOMPARE(keysOf(clusters[0]), (QStringList{QStringLiteral("b"), QStringLiteral("a")}));
    QCOMPARE(clusters[0].seenTotal, 50);
    QCOMPARE(clusters[0].savings, 40.0);
    QCOMPARE(clusters[0].summary(), QStringLiteral("2 phrasings, seen 50 times"));
    QCOMPARE(keysOf(clusters[1]), (QStringList{QStringLiteral("d"), QStringLiteral("e")}));
    QCOMPARE(keysOf(clusters[2]), QStringList{QStringLiteral("c")});
    QCOMPARE(keysOf(clusters[3]), QStringList{QStringLiteral("f")});
    QCOMPARE(clusters[3].summary(), QStringLiteral("1 phrasing, seen 1 time"));
}

// A ~ B and B ~ C, but A is not like C: approving a cluster serves its representative's answer
// to every member, so C is never pulled into A's cluster through B.
void TestProposalClusters::noChainThroughAMember()
{
    const QList<ProposalItem> items{
        item(QStringLiteral("a"), QStringLiteral("How do I reset my password?"), 3),
        item(QStringLiteral("b"), QStringLiteral("How do I reset my email address?"), 2),
        item(QStringLiteral("c"), QStringLiteral("How do I change my email address?"), 1),
    };
    const auto similarity = [&](int x, int y) {
        return EntryVectors::similarity(items[x].prompt.toStdString(), items[y].prompt.toStdString());
    };
    const float t = ProposalClusters::kDefaultThreshold;
    QVERIFY2(similarity(0, 1) >= t && similarity(1, 2) >= t && similarity(0, 2) < t,
             qPrintable(QStringLiteral("%1 %2 %3").arg(similarity(0, 1)).arg(similarity(1, 2)).arg(similarity(0, 2))));
    const QList<ProposalCluster> clusters = ProposalClusters::build(items);
    QCOMPARE(clusters.size(), 2);
    QCOMPARE(keysOf(clusters[0]), (QStringList{QStringLiteral("a"), QStringLiteral("b")}));
    QCOMPARE(keysOf(clusters[1]), QStringList{QStringLiteral("c")});
}

// The same with given vectors at kRemoteThreshold, whichever of the three leads: each member is
// within the bar of its representative.
void TestProposalClusters::givenVectorsNeverChain()
{
    const float angle = std::acos(0.8f); // x and y, y and z at cosine 0.8; x and z at 0.28
    const std::vector<float> x{1, 0};
    const std::vector<float> y{std::cos(angle), std::sin(angle)};
    const std::vector<float> z{std::cos(2 * angle), std::sin(2 * angle)};
    const QHash<QString, std::vector<float>> vectors{{QStringLiteral("x"), x},
                                                     {QStringLiteral("y"), y},
                                                     {QStringLiteral("z"), z}};
    QList<ProposalItem> items{
        item(QStringLiteral("x"), QStringLiteral("x"), 3),
        item(QStringLiteral("y"), QStringLiteral("y"), 2),
        item(QStringLiteral("z"), QStringLiteral("z"), 1),
    };
    QList<ProposalCluster> clusters = ProposalClusters::build(items, vectors);
    QCOMPARE(clusters.size(), 2);
    QCOMPARE(keysOf(clusters[0]), (QStringList{QStringLiteral("x"), QStringLiteral("y")}));
    QCOMPARE(keysOf(clusters[1]), QStringList{QStringLiteral("z")});
    // With the middle one as the representative both are within the bar of it.
    items[1].savingsScore = 4;
    clusters = ProposalClusters::build(items, vectors);
    QCOMPARE(clusters.size(), 1);
    QCOMPARE(keysOf(clusters[0]), (QStringList{QStringLiteral("y"), QStringLiteral("x"), QStringLiteral("z")}));
}

void TestProposalClusters::scopesNeverMix()
{
    QList<ProposalItem> items{
        item(QStringLiteral("a"), QStringLiteral("How do I reset my password?"), 3),
        item(QStringLiteral("b"), QStringLiteral("How do I reset my password?"), 2, 1, QStringLiteral("other")),
        item(QStringLiteral("c"), QStringLiteral("How do I reset my password?"), 1),
    };
    items[2].system = QStringLiteral("You are a pirate.");
    const QList<ProposalCluster> clusters = ProposalClusters::build(items);
    QCOMPARE(clusters.size(), 3);
    // The normalised system prompt is the scope: case and spacing do not split it.
    items[2].system = QStringLiteral("  you are a SUPPORT agent ");
    QCOMPARE(ProposalClusters::build(items).size(), 2);
}

void TestProposalClusters::splitKeysStayAlone()
{
    const QList<ProposalItem> items{
        item(QStringLiteral("a"), QStringLiteral("How do I reset my password?"), 10),
        item(QStringLiteral("b"), QStringLiteral("How can I reset my password"), 9),
        item(QStringLiteral("c"), QStringLiteral("reset my password how"), 8),
    };
    QCOMPARE(ProposalClusters::build(items).size(), 1);
    const QList<ProposalCluster> split = ProposalClusters::build(items, {QStringLiteral("b"), QStringLiteral("c")});
    QCOMPARE(split.size(), 3);
    for (const ProposalCluster &c : split)
        QCOMPARE(c.phrasings(), 1);
}

void TestProposalClusters::emptyAndSingle()
{
    QVERIFY(ProposalClusters::build({}).isEmpty());
    const QList<ProposalCluster> one = ProposalClusters::build(
        {item(QStringLiteral("a"), QStringLiteral("Hello"), 1, 3)});
    QCOMPARE(one.size(), 1);
    QCOMPARE(one[0].representative().key, QStringLiteral("a"));
    QCOMPARE(one[0].summary(), QStringLiteral("1 phrasing, seen 3 times"));
}

// With given vectors (a remote model's), they alone decide: prompts the lexical vectors group
// stay apart, ones they keep apart are grouped, at kRemoteThreshold; no vector: alone.
void TestProposalClusters::givenVectorsDecide()
{
    const QList<ProposalItem> items{
        item(QStringLiteral("a"), QStringLiteral("How do I reset my password?"), 10),
        item(QStringLiteral("b"), QStringLiteral("How can I reset my password"), 9),
        item(QStringLiteral("c"), QStringLiteral("What are your opening hours?"), 8),
        item(QStringLiteral("d"), QStringLiteral("reset my password how"), 7),
    };
    QCOMPARE(ProposalClusters::build(items).size(), 2); // lexical: a, b, d together
    const float s = 0.8f;                               // cosine of x and y below, above kRemoteThreshold
    const std::vector<float> x{1, 0};
    const std::vector<float> y{s, std::sqrt(1 - s * s)};
    const std::vector<float> z{0, 1}; // cosine 0.6 with y: below it
    QHash<QString, std::vector<float>> vectors{{QStringLiteral("a"), x},
                                               {QStringLiteral("b"), z},
                                               {QStringLiteral("c"), y}};
    const QList<ProposalCluster> clusters = ProposalClusters::build(items, vectors);
    QCOMPARE(clusters.size(), 3);
    QCOMPARE(keysOf(clusters[0]), (QStringList{QStringLiteral("a"), QStringLiteral("c")}));
    QCOMPARE(keysOf(clusters[1]), QStringList{QStringLiteral("b")});
    QCOMPARE(keysOf(clusters[2]), QStringList{QStringLiteral("d")}); // no vector
    // A vector of another dimension is never compared.
    vectors.insert(QStringLiteral("c"), std::vector<float>{1, 0, 0});
    QCOMPARE(ProposalClusters::build(items, vectors).size(), 4);
}

QTEST_GUILESS_MAIN(TestProposalClusters)
#include "tst_proposalclusters.moc"
