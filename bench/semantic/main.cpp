// l0l3_bench_semantic: the gateway's L1 tier against a labelled set (bench/semantic/set.json),
// end to end on real processes (redis-server primary and replica, l0l3-stub-llm, l0l3-gateway
// --semantic serve --no-hot-cache). Each group's approved question is written as the console
// writes it (entry and vector record in one transaction, then its key on the invalidation
// channel); then every paraphrase and hard negative is asked once over HTTP:
//   - a paraphrase answered from L1 with its group's entry is a hit, with another entry a
//     wrong answer, otherwise a miss (recall = hits / paraphrases);
//   - a hard negative answered from L1 at all is a wrong answer (target: none).
// Then the same run measures an L1 hit end to end against an L0 hit (alternating requests,
// one connection each way through the same client), p50 and p99. And how many operator
// decisions the console's clusters save to cover the set (no processes: --clustering-only).
// Prints a markdown report on stdout; exits 1 when a hard negative was answered from L1.
// The provider is the gateway's default lexical one (lexical-v1-d256), or with --embeddings URL
// --embeddings-model NAME an OpenAI-compatible endpoint: the gateway embeds requests with it
// and this program computes the records' vectors with it too, in batches (model id openai:NAME).
// --embeddings stub: the stack's own l0l3-stub-llm (lexical vectors over HTTP).

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTextStream>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <vector>

#include "core/common/cachekey.h"
#include "core/common/embeddingsapi.h"
#include "core/common/entry.h"
#include "core/common/lexicalembedder.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
#include "core/control/entryvectors.h"
#include "core/control/proposalclusters.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr const char *kModel = "gpt-4o-mini";

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

QByteArray chatBody(const QString &prompt)
{
    const QJsonObject body{
        {QStringLiteral("model"), QString::fromLatin1(kModel)},
        {QStringLiteral("messages"),
         QJsonArray{
             QJsonObject{{QStringLiteral("role"), QStringLiteral("user")}, {QStringLiteral("content"), prompt}}}},
    };
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

std::string keyOf(const QString &prompt)
{
    return CacheKey::derive({"default", "", prompt.toStdString(), kModel, "", "", ""});
}

double quantile(std::vector<double> v, double q)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

struct Asked
{
    QString text;
    QString kind; // paraphrase, or the negative's kind
    int group = 0;
    float similarity = 0; // with the group's approved question (the provider's vectors)
    QByteArray tier{};
    QByteArray entry{};
    QByteArray servedSimilarity{};
};

// How many operator decisions clustering saves to cover the set: phrasings as pending proposals
// of one scope, grouped by the console's own ProposalClusters. A phrasing's label is its group
// for the approved question and the paraphrases, and one of its own for each hard negative
// (another question). Without clusters: one decision per phrasing (approve, V, N or reject).
// With them, as the operator works: in every cluster, each member whose label is not the
// cluster's most common one is split off (S, ProposalClusters' `alone`), the clusters are built
// again, until every cluster holds one label; then one decision (C) per cluster.
struct ClusteringCost
{
    float threshold = 0;
    bool withNegatives = false;
    int phrasings = 0;
    int splits = 0;
    int clusters = 0;           // after the splits, each of one label
    int groupsInOneCluster = 0; // groups whose approved question and paraphrases end in one cluster
    int decisions() const { return splits + clusters; }
};

ClusteringCost clusteringCost(const QJsonArray &groups, float threshold, bool withNegatives)
{
    QList<ProposalItem> items;
    QHash<QString, QString> labelOf; // key -> label
    auto add = [&](const QString &text, const QString &label) {
        ProposalItem p;
        p.key = QString::fromStdString(keyOf(text));
        p.prompt = text;
        p.ns = QStringLiteral("default");
        p.model = QString::fromStdString(CacheKey::modelFamily(kModel));
        p.seenTotal = 1;
        p.savingsScore = 1;
        if (labelOf.contains(p.key))
            return; // the same key twice is one proposal
        labelOf.insert(p.key, label);
        items.append(p);
    };
    for (int gi = 0; gi < groups.size(); ++gi) {
        const QJsonObject g = groups[gi].toObject();
        const QString label = QStringLiteral("g%1").arg(gi);
        add(g.value(u"approved").toString(), label);
        for (const QJsonValue &p : g.value(u"paraphrases").toArray())
            add(p.toString(), label);
        int n = 0;
        for (const QJsonValue &v : g.value(u"negatives").toArray()) {
            const QString text = v.toObject().value(u"text").toString();
            if (withNegatives)
                add(text, QStringLiteral("g%1n%2").arg(gi).arg(n));
            ++n;
        }
    }
    ClusteringCost cost;
    cost.threshold = threshold;
    cost.withNegatives = withNegatives;
    cost.phrasings = int(items.size());
    QSet<QString> alone;
    QList<ProposalCluster> clusters;
    for (;;) {
        clusters = ProposalClusters::build(items, alone, threshold);
        bool split = false;
        for (const ProposalCluster &c : std::as_const(clusters)) {
            QHash<QString, int> counts;
            QString kept;
            for (const ProposalItem &m : c.members) {
                const QString &label = labelOf[m.key];
                if (++counts[label] > counts.value(kept))
                    kept = label;
            }
            for (const ProposalItem &m : c.members) {
                if (labelOf[m.key] != kept) {
                    alone.insert(m.key);
                    ++cost.splits;
                    split = true;
                }
            }
        }
        if (!split)
            break;
    }
    cost.clusters = int(clusters.size());
    QHash<QString, int> clustersOfLabel;
    for (const ProposalCluster &c : std::as_const(clusters))
        ++clustersOfLabel[labelOf[c.representative().key]];
    for (int gi = 0; gi < groups.size(); ++gi)
        cost.groupsInOneCluster += clustersOfLabel.value(QStringLiteral("g%1").arg(gi)) == 1 ? 1 : 0;
    return cost;
}

QList<ClusteringCost> clusteringCosts(const QJsonArray &groups)
{
    QList<float> thresholds{0.25f, 0.3f, 0.35f, 0.4f, 0.45f, 0.5f, 0.55f, 0.6f, 0.7f};
    if (!thresholds.contains(ProposalClusters::kDefaultThreshold)) {
        thresholds.append(ProposalClusters::kDefaultThreshold);
        std::sort(thresholds.begin(), thresholds.end());
    }
    QList<ClusteringCost> costs;
    for (const bool withNegatives : {false, true}) {
        for (const float t : std::as_const(thresholds))
            costs.append(clusteringCost(groups, t, withNegatives));
    }
    return costs;
}

double cpuMs()
{
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

// CPU time of one ProposalClusters::build (lexical, embedding included, as the console's tracker
// runs it) over ProposalClusters::kMaxPerScope proposals of one scope: the set's phrasings, each
// repeated with a distinct order number, savings falling with the index. Median of `runs`, at
// `threshold`; above 1 no proposal joins another, so each is compared with every earlier one
// (the most comparisons a run can make).
struct ClusteringTime
{
    float threshold = 0;
    int proposals = 0;
    int clusters = 0;
    double medianMs = 0;
    double maxMs = 0;
};

ClusteringTime clusteringTime(const QJsonArray &groups, float threshold, int runs)
{
    QStringList texts;
    for (const QJsonValue &gv : groups) {
        const QJsonObject g = gv.toObject();
        texts.append(g.value(u"approved").toString());
        for (const QJsonValue &p : g.value(u"paraphrases").toArray())
            texts.append(p.toString());
        for (const QJsonValue &v : g.value(u"negatives").toArray())
            texts.append(v.toObject().value(u"text").toString());
    }
    QList<ProposalItem> items;
    for (int i = 0; i < ProposalClusters::kMaxPerScope; ++i) {
        ProposalItem p;
        p.prompt = QStringLiteral("%1 (order %2)").arg(texts[i % texts.size()]).arg(10000 + i);
        p.key = QString::fromStdString(keyOf(p.prompt));
        p.ns = QStringLiteral("default");
        p.model = QString::fromStdString(CacheKey::modelFamily(kModel));
        p.seenTotal = 1;
        p.savingsScore = ProposalClusters::kMaxPerScope - i;
        items.append(p);
    }
    ClusteringTime t;
    t.threshold = threshold;
    t.proposals = int(items.size());
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) {
        const double start = cpuMs();
        t.clusters = int(ProposalClusters::build(items, {}, threshold).size());
        ms.push_back(cpuMs() - start);
    }
    t.medianMs = quantile(ms, 0.5);
    t.maxMs = *std::max_element(ms.begin(), ms.end());
    return t;
}

void printClustering(QTextStream &out, const QList<ClusteringCost> &costs, int groups, const QString &setPath)
{
    out << "\n## Operator decisions to cover the set, with and without clusters (" << setPath.section(u'/', -1)
        << ", the console's ProposalClusters, " << EntryVectors::provider().modelId().c_str() << ")\n\n";
    out << "Without clusters: one decision per phrasing. With them: every member of a cluster that is not "
           "the cluster's question is split off (S), then one decision (C) per cluster. Default threshold "
        << ProposalClusters::kDefaultThreshold << ".\n\n";
    out << "| phrasings | cluster threshold | one per phrasing | splits (S) | clusters (C) | with clusters | saved "
           "| groups in one cluster |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const ClusteringCost &c : costs) {
        out << "| " << (c.withNegatives ? "approved + paraphrases + hard negatives" : "approved + paraphrases") << " | "
            << QString::number(c.threshold, 'f', 2)
            << (c.threshold == ProposalClusters::kDefaultThreshold ? " (default)" : "") << " | " << c.phrasings << " | "
            << c.splits << " | " << c.clusters << " | " << c.decisions() << " | " << c.phrasings - c.decisions() << " ("
            << QString::number(100.0 * (c.phrasings - c.decisions()) / std::max(1, c.phrasings), 'f', 1) << " %) | "
            << c.groupsInOneCluster << " of " << groups << " |\n";
    }
}

void printClusteringTimes(QTextStream &out, const QList<ClusteringTime> &times, int runs)
{
    out << "\nOne clustering run over " << (times.isEmpty() ? 0 : times.first().proposals)
        << " proposals of one scope (the set's phrasings, each repeated with an order number; lexical vectors "
           "computed in the run), CPU time, median and max of "
        << runs << " runs:\n\n";
    for (const ClusteringTime &t : times) {
        out << "- threshold " << QString::number(t.threshold, 'f', 2)
            << (t.threshold > 1 ? " (none joins: every pair compared)" : "") << ": "
            << QString::number(t.medianMs, 'f', 1) << " ms, max " << QString::number(t.maxMs, 'f', 1) << " ms; "
            << t.clusters << " clusters\n";
    }
}

// The vectors of texts: the lexical provider's, or (url set) the endpoint's, in batches.
struct Embedder
{
    QString url; // base URL, e.g. http://127.0.0.1:8000/v1; empty: lexical
    std::string model;
    QByteArray authorization;
    LexicalEmbedder lexical;
    HttpClient http;

    std::string modelId() const { return url.isEmpty() ? lexical.modelId() : EmbeddingsApi::modelId(model); }

    bool embed(const std::vector<std::string> &texts, std::vector<std::vector<float>> *out)
    {
        out->clear();
        if (url.isEmpty()) {
            for (const std::string &t : texts)
                out->push_back(lexical.embed(t));
            return true;
        }
        constexpr std::size_t kBatch = 128;
        for (std::size_t at = 0; at < texts.size(); at += kBatch) {
            std::vector<std::string_view> inputs;
            for (std::size_t i = at; i < std::min(texts.size(), at + kBatch); ++i)
                inputs.push_back(texts[i]);
            HttpHeaders headers;
            if (!authorization.isEmpty())
                headers.append({"Authorization", authorization});
            const HttpResult r = http.post(QUrl(url + QStringLiteral("/embeddings")),
                                           bytes(EmbeddingsApi::request(model, inputs)), headers, 60000);
            std::vector<std::vector<float>> batch;
            std::string why;
            if (r.status != 200 || !EmbeddingsApi::parseResponse(r.body.toStdString(), inputs.size(), &batch, &why)) {
                std::fprintf(stderr, "embeddings endpoint: %s %s\n", qPrintable(r.describe(300)), why.c_str());
                return false;
            }
            for (auto &v : batch)
                out->push_back(std::move(v));
        }
        return true;
    }
};

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QString setPath = QStringLiteral(L0L3_SOURCE_DIR "/bench/semantic/set.json");
    int latencyRequests = 1000;
    float threshold = SemanticThreshold::kInitial;
    bool clusteringOnly = false;
    Embedder embedder;
    QString embeddingsCaFile;
    int embeddingsBudgetMs = 1000;
    const QStringList args = app.arguments();
    for (int i = 1; i < args.size(); ++i) {
        if (args[i] == u"--set" && i + 1 < args.size())
            setPath = args[++i];
        else if (args[i] == u"--smoke")
            latencyRequests = 50;
        else if (args[i] == u"--latency-requests" && i + 1 < args.size())
            latencyRequests = args[++i].toInt();
        else if (args[i] == u"--threshold" && i + 1 < args.size())
            threshold = args[++i].toFloat();
        else if (args[i] == u"--clustering-only")
            clusteringOnly = true;
        else if (args[i] == u"--embeddings" && i + 1 < args.size())
            embedder.url = args[++i];
        else if (args[i] == u"--embeddings-model" && i + 1 < args.size())
            embedder.model = args[++i].toStdString();
        else if (args[i] == u"--embeddings-ca-file" && i + 1 < args.size())
            embeddingsCaFile = args[++i];
        else if (args[i] == u"--embeddings-budget-ms" && i + 1 < args.size())
            embeddingsBudgetMs = args[++i].toInt();
        else {
            std::fprintf(stderr,
                         "usage: l0l3_bench_semantic [--set FILE] [--smoke] [--latency-requests N] "
                         "[--threshold T] [--clustering-only]\n"
                         "       [--embeddings URL|stub --embeddings-model NAME [--embeddings-ca-file FILE]\n"
                         "        [--embeddings-budget-ms N (default 1000)]]\n");
            return 2;
        }
    }
    if (!embedder.url.isEmpty()) {
        if (embedder.model.empty())
            embedder.model = embedder.url == u"stub" ? "stub-embed" : "";
        if (!EmbeddingsApi::isValidModel(embedder.model)) {
            std::fprintf(stderr, "--embeddings needs --embeddings-model NAME\n");
            return 2;
        }
        if (!embeddingsCaFile.isEmpty()) {
            QSslConfiguration ssl = QSslConfiguration::defaultConfiguration();
            ssl.addCaCertificates(QSslCertificate::fromPath(embeddingsCaFile));
            QSslConfiguration::setDefaultConfiguration(ssl);
        }
        if (const QByteArray key = qgetenv("L0L3_EMBEDDINGS_API_KEY"); !key.isEmpty())
            embedder.authorization = "Bearer " + key;
    }
    QFile file(setPath);
    if (!file.open(QIODevice::ReadOnly)) {
        std::fprintf(stderr, "cannot read %s\n", qPrintable(setPath));
        return 1;
    }
    const QJsonArray groups = QJsonDocument::fromJson(file.readAll()).object().value(u"groups").toArray();
    if (groups.isEmpty()) {
        std::fprintf(stderr, "%s has no groups\n", qPrintable(setPath));
        return 1;
    }
    const QList<ClusteringCost> clustering = clusteringCosts(groups);
    constexpr int kClusteringRuns = 5;
    const int clusteringRuns = clusteringOnly ? kClusteringRuns : 1;
    const QList<ClusteringTime> clusteringCpu{
        clusteringTime(groups, ProposalClusters::kDefaultThreshold, clusteringRuns),
        clusteringTime(groups, 1.01f, clusteringRuns),
    };
    if (clusteringOnly) {
        QTextStream out(stdout);
        printClustering(out, clustering, int(groups.size()), setPath);
        printClusteringTimes(out, clusteringCpu, clusteringRuns);
        return 0;
    }

    GatewayStack stack;
    GatewayStack::Options options;
    // L0.5 off: the L0 hit compared with the L1 hit reads the replica too.
    options.gatewayArgs = {QStringLiteral("--semantic"), QStringLiteral("serve"), QStringLiteral("--no-hot-cache")};
    // With an endpoint the gateway starts once the stub's port is known (--embeddings stub).
    options.startGateway = embedder.url.isEmpty();
    QString error;
    if (!stack.start(options, &error)) {
        std::fprintf(stderr, "stack: %s\n", qPrintable(error));
        return 1;
    }
    std::unique_ptr<ManagedProcess> endpointGateway;
    int gatewayPort = stack.gatewayPort();
    if (!embedder.url.isEmpty()) {
        if (embedder.url == u"stub")
            embedder.url = QStringLiteral("http://127.0.0.1:%1/v1").arg(stack.stubPort());
        QStringList gatewayArgs = options.gatewayArgs;
        gatewayArgs << QStringLiteral("--embeddings") << embedder.url << QStringLiteral("--embeddings-model")
                    << QString::fromStdString(embedder.model) << QStringLiteral("--embeddings-budget-ms")
                    << QString::number(embeddingsBudgetMs);
        if (!embeddingsCaFile.isEmpty())
            gatewayArgs << QStringLiteral("--embeddings-ca-file") << embeddingsCaFile;
        endpointGateway = stack.launchGateway(gatewayArgs, &error);
        if (!endpointGateway) {
            std::fprintf(stderr, "gateway: %s\n", qPrintable(error));
            return 1;
        }
        gatewayPort = endpointGateway->listenPort();
    }
    std::vector<std::string> approvedPrompts;
    for (const QJsonValue &g : groups)
        approvedPrompts.push_back(g.toObject().value(u"approved").toString().toStdString());
    std::vector<std::vector<float>> approvedVectors;
    if (!embedder.embed(approvedPrompts, &approvedVectors))
        return 1;
    const std::string systemSha = QCryptographicHash::hash(QByteArray::fromStdString(PromptNormaliser::normalise("")),
                                                           QCryptographicHash::Sha256)
                                      .toHex()
                                      .toStdString();
    RedisClient &primary = stack.primaryClient();
    std::vector<QString> approved;
    std::vector<QByteArray> approvedKeys;
    for (const QJsonValue &g : groups) {
        const QString prompt = g.toObject().value(u"approved").toString();
        const std::size_t index = approved.size();
        Entry entry;
        entry.key = keyOf(prompt);
        entry.ns = "default";
        entry.prompt = prompt.toStdString();
        entry.response = "Approved answer to: " + entry.prompt;
        entry.model = CacheKey::modelFamily(kModel);
        entry.approvedBy = "bench";
        entry.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
        VectorRecord record;
        record.model = embedder.modelId();
        record.ns = entry.ns;
        record.systemSha256 = systemSha;
        record.modelFamily = entry.model;
        record.threshold = threshold;
        record.vector = approvedVectors[index];
        const auto json = VectorRecordCodec::encode(record, nullptr);
        if (!json) {
            std::fprintf(stderr, "vector record refused (threshold %g?)\n", static_cast<double>(threshold));
            return 1;
        }
        primary.command({"MULTI"});
        primary.command({"SET", bytes(RedisSchema::entryKey(entry.key)), bytes(EntryCodec::encode(entry))});
        primary.command({"SET", bytes(RedisSchema::vectorKey(entry.key)), bytes(*json)});
        if (primary.command({"EXEC"}).isError()) {
            std::fprintf(stderr, "EXEC failed\n");
            return 1;
        }
        primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), bytes(entry.key)});
        approved.push_back(prompt);
        approvedKeys.push_back(bytes(entry.key));
    }

    HttpClient http;
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(gatewayPort));
    const QUrl metricsUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(gatewayPort));
    // The index holds every group once the gauge says so; every entry is on the replica once
    // its own question hits L0.
    const bool ready = Poll::until(
        [&] {
            const QByteArray metrics = http.get(metricsUrl).body;
            const QByteArray needle = "l0l3_l1_index_entries{region=\"nyc\"} " + QByteArray::number(groups.size());
            return metrics.contains(needle);
        },
        20000);
    for (std::size_t i = 0; ready && i < approved.size(); ++i) {
        if (!Poll::until([&] { return http.post(url, chatBody(approved[i])).header("x-l0l3-tier") == "L0"; }, 20000)) {
            std::fprintf(stderr, "entry %zu never reached the replica\n", i);
            return 1;
        }
    }
    if (!ready) {
        std::fprintf(stderr, "the L1 index never held the %lld groups\n", static_cast<long long>(groups.size()));
        return 1;
    }

    std::vector<Asked> asked;
    for (int gi = 0; gi < groups.size(); ++gi) {
        const QJsonObject g = groups[gi].toObject();
        for (const QJsonValue &p : g.value(u"paraphrases").toArray())
            asked.push_back({p.toString(), QStringLiteral("paraphrase"), gi, 0.0f});
        for (const QJsonValue &n : g.value(u"negatives").toArray())
            asked.push_back({n.toObject().value(u"text").toString(), n.toObject().value(u"kind").toString(), gi, 0.0f});
    }
    {
        std::vector<std::string> texts;
        for (const Asked &q : asked)
            texts.push_back(q.text.toStdString());
        std::vector<std::vector<float>> vectors;
        if (!embedder.embed(texts, &vectors))
            return 1;
        for (std::size_t i = 0; i < asked.size(); ++i)
            asked[i].similarity = dot(approvedVectors[static_cast<std::size_t>(asked[i].group)], vectors[i]);
    }
    for (Asked &q : asked) {
        const HttpResult r = http.post(url, chatBody(q.text));
        if (r.status != 200) {
            std::fprintf(stderr, "HTTP %d for %s\n", r.status, qPrintable(q.text));
            return 1;
        }
        q.tier = r.header("x-l0l3-tier");
        q.entry = r.header("x-l0l3-entry");
        q.servedSimilarity = r.header("x-l0l3-similarity");
    }

    int paraphrases = 0, hits = 0, wrongParaphrase = 0, negatives = 0, wrongNegative = 0;
    std::map<QString, std::pair<int, int>> byKind; // kind -> (asked, answered from L1)
    const Asked *latencyProbe = nullptr;
    for (const Asked &q : asked) {
        const bool l1 = q.tier == "L1";
        if (q.kind == u"paraphrase") {
            ++paraphrases;
            const bool right = l1 && q.entry == approvedKeys[static_cast<std::size_t>(q.group)];
            hits += right ? 1 : 0;
            wrongParaphrase += l1 && !right ? 1 : 0;
            if (right && !latencyProbe)
                latencyProbe = &q;
        } else {
            ++negatives;
            wrongNegative += l1 ? 1 : 0;
            auto &k = byKind[q.kind];
            ++k.first;
            k.second += l1 ? 1 : 0;
        }
    }

    QTextStream out(stdout);
    out << "## L1, semantic set (" << setPath.section(u'/', -1) << ", " << embedder.modelId().c_str()
        << (embedder.url.isEmpty() ? QString() : QStringLiteral(" at ") + embedder.url) << ", threshold " << threshold
        << ", guards on)\n\n";
    out << "| | asked | answered from L1 | wrong answers |\n|---|---|---|---|\n";
    out << "| paraphrases (recall) | " << paraphrases << " | " << hits << " ("
        << QString::number(100.0 * hits / std::max(1, paraphrases), 'f', 1) << " %) | " << wrongParaphrase << " |\n";
    out << "| hard negatives | " << negatives << " | " << wrongNegative << " | " << wrongNegative << " ("
        << QString::number(100.0 * wrongNegative / std::max(1, negatives), 'f', 1) << " %) |\n";
    for (const auto &[kind, counts] : byKind)
        out << "| - " << kind << " | " << counts.first << " | " << counts.second << " | " << counts.second << " |\n";
    out << "\nEvery question, with its similarity (" << embedder.modelId().c_str()
        << ") to its group's approved question:\n\n";
    out << "| group | kind | similarity | tier | question |\n|---|---|---|---|---|\n";
    for (const Asked &q : asked) {
        QString text = q.text;
        text.replace(u'|', u'/');
        out << "| " << q.group << " | " << q.kind << " | " << QString::number(q.similarity, 'f', 3) << " | "
            << QString::fromLatin1(q.tier) << " | " << text << " |\n";
    }

    printClustering(out, clustering, int(groups.size()), setPath);
    printClusteringTimes(out, clusteringCpu, clusteringRuns);

    if (latencyProbe) {
        const QByteArray l0Body = chatBody(approved[static_cast<std::size_t>(latencyProbe->group)]);
        const QByteArray l1Body = chatBody(latencyProbe->text);
        std::vector<double> l0, l1;
        for (int i = 0; i < latencyRequests; ++i) {
            for (int which = 0; which < 2; ++which) {
                QElapsedTimer t;
                t.start();
                const HttpResult r = http.post(url, which == 0 ? l0Body : l1Body);
                const double us = static_cast<double>(t.nsecsElapsed()) / 1000.0;
                if (r.header("x-l0l3-tier") != (which == 0 ? "L0" : "L1")) {
                    std::fprintf(stderr, "latency probe: unexpected tier %s\n", r.header("x-l0l3-tier").constData());
                    return 1;
                }
                (which == 0 ? l0 : l1).push_back(us);
            }
        }
        out << "\nEnd to end through the client (Qt HTTP, keep-alive, one request at a time, " << latencyRequests
            << " of each, alternating), same run:\n\n| | p50 µs | p99 µs |\n|---|---|---|\n";
        out << "| L0 hit | " << QString::number(quantile(l0, 0.5), 'f', 0) << " | "
            << QString::number(quantile(l0, 0.99), 'f', 0) << " |\n";
        out << "| L1 hit | " << QString::number(quantile(l1, 0.5), 'f', 0) << " | "
            << QString::number(quantile(l1, 0.99), 'f', 0) << " |\n";
        out << "| L1 / L0 | " << QString::number(quantile(l1, 0.5) / quantile(l0, 0.5), 'f', 2) << " | "
            << QString::number(quantile(l1, 0.99) / quantile(l0, 0.99), 'f', 2) << " |\n";
    }
    out.flush();
    if (endpointGateway)
        endpointGateway->stop();
    stack.stop();
    return wrongNegative == 0 ? 0 : 1;
}
