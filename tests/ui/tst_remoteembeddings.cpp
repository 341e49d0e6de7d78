// The console's nearest entries and proposal clusters with the profile's
// remote embeddings provider, against a real primary + replica and the real
// stub LLM's POST /v1/embeddings (its lexical embedder at another dimension,
// fetched over HTTP here to compute what the console must show): the nearest
// entries come from the stored vectors of that model, the clusters from its
// vectors of the proposals, lexical only until they arrive or while the
// endpoint fails.
#include <QApplication>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTest>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/common/cachekey.h"
#include "core/common/embedding.h"
#include "core/common/embeddingsapi.h"
#include "core/common/entry.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/common/vectorrecord.h"
#include "core/control/entryvectors.h"
#include "core/control/proposalclusters.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"
#include "tests/ui/uitestsupport.h"
#include "ui/mainwindow.h"
#include "ui/proposals/proposalclustertracker.h"
#include "ui/proposals/proposaldetailpane.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"
#include "ui/settings/connectionprofile.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr const char *kSystem = "You are a support agent.";
constexpr const char *kModel = "gpt-4o-mini";
constexpr int kStubDimension = 64;
const QString kEmbeddingsModel = QStringLiteral("stub-embed");

} // namespace

class TestRemoteEmbeddings : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void nearestEntriesUseStoredRemoteVectors();
    void clustersUseRemoteVectors();
    void failingEndpointFallsBackToLexical();

private:
    EmbeddingSettings settingsFor(int port) const;
    // The stub's vector of text (POST /v1/embeddings); empty (and the test failed) when it did not answer.
    std::vector<float> stubVector(const QString &text);
    qint64 stubInputs();
    QString seedProposal(const char *ns, const QString &prompt);
    // An approved main entry of scope (ns, kSystem, kModel); its vector record, when given, as stored.
    QString seedEntry(const char *ns, const QString &prompt, const std::optional<VectorRecord> &record);
    VectorRecord remoteRecord(const char *ns, std::vector<float> vector) const;
    QString clusterCell(const QString &key);
    QString clusterOf(const QString &key);
    bool together(const QString &a, const QString &b);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<RedisServer> m_replica;
    ManagedProcess m_stub;
    ManagedProcess m_failingStub;
    int m_stubPort = -1;
    int m_failingPort = -1;
    std::unique_ptr<MainWindow> m_window;
    QStringList m_passwordKeys;        // clustersUseRemoteVectors' proposals, for the failing case
    QHash<QString, QString> m_prompts; // by key, of the proposals seeded
};

void TestRemoteEmbeddings::initTestCase()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    m_replica = std::make_unique<RedisServer>();
    QVERIFY2(startPrimaryAndReplica(*m_primary, *m_replica, true, &error), qPrintable(error));
    const QString stub = ManagedProcess::binary(QStringLiteral("l0l3-stub-llm"));
    QVERIFY2(m_stub.start(stub,
                          {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                           QStringLiteral("--embeddings-dimension"), QString::number(kStubDimension)},
                          QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    m_stubPort = m_stub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_stubPort > 0, qPrintable(m_stub.describe()));
    QVERIFY2(m_failingStub.start(stub,
                                 {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                                  QStringLiteral("--embeddings-fail-rate"), QStringLiteral("1")},
                                 QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    m_failingPort = m_failingStub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_failingPort > 0, qPrintable(m_failingStub.describe()));

    // The console with a profile naming the stub's endpoint.
    m_window = std::make_unique<MainWindow>();
    m_window->setEmbeddings(settingsFor(m_stubPort));
    QVERIFY(showConnected(*m_window, *m_primary));
}

void TestRemoteEmbeddings::cleanupTestCase()
{
    m_window.reset();
    QVERIFY(m_failingStub.stop());
    QVERIFY(m_stub.stop());
    m_replica.reset();
    m_primary.reset();
}

EmbeddingSettings TestRemoteEmbeddings::settingsFor(int port) const
{
    ConnectionProfile profile;
    profile.embeddingsUrl = QStringLiteral("http://127.0.0.1:%1").arg(port);
    profile.embeddingsModel = kEmbeddingsModel;
    EmbeddingSettings settings = profile.embeddings();
    settings.timeoutMs = TimeScale::ms(10000);
    return settings;
}

std::vector<float> TestRemoteEmbeddings::stubVector(const QString &text)
{
    const std::string input = text.toStdString();
    const std::string_view inputs[] = {input};
    HttpClient http;
    const HttpResult r = http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/embeddings").arg(m_stubPort)),
                                   bytes(EmbeddingsApi::request(kEmbeddingsModel.toStdString(), inputs)),
                                   {{QByteArrayLiteral("Content-Type"), QByteArrayLiteral("application/json")}},
                                   TimeScale::ms(10000));
    std::vector<std::vector<float>> vectors;
    std::string why;
    const bool parsed = r.status == 200
        && EmbeddingsApi::parseResponse(std::string_view(r.body.constData(), std::size_t(r.body.size())), 1, &vectors,
                                        &why);
    [&] { QVERIFY2(parsed && vectors.size() == 1, qPrintable(r.describe() + QString::fromStdString(why))); }();
    return parsed && vectors.size() == 1 ? vectors.front() : std::vector<float>{};
}

qint64 TestRemoteEmbeddings::stubInputs()
{
    HttpClient http;
    const HttpResult stats = http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/stats").arg(m_stubPort)));
    const QJsonValue n = QJsonDocument::fromJson(stats.body).object().value(u"embeddings_inputs");
    return n.isDouble() ? qint64(n.toDouble()) : -1;
}

QString TestRemoteEmbeddings::seedProposal(const char *ns, const QString &prompt)
{
    const std::string p = prompt.toStdString();
    Proposal proposal;
    proposal.key = CacheKey::derive({ns, kSystem, p, kModel, "", "", ""});
    proposal.ns = ns;
    proposal.system = kSystem;
    proposal.prompt = p;
    proposal.response = "An answer.";
    proposal.model = kModel;
    proposal.region = "nyc";
    proposal.tsMs = QDateTime::currentMSecsSinceEpoch();
    proposal.upstreamMs = 800;
    RedisClient gw = m_primary->client(QStringLiteral("gateway"));
    gw.command({QByteArrayLiteral("HINCRBY"), bytes(RedisSchema::seenKey(proposal.key)), QByteArrayLiteral("nyc"),
                QByteArrayLiteral("1")});
    QList<QByteArray> argv{QByteArrayLiteral("XADD"), bytes(RedisSchema::kProposals), QByteArrayLiteral("*")};
    for (const auto &[field, value] : ProposalCodec::encode(proposal)) {
        argv.append(bytes(field));
        argv.append(bytes(value));
    }
    RedisClient console = m_primary->client(QStringLiteral("console"));
    if (!console.command(argv).isString())
        return {};
    m_prompts.insert(QString::fromStdString(proposal.key), prompt);
    return QString::fromStdString(proposal.key);
}

QString TestRemoteEmbeddings::seedEntry(const char *ns, const QString &prompt,
                                        const std::optional<VectorRecord> &record)
{
    Entry e;
    e.prompt = prompt.toStdString();
    e.key = CacheKey::derive({ns, kSystem, e.prompt, kModel, "", "", ""});
    e.response = "An approved answer.";
    e.system = kSystem;
    e.ns = ns;
    e.model = kModel;
    e.approvedBy = "ci";
    e.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
    RedisClient c = m_primary->client(QStringLiteral("console"));
    if (!c.set(bytes(RedisSchema::entryKey(e.key)), bytes(EntryCodec::encode(e))))
        return {};
    if (record) {
        const auto json = VectorRecordCodec::encode(*record);
        if (!json || !c.set(bytes(RedisSchema::vectorKey(e.key)), bytes(*json)))
            return {};
    }
    return QString::fromStdString(e.key);
}

VectorRecord TestRemoteEmbeddings::remoteRecord(const char *ns, std::vector<float> vector) const
{
    VectorRecord r;
    r.model = EmbeddingsApi::modelId(kEmbeddingsModel.toStdString());
    r.ns = ns;
    r.systemSha256 = EntryVectors::systemSha256(kSystem);
    r.modelFamily = kModel;
    r.vector = std::move(vector);
    return r;
}

QString TestRemoteEmbeddings::clusterCell(const QString &key)
{
    ProposalTableModel *model = m_window->proposalsPage()->model();
    const int row = model->rowOfKey(key);
    return row < 0 ? QStringLiteral("(no row)") : model->index(row, ProposalTableModel::Cluster).data().toString();
}

// Which cluster a row is in: its representative's prompt as the Cluster cells show it (the
// representative's own cell has the summary instead); empty when it is in none.
QString TestRemoteEmbeddings::clusterOf(const QString &key)
{
    const QString cell = clusterCell(key);
    if (cell.startsWith(QStringLiteral("↳ with")))
        return cell;
    if (cell.contains(QStringLiteral(" phrasings, ")))
        return QStringLiteral("↳ with “%1”").arg(m_prompts.value(key));
    return {};
}

bool TestRemoteEmbeddings::together(const QString &a, const QString &b)
{
    return !clusterOf(a).isEmpty() && clusterOf(a) == clusterOf(b);
}

// An entry lexically far from the proposal whose stored vector (of the profile's model) is
// the stub's vector of the proposal's prompt comes first, at 1.00; one lexically near but
// stored under another model is skipped and counted; a third shows the stub's dot product.
void TestRemoteEmbeddings::nearestEntriesUseStoredRemoteVectors()
{
    constexpr const char *ns = "nearest";
    const QString run = QString::number(QCoreApplication::applicationPid());
    const QString prompt = QStringLiteral("How do I reset my password? %1").arg(run);
    const QString far = QStringLiteral("Where is the billing portal located %1").arg(run);
    const QString near = QStringLiteral("How do I reset my password please %1").arg(run);
    const QString other = QStringLiteral("Can I pay by invoice at the end of the month %1").arg(run);
    // The premise: lexically, the near one wins.
    QVERIFY(EntryVectors::similarity(prompt.toStdString(), near.toStdString())
            > EntryVectors::similarity(prompt.toStdString(), far.toStdString()));

    const std::vector<float> proposalVector = stubVector(prompt);
    const std::vector<float> otherVector = stubVector(other);
    QVERIFY(!proposalVector.empty() && !otherVector.empty());
    const double expectedOther = dot(proposalVector, otherVector);
    QVERIFY2(expectedOther > 0 && expectedOther < 0.99, qPrintable(QString::number(expectedOther)));

    QVERIFY(!seedEntry(ns, far, remoteRecord(ns, proposalVector)).isEmpty());
    Entry nearEntry;
    nearEntry.prompt = near.toStdString();
    nearEntry.ns = ns;
    nearEntry.system = kSystem;
    nearEntry.model = kModel;
    QVERIFY(!seedEntry(ns, near, EntryVectors::recordFor(nearEntry, 0.92f)).isEmpty());
    QVERIFY(!seedEntry(ns, other, remoteRecord(ns, otherVector)).isEmpty());
    const QString key = seedProposal(ns, prompt);
    QVERIFY(!key.isEmpty());

    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000));
    page->selectKey(key);
    QLabel *label = page->detailPane()->similarLabel();
    QCOMPARE(label->textFormat(), Qt::PlainText);
    const QString note = QStringLiteral("1 entry has no vector of model %1: run l0l3-ctl vectors rebuild")
                             .arg(QString::fromStdString(EmbeddingsApi::modelId(kEmbeddingsModel.toStdString())));
    QTRY_VERIFY2_WITH_TIMEOUT(label->text().contains(note), qPrintable(label->text()), TimeScale::ms(15000));
    const QStringList lines = label->text().split(u'\n');
    QCOMPARE(lines.size(), 3);
    QVERIFY2(lines[0].startsWith(QStringLiteral("1.00 · v1 · ")) && lines[0].contains(far), qPrintable(lines[0]));
    QCOMPARE(lines[1], QStringLiteral("%1 · v1 · %2").arg(expectedOther, 0, 'f', 2).arg(other));
    QCOMPARE(lines[2], note);
    // (Only the stub's vector of the prompt, of its dimension, compares with those records: a
    // lexical one would have matched none.)
}

// Two questions lexically alike (above the lexical bar) but not under the stub's vectors (below
// the remote bar), and two near-identical ones: lexical clusters until the stub's vectors are in
// (said once), then the remote ones: only the near-identical pair.
void TestRemoteEmbeddings::clustersUseRemoteVectors()
{
    constexpr const char *ns = "remote-clusters";
    // Fixed prompts (no run-specific token: one shared by all four would raise every pair's
    // lexical similarity, and which pairs cluster would then depend on the run).
    const QString a = QStringLiteral("How do I reset my password?");
    const QString b = QStringLiteral("I forgot my password, what now?");
    const QString c = QStringLiteral("How do I change my email address?");
    const QString d = QStringLiteral("how do I change my email address please");
    // The premises, from the stub itself and the lexical provider. Lexically a~b and c~d, and no
    // pair across: star linkage then gives {a, b} and {c, d} whichever representative comes first.
    const auto lexical = [](const QString &x, const QString &y) {
        return EntryVectors::similarity(x.toStdString(), y.toStdString());
    };
    QVERIFY(lexical(a, b) >= ProposalClusters::kDefaultThreshold);
    QVERIFY(lexical(c, d) >= ProposalClusters::kDefaultThreshold);
    for (const QString &x : {a, b}) {
        for (const QString &y : {c, d})
            QVERIFY2(lexical(x, y) < ProposalClusters::kDefaultThreshold,
                     qPrintable(QStringLiteral("%1 ~ %2: %3").arg(x, y).arg(lexical(x, y))));
    }
    const double ab = dot(stubVector(a), stubVector(b));
    const double cd = dot(stubVector(c), stubVector(d));
    QVERIFY2(ab < ProposalClusters::kRemoteThreshold, qPrintable(QString::number(ab)));
    QVERIFY2(cd >= ProposalClusters::kRemoteThreshold, qPrintable(QString::number(cd)));

    QStringList keys;
    for (const QString &prompt : {a, b, c, d}) {
        keys.append(seedProposal(ns, prompt));
        QVERIFY(!keys.last().isEmpty());
    }
    m_passwordKeys = keys.first(2);
    ProposalsPage *page = m_window->proposalsPage();
    ProposalClusterTracker *tracker = page->clusterTracker();
    for (const QString &key : std::as_const(keys))
        QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0, TimeScale::ms(15000));

    // Each applied run: whether it used the remote vectors, and whether a and b were together.
    QList<QPair<bool, bool>> applied;
    QObject context;
    connect(tracker, &ProposalClusterTracker::clustersUpdated, &context, [&] {
        applied.append({tracker->usesRemoteVectors(), together(keys[0], keys[1])});
    });
    QSignalSpy said(tracker, &ProposalClusterTracker::statusMessage);
    const qint64 inputsBefore = stubInputs();
    // The profile applied afresh: nothing cached, the vectors are fetched again.
    m_window->setEmbeddings(settingsFor(m_stubPort));

    QTRY_VERIFY2_WITH_TIMEOUT(tracker->usesRemoteVectors() && together(keys[2], keys[3])
                                  && clusterCell(keys[0]).isEmpty() && clusterCell(keys[1]).isEmpty(),
                              qPrintable(clusterCell(keys[0]) + u'|' + clusterCell(keys[1]) + u'|'
                                         + clusterCell(keys[2]) + u'|' + clusterCell(keys[3])),
                              TimeScale::ms(20000));
    // Lexical first (a and b together), while the vectors were on their way.
    QVERIFY(!applied.isEmpty());
    QVERIFY(!applied.first().first && applied.first().second);
    QVERIFY(stubInputs() - inputsBefore >= keys.size());
    // Said once that it was lexical, once that it no longer is.
    QStringList messages;
    for (const QList<QVariant> &args : std::as_const(said))
        messages.append(args.at(0).toString());
    QCOMPARE(messages.size(), 2);
    QVERIFY2(messages[0].startsWith(QStringLiteral("Proposal clusters are lexical until the vectors of")),
             qPrintable(messages[0]));
    QVERIFY2(messages[1].startsWith(QStringLiteral("Proposal clusters: with the vectors of openai:")),
             qPrintable(messages[1]));
}

// An endpoint that fails: lexical clusters (a and b together again), said once (after the
// fetch began) however many runs follow; the nearest entries say the prompt could not be embedded.
void TestRemoteEmbeddings::failingEndpointFallsBackToLexical()
{
    QCOMPARE(m_passwordKeys.size(), 2);
    ProposalsPage *page = m_window->proposalsPage();
    ProposalClusterTracker *tracker = page->clusterTracker();
    QSignalSpy said(tracker, &ProposalClusterTracker::statusMessage);
    m_window->setEmbeddings(settingsFor(m_failingPort));
    // First that it is lexical while the vectors are fetched, then why it stays so.
    QTRY_VERIFY_WITH_TIMEOUT(said.size() >= 2, TimeScale::ms(20000));
    QVERIFY2(said.first().at(0).toString().startsWith(QStringLiteral("Proposal clusters are lexical until")),
             qPrintable(said.first().at(0).toString()));
    const QString message = said.at(1).at(0).toString();
    QVERIFY2(message.startsWith(QStringLiteral("Proposal clusters are lexical (retried in")), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("failed: HTTP 5")), qPrintable(message));
    // On the status bar.
    QVERIFY2(m_window->statusBar()->currentMessage().startsWith(QStringLiteral("Proposal clusters are lexical")),
             qPrintable(m_window->statusBar()->currentMessage()));
    QTRY_VERIFY_WITH_TIMEOUT(together(m_passwordKeys[0], m_passwordKeys[1]), TimeScale::ms(20000));
    QVERIFY(!tracker->usesRemoteVectors());

    // More runs (a new proposal, its own namespace): nothing more is said.
    const int runs = tracker->runs();
    const QString key = seedProposal("failing", QStringLiteral("Do you ship to Lapland? %1").arg(runs));
    QVERIFY(!key.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(key) >= 0 && tracker->runs() > runs, TimeScale::ms(15000));
    QCOMPARE(said.size(), 2);

    page->selectKey(key);
    QLabel *label = page->detailPane()->similarLabel();
    QTRY_VERIFY2_WITH_TIMEOUT(label->text().contains(u"The proposal's prompt could not be embedded: "),
                              qPrintable(label->text()), TimeScale::ms(15000));
}

QTEST_MAIN(TestRemoteEmbeddings)
#include "tst_remoteembeddings.moc"
