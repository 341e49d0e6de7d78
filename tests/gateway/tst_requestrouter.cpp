#include <QTest>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>

#include "core/gateway/apikeystore.h"
#include "core/gateway/requestrouter.h"

using namespace l0l3;
namespace http = boost::beast::http;

namespace {

HttpRequest chatRequest(std::string_view authorization = {})
{
    HttpRequest request;
    request.method(http::verb::post);
    request.target("/v1/chat/completions");
    if (!authorization.empty())
        request.set(http::field::authorization, authorization);
    return request;
}

boost::asio::ip::address addressOf(const char *text)
{
    return boost::asio::ip::make_address(text);
}

} // namespace

// Who a request is charged to: the rate limiter's identities.
class TestRequestRouter : public QObject
{
    Q_OBJECT

private slots:
    void addressIdentity_data();
    void addressIdentity();
    void unverifiedTokenAlsoChargesTheAddress();
    void verifiedKeyIsItsOwnIdentity();
};

void TestRequestRouter::addressIdentity_data()
{
    QTest::addColumn<QString>("a");
    QTest::addColumn<QString>("b");
    QTest::addColumn<bool>("same");
    QTest::newRow("one IPv6 /64") << QStringLiteral("2001:db8:1:2::1") << QStringLiteral("2001:db8:1:2:ffff:0:abcd:9")
                                  << true;
    QTest::newRow("another /64") << QStringLiteral("2001:db8:1:2::1") << QStringLiteral("2001:db8:1:3::1") << false;
    QTest::newRow("IPv4-mapped") << QStringLiteral("::ffff:192.0.2.7") << QStringLiteral("192.0.2.7") << true;
    QTest::newRow("two IPv4") << QStringLiteral("192.0.2.7") << QStringLiteral("192.0.2.8") << false;
    QTest::newRow("IPv4 vs ::") << QStringLiteral("0.0.0.0") << QStringLiteral("::") << false;
}

// A host holds a whole IPv6 /64 and can pick a new address per request.
void TestRequestRouter::addressIdentity()
{
    QFETCH(QString, a);
    QFETCH(QString, b);
    QFETCH(bool, same);
    const std::uint64_t ia = RequestRouter::clientOfAddress(addressOf(a.toLatin1().constData()));
    const std::uint64_t ib = RequestRouter::clientOfAddress(addressOf(b.toLatin1().constData()));
    QCOMPARE(ia == ib, same);

    RequestRouter::Caller caller;
    RouteDecision error;
    QVERIFY(RequestRouter::authenticate(chatRequest(), nullptr, addressOf(a.toLatin1().constData()), &caller, &error));
    QCOMPARE(caller.client, ia);
    QCOMPARE(caller.peer, std::uint64_t(0)); // the address is already the client
}

// Without --api-keys-file a bearer token is whatever the client says: a new
// one per request must not be a new bucket, so the address is charged too.
void TestRequestRouter::unverifiedTokenAlsoChargesTheAddress()
{
    const auto address = addressOf("2001:db8:5::17");
    RequestRouter::Caller first;
    RequestRouter::Caller second;
    RouteDecision error;
    QVERIFY(RequestRouter::authenticate(chatRequest("Bearer sk-one"), nullptr, address, &first, &error));
    QVERIFY(RequestRouter::authenticate(chatRequest("Bearer sk-two"), nullptr, addressOf("2001:db8:5::18"), &second,
                                        &error));
    QVERIFY(first.client != second.client); // each token keeps its own bucket
    QVERIFY(first.peer != 0);
    QCOMPARE(first.peer, second.peer); // and both pay into their /64's
    QCOMPARE(first.peer, RequestRouter::clientOfAddress(address));
    QVERIFY(first.client != first.peer);
}

// A key checked against --api-keys-file is an identity of its own: clients
// behind one address with their own keys do not share a bucket.
void TestRequestRouter::verifiedKeyIsItsOwnIdentity()
{
    std::string why;
    const auto keys = ApiKeyStore::parse(Sha256::hex(Sha256::digest("sk-tenant-a")) + " tenant-a\n", &why);
    QVERIFY2(keys, why.c_str());
    RequestRouter::Caller caller;
    RouteDecision error;
    QVERIFY(RequestRouter::authenticate(chatRequest("Bearer sk-tenant-a"), &*keys, addressOf("192.0.2.1"), &caller,
                                        &error));
    QVERIFY(caller.keyNamespace);
    QCOMPARE(QByteArray::fromStdString(*caller.keyNamespace), QByteArray("tenant-a"));
    QCOMPARE(caller.peer, std::uint64_t(0));
    QVERIFY(
        !RequestRouter::authenticate(chatRequest("Bearer sk-forged"), &*keys, addressOf("192.0.2.1"), &caller, &error));
    QCOMPARE(error.status, 401);
}

QTEST_GUILESS_MAIN(TestRequestRouter)
#include "tst_requestrouter.moc"
