// l0l3_bench_semantic: the gateway's L1 tier against a labelled set (bench/semantic/set.json),
// end to end on real processes (redis-server primary and replica, l0l3-stub-llm, l0l3-gateway
// --semantic serve --no-hot-cache). Each group's approved question is written as the console
// writes it (entry and vector record in one transaction, then its key on the invalidation
// channel); then every paraphrase and hard negative is asked once over HTTP:
//   - a paraphrase answered from L1 with its group's entry is a hit, with another entry a
//     wrong answer, otherwise a miss (recall = hits / paraphrases);
//   - a hard negative answered from L1 at all is a wrong answer (target: none).
// Then the same run measures an L1 hit end to end against an L0 hit (alternating requests,
// one connection each way through the same client), p50 and p99.
// Prints a markdown report on stdout; exits 1 when a hard negative was answered from L1.
// The provider is the gateway's default lexical one (lexical-v1-d256).

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTextStream>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/lexicalembedder.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
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
    float similarity = 0; // with the group's approved question (lexical)
    QByteArray tier{};
    QByteArray entry{};
    QByteArray servedSimilarity{};
};

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QString setPath = QStringLiteral(L0L3_SOURCE_DIR "/bench/semantic/set.json");
    int latencyRequests = 1000;
    float threshold = SemanticThreshold::kInitial;
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
        else {
            std::fprintf(stderr,
                         "usage: l0l3_bench_semantic [--set FILE] [--smoke] [--latency-requests N] [--threshold T]\n");
            return 2;
        }
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

    GatewayStack stack;
    GatewayStack::Options options;
    // L0.5 off: the L0 hit compared with the L1 hit reads the replica too.
    options.gatewayArgs = {QStringLiteral("--semantic"), QStringLiteral("serve"), QStringLiteral("--no-hot-cache")};
    QString error;
    if (!stack.start(options, &error)) {
        std::fprintf(stderr, "stack: %s\n", qPrintable(error));
        return 1;
    }
    LexicalEmbedder embedder;
    const std::string systemSha = QCryptographicHash::hash(QByteArray::fromStdString(PromptNormaliser::normalise("")),
                                                           QCryptographicHash::Sha256)
                                      .toHex()
                                      .toStdString();
    RedisClient &primary = stack.primaryClient();
    std::vector<QString> approved;
    std::vector<QByteArray> approvedKeys;
    for (const QJsonValue &g : groups) {
        const QString prompt = g.toObject().value(u"approved").toString();
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
        record.vector = embedder.embed(entry.prompt);
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
    const QUrl url = stack.gatewayUrl();
    const QUrl metricsUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(stack.gatewayPort()));
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
        const std::vector<float> a = embedder.embed(approved[static_cast<std::size_t>(gi)].toStdString());
        for (const QJsonValue &p : g.value(u"paraphrases").toArray())
            asked.push_back(
                {p.toString(), QStringLiteral("paraphrase"), gi, dot(a, embedder.embed(p.toString().toStdString()))});
        for (const QJsonValue &n : g.value(u"negatives").toArray()) {
            const QString text = n.toObject().value(u"text").toString();
            asked.push_back(
                {text, n.toObject().value(u"kind").toString(), gi, dot(a, embedder.embed(text.toStdString()))});
        }
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
    out << "## L1, semantic set (" << setPath.section(u'/', -1) << ", lexical-v1-d256, threshold " << threshold
        << ", guards on)\n\n";
    out << "| | asked | answered from L1 | wrong answers |\n|---|---|---|---|\n";
    out << "| paraphrases (recall) | " << paraphrases << " | " << hits << " ("
        << QString::number(100.0 * hits / std::max(1, paraphrases), 'f', 1) << " %) | " << wrongParaphrase << " |\n";
    out << "| hard negatives | " << negatives << " | " << wrongNegative << " | " << wrongNegative << " ("
        << QString::number(100.0 * wrongNegative / std::max(1, negatives), 'f', 1) << " %) |\n";
    for (const auto &[kind, counts] : byKind)
        out << "| - " << kind << " | " << counts.first << " | " << counts.second << " | " << counts.second << " |\n";
    out << "\nEvery question, with its lexical similarity to its group's approved question:\n\n";
    out << "| group | kind | similarity | tier | question |\n|---|---|---|---|---|\n";
    for (const Asked &q : asked) {
        QString text = q.text;
        text.replace(u'|', u'/');
        out << "| " << q.group << " | " << q.kind << " | " << QString::number(q.similarity, 'f', 3) << " | "
            << QString::fromLatin1(q.tier) << " | " << text << " |\n";
    }

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
    stack.stop();
    return wrongNegative == 0 ? 0 : 1;
}
