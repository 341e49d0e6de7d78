#include <QTest>

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
    void scopesNeverMix();
    void splitKeysStayAlone();
    void emptyAndSingle();
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
    const QList<ProposalCluster> clusters = ProposalClusters::build(items);
    QCOMPARE(clusters.size(), 3);
    // By summed savings; the representative is the member with the most.
    QCOMPARE(keysOf(clusters[0]), (QStringList{QStringLiteral("b"), QStringLiteral("a"), QStringLiteral("c")}));
    QCOMPARE(clusters[0].seenTotal, 57);
    QCOMPARE(clusters[0].savings, 45.0);
    QCOMPARE(clusters[0].summary(), QStringLiteral("3 phrasings, seen 57 times"));
    QCOMPARE(keysOf(clusters[1]), (QStringList{QStringLiteral("d"), QStringLiteral("e")}));
    QCOMPARE(keysOf(clusters[2]), QStringList{QStringLiteral("f")});
    QCOMPARE(clusters[2].summary(), QStringLiteral("1 phrasing, seen 1 time"));
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

QTEST_GUILESS_MAIN(TestProposalClusters)
#include "tst_proposalclusters.moc"
