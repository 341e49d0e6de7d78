#include <QElapsedTimer>
#include <QHash>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStringList>
#include <QTest>

#include <optional>
#include <string>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "core/control/proposalclusters.h"
#include "core/control/proposalqueue.h"
#include "core/control/redisconnection.h"
#include "core/localstack/dataset.h"
#include "core/localstack/demoautopilot.h"
#include "core/localstack/demostack.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

RedisConnection::Options consoleOptions(const DemoTopology &topology)
{
    RedisConnection::Options o;
    o.host = topology.host;
    o.port = topology.primary.port;
    o.user = QByteArrayLiteral("console");
    o.password = topology.credentials.console.toUtf8();
    o.tls = topology.redisTls();
    return o;
}

QString normalised(const QString &prompt)
{
    return QString::fromStdString(PromptNormaliser::normalise(prompt.toStdString()));
}

// Every later paraphrase of a staged intent of the built-in dataset (normalised), with the
// intent's first paraphrase; paraphrases that normalise to the first one share its key and are left out.
QHash<QString, QString> stagedParaphrases()
{
    QHash<QString, QString> firstOf;
    const auto dataset = Dataset::load(Dataset::builtinPath());
    if (!dataset)
        return firstOf;
    for (const DatasetIntent &intent : dataset->intents()) {
        if (!intent.staged)
            continue;
        const QString first = normalised(intent.paraphrases.first());
        for (const QString &paraphrase : intent.paraphrases) {
            if (normalised(paraphrase) != first)
                firstOf.insert(normalised(paraphrase), intent.paraphrases.first());
        }
    }
    return firstOf;
}

} // namespace

// The demo as `l0l3-console --demo --auto-approve 1` runs it: the stack with
// its traffic and the autopilot approving the top-ranked proposal every
// second. Within the demo's first minute the queue shows a pending proposal
// whose shadow L1 candidate is an approved entry, and a cluster of several
// pending phrasings of one question, as the console groups them; the later
// paraphrases of a staged intent are proposed only after its first one was
// approved (so they can name it as their candidate).
class TestDemoShadow : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void shadowCandidateAndClusterAppear();
};

void TestDemoShadow::initTestCase()
{
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("redis-server")).isEmpty(), "redis-server not in PATH");
    for (const QString &tool : {QStringLiteral("l0l3-gateway"), QStringLiteral("l0l3-stub-llm")})
        QVERIFY2(!DemoStack::findBinary(tool).isEmpty(),
                 qPrintable(tool + QStringLiteral(" not built in $L0L3_BIN_DIR")));
}

void TestDemoShadow::shadowCandidateAndClusterAppear()
{
    const QHash<QString, QString> staged = stagedParaphrases();
    QVERIFY2(!staged.isEmpty(), "the built-in dataset has no staged intent with several phrasings");

    // The demo's own settings: its traffic rate and the stub's latency decide which phrasings
    // come before the first approvals.
    DemoStack stack;
    QSignalSpy ready(&stack, &DemoStack::ready);
    QSignalSpy failed(&stack, &DemoStack::failed);
    stack.start();
    QTRY_VERIFY_WITH_TIMEOUT(!ready.isEmpty() || !failed.isEmpty(), TimeScale::ms(90000));
    QVERIFY2(failed.isEmpty(), qPrintable(stack.lastError()));
    const DemoTopology topology = stack.topology();
    QVERIFY(stack.traffic());

    {
        DemoAutopilot autopilot(consoleOptions(topology), 1000);
        QSignalSpy reports(&autopilot, &DemoAutopilot::report);
        autopilot.start();

        RedisConnection connection(consoleOptions(topology));
        ProposalQueue queue(&connection);
        connection.open();
        QTRY_VERIFY_WITH_TIMEOUT(connection.isReady(), TimeScale::ms(10000));
        RedisClient primary;
        QVERIFY2(primary.connect(topology.host, topology.primary.port, QStringLiteral("console"),
                                 topology.credentials.console),
                 qPrintable(primary.lastError()));
        const auto approvedAt = [&primary](const std::string &key) -> std::optional<qint64> {
            const RedisValue json = primary.command({"GET", QByteArray::fromStdString(RedisSchema::entryKey(key))});
            const auto entry = json.isString() ? EntryCodec::decode(json.str.toStdString()) : std::nullopt;
            return entry ? std::optional<qint64>(entry->approvedAtMs) : std::nullopt;
        };

        QElapsedTimer clock;
        clock.start();
        std::optional<ProposalItem> shadowed;
        std::optional<ProposalCluster> cluster;
        qint64 shadowedAtMs = -1;
        qint64 clusterAtMs = -1;
        int pending = 0;
        int stagedPending = 0; // later paraphrases of staged intents seen pending
        QStringList early;     // ... proposed before their first paraphrase was approved
        QString loadError;
        const bool seen = Poll::until(
            [&] {
                QSignalSpy finished(&queue, &ProposalQueue::loadFinished);
                QSignalSpy loadFailed(&queue, &ProposalQueue::loadFailed);
                queue.load();
                if (!QTest::qWaitFor([&] { return !finished.isEmpty() || !loadFailed.isEmpty(); }, TimeScale::ms(10000))
                    || !loadFailed.isEmpty()) {
                    loadError = loadFailed.isEmpty() ? QStringLiteral("load() never finished")
                                                     : loadFailed.first().at(0).toString();
                    return false;
                }
                const QList<ProposalItem> items = queue.rankedItems();
                pending = int(items.size());
                stagedPending = 0;
                for (const ProposalItem &item : items) {
                    if (const auto first = staged.constFind(normalised(item.prompt)); first != staged.cend()) {
                        ++stagedPending;
                        const std::string firstKey = CacheKey::derive({item.ns.toStdString(),
                                                                       item.system.toStdString(),
                                                                       first->toStdString(),
                                                                       item.model.toStdString(),
                                                                       {},
                                                                       {},
                                                                       {}});
                        const std::optional<qint64> at = approvedAt(firstKey);
                        if ((!at || item.tsMs < *at) && early.size() < 5)
                            early.append(QStringLiteral("\"%1\" at %2 ms, \"%3\" approved at %4")
                                             .arg(item.prompt)
                                             .arg(item.tsMs)
                                             .arg(*first, at ? QString::number(*at) : QStringLiteral("never")));
                    }
                    if (shadowed || item.l1Key.isEmpty() || !(item.l1Similarity > 0))
                        continue;
                    // The candidate is an approved entry, not another proposal.
                    if (approvedAt(item.l1Key.toStdString())) {
                        shadowed = item;
                        shadowedAtMs = clock.elapsed();
                    }
                }
                if (!cluster) {
                    for (const ProposalCluster &c : ProposalClusters::build(items)) {
                        if (c.phrasings() >= 2) {
                            cluster = c;
                            clusterAtMs = clock.elapsed();
                            break;
                        }
                    }
                }
                return !early.isEmpty() || (shadowed && cluster && stagedPending > 0);
            },
            45000, 500);
        QString autopilotLines;
        for (const QList<QVariant> &report : std::as_const(reports))
            autopilotLines += QLatin1Char('\n') + report.at(0).toString();
        QVERIFY2(early.isEmpty(),
                 qPrintable(QStringLiteral("later paraphrases of staged intents proposed before their first one "
                                           "was approved: ")
                            + early.join(QStringLiteral("; "))));
        QVERIFY2(seen,
                 qPrintable(QStringLiteral("after %1 ms: %2 pending (%3 later paraphrases of staged intents), "
                                           "candidate %4, cluster %5, load error \"%6\"; autopilot:%7")
                                .arg(clock.elapsed())
                                .arg(pending)
                                .arg(stagedPending)
                                .arg(shadowed ? QStringLiteral("yes") : QStringLiteral("none"))
                                .arg(cluster ? cluster->summary() : QStringLiteral("none"))
                                .arg(loadError, autopilotLines)));
        QVERIFY(shadowed->l1Key != shadowed->key);
        QVERIFY(shadowed->l1Similarity <= 1.0f + 1e-4f);
        qInfo("after %lld ms: \"%s\" has the shadow candidate %s at similarity %.2f", shadowedAtMs,
              qPrintable(shadowed->prompt), qPrintable(shadowed->l1Key), double(shadowed->l1Similarity));
        QStringList phrasings;
        for (const ProposalItem &member : std::as_const(cluster->members))
            phrasings.append(QLatin1Char('"') + member.prompt + QLatin1Char('"'));
        qInfo("after %lld ms: a cluster of %s: %s", clusterAtMs, qPrintable(cluster->summary()),
              qPrintable(phrasings.join(QStringLiteral(", "))));
        qInfo("%d pending proposals, %d of them later paraphrases of staged intents, %lld autopilot report(s)", pending,
              stagedPending, qint64(reports.size()));
    }

    // The autopilot and the queue closed their links above, before the servers go; stop() waits
    // for every child and records how it ended.
    const QList<qint64> pids = topology.pids();
    stack.stop();
    const QList<DemoChildExit> exits = stack.childExits();
    QCOMPARE(exits.size(), pids.size());
    for (const DemoChildExit &exit : exits) {
        QVERIFY2(exit.clean() && !exit.exitedOnItsOwn, qPrintable(exit.describe()));
        QVERIFY2(pids.contains(exit.pid), qPrintable(exit.describe()));
    }
}

QTEST_GUILESS_MAIN(TestDemoShadow)
#include "tst_demoshadow.moc"
