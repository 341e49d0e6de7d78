#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <optional>

#include "core/common/embeddingsapi.h"
#include "core/common/lexicalembedder.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/vectorrecord.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/ctlrun.h"
#include "tests/support/httpclient.h"
#include "tests/support/managedprocess.h"
#include "tests/support/timescale.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kStubDimension = 128;
const QString kModel = QStringLiteral("stub-embed");

} // namespace

// The control plane's /v1/embeddings provider end to end: l0l3-ctl against a
// real primary + replica and the real stub LLM's POST /v1/embeddings. An
// approval stores the stub's model id and vector; an endpoint that is down
// or failing still approves, with a warning and no vector; `vectors rebuild`
// repairs the missing ones and switches every record to another provider.
class TestCtlEmbeddings : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void approveStoresTheStubsVector();
    void endpointDownStillApprovesThenRebuildRepairs();
    void failingEndpointWarns();
    void l1DenialKeepsTheStubsVector();
    void rebuildSwitchesProviderKeepingThresholds();
    void importBatchesItsVectors();
    void badEmbeddingsUsage_data();
    void badEmbeddingsUsage();

private:
    CtlRun ctl(const QStringList &args);
    QStringList stubFlags() const;
    std::optional<VectorRecord> vector(const QString &name);
    bool hasEntry(const QString &name);
    // The stub's count of /v1/embeddings requests (GET /stats); -1 when it does not say.
    qint64 embeddingsRequests();

    ReplicatedRedis m_redis;
    ManagedProcess m_stub;
    ManagedProcess m_failingStub;
    int m_stubPort = -1;
    int m_failingPort = -1;
};

void TestCtlEmbeddings::initTestCase()
{
    QString why;
    QVERIFY2(m_redis.start(&why), qPrintable(why));
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
    const QString stub = ManagedProcess::binary(QStringLiteral("l0l3-stub-llm"));
    QVERIFY(QFile::exists(stub));
    QVERIFY2(m_stub.start(stub,
                          {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                           QStringLiteral("--embeddings-dimension"), QString::number(kStubDimension)},
                          QProcessEnvironment::systemEnvironment(), &why),
             qPrintable(why));
    m_stubPort = m_stub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_stubPort > 0, qPrintable(m_stub.describe()));
    QVERIFY2(m_failingStub.start(stub,
                                 {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                                  QStringLiteral("--embeddings-fail-rate"), QStringLiteral("1")},
                                 QProcessEnvironment::systemEnvironment(), &why),
             qPrintable(why));
    m_failingPort = m_failingStub.listenPort(TimeScale::ms(15000));
    QVERIFY2(m_failingPort > 0, qPrintable(m_failingStub.describe()));
}

void TestCtlEmbeddings::cleanupTestCase()
{
    m_failingStub.stop();
    m_stub.stop();
    m_redis.stop();
}

CtlRun TestCtlEmbeddings::ctl(const QStringList &args)
{
    return runCtl(QStringList{QStringLiteral("--primary"), consoleUrl(m_redis.primary.host(), m_redis.primary.port()),
                              QStringLiteral("--actor"), QStringLiteral("ci")}
                  + args);
}

QStringList TestCtlEmbeddings::stubFlags() const
{
    return {QStringLiteral("--embeddings"), QStringLiteral("http://127.0.0.1:%1").arg(m_stubPort),
            QStringLiteral("--embeddings-model"), kModel};
}

std::optional<VectorRecord> TestCtlEmbeddings::vector(const QString &name)
{
    const QByteArray stored = m_redis.client.get(qb(RedisSchema::vectorKey(keyOf(name).toStdString())));
    if (stored.isEmpty())
        return std::nullopt;
    return VectorRecordCodec::decode(stored.toStdString());
}

bool TestCtlEmbeddings::hasEntry(const QString &name)
{
    return !m_redis.client.get(qb(RedisSchema::entryKey(keyOf(name).toStdString()))).isEmpty();
}

qint64 TestCtlEmbeddings::embeddingsRequests()
{
    HttpClient http;
    const HttpResult stats = http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/stats").arg(m_stubPort)));
    const QJsonValue n = QJsonDocument::fromJson(stats.body).object().value(u"embeddings_requests");
    return n.isDouble() ? qint64(n.toDouble()) : -1;
}

// Each vector component as the stub computed it (its lexical embedder at its dimension).
static bool sameVector(const std::vector<float> &a, const std::vector<float> &b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::abs(a[i] - b[i]) > 1e-5f)
            return false;
    }
    return true;
}

void TestCtlEmbeddings::approveStoresTheStubsVector()
{
    const std::string prompt = "How do I reset my password?";
    const QString id = seedProposal(m_redis.client, makeProposal("emb-approve", prompt));
    const CtlRun approve = ctl(QStringList{QStringLiteral("approve"), id} + stubFlags());
    QVERIFY2(approve.code == 0, qPrintable(approve.describe(true)));
    QVERIFY2(!approve.err.contains("warning"), approve.err.constData());
    const std::optional<VectorRecord> record = vector(QStringLiteral("emb-approve"));
    QVERIFY(record.has_value());
    QCOMPARE(record->model, EmbeddingsApi::modelId(kModel.toStdString()));
    QCOMPARE(record->model, std::string("openai:stub-embed"));
    QCOMPARE(record->vector.size(), std::size_t(kStubDimension));
    QVERIFY(sameVector(record->vector, LexicalEmbedder(kStubDimension).embed(prompt)));
}

void TestCtlEmbeddings::endpointDownStillApprovesThenRebuildRepairs()
{
    // A port nothing listens on: bound, then released.
    int downPort = -1;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        downPort = probe.serverPort();
    }
    const std::string prompt = "Can't log in, I don't remember my password";
    const QString id = seedProposal(m_redis.client, makeProposal("emb-down", prompt));
    const CtlRun approve = ctl({QStringLiteral("approve"), id, QStringLiteral("--embeddings"),
                                QStringLiteral("http://127.0.0.1:%1/v1/embeddings").arg(downPort),
                                QStringLiteral("--embeddings-model"), kModel, QStringLiteral("--json")});
    QVERIFY2(approve.code == 0, qPrintable(approve.describe(true)));
    QVERIFY(hasEntry(QStringLiteral("emb-down")));
    QVERIFY(!vector(QStringLiteral("emb-down")).has_value());
    QVERIFY2(approve.err.contains("l0l3-ctl: warning:") && approve.err.contains("without its L1 vector")
                 && approve.err.contains("vectors rebuild"),
             approve.err.constData());
    const QJsonObject json = QJsonDocument::fromJson(approve.out).object();
    QVERIFY2(json.value(QStringLiteral("warning")).toString().contains(QLatin1String("without its L1 vector")),
             approve.out.constData());

    const CtlRun rebuild = ctl(
        QStringList{QStringLiteral("vectors"), QStringLiteral("rebuild"), QStringLiteral("--missing")} + stubFlags());
    QVERIFY2(rebuild.code == 0, qPrintable(rebuild.describe(true)));
    QVERIFY2(rebuild.out.contains("openai:stub-embed"), rebuild.out.constData());
    QVERIFY2(rebuild.err.contains("vectors written"), rebuild.err.constData()); // progress
    const std::optional<VectorRecord> record = vector(QStringLiteral("emb-down"));
    QVERIFY(record.has_value());
    QCOMPARE(record->model, std::string("openai:stub-embed"));
    QVERIFY(sameVector(record->vector, LexicalEmbedder(kStubDimension).embed(prompt)));
}

void TestCtlEmbeddings::failingEndpointWarns()
{
    const QString id = seedProposal(m_redis.client, makeProposal("emb-503", "I forgot my password, what now?"));
    const CtlRun approve = ctl({QStringLiteral("approve"), id, QStringLiteral("--embeddings"),
                                QStringLiteral("http://127.0.0.1:%1").arg(m_failingPort),
                                QStringLiteral("--embeddings-model"), kModel});
    QVERIFY2(approve.code == 0, qPrintable(approve.describe(true)));
    QVERIFY(hasEntry(QStringLiteral("emb-503")));
    QVERIFY(!vector(QStringLiteral("emb-503")).has_value());
    QVERIFY2(approve.err.contains("without its L1 vector") && approve.err.contains("HTTP "), approve.err.constData());

    // A rebuild against it fails clearly and writes nothing for it.
    const CtlRun rebuild = ctl({QStringLiteral("vectors"), QStringLiteral("rebuild"), QStringLiteral("--missing"),
                                QStringLiteral("--embeddings"),
                                QStringLiteral("http://127.0.0.1:%1").arg(m_failingPort),
                                QStringLiteral("--embeddings-model"), kModel});
    QCOMPARE(rebuild.code, 1);
    QVERIFY2(rebuild.err.contains("vectors rebuild failed"), rebuild.err.constData());
    QVERIFY(!vector(QStringLiteral("emb-503")).has_value());
}

// An operator's denial of an L1 answer tightens the entry's threshold and keeps the record's
// model and vector, whichever provider the denying l0l3-ctl was started with.
void TestCtlEmbeddings::l1DenialKeepsTheStubsVector()
{
    const std::string prompt = "Is smoking allowed in the rooms?";
    const QString id = seedProposal(m_redis.client, makeProposal("emb-deny", prompt));
    QCOMPARE(ctl(QStringList{QStringLiteral("approve"), id} + stubFlags()).code, 0);
    const std::optional<VectorRecord> before = vector(QStringLiteral("emb-deny"));
    QVERIFY(before && before->model == "openai:stub-embed");

    RedisClient gateway = m_redis.primary.client(QStringLiteral("gateway"));
    QVERIFY2(gateway.isConnected(), qPrintable(gateway.lastError()));
    const RedisValue sampled = gateway.command({"FCALL", qb(ProposalFunction::kL1ReviewName), "0", QByteArray(32, 'e'),
                                                keyOf(QStringLiteral("emb-deny")).toUtf8(), "0.95", "default",
                                                "Is smoking not allowed in the rooms?", "nyc"});
    QVERIFY2(!sampled.isError(), sampled.str.constData());
    const RedisValue last = m_redis.client.command({"XREVRANGE", qb(RedisSchema::kL1Review), "+", "-", "COUNT", "1"});
    const QString reviewId = QString::fromUtf8(last.elements.value(0).elements.value(0).str);
    QVERIFY(!reviewId.isEmpty());

    const CtlRun deny = ctl({QStringLiteral("l1-review"), QStringLiteral("deny"), reviewId});
    QVERIFY2(deny.code == 0, qPrintable(deny.describe(true)));
    const std::optional<VectorRecord> after = vector(QStringLiteral("emb-deny"));
    QVERIFY(after.has_value());
    QCOMPARE(after->model, std::string("openai:stub-embed"));
    QVERIFY(sameVector(after->vector, before->vector));
    QVERIFY2(after->threshold > before->threshold, qPrintable(QString::number(double(after->threshold))));
}

void TestCtlEmbeddings::rebuildSwitchesProviderKeepingThresholds()
{
    const std::string prompt = "Where is my order 48213?";
    const QString id = seedProposal(m_redis.client, makeProposal("emb-switch", prompt));
    // No flag: the embedded lexical provider.
    const CtlRun approve = ctl({QStringLiteral("approve"), id});
    QVERIFY2(approve.code == 0, qPrintable(approve.describe(true)));
    std::optional<VectorRecord> record = vector(QStringLiteral("emb-switch"));
    QVERIFY(record.has_value());
    QCOMPARE(record->model, LexicalEmbedder().modelId());
    // A threshold operators' verdicts tightened survives a change of provider.
    record->threshold = 0.97f;
    const QByteArray vectorKey = qb(RedisSchema::vectorKey(keyOf(QStringLiteral("emb-switch")).toStdString()));
    m_redis.client.command({"SET", vectorKey, QByteArray::fromStdString(*VectorRecordCodec::encode(*record))});

    const CtlRun rebuild = ctl(QStringList{QStringLiteral("vectors"), QStringLiteral("rebuild")} + stubFlags());
    QVERIFY2(rebuild.code == 0, qPrintable(rebuild.describe(true)));
    record = vector(QStringLiteral("emb-switch"));
    QVERIFY(record.has_value());
    QCOMPARE(record->model, std::string("openai:stub-embed"));
    QCOMPARE(record->threshold, 0.97f);
    QVERIFY(sameVector(record->vector, LexicalEmbedder(kStubDimension).embed(prompt)));
    // Every approved entry now has a record of the stub's model.
    for (const QString &name : {QStringLiteral("emb-approve"), QStringLiteral("emb-down"), QStringLiteral("emb-503")}) {
        const std::optional<VectorRecord> other = vector(name);
        QVERIFY2(other && other->model == "openai:stub-embed", qPrintable(name));
    }

    // And back to the lexical provider, which --missing then finds complete.
    QCOMPARE(ctl({QStringLiteral("vectors"), QStringLiteral("rebuild")}).code, 0);
    record = vector(QStringLiteral("emb-switch"));
    QVERIFY(record.has_value());
    QCOMPARE(record->model, LexicalEmbedder().modelId());
    QVERIFY(sameVector(record->vector, LexicalEmbedder().embed(prompt)));
    const CtlRun missing = ctl({QStringLiteral("vectors"), QStringLiteral("rebuild"), QStringLiteral("--missing")});
    QVERIFY2(missing.code == 0, qPrintable(missing.describe(true)));
    QVERIFY2(missing.out.startsWith("0 vector(s) written"), missing.out.constData());
}

// An import restores the entries with their vectors from the endpoint, several entries per
// request (the imports queued behind the first share one).
void TestCtlEmbeddings::importBatchesItsVectors()
{
    const QStringList names{QStringLiteral("emb-approve"), QStringLiteral("emb-down"), QStringLiteral("emb-503"),
                            QStringLiteral("emb-deny"), QStringLiteral("emb-switch")};
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString file = dir.filePath(QStringLiteral("corpus.jsonl"));
    const CtlRun exported = ctl({QStringLiteral("export"), QStringLiteral("--out"), file});
    QVERIFY2(exported.code == 0, qPrintable(exported.describe(true)));
    for (const QString &name : names) {
        const CtlRun revoke = ctl({QStringLiteral("revoke"), keyOf(name)});
        QVERIFY2(revoke.code == 0, qPrintable(revoke.describe(true)));
        QVERIFY(!vector(name).has_value());
    }

    const qint64 before = embeddingsRequests();
    QVERIFY(before >= 0);
    const CtlRun imported = ctl(QStringList{QStringLiteral("import"), file} + stubFlags());
    QVERIFY2(imported.code == 0, qPrintable(imported.describe(true)));
    for (const QString &name : names) {
        QVERIFY2(hasEntry(name), qPrintable(name));
        const std::optional<VectorRecord> record = vector(name);
        QVERIFY2(record && record->model == "openai:stub-embed", qPrintable(name));
    }
    const qint64 requests = embeddingsRequests() - before;
    QVERIFY2(requests >= 1 && requests < names.size(), qPrintable(QString::number(requests)));

    // With the endpoint failing, the import still restores the entries and says which lack a vector.
    for (const QString &name : {names[0], names[1]})
        QCOMPARE(ctl({QStringLiteral("revoke"), keyOf(name)}).code, 0);
    const CtlRun failing = ctl({QStringLiteral("import"), file, QStringLiteral("--embeddings"),
                                QStringLiteral("http://127.0.0.1:%1").arg(m_failingPort),
                                QStringLiteral("--embeddings-model"), kModel});
    QVERIFY2(failing.code == 0, qPrintable(failing.describe(true)));
    QVERIFY2(failing.out.contains("2 entries without their L1 vector"), failing.out.constData());
    for (const QString &name : {names[0], names[1]}) {
        QVERIFY2(hasEntry(name), qPrintable(name));
        QVERIFY(!vector(name).has_value());
    }
}

void TestCtlEmbeddings::badEmbeddingsUsage_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::newRow("not http") << QStringList{QStringLiteral("--embeddings"), QStringLiteral("ftp://127.0.0.1/"),
                                             QStringLiteral("--embeddings-model"), kModel};
    QTest::newRow("no model") << QStringList{QStringLiteral("--embeddings"), QStringLiteral("http://127.0.0.1:1")};
    QTest::newRow("model without url") << QStringList{QStringLiteral("--embeddings-model"), kModel};
    QTest::newRow("ca file over http") << QStringList{
        QStringLiteral("--embeddings"),         QStringLiteral("http://127.0.0.1:1"),
        QStringLiteral("--embeddings-model"),   kModel,
        QStringLiteral("--embeddings-ca-file"), QStringLiteral("/nonexistent.pem")};
}

void TestCtlEmbeddings::badEmbeddingsUsage()
{
    QFETCH(QStringList, args);
    const CtlRun run = ctl(QStringList{QStringLiteral("vectors"), QStringLiteral("rebuild")} + args);
    QCOMPARE(run.code, 2);
}

QTEST_GUILESS_MAIN(TestCtlEmbeddings)
#include "tst_ctlembeddings.moc"
