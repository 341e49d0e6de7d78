#include <QTest>

#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "core/gateway/httpexchange.h"

using namespace l0l3;
namespace http = boost::beast::http;

namespace {

using Parser = http::request_parser<http::string_body, HttpFieldsAllocator>;

// Parses one request into `request` as HttpSession does: the message moves into a parser and back.
bool parseInto(HttpRequest &request, std::string_view wire)
{
    Parser parser(std::move(request));
    boost::beast::error_code ec;
    parser.eager(true);
    parser.header_limit(64 * 1024);
    parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
    if (ec || !parser.is_done())
        return false;
    request = parser.release();
    return true;
}

void resetForNext(HttpRequest &request)
{
    request.clear();
    request.target({});
    request.method(http::verb::get);
    request.body().clear();
}

std::string wireRequest(int i, std::size_t extraHeaderBytes = 0)
{
    std::string body = R"({"model":"m","messages":[{"role":"user","content":"q)" + std::to_string(i) + R"("}]})";
    std::string s = "POST /v1/chat/completions?n=" + std::to_string(i)
        + " HTTP/1.1\r\n"
          "Host: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-"
        + std::to_string(i) + "\r\nX-L0L3-Namespace: tenant-" + std::to_string(i % 7) + "\r\n";
    if (extraHeaderBytes)
        s += "X-Padding: " + std::string(extraHeaderBytes, 'p') + "\r\n";
    s += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return s;
}

} // namespace

class TestHeaderArena : public QObject
{
    Q_OBJECT

private slots:
    void bumpsAndStartsOverWhenAllFreed()
    {
        HeaderArena arena;
        HeaderArena::Allocator<char> chars(&arena);
        char *a = chars.allocate(10);
        HeaderArena::Allocator<std::uint64_t> words(chars); // rebound, same arena
        std::uint64_t *b = words.allocate(3);
        QCOMPARE(reinterpret_cast<std::uintptr_t>(b) % alignof(std::uint64_t), std::uintptr_t(0));
        QVERIFY(reinterpret_cast<char *>(b) >= a + 10);
        QCOMPARE(arena.live(), std::size_t(2));
        chars.deallocate(a, 10);
        QVERIFY(arena.used() > 0); // b is alive: the block is not reused yet
        words.deallocate(b, 3);
        QCOMPARE(arena.live(), std::size_t(0));
        QCOMPARE(arena.used(), std::size_t(0));
        QCOMPARE(arena.spilled(), std::uint64_t(0));
    }

    void spillsToTheHeapWhenFull()
    {
        HeaderArena arena;
        HeaderArena::Allocator<char> chars(&arena);
        char *inBlock = chars.allocate(HeaderArena::kBlockBytes - 8);
        char *spilled = chars.allocate(64);
        QCOMPARE(arena.spilled(), std::uint64_t(1));
        std::memset(spilled, 'x', 64); // real memory (AddressSanitizer checks it)
        chars.deallocate(spilled, 64);
        QCOMPARE(arena.live(), std::size_t(1));
        chars.deallocate(inBlock, HeaderArena::kBlockBytes - 8);
        QCOMPARE(arena.used(), std::size_t(0));
        HeaderArena::Allocator<char> heapOnly; // no arena
        char *p = heapOnly.allocate(5);
        heapOnly.deallocate(p, 5);
    }

    // A connection's successive requests reuse the block: each parses correctly, nothing goes to the
    // heap, and once the request is reset nothing is left in the arena.
    void successiveRequestsReuseTheBlock()
    {
        HeaderArena arena;
        HttpRequest request(std::piecewise_construct, std::make_tuple(), std::make_tuple(HttpFieldsAllocator(&arena)));
        for (int i = 0; i < 1000; ++i) {
            QVERIFY(parseInto(request, wireRequest(i)));
            QCOMPARE(std::string(request.target()), "/v1/chat/completions?n=" + std::to_string(i));
            QCOMPARE(std::string(request[http::field::authorization]), "Bearer sk-" + std::to_string(i));
            QCOMPARE(std::string(request["x-l0l3-namespace"]), "tenant-" + std::to_string(i % 7));
            QVERIFY(request.body().find("q" + std::to_string(i) + "\"") != std::string::npos);
            QVERIFY(arena.live() > 0);
            resetForNext(request);
            QCOMPARE(arena.live(), std::size_t(0));
            QCOMPARE(arena.used(), std::size_t(0));
        }
        QCOMPARE(arena.spilled(), std::uint64_t(0));
    }

    // Headers larger than the block: the overflow comes from the heap and the values are intact.
    void largeHeadersSpill()
    {
        HeaderArena arena;
        HttpRequest request(std::piecewise_construct, std::make_tuple(), std::make_tuple(HttpFieldsAllocator(&arena)));
        QVERIFY(parseInto(request, wireRequest(1, 3 * HeaderArena::kBlockBytes)));
        QCOMPARE(request["x-padding"].size(), 3 * HeaderArena::kBlockBytes);
        QCOMPARE(std::string(request["x-l0l3-namespace"]), std::string("tenant-1"));
        QVERIFY(arena.spilled() > 0);
        resetForNext(request);
        QCOMPARE(arena.live(), std::size_t(0));
        QVERIFY(parseInto(request, wireRequest(2)));
        QCOMPARE(std::string(request["x-l0l3-namespace"]), std::string("tenant-2"));
    }
};

QTEST_GUILESS_MAIN(TestHeaderArena)
#include "tst_headerarena.moc"
