#include <QTest>

#include <cstring>
#include <string>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/gateway/httpexchange.h"
#include "core/gateway/httpmessagebudget.h"

using namespace l0l3;
namespace http = boost::beast::http;
using boost::beast::error_code;

namespace {

constexpr std::size_t kHeader = 16 * 1024;
constexpr std::size_t kBody = 64 * 1024;

// Feeds text in pieces of `step` bytes, as reads would deliver it; the result of the last feed.
template<class Parser>
error_code feedAll(Parser &parser, HttpMessageBudget &budget, const std::string &text, std::size_t step)
{
    boost::beast::flat_buffer buffer;
    error_code ec = http::error::need_more;
    for (std::size_t at = 0; at < text.size() && ec == http::error::need_more; at += step) {
        const std::string piece = text.substr(at, step);
        auto dst = buffer.prepare(piece.size());
        std::memcpy(dst.data(), piece.data(), piece.size());
        buffer.commit(piece.size());
        ec = budget.feed(parser, buffer);
    }
    return ec;
}

error_code readRequest(const std::string &text, std::size_t step, std::string *body = nullptr)
{
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(kHeader));
    parser.body_limit(kBody);
    HttpMessageBudget budget(kHeader, 2 * (kHeader + kBody));
    const error_code ec = feedAll(parser, budget, text, step);
    if (body && !ec)
        *body = parser.get().body();
    return ec;
}

std::string chunkedHead()
{
    return "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
}

} // namespace

// The limits Beast 1.74 leaves to its caller, enforced on every message the
// gateway reads from a client or an upstream.
class TestHttpMessageBudget : public QObject
{
    Q_OBJECT

private slots:
    void hostileMessages_data();
    void hostileMessages();
    void wellFormedChunkedWithTrailer();
    void hostileResponseTrailer();
};

void TestHttpMessageBudget::hostileMessages_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<int>("step");
    QTest::addColumn<int>("error");

    const std::string big(70000, 'a');
    const auto row = [](const char *name, const std::string &text, int step, http::error e) {
        QTest::newRow(name) << QByteArray::fromStdString(text) << step << static_cast<int>(e);
    };
    // Whole in one buffer, Beast parses the trailer and basic_fields throws length_error.
    row("trailer field over 64 KiB, one read", chunkedHead() + "0\r\nX-Big: " + big + "\r\n\r\n", 1 << 20,
        http::error::bad_value);
    row("trailer field over 64 KiB, 4 KiB reads", chunkedHead() + "0\r\nX-Big: " + big + "\r\n\r\n", 4096,
        http::error::header_limit);
    row("unterminated trailer", chunkedHead() + "3\r\nabc\r\n0\r\nX-Big: " + std::string(1 << 20, 'b'), 8192,
        http::error::header_limit);
    row("unterminated chunk size line", chunkedHead() + "3;e=" + std::string(1 << 20, 'c'), 8192,
        http::error::header_limit);
    std::string framing = chunkedHead();
    for (int i = 0; i < 4000; ++i)
        framing += "1;pad=" + std::string(100, 'p') + "\r\nx\r\n";
    row("body within its limit, framing beyond the budget", framing + "0\r\n\r\n", 65536, http::error::buffer_overflow);
    row("transfer-encoding chunked, identity",
        "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 4096,
        http::error::bad_transfer_encoding);
    row("transfer-encoding xchunked", "GET /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 4096,
        http::error::bad_transfer_encoding);
    row("transfer-encoding identity with a length",
        "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", 4096,
        http::error::bad_transfer_encoding);
}

void TestHttpMessageBudget::hostileMessages()
{
    QFETCH(QByteArray, text);
    QFETCH(int, step);
    QFETCH(int, error);
    error_code ec;
    try {
        ec = readRequest(text.toStdString(), static_cast<std::size_t>(step));
    } catch (const std::exception &e) {
        QFAIL(e.what());
    }
    QVERIFY2(ec == http::make_error_code(static_cast<http::error>(error)), ec.message().c_str());
}

void TestHttpMessageBudget::wellFormedChunkedWithTrailer()
{
    for (std::size_t step : {std::size_t(1), std::size_t(7), std::size_t(4096)}) {
        std::string body;
        const error_code ec = readRequest(chunkedHead() + "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n", step,
                                          &body);
        QVERIFY2(!ec, ec.message().c_str());
        QCOMPARE(body, std::string("hello world"));
    }
}

void TestHttpMessageBudget::hostileResponseTrailer()
{
    http::response_parser<http::string_body> parser;
    HttpMessageBudget budget(kHeader, 2 * (kHeader + kBody));
    const std::string text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Big: "
        + std::string(70000, 'a') + "\r\n\r\n";
    error_code ec;
    try {
        ec = feedAll(parser, budget, text, 1 << 20);
    } catch (const std::exception &e) {
        QFAIL(e.what());
    }
    QVERIFY2(ec == http::error::bad_value, ec.message().c_str());
}

QTEST_GUILESS_MAIN(TestHttpMessageBudget)
#include "tst_httpmessagebudget.moc"
