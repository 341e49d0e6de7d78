#include <QElapsedTimer>
#include <QFile>
#include <QPointer>
#include <QTcpSocket>
#include <QTest>
#include <QUuid>

#include <memory>
#include <vector>

#include "tests/integration/chatwire.h"
#include "tests/support/gatewaystack.h"
#include "tests/support/httpclient.h"
#include "tests/support/poll.h"
#include "tests/support/rawhttpserver.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

constexpr int kReplyTimeoutMs = 5000;

// What came back on a raw connection: the bytes, and whether the gateway closed it.
struct RawReply
{
    QByteArray bytes;
    bool closed = false;

    int status() const
    {
        if (!bytes.startsWith("HTTP/1.1 "))
            return 0;
        return bytes.mid(9, 3).toInt();
    }
    QByteArray body() const { return bytes.mid(bytes.indexOf("\r\n\r\n") + 4); }
};

// True once bytes hold one whole response with a Content-Length.
bool completeResponse(const QByteArray &bytes)
{
    const qsizetype end = bytes.indexOf("\r\n\r\n");
    if (end < 0)
        return false;
    const QByteArray head = bytes.left(end).toLower();
    const qsizetype at = head.indexOf("\r\ncontent-length:");
    if (at < 0)
        return true;
    const qsizetype eol = head.indexOf("\r\n", at + 2);
    const qsizetype length = head.mid(at + 17, eol < 0 ? -1 : eol - at - 17).trimmed().toLongLong();
    return bytes.size() >= end + 4 + length;
}

// Writes request on a new connection, then reads until the gateway closes it (untilClosed) or one
// whole response has arrived, within timeoutMs. The request is written while reading, so a gateway
// that answers before reading everything is not blocked by the test.
RawReply rawExchange(int port, const QByteArray &request, bool untilClosed, int timeoutMs = kReplyTimeoutMs)
{
    RawReply reply;
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
    if (!socket.waitForConnected(3000))
        return reply;
    socket.write(request);
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < timeoutMs) {
        if (socket.state() != QAbstractSocket::ConnectedState) {
            reply.closed = true;
            break;
        }
        socket.waitForReadyRead(50);
        reply.bytes += socket.readAll();
        if (!untilClosed && completeResponse(reply.bytes))
            break;
    }
    reply.bytes += socket.readAll();
    return reply;
}

QByteArray chunkedHealthz(const QByteArray &afterHead)
{
    return "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n" + afterHead;
}

// CPU seconds (user + system) the process has used, from /proc; -1 if unreadable.
double cpuSeconds(qint64 pid)
{
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray text = stat.readAll();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
    if (fields.size() < 13)
        return -1;
    const double ticks = fields[11].toDouble() + fields[12].toDouble(); // utime, stime
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

QString uniquePrompt()
{
    return QStringLiteral("framing %1").arg(QUuid::createUuid().toString(QUuid::WithoutBraces));
}

} // namespace

// HTTP framing and connection hardening, against real gateway processes:
// every attack is followed by /healthz answering 200 from the same process.
class TestGatewayFraming : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void hostileRequestFraming_data();
    void hostileRequestFraming();
    void largeMaxHeaderBytesIsClamped();
    void transferEncodingNotEndingInChunked_data();
    void transferEncodingNotEndingInChunked();
    void hostileUpstreamFraming_data();
    void hostileUpstreamFraming();
    void firstRequestDeadline();
    void perClientConnectionCap();
    void healthAndMetricsBeyondConnectionCap();
    void idleKeepAliveGivesWayAtCap();
    void bufferedBytesBudget();
    void acceptDoesNotSpinOutOfDescriptors();
    void echoedValuesAreEscaped();
    void warningFloodIsRateLimited();

private:
    // /healthz answers 200 on a fresh connection and the process is alive.
    bool healthy(ManagedProcess &gateway, int port, QString *why);

    GatewayStack m_stack;
    HttpClient m_http;
    std::unique_ptr<ManagedProcess> m_extra; // the test's own gateway, when it needs flags
};

void TestGatewayFraming::initTestCase()
{
    QString error;
    QVERIFY2(m_stack.start({}, &error), qPrintable(error));
}

void TestGatewayFraming::cleanupTestCase()
{
    m_stack.stop();
}

void TestGatewayFraming::cleanup()
{
    m_stack.printLogsIfFailed({m_extra.get()});
    m_extra.reset();
}

bool TestGatewayFraming::healthy(ManagedProcess &gateway, int port, QString *why)
{
    const HttpResult r = m_http.get(QUrl(QStringLiteral("http://127.0.0.1:%1/healthz").arg(port)));
    if (r.status == 200 && gateway.isRunning())
        return true;
    *why = QStringLiteral("healthz %1 (%2), running %3\n%4")
               .arg(r.status)
               .arg(r.error)
               .arg(gateway.isRunning())
               .arg(gateway.describe());
    return false;
}

void TestGatewayFraming::hostileRequestFraming_data()
{
    QTest::addColumn<QByteArray>("request");

    // Beast throws length_error for a field over 64 KiB, trailers included, before any authentication.
    QTest::newRow("trailer field over 64 KiB") << chunkedHealthz("0\r\nX-Big: " + QByteArray(70000, 'a') + "\r\n\r\n");
    QTest::newRow("trailer field over 64 KiB after a chunk")
        << chunkedHealthz("5\r\nhello\r\n0\r\nX-Big: " + QByteArray(100000, 'b') + "\r\n\r\n");
    // Beast buffers a trailer until its end: never ending, it grew without bound.
    QTest::newRow("unterminated trailer") << chunkedHealthz("0\r\nX-Big: " + QByteArray(1 << 20, 'c'));
    QTest::newRow("unterminated chunk size line") << chunkedHealthz("5;ext=" + QByteArray(1 << 20, 'd'));
}

void TestGatewayFraming::hostileRequestFraming()
{
    QFETCH(QByteArray, request);
    const RawReply reply = rawExchange(m_stack.gatewayPort(), request, true);
    QVERIFY2(reply.status() == 400 || reply.status() == 431,
             qPrintable(
                 QStringLiteral("status %1: %2").arg(reply.status()).arg(QString::fromLatin1(reply.bytes.left(300)))));
    QVERIFY2(ChatWire::isOpenAiError(reply.body()), reply.bytes.left(300).constData());
    QVERIFY2(reply.closed, "the connection stayed open after a framing error");
    QString why;
    QVERIFY2(healthy(m_stack.gateway(), m_stack.gatewayPort(), &why), qPrintable(why));
}

void TestGatewayFraming::largeMaxHeaderBytesIsClamped()
{
    QString error;
    m_extra = m_stack.launchGateway({QStringLiteral("--max-header-bytes"), QStringLiteral("200000")}, &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    const QByteArray request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + QByteArray(70000, 'a')
        + "\r\n\r\n";
    const RawReply reply = rawExchange(port, request, true);
    QVERIFY2(reply.status() == 431, qPrintable(QStringLiteral("status %1").arg(reply.status())));
    QVERIFY(reply.closed);
    // Headers up to the clamped limit still pass.
    const RawReply fits = rawExchange(
        port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + QByteArray(40000, 'a') + "\r\n\r\n", false);
    QCOMPARE(fits.status(), 200);
    QString why;
    QVERIFY2(healthy(*m_extra, port, &why), qPrintable(why));
}

void TestGatewayFraming::transferEncodingNotEndingInChunked_data()
{
    QTest::addColumn<QByteArray>("encoding");
    QTest::addColumn<int>("status");
    QTest::newRow("chunked, identity") << QByteArray("chunked, identity") << 400;
    QTest::newRow("xchunked") << QByteArray("xchunked") << 400;
    QTest::newRow("gzip") << QByteArray("gzip") << 400;
    QTest::newRow("chunked (control)") << QByteArray("chunked") << 200;
}

void TestGatewayFraming::transferEncodingNotEndingInChunked()
{
    QFETCH(QByteArray, encoding);
    QFETCH(int, status);
    // RFC 9112 6.3: the length cannot be determined; Beast read no body and left these bytes as the next request.
    const QByteArray request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + encoding
        + "\r\n\r\n0\r\n\r\n";
    const RawReply reply = rawExchange(m_stack.gatewayPort(), request, status != 200,
                                       status == 200 ? kReplyTimeoutMs : 3000);
    QVERIFY2(reply.status() == status,
             qPrintable(QStringLiteral("status %1: %2").arg(reply.status()).arg(QString::fromLatin1(reply.bytes))));
    if (status != 200) {
        QVERIFY2(reply.closed, "the connection stayed open");
        QVERIFY2(reply.bytes.count("HTTP/1.1 ") == 1, reply.bytes.constData());
    }
    QString why;
    QVERIFY2(healthy(m_stack.gateway(), m_stack.gatewayPort(), &why), qPrintable(why));
}

void TestGatewayFraming::hostileUpstreamFraming_data()
{
    QTest::addColumn<QByteArray>("response");
    const QByteArray chunked = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "2\r\n{}\r\n";
    QTest::newRow("trailer field over 64 KiB") << chunked + "0\r\nX-Big: " + QByteArray(70000, 'a') + "\r\n\r\n";
    QTest::newRow("unterminated trailer") << chunked + "0\r\nX-Big: " + QByteArray(1 << 20, 'b');
    QTest::newRow("unterminated chunk size line") << chunked + "5;ext=" + QByteArray(1 << 20, 'c');
    QTest::newRow("header over 64 KiB") << "HTTP/1.1 200 OK\r\nX-Big: " + QByteArray(70000, 'd')
            + "\r\nContent-Length: 2\r\n\r\n{}";
}

void TestGatewayFraming::hostileUpstreamFraming()
{
    QFETCH(QByteArray, response);
    RawHttpServer upstream(response);
    QString error;
    m_extra = m_stack.launchGateway({QStringLiteral("--upstream"),
                                     QStringLiteral("http://127.0.0.1:%1/v1").arg(upstream.port()),
                                     QStringLiteral("--upstream-timeout-ms"), QStringLiteral("30000"),
                                     QStringLiteral("--breaker-failures"), QStringLiteral("1000")},
                                    &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    const HttpResult r = m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port)),
                                     ChatWire::chatBody(uniquePrompt()), {}, 8000);
    QVERIFY2(r.status == 502,
             qPrintable(QStringLiteral("status %1 %2 %3").arg(r.status).arg(r.error, QString::fromUtf8(r.body))));
    QVERIFY(ChatWire::isOpenAiError(r.body));
    QCOMPARE(upstream.requests(), 1);
    QString why;
    QVERIFY2(healthy(*m_extra, port, &why), qPrintable(why));
}

void TestGatewayFraming::firstRequestDeadline()
{
    QString error;
    m_extra = m_stack.launchGateway({QStringLiteral("--first-request-timeout-ms"), QStringLiteral("400")}, &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    QTcpSocket silent;
    QTcpSocket dribbling;
    for (QTcpSocket *s : {&silent, &dribbling}) {
        s->connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
        QVERIFY(s->waitForConnected(3000));
    }
    QElapsedTimer timer;
    timer.start();
    // A head that never ends, a byte at a time, well inside the read and idle timeouts.
    const QByteArray head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    qsizetype sent = 0;
    const bool bothClosed = Poll::until(
        [&] {
            if (dribbling.state() == QAbstractSocket::ConnectedState) {
                dribbling.write(sent < head.size() ? head.mid(sent, 1) : QByteArray("a"));
                ++sent;
                dribbling.flush();
            }
            silent.waitForReadyRead(1);
            dribbling.waitForReadyRead(1);
            return silent.state() == QAbstractSocket::UnconnectedState
                && dribbling.state() == QAbstractSocket::UnconnectedState;
        },
        5000, 50);
    QVERIFY2(bothClosed,
             qPrintable(QStringLiteral("silent %1, dribbling %2 after %3 ms")
                            .arg(silent.state())
                            .arg(dribbling.state())
                            .arg(timer.elapsed())));
    QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
    // A client that sends its request at once is served, and keeps its connection past the deadline.
    QTcpSocket prompt;
    prompt.connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
    QVERIFY(prompt.waitForConnected(3000));
    prompt.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    QByteArray first;
    QVERIFY(Poll::until(
        [&] {
            prompt.waitForReadyRead(10);
            first += prompt.readAll();
            return completeResponse(first);
        },
        3000));
    QVERIFY(first.startsWith("HTTP/1.1 200"));
    QElapsedTimer idle;
    idle.start();
    QVERIFY(Poll::until(
        [&] {
            prompt.waitForReadyRead(10);
            return idle.elapsed() > 800;
        },
        3000));
    QCOMPARE(prompt.state(), QAbstractSocket::ConnectedState);
    QString why;
    QVERIFY2(healthy(*m_extra, port, &why), qPrintable(why));
}

void TestGatewayFraming::perClientConnectionCap()
{
    QString error;
    // One thread: connections are accepted in the order they were made.
    m_extra = m_stack.launchGateway({QStringLiteral("--max-connections-per-client"), QStringLiteral("3"),
                                     QStringLiteral("--threads"), QStringLiteral("1"),
                                     QStringLiteral("--first-request-timeout-ms"), QStringLiteral("30000")},
                                    &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    std::vector<std::unique_ptr<QTcpSocket>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<QTcpSocket>());
        held.back()->connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
        QVERIFY(held.back()->waitForConnected(3000));
    }
    // Nothing sent: the refusal is written at once, and a request it did not read would reset it.
    const RawReply refused = rawExchange(port, QByteArray(), true);
    QVERIFY2(refused.status() == 503, refused.bytes.constData());
    QVERIFY(refused.body().contains("too_many_connections"));
    for (auto &s : held) {
        QCOMPARE(s->state(), QAbstractSocket::ConnectedState); // the client's own connections are untouched
        s->close();
    }
    QString why;
    QVERIFY2(Poll::until([&] { return healthy(*m_extra, port, &why); }, 3000), qPrintable(why));
}

void TestGatewayFraming::healthAndMetricsBeyondConnectionCap()
{
    QString error;
    m_extra = m_stack.launchGateway({QStringLiteral("--max-connections"), QStringLiteral("3"),
                                     QStringLiteral("--threads"), QStringLiteral("1"),
                                     QStringLiteral("--first-request-timeout-ms"), QStringLiteral("30000")},
                                    &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    std::vector<std::unique_ptr<QTcpSocket>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<QTcpSocket>());
        held.back()->connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
        QVERIFY(held.back()->waitForConnected(3000));
    }
    // The cap is reached once the gateway has accepted them: a chat request is refused.
    QVERIFY(Poll::until(
        [&] {
            const RawReply r = rawExchange(port,
                                           "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                                           true);
            return r.status() == 503 && r.body().contains("too_many_connections");
        },
        5000));
    for (const char *path : {"/healthz", "/readyz", "/metrics"}) {
        const RawReply r = rawExchange(port, QByteArray("GET ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", true);
        QVERIFY2(r.status() == 200,
                 qPrintable(
                     QStringLiteral("%1: %2").arg(QString::fromLatin1(path), QString::fromLatin1(r.bytes.left(200)))));
        QVERIFY(r.closed);
    }
    // Beyond the cap a silent connection still gets the 503, within about a second.
    const RawReply silent = rawExchange(port, QByteArray(), true);
    QVERIFY2(silent.status() == 503, silent.bytes.constData());
    for (auto &s : held)
        s->close();
    QString why;
    QVERIFY2(Poll::until([&] { return healthy(*m_extra, port, &why); }, 3000), qPrintable(why));
}

void TestGatewayFraming::idleKeepAliveGivesWayAtCap()
{
    QString error;
    m_extra = m_stack.launchGateway({QStringLiteral("--max-connections"), QStringLiteral("3"),
                                     QStringLiteral("--threads"), QStringLiteral("1")},
                                    &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    // Three keep-alive connections, each after one request: idle, holding every slot for the idle timeout.
    std::vector<std::unique_ptr<QTcpSocket>> idle;
    for (int i = 0; i < 3; ++i) {
        idle.push_back(std::make_unique<QTcpSocket>());
        QTcpSocket &s = *idle.back();
        s.connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
        QVERIFY(s.waitForConnected(3000));
        s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        QByteArray reply;
        QVERIFY(Poll::until(
            [&] {
                s.waitForReadyRead(10);
                reply += s.readAll();
                return completeResponse(reply);
            },
            3000));
        QVERIFY(reply.startsWith("HTTP/1.1 200"));
    }
    // A new client is served, and one idle connection made way for it.
    const HttpResult chat = m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port)),
                                        ChatWire::chatBody(uniquePrompt()));
    QVERIFY2(chat.status == 200,
             qPrintable(QStringLiteral("%1 %2").arg(chat.status).arg(QString::fromUtf8(chat.body))));
    QVERIFY(Poll::until(
        [&] {
            int closed = 0;
            for (auto &s : idle) {
                s->waitForReadyRead(1);
                closed += s->state() == QAbstractSocket::UnconnectedState ? 1 : 0;
            }
            return closed >= 1;
        },
        3000));
    QString why;
    QVERIFY2(healthy(*m_extra, port, &why), qPrintable(why));
}

void TestGatewayFraming::bufferedBytesBudget()
{
    QString error;
    m_extra = m_stack.launchGateway({QStringLiteral("--max-buffered-bytes"), QStringLiteral("65536"),
                                     QStringLiteral("--max-body-bytes"), QStringLiteral("1048576")},
                                    &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    // Slow bodies: each sends 40000 bytes of a 1 MB body and stalls; two of them exceed the budget.
    const QByteArray head =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000\r\n\r\n";
    std::vector<std::unique_ptr<QTcpSocket>> slow;
    QByteArray replies[3];
    for (int i = 0; i < 3; ++i) {
        slow.push_back(std::make_unique<QTcpSocket>());
        slow.back()->connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
        QVERIFY(slow.back()->waitForConnected(3000));
        slow.back()->write(head + QByteArray(40000, 'x'));
    }
    const bool refused = Poll::until(
        [&] {
            for (int i = 0; i < 3; ++i) {
                slow[static_cast<std::size_t>(i)]->waitForReadyRead(5);
                replies[i] += slow[static_cast<std::size_t>(i)]->readAll();
                if (replies[i].startsWith("HTTP/1.1 503") && replies[i].contains("server_busy"))
                    return true;
            }
            return false;
        },
        5000);
    QVERIFY2(refused,
             qPrintable(QStringLiteral("%1 | %2 | %3")
                            .arg(QString::fromLatin1(replies[0]), QString::fromLatin1(replies[1]),
                                 QString::fromLatin1(replies[2]))));
    // Small requests still pass while the slow bodies hold the budget.
    QString why;
    QVERIFY2(healthy(*m_extra, port, &why), qPrintable(why));
    slow.clear();
    const HttpResult chat = m_http.post(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port)),
                                        ChatWire::chatBody(uniquePrompt()));
    QVERIFY2(chat.status == 200, qPrintable(QString::fromUtf8(chat.body)));
}

void TestGatewayFraming::acceptDoesNotSpinOutOfDescriptors()
{
    // The gateway under a hard limit of 64 descriptors, then more connections than that.
    ManagedProcess gateway;
    QString error;
    QStringList args{QStringLiteral("--nofile=64:64"), QStringLiteral("--"),
                     ManagedProcess::binary(QStringLiteral("l0l3-gateway"))};
    args << m_stack.standardGatewayArgs(QString()) << QStringLiteral("--threads") << QStringLiteral("1");
    QVERIFY2(gateway.start(QStringLiteral("prlimit"), args, QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int port = gateway.listenPort();
    QVERIFY2(port > 0, qPrintable(gateway.describe()));
    std::vector<std::unique_ptr<QTcpSocket>> flood;
    for (int i = 0; i < 150; ++i) {
        flood.push_back(std::make_unique<QTcpSocket>());
        flood.back()->connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
        QVERIFY(flood.back()->waitForConnected(3000));
    }
    // A spinning accept loop burns a whole core; one that backs off (or never runs out) does not.
    const double before = cpuSeconds(gateway.pid());
    QElapsedTimer window;
    window.start();
    QVERIFY(Poll::until([&] { return window.elapsed() >= 1500; }, 3000));
    const double used = cpuSeconds(gateway.pid()) - before;
    qInfo("gateway CPU with 150 connections held: %.2f s in %lld ms", used, static_cast<long long>(window.elapsed()));
    QVERIFY2(before >= 0 && used < 0.5 * window.elapsed() / 1000.0,
             qPrintable(QStringLiteral("%1 s of CPU in %2 ms").arg(used).arg(window.elapsed())));
    flood.clear();
    QString why;
    QVERIFY2(Poll::until([&] { return healthy(gateway, port, &why); }, 5000), qPrintable(why));
}

void TestGatewayFraming::echoedValuesAreEscaped()
{
    QString error;
    m_extra = m_stack.launchGateway({}, &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    // Bytes 0x80-0xFF pass Beast's target check; 0x9b is a C1 CSI, 0xc2 0x9b its UTF-8 form.
    const QByteArray path = "/x\x9b"
                            "31m\xc2\x9b"
                            "2J"
        + QByteArray(500, 'p');
    const RawReply reply = rawExchange(port,
                                       "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                                       true);
    QCOMPARE(reply.status(), 404);
    QVERIFY2(!reply.body().contains('\x9b'), reply.body().constData());
    QVERIFY2(reply.body().size() < 600, qPrintable(QString::number(reply.body().size())));
    QVERIFY(Poll::until([&] { return m_extra->stderrText().contains("not_found"); }, 3000));
    const QByteArray log = m_extra->stderrText();
    QVERIFY2(!log.contains('\x9b'), log.constData());
    QVERIFY2(log.contains("\\x9b31m"), log.constData());
    const QByteArray line = log.mid(log.indexOf("not_found"));
    QVERIFY2(line.left(line.indexOf('\n')).size() < 600, line.constData());
}

void TestGatewayFraming::warningFloodIsRateLimited()
{
    QString error;
    m_extra = m_stack.launchGateway({}, &error);
    QVERIFY2(m_extra, qPrintable(error));
    const int port = m_extra->listenPort();
    const auto warnings = [&] { return m_extra->stderrText().count(" WARN HTTP 404"); };
    const qsizetype before = warnings();
    // 1000 bad requests, pipelined on 4 connections.
    QElapsedTimer timer;
    timer.start();
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    QByteArray pipeline;
    for (int i = 0; i < 250; ++i)
        pipeline += "GET /nope/" + QByteArray::number(i) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int c = 0; c < 4; ++c) {
        sockets.push_back(std::make_unique<QTcpSocket>());
        sockets.back()->connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
        QVERIFY(sockets.back()->waitForConnected(3000));
        sockets.back()->write(pipeline);
    }
    std::vector<QByteArray> received(4);
    const bool answered = Poll::until(
        [&] {
            int done = 0;
            for (std::size_t c = 0; c < 4; ++c) {
                sockets[c]->waitForReadyRead(5);
                received[c] += sockets[c]->readAll();
                done += received[c].count("HTTP/1.1 404") == 250 ? 1 : 0;
            }
            return done == 4;
        },
        10000);
    QVERIFY(answered);
    const double seconds = timer.elapsed() / 1000.0;
    // At most 20 a second, plus one line per second telling how many were dropped.
    const qsizetype logged = warnings() - before;
    QVERIFY2(logged <= 20 * (static_cast<qsizetype>(seconds) + 2),
             qPrintable(QStringLiteral("%1 warnings for 1000 requests in %2 s").arg(logged).arg(seconds)));
    // The next warning let through says how many were suppressed.
    QVERIFY(Poll::until(
        [&] {
            rawExchange(port, "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false);
            return m_extra->stderrText().contains("warnings suppressed");
        },
        5000, 200));
    QString why;
    QVERIFY2(healthy(*m_extra, port, &why), qPrintable(why));
}

QTEST_GUILESS_MAIN(TestGatewayFraming)
#include "tst_gatewayframing.moc"
