#include <QTest>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/gateway/upstreamstream.h"

using namespace l0l3;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string chunk(std::string_view content, std::string_view finish = "null", int index = 0)
{
    return "data: {\"choices\":[{\"index\":" + std::to_string(index) + ",\"delta\":{\"content\":\""
        + std::string(content) + "\"},\"finish_reason\":" + std::string(finish) + "}]}\n\n";
}

// One connection's worth of upstream: reads the request, writes response, then each of drip
// dripMs apart, then closes or stays open.
class FakeUpstream
{
public:
    FakeUpstream(net::io_context &context, std::string response, bool closeAfter, std::vector<std::string> drip = {},
                 int dripMs = 0)
        : m_acceptor(context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0))
        , m_socket(context)
        , m_timer(context)
        , m_response(std::move(response))
        , m_closeAfter(closeAfter)
        , m_drip(std::move(drip))
        , m_dripMs(dripMs)
    {
        m_acceptor.async_accept(m_socket, [this](boost::system::error_code ec) {
            if (ec)
                return;
            m_socket.async_read_some(net::buffer(m_request), [this](boost::system::error_code ec, std::size_t) {
                if (ec)
                    return;
                net::async_write(m_socket, net::buffer(m_response),
                                 [this](boost::system::error_code, std::size_t) { next(); });
            });
        });
    }
    std::uint16_t port() const { return m_acceptor.local_endpoint().port(); }

private:
    void next()
    {
        if (m_sent >= m_drip.size()) {
            if (m_closeAfter)
                m_socket.close();
            return;
        }
        m_timer.expires_after(std::chrono::milliseconds(m_dripMs));
        m_timer.async_wait([this](boost::system::error_code ec) {
            if (ec)
                return;
            net::async_write(m_socket, net::buffer(m_drip[m_sent++]),
                             [this](boost::system::error_code ec, std::size_t) {
                                 if (!ec)
                                     next();
                             });
        });
    }

    tcp::acceptor m_acceptor;
    tcp::socket m_socket;
    net::steady_timer m_timer;
    std::array<char, 65536> m_request{};
    std::string m_response;
    bool m_closeAfter;
    std::vector<std::string> m_drip;
    int m_dripMs;
    std::size_t m_sent = 0;
};

struct Outcome
{
    std::vector<std::string> events;
    std::optional<UpstreamStreamer::End> end;
    std::optional<UpstreamClient::Result> answered;
    bool started = false;
};

Outcome run(const std::string &response, bool closeAfter, std::size_t maxEventBytes = 1u << 20, int idleMs = 5000,
            std::vector<std::string> drip = {}, int dripMs = 0, int totalMs = 600000)
{
    net::io_context context;
    FakeUpstream upstream(context, response, closeAfter, std::move(drip), dripMs);
    UpstreamStreamer::Options options;
    options.upstream.host = "127.0.0.1";
    options.upstream.port = upstream.port();
    options.idleTimeoutMs = idleMs;
    options.totalTimeoutMs = totalMs;
    options.maxEventBytes = maxEventBytes;
    UpstreamStreamer streamer(context, options);
    Outcome out;
    bool over = false;
    UpstreamStreamer::Handler handler;
    handler.answered = [&](UpstreamClient::Result r) {
        out.answered = std::move(r);
        over = true;
    };
    handler.started = [&] { out.started = true; };
    handler.event = [&](std::string_view event) {
        out.events.emplace_back(event);
        if (event.find("[DONE]") != std::string_view::npos) {
            over = true;
            return false;
        }
        return true;
    };
    handler.ended = [&](UpstreamStreamer::End end, std::string) {
        out.end = end;
        over = true;
    };
    streamer.post("{}", {}, std::move(handler));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!over && std::chrono::steady_clock::now() < deadline)
        context.run_one_for(std::chrono::milliseconds(100));
    return out;
}

const std::string kSseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string chunked(std::string_view data)
{
    char size[16];
    std::snprintf(size, sizeof size, "%zx", data.size());
    return std::string(size) + "\r\n" + std::string(data) + "\r\n";
}

} // namespace

// SseAnswer (what a streamed answer says) and UpstreamStreamer against a
// scripted upstream on loopback: events split at blank lines whatever the
// chunking, and the ways a stream ends early.
class TestUpstreamStream : public QObject
{
    Q_OBJECT

private slots:
    void completedTextIsProposable();
    void notProposable_data();
    void notProposable();
    void malformedDataIsInvalid();
    void usageIsRead();
    void eventsAreSplitAcrossChunks();
    void truncatedStreamEnds();
    void oversizeEventEnds();
    void idleTimeoutEnds();
    void steadyStreamOutlivesTheIdleTimeout();
    void totalTimeoutEnds();
    void errorStatusIsAnswered();
};

void TestUpstreamStream::completedTextIsProposable()
{
    SseAnswer a(1024);
    QCOMPARE(a.add(": keep-alive\n\n"), SseAnswer::Kind::Forward);
    QCOMPARE(a.add(chunk("Hello ")), SseAnswer::Kind::Forward);
    QCOMPARE(
        a.add("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"world\"},\"finish_reason\":null}]}\r\n\r\n"),
        SseAnswer::Kind::Forward);
    QCOMPARE(a.add(chunk("", "\"stop\"")), SseAnswer::Kind::Forward);
    QVERIFY(!a.proposable()); // not before [DONE]
    QCOMPARE(a.add("data: [DONE]\n\n"), SseAnswer::Kind::Done);
    QVERIFY(a.proposable());
    QCOMPARE(a.content(), std::string("Hello world"));
}

void TestUpstreamStream::notProposable_data()
{
    QTest::addColumn<QByteArray>("event");
    QTest::newRow("tool call") << QByteArray(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0}]},\"finish_reason\":null}]}\n\n");
    QTest::newRow("refusal") << QByteArray(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"no\"},\"finish_reason\":null}]}\n\n");
    QTest::newRow("second choice") << QByteArray::fromStdString(chunk("other", "null", 1));
    QTest::newRow("error object") << QByteArray("data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
    QTest::newRow("too long") << QByteArray::fromStdString(chunk(std::string(2000, 'x')));
}

void TestUpstreamStream::notProposable()
{
    QFETCH(QByteArray, event);
    SseAnswer a(1024);
    QCOMPARE(a.add(chunk("Hello")), SseAnswer::Kind::Forward);
    QCOMPARE(a.add(event.toStdString()), SseAnswer::Kind::Forward);
    QCOMPARE(a.add(chunk("", "\"stop\"")), SseAnswer::Kind::Forward);
    QCOMPARE(a.add("data: [DONE]\n\n"), SseAnswer::Kind::Done);
    QVERIFY(!a.proposable());
}

void TestUpstreamStream::malformedDataIsInvalid()
{
    SseAnswer a(1024);
    QCOMPARE(a.add("data: {\"choices\":[{\"index\":0,\n\n"), SseAnswer::Kind::Invalid);
    QCOMPARE(a.add("data: \xff\xfe\n\n"), SseAnswer::Kind::Invalid);
    QCOMPARE(a.add("data: [1,2]\n\n"), SseAnswer::Kind::Invalid);
    // A length stop is passed on, never proposed.
    SseAnswer b(1024);
    b.add(chunk("Hi", "\"length\""));
    QCOMPARE(b.add("data: [DONE]\n\n"), SseAnswer::Kind::Done);
    QVERIFY(!b.proposable());
}

void TestUpstreamStream::usageIsRead()
{
    SseAnswer a(1024);
    a.add("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n");
    QCOMPARE(a.promptTokens(), 7);
    QCOMPARE(a.completionTokens(), 3);
}

void TestUpstreamStream::eventsAreSplitAcrossChunks()
{
    const std::string events = chunk("Hel") + chunk("lo", "\"stop\"") + "data: [DONE]\n\n";
    // Chunks cut through events and lines.
    std::string body;
    for (std::size_t at = 0; at < events.size(); at += 7)
        body += chunked(events.substr(at, 7));
    const Outcome out = run(kSseHead + body + "0\r\n\r\n", false);
    QVERIFY(out.started);
    QCOMPARE(out.events.size(), std::size_t(3));
    QCOMPARE(out.events[0], chunk("Hel"));
    QCOMPARE(out.events[2], std::string("data: [DONE]\n\n"));
    QVERIFY(!out.end);
}

void TestUpstreamStream::truncatedStreamEnds()
{
    // The connection closes before the last chunk, then a complete body without [DONE].
    Outcome out = run(kSseHead + chunked(chunk("Hel")), true);
    QCOMPARE(out.events.size(), std::size_t(1));
    QVERIFY(out.end && *out.end == UpstreamStreamer::End::Truncated);
    out = run(kSseHead + chunked(chunk("Hel") + "data: {\"cho") + "0\r\n\r\n", false);
    QCOMPARE(out.events.size(), std::size_t(1));
    QVERIFY(out.end && *out.end == UpstreamStreamer::End::Truncated);
}

void TestUpstreamStream::oversizeEventEnds()
{
    const Outcome out = run(kSseHead + chunked(chunk("ok")) + chunked(chunk(std::string(5000, 'x'))), false, 1024);
    QCOMPARE(out.events.size(), std::size_t(1));
    QVERIFY(out.end && *out.end == UpstreamStreamer::End::Oversize);
}

void TestUpstreamStream::idleTimeoutEnds()
{
    // Open, one event, then silence: the idle timeout ends it.
    const Outcome out = run(kSseHead + chunked(chunk("ok")), false, 1u << 20, 200);
    QCOMPARE(out.events.size(), std::size_t(1));
    QVERIFY(out.end && *out.end == UpstreamStreamer::End::Timeout);
}

// Events 100 ms apart for 1.2 s under a 400 ms idle timeout: never cut off.
void TestUpstreamStream::steadyStreamOutlivesTheIdleTimeout()
{
    std::vector<std::string> drip;
    for (int i = 0; i < 12; ++i)
        drip.push_back(chunked(chunk("tok ")));
    drip.push_back(chunked(chunk("", "\"stop\"") + "data: [DONE]\n\n") + "0\r\n\r\n");
    const Outcome out = run(kSseHead, false, 1u << 20, 400, drip, 100);
    QVERIFY(!out.end);
    QCOMPARE(out.events.size(), std::size_t(14));
}

// The same under a 500 ms total timeout: ended however steady.
void TestUpstreamStream::totalTimeoutEnds()
{
    std::vector<std::string> drip;
    for (int i = 0; i < 12; ++i)
        drip.push_back(chunked(chunk("tok ")));
    const Outcome out = run(kSseHead, false, 1u << 20, 400, drip, 100, 500);
    QVERIFY(out.end && *out.end == UpstreamStreamer::End::Timeout);
    QVERIFY(out.events.size() < 12);
}

void TestUpstreamStream::errorStatusIsAnswered()
{
    const std::string body = "{\"error\":{\"message\":\"bad\"}}";
    const Outcome out = run("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
                                + std::to_string(body.size()) + "\r\n\r\n" + body,
                            false);
    QVERIFY(!out.started);
    QVERIFY(out.answered);
    QCOMPARE(out.answered->status, 400);
    QCOMPARE(out.answered->body, body);
}

QTEST_GUILESS_MAIN(TestUpstreamStream)
#include "tst_upstreamstream.moc"
