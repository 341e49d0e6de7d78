#include <QDateTime>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpSocket>
#include <QTest>

#include "core/common/entry.h"
#include "core/common/prometheusparser.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/redisclient.h"
#include "tests/support/timescale.h"
#include "tests/support/uniqueprompts.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kTtftMs = 50;
constexpr int kLatencyMs = 1500;
constexpr int kProposalTimeoutMs = 5000;
constexpr int kStreamTimeoutMs = 10000;

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

// A streamed response as the test client saw it, with when its parts arrived.
struct StreamRead
{
    int status = 0;
    QByteArray head;            // status line and header fields, lower-cased names untouched
    QByteArray raw;             // everything after the head, chunk framing included
    QByteArray body;            // the chunked body decoded
    bool complete = false;      // the last chunk arrived
    qint64 firstContentMs = -1; // the first event with non-empty delta content
    qint64 doneMs = -1;         // data: [DONE]
    QString error;

    QByteArray header(const QByteArray &name) const
    {
        for (const QByteArray &line : head.split('\n')) {
            const qsizetype colon = line.indexOf(':');
            if (colon > 0 && line.left(colon).trimmed().toLower() == name.toLower())
                return line.mid(colon + 1).trimmed();
        }
        return {};
    }
    QString describe() const
    {
        return QStringLiteral("status %1, error '%2', head:\n%3\nbody:\n%4")
            .arg(status)
            .arg(error, QString::fromUtf8(head), QString::fromUtf8(body.left(2000)));
    }
};

bool hasNonEmptyContent(const QByteArray &raw)
{
    static const QByteArray marker = "\"content\":\"";
    for (qsizetype at = raw.indexOf(marker); at >= 0; at = raw.indexOf(marker, at + 1)) {
        const qsizetype next = at + marker.size();
        if (next < raw.size() && raw[next] != '"')
            return true;
    }
    return false;
}

// The chunked transfer coding undone; false when the framing is broken or unfinished.
bool dechunk(const QByteArray &raw, QByteArray *out, bool *complete)
{
    out->clear();
    *complete = false;
    qsizetype at = 0;
    for (;;) {
        const qsizetype eol = raw.indexOf("\r\n", at);
        if (eol < 0)
            return true;
        bool ok = false;
        const qsizetype size = raw.mid(at, eol - at).split(';').front().trimmed().toLongLong(&ok, 16);
        if (!ok)
            return false;
        if (size == 0) {
            *complete = raw.indexOf("\r\n\r\n", eol) == eol;
            return true;
        }
        if (raw.size() < eol + 2 + size + 2)
            return true;
        out->append(raw.mid(eol + 2, size));
        at = eol + 2 + size + 2;
    }
}

} // namespace

// Streamed misses against real processes (redis primary and replica,
// l0l3-stub-llm streaming with --ttft-ms and --latency-ms, l0l3-gateway): the
// upstream's events reach the client as they are produced, the answer
// assembled from them is proposed only when the stream completed normally,
// and a client that goes away cancels the upstream's generation.
class TestStreamedMiss : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void firstChunkArrivesLongBeforeTheLast();
    void completedStreamIsProposedThenServedFromCache();
    void abortedStreamIsNotProposed();
    void toolCallStreamPassesThroughUnproposed();
    void usageChunkIsForwarded();
    void clientDisconnectCancelsTheUpstream();
    void clientDisconnectBeforeTheFirstTokenCancelsAtOnce();

private:
    // POSTs body and reads the response as it arrives; stopAfterFirstContent: close the
    // connection as soon as the first content has arrived.
    StreamRead streamChat(const QByteArray &body, bool stopAfterFirstContent = false);
    std::vector<Proposal> proposals(const QByteArray &key);
    bool proposeBarrier();
    qint64 stubStat(const char *name);
    bool approve(const QByteArray &key, const QString &prompt, const QString &response);
    bool replicaHasEntry(const QByteArray &key, const QString &response);

    GatewayStack m_stack;
    HttpClient m_http;
    UniquePrompts m_prompts{QStringLiteral("Streamed question")};
};

void TestStreamedMiss::initTestCase()
{
    QString error;
    GatewayStack::Options options;
    options.stubArgs = QStringList{QStringLiteral("--ttft-ms"), QString::number(kTtftMs),
                                   QStringLiteral("--latency-ms"), QString::number(kLatencyMs)};
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));
}

void TestStreamedMiss::cleanupTestCase()
{
    m_stack.stop();
}

void TestStreamedMiss::cleanup()
{
    m_stack.printLogsIfFailed();
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
    QVERIFY2(m_stack.stub().isRunning(), "the stub died");
}

StreamRead TestStreamedMiss::streamChat(const QByteArray &body, bool stopAfterFirstContent)
{
    StreamRead r;
    QTcpSocket socket;
    socket.connectToHost(QStringLiteral("127.0.0.1"), static_cast<quint16>(m_stack.gatewayPort()));
    if (!socket.waitForConnected(TimeScale::ms(5000))) {
        r.error = socket.errorString();
        return r;
    }
    QByteArray request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\nContent-Length: "
        + QByteArray::number(body.size()) + "\r\n\r\n" + body;
    QElapsedTimer clock;
    clock.start();
    socket.write(request);
    QByteArray received;
    QDeadlineTimer deadline(TimeScale::ms(kStreamTimeoutMs));
    while (!deadline.hasExpired()) {
        if (socket.bytesAvailable() == 0 && !socket.waitForReadyRead(static_cast<int>(deadline.remainingTime()))) {
            if (socket.state() != QAbstractSocket::ConnectedState)
                break;
            continue;
        }
        received += socket.readAll();
        const qsizetype headEnd = received.indexOf("\r\n\r\n");
        if (headEnd < 0)
            continue;
        r.head = received.left(headEnd);
        r.raw = received.mid(headEnd + 4);
        if (r.firstContentMs < 0 && hasNonEmptyContent(r.raw))
            r.firstContentMs = clock.elapsed();
        if (r.doneMs < 0 && r.raw.contains("data: [DONE]"))
            r.doneMs = clock.elapsed();
        if (stopAfterFirstContent && r.firstContentMs >= 0) {
            socket.abort();
            break;
        }
        if (r.header("transfer-encoding").isEmpty()) {
            // A hit: a body with a length.
            r.body = r.raw;
            r.complete = r.raw.size() >= r.header("content-length").toLongLong();
            if (r.complete)
                break;
            continue;
        }
        if (!dechunk(r.raw, &r.body, &r.complete)) {
            r.error = QStringLiteral("broken chunk framing");
            break;
        }
        if (r.complete)
            break;
    }
    if (deadline.hasExpired())
        r.error = QStringLiteral("timed out");
    const QList<QByteArray> status = r.head.left(r.head.indexOf("\r\n")).split(' ');
    if (status.size() >= 2)
        r.status = status.at(1).toInt();
    return r;
}

std::vector<Proposal> TestStreamedMiss::proposals(const QByteArray &key)
{
    RedisClient &primary = m_stack.primaryClient();
    primary.command(
        {"FCALL", bytes(ProposalFunction::kDrainName), "0", QByteArray::number(ProposalFunction::kDrainMax)});
    std::vector<Proposal> matching;
    for (Proposal &p : ChatWire::proposals(primary.command({"XRANGE", bytes(RedisSchema::kProposals), "-", "+"}))) {
        if (p.key == key.toStdString())
            matching.push_back(std::move(p));
    }
    return matching;
}

// Proposals are written asynchronously; absence means something once a later streamed miss's has landed.
bool TestStreamedMiss::proposeBarrier()
{
    const StreamRead r = streamChat(ChatWire::chatBody(m_prompts.next(), {{QStringLiteral("stream"), true}}));
    const QByteArray key = r.header("x-l0l3-key");
    if (r.status != 200 || key.isEmpty())
        return false;
    QDeadlineTimer deadline(TimeScale::ms(kProposalTimeoutMs));
    while (!deadline.hasExpired()) {
        if (!proposals(key).empty())
            return true;
        QTest::qWait(20);
    }
    return false;
}

qint64 TestStreamedMiss::stubStat(const char *name)
{
    const HttpResult stats = m_http.get(m_stack.stubUrl(QStringLiteral("/stats")));
    const QJsonValue value = QJsonDocument::fromJson(stats.body).object().value(QLatin1String(name));
    return value.isDouble() ? static_cast<qint64>(value.toDouble()) : -1;
}

bool TestStreamedMiss::approve(const QByteArray &key, const QString &prompt, const QString &response)
{
    Entry entry;
    entry.key = key.toStdString();
    entry.response = response.toStdString();
    entry.prompt = prompt.toStdString();
    entry.model = ChatWire::kModel;
    entry.version = 1;
    entry.ns = "default"; // the gateway's --namespace-default
    entry.approvedBy = "testkit";
    entry.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
    return m_stack.primaryClient().set(bytes(RedisSchema::entryKey(entry.key)), bytes(EntryCodec::encode(entry)));
}

bool TestStreamedMiss::replicaHasEntry(const QByteArray &key, const QString &response)
{
    const QByteArray json = m_stack.replicaClient().get(bytes(RedisSchema::entryKey(key.toStdString())));
    const auto entry = EntryCodec::decode(json.toStdString());
    return entry && entry->response == response.toStdString();
}

// With --ttft-ms 50 and --latency-ms 1500 the stub produces its first token at once and its
// last one 1.5 s later: a buffered miss would show the client nothing until the end.
void TestStreamedMiss::firstChunkArrivesLongBeforeTheLast()
{
    const StreamRead r = streamChat(ChatWire::chatBody(m_prompts.next(), {{QStringLiteral("stream"), true}}));
    QVERIFY2(r.status == 200 && r.complete, qPrintable(r.describe()));
    QVERIFY2(r.firstContentMs >= 0 && r.doneMs >= 0, qPrintable(r.describe()));
    QVERIFY2(r.firstContentMs < TimeScale::ms(600),
             qPrintable(QStringLiteral("first content after %1 ms").arg(r.firstContentMs)));
    // A lower bound: the stub cannot finish sooner, however fast the machine.
    QVERIFY2(r.doneMs > 1200, qPrintable(QStringLiteral("[DONE] after %1 ms").arg(r.doneMs)));
    QVERIFY2(r.header("transfer-encoding").toLower() == "chunked", qPrintable(r.describe()));
    QVERIFY2(r.header("content-type").startsWith("text/event-stream"), qPrintable(r.describe()));
    QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
    QCOMPARE(r.header("x-l0l3-tier"), QByteArray("L3"));
    QString why;
    QVERIFY2(!ChatWire::sseContent(r.body, &why).isEmpty(), qPrintable(why));
}

void TestStreamedMiss::completedStreamIsProposedThenServedFromCache()
{
    const qint64 completedBefore = stubStat("streams_completed");
    const QString prompt = m_prompts.next();
    const QByteArray body = ChatWire::chatBody(prompt, {{QStringLiteral("stream"), true}});
    const StreamRead miss = streamChat(body);
    QVERIFY2(miss.status == 200 && miss.complete, qPrintable(miss.describe()));
    QCOMPARE(miss.header("x-l0l3-cache"), QByteArray("miss"));
    const QByteArray key = miss.header("x-l0l3-key");
    QString why;
    const QString content = ChatWire::sseContent(miss.body, &why);
    QVERIFY2(!content.isEmpty(), qPrintable(why));
    // The upstream was asked for a stream, and it completed.
    QCOMPARE(stubStat("streams_completed"), completedBefore + 1);

    QTRY_COMPARE_WITH_TIMEOUT(proposals(key).size(), size_t(1), TimeScale::ms(kProposalTimeoutMs));
    QCOMPARE(QString::fromStdString(proposals(key).front().response), content);
    QCOMPARE(QString::fromStdString(proposals(key).front().prompt), prompt);

    QVERIFY(approve(key, prompt, content));
    QTRY_VERIFY_WITH_TIMEOUT(replicaHasEntry(key, content), TimeScale::ms(5000));
    const qint64 requestsBefore = m_stack.stubRequests();
    const StreamRead hit = streamChat(body);
    QVERIFY2(hit.status == 200 && hit.complete, qPrintable(hit.describe()));
    QCOMPARE(hit.header("x-l0l3-cache"), QByteArray("hit"));
    QVERIFY2(hit.header("content-type").startsWith("text/event-stream"), qPrintable(hit.describe()));
    QCOMPARE(ChatWire::sseContent(hit.body, &why), content);
    QCOMPARE(m_stack.stubRequests(), requestsBefore);
}

void TestStreamedMiss::abortedStreamIsNotProposed()
{
    const qint64 abortedBefore = stubStat("streams_aborted");
    const StreamRead r = streamChat(ChatWire::chatBody(QStringLiteral("[stub:abort-stream] ") + m_prompts.next(),
                                                       {{QStringLiteral("stream"), true}}));
    QVERIFY2(r.status == 200 && r.complete, qPrintable(r.describe()));
    QCOMPARE(stubStat("streams_aborted"), abortedBefore + 1);
    const QByteArray key = r.header("x-l0l3-key");
    // Some content went through, then the stream ended with an error event and no [DONE].
    QVERIFY2(hasNonEmptyContent(r.body), qPrintable(r.describe()));
    QVERIFY2(!r.body.contains("[DONE]"), qPrintable(r.describe()));
    QVERIFY2(r.body.contains("\"error\":{") && r.body.contains("upstream_stream_truncated"), qPrintable(r.describe()));
    QVERIFY(proposeBarrier());
    QVERIFY(proposals(key).empty());
}

void TestStreamedMiss::toolCallStreamPassesThroughUnproposed()
{
    const StreamRead r = streamChat(
        ChatWire::chatBody(QStringLiteral("[stub:tool-call] ") + m_prompts.next(), {{QStringLiteral("stream"), true}}));
    QVERIFY2(r.status == 200 && r.complete, qPrintable(r.describe()));
    QCOMPARE(r.header("x-l0l3-cache"), QByteArray("miss"));
    const QByteArray key = r.header("x-l0l3-key");
    QVERIFY2(r.body.contains("\"tool_calls\":[{\"index\":0,\"id\":\"call_stub\""), qPrintable(r.describe()));
    QVERIFY2(r.body.contains("\"finish_reason\":\"tool_calls\""), qPrintable(r.describe()));
    QVERIFY2(r.body.endsWith("data: [DONE]\n\n"), qPrintable(r.describe()));
    QVERIFY(proposeBarrier());
    QVERIFY(proposals(key).empty());
}

void TestStreamedMiss::usageChunkIsForwarded()
{
    const QJsonObject extra{{QStringLiteral("stream"), true},
                            {QStringLiteral("stream_options"), QJsonObject{{QStringLiteral("include_usage"), true}}}};
    const StreamRead r = streamChat(ChatWire::chatBody(m_prompts.next(), extra));
    QVERIFY2(r.status == 200 && r.complete, qPrintable(r.describe()));
    QVERIFY2(r.body.contains("\"choices\":[],\"usage\":{\"prompt_tokens\":"), qPrintable(r.describe()));
    QVERIFY2(r.body.endsWith("data: [DONE]\n\n"), qPrintable(r.describe()));
}

void TestStreamedMiss::clientDisconnectCancelsTheUpstream()
{
    const qint64 cancelledBefore = stubStat("streams_cancelled");
    QVERIFY(cancelledBefore >= 0);
    const StreamRead r = streamChat(ChatWire::chatBody(m_prompts.next(), {{QStringLiteral("stream"), true}}),
                                    /*stopAfterFirstContent=*/true);
    QVERIFY2(r.status == 200 && r.firstContentMs >= 0, qPrintable(r.describe()));
    // The gateway notices at its next write and closes its upstream connection; the stub sees
    // its own writes fail long before the generation would have ended.
    QTRY_COMPARE_WITH_TIMEOUT(stubStat("streams_cancelled"), cancelledBefore + 1, TimeScale::ms(5000));
}

// The upstream sends its head at once and its first token 4 s later: a client that leaves in
// between cancels the upstream call at once, not when the first token would have been written.
void TestStreamedMiss::clientDisconnectBeforeTheFirstTokenCancelsAtOnce()
{
    QString error;
    ManagedProcess slowStub;
    QVERIFY2(slowStub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                            {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--ttft-ms"),
                             QStringLiteral("4000")},
                            QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int slowPort = slowStub.listenPort(TimeScale::ms(15000));
    QVERIFY2(slowPort > 0, qPrintable(slowStub.describe()));
    auto gateway = m_stack.launchGateway(
        {QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:%1/v1").arg(slowPort)}, &error);
    QVERIFY2(gateway, qPrintable(error));
    const int port = gateway->listenPort();
    auto errors = [&] {
        const HttpResult metrics = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(port)));
        return ChatWire::errorRequests(PrometheusParser::parse(metrics.body.toStdString()));
    };
    const double errorsBefore = errors();

    QTcpSocket socket;
    socket.connectToHost(QStringLiteral("127.0.0.1"), static_cast<quint16>(port));
    QVERIFY(socket.waitForConnected(TimeScale::ms(5000)));
    const QByteArray body = ChatWire::chatBody(m_prompts.next(), {{QStringLiteral("stream"), true}});
    socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: "
                 + QByteArray::number(body.size()) + "\r\n\r\n" + body);
    QByteArray head;
    QDeadlineTimer deadline(TimeScale::ms(3000));
    while (!head.contains("\r\n\r\n") && !deadline.hasExpired()) {
        if (socket.waitForReadyRead(static_cast<int>(deadline.remainingTime())))
            head += socket.readAll();
    }
    QVERIFY2(head.startsWith("HTTP/1.1 200") && head.contains("text/event-stream"), head.constData());
    QVERIFY2(!head.contains("data:"), "the first token came early");
    QElapsedTimer left;
    left.start();
    socket.abort();

    // The gateway counts the request as ended (an error outcome) once it has closed the upstream call.
    QTRY_VERIFY_WITH_TIMEOUT(errors() >= errorsBefore + 1, TimeScale::ms(1500));
    QVERIFY2(left.elapsed() < 3500, qPrintable(QStringLiteral("after %1 ms").arg(left.elapsed())));
    // The stub finds its client gone when its first token is due.
    auto cancelled = [&] {
        const HttpResult stats = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/stats").arg(slowPort)));
        return QJsonDocument::fromJson(stats.body).object().value(u"streams_cancelled").toInteger(-1);
    };
    QTRY_COMPARE_WITH_TIMEOUT(cancelled(), qint64(1), TimeScale::ms(8000));
    QVERIFY2(gateway->stop(), qPrintable(gateway->describe()));
    QVERIFY2(slowStub.stop(), qPrintable(slowStub.describe()));
}

QTEST_GUILESS_MAIN(TestStreamedMiss)
#include "tst_streamedmiss.moc"
