#include <QTest>

#include <random>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include "core/common/hiredisarena.h"

namespace HiredisArena = l0l3::HiredisArena;

// Every reply is built twice, by hiredis' own functions and by the arena's,
// from the same bytes fed in the same chunks, and the two trees compared.
class TestHiredisArena : public QObject
{
    Q_OBJECT

private slots:
    void sameTreesAsHiredis_data();
    void sameTreesAsHiredis();
    void largeStreamPageInRandomChunks();
    void protocolErrorReleasesThePartialReply();
    void hugeArrayHeaderIsRefused();
};

namespace {

std::string dump(const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING: return "$" + std::string(r->str, r->len) + (r->str[r->len] == '\0' ? "" : "<no NUL>");
    case REDIS_REPLY_STATUS: return "+" + std::string(r->str, r->len);
    case REDIS_REPLY_ERROR: return "-" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return ":" + std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_ARRAY: {
        std::string s = "[";
        for (size_t i = 0; i < r->elements; ++i)
            s += (i ? "," : "") + dump(r->element[i]);
        return s + "]";
    }
    }
    return "?";
}

// Feeds the bytes in chunks of the given sizes (cycled), collecting every
// complete reply as a dump; false when the reader reports an error.
bool readAll(redisReader *reader, const std::string &bytes, const std::vector<size_t> &chunks,
             std::vector<std::string> *out, void (*release)(void *))
{
    size_t pos = 0;
    size_t c = 0;
    while (pos < bytes.size()) {
        const size_t n = std::min(chunks[c++ % chunks.size()], bytes.size() - pos);
        if (redisReaderFeed(reader, bytes.data() + pos, n) != REDIS_OK)
            return false;
        pos += n;
        for (;;) {
            void *reply = nullptr;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK)
                return false;
            if (!reply)
                break;
            out->push_back(dump(static_cast<redisReply *>(reply)));
            release(reply);
        }
    }
    return true;
}

std::vector<std::string> viaHiredis(const std::string &bytes, const std::vector<size_t> &chunks)
{
    redisReader *reader = redisReaderCreate();
    std::vector<std::string> out;
    const bool ok = readAll(reader, bytes, chunks, &out, freeReplyObject);
    redisReaderFree(reader);
    if (!ok)
        out.push_back("error");
    return out;
}

std::vector<std::string> viaArena(const std::string &bytes, const std::vector<size_t> &chunks)
{
    redisReader *reader = redisReaderCreate();
    HiredisArena::install(reader);
    std::vector<std::string> out;
    const bool ok = readAll(reader, bytes, chunks, &out, HiredisArena::release);
    redisReaderFree(reader); // releases a partial reply through the arena
    if (!ok)
        out.push_back("error");
    return out;
}

std::string bulk(const std::string &s)
{
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

} // namespace

void TestHiredisArena::sameTreesAsHiredis_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("status") << QByteArray("+OK\r\n");
    QTest::newRow("error") << QByteArray("-NOGROUP No such key or consumer group\r\n");
    QTest::newRow("integer") << QByteArray(":-42\r\n");
    QTest::newRow("nil bulk") << QByteArray("$-1\r\n");
    QTest::newRow("nil array") << QByteArray("*-1\r\n");
    QTest::newRow("empty bulk") << QByteArray("$0\r\n\r\n");
    QTest::newRow("empty array") << QByteArray("*0\r\n");
    QTest::newRow("bulk with CRLF inside") << QByteArray("$4\r\na\r\nb\r\n");
    QTest::newRow("nested") << QByteArray("*3\r\n*2\r\n$1\r\na\r\n*0\r\n:7\r\n*2\r\n$-1\r\n+x\r\n");
    QTest::newRow("several replies") << QByteArray("+OK\r\n:1\r\n*1\r\n$3\r\nabc\r\n-ERR no\r\n");
    QTest::newRow("deep") << QByteArray("*1\r\n*1\r\n*1\r\n*1\r\n*2\r\n$1\r\nz\r\n:0\r\n");
}

void TestHiredisArena::sameTreesAsHiredis()
{
    QFETCH(QByteArray, bytes);
    const std::string s = bytes.toStdString();
    for (const std::vector<size_t> &chunks :
         {std::vector<size_t>{s.size()}, std::vector<size_t>{1}, std::vector<size_t>{2, 3}}) {
        const auto expected = viaHiredis(s, chunks);
        QVERIFY(!expected.empty());
        QCOMPARE(viaArena(s, chunks), expected);
    }
}

// The shape of an XREADGROUP page, with strings from empty to 64 KB (beyond
// the largest arena block), fed in random chunks.
void TestHiredisArena::largeStreamPageInRandomChunks()
{
    std::mt19937 rng(20261201);
    std::string page = "*1\r\n*2\r\n" + bulk("l0l3:v1:proposals") + "*300\r\n";
    for (int e = 0; e < 300; ++e) {
        page += "*2\r\n" + bulk(std::to_string(1700000000000 + e) + "-0") + "*22\r\n";
        for (int f = 0; f < 11; ++f) {
            const size_t len = e == 150 && f == 4 ? 65536 : rng() % 900;
            page += bulk("field" + std::to_string(f)) + bulk(std::string(len, char('a' + (e + f) % 26)));
        }
    }
    page += "*2\r\n:1\r\n$-1\r\n"; // and a small reply after it
    std::vector<size_t> chunks;
    for (int i = 0; i < 64; ++i)
        chunks.push_back(1 + rng() % 20000);
    const auto expected = viaHiredis(page, chunks);
    QCOMPARE(expected.size(), size_t(2));
    QCOMPARE(viaArena(page, chunks), expected);
    QCOMPARE(viaArena(page, {page.size()}), expected);
}

// A protocol error in the middle of an array: the reader fails, and freeing
// it releases the half-built reply (ASan/LSan would report a leak or a bad free).
void TestHiredisArena::protocolErrorReleasesThePartialReply()
{
    const std::string bytes = "*3\r\n$3\r\nabc\r\n*2\r\n:1\r\n!bad\r\n";
    const auto expected = viaHiredis(bytes, {5});
    QCOMPARE(expected.back(), std::string("error"));
    QCOMPARE(viaArena(bytes, {5}), expected);
}

// An array header beyond kMaxArrayElements, at the root or nested, fails the
// read before its pointer array is allocated (hiredis' own reader would
// calloc count x 8 bytes); replies before it are delivered, one at the limit
// is read as usual.
void TestHiredisArena::hugeArrayHeaderIsRefused()
{
    const std::string huge = "*" + std::to_string(HiredisArena::kMaxArrayElements + 1) + "\r\n";
    QCOMPARE(viaArena("+OK\r\n" + huge, {64}), (std::vector<std::string>{"+OK", "error"}));
    QCOMPARE(viaArena("*2\r\n:1\r\n" + huge + ":2\r\n", {3}).back(), std::string("error"));
    QCOMPARE(viaArena("*277778880\r\n", {13}), std::vector<std::string>{"error"});

    redisReader *reader = redisReaderCreate();
    HiredisArena::install(reader);
    const std::string limit = "*" + std::to_string(HiredisArena::kMaxArrayElements) + "\r\n";
    QCOMPARE(redisReaderFeed(reader, limit.data(), limit.size()), REDIS_OK);
    void *reply = nullptr;
    QCOMPARE(redisReaderGetReply(reader, &reply), REDIS_OK); // accepted, waiting for elements
    QVERIFY(!reply);
    redisReaderFree(reader); // releases the 128 MB pointer array of the partial reply
}

QTEST_APPLESS_MAIN(TestHiredisArena)
#include "tst_hiredisarena.moc"
