#include <QTest>

#include <string>

#include "core/gateway/apikeystore.h"
#include "core/gateway/sha256.h"

using namespace l0l3;

class TestApiKeyStore : public QObject
{
    Q_OBJECT

private slots:
    void sha256Vectors_data();
    void sha256Vectors();
    void hexRoundTrip();
    void lookup();
    void invalidFiles_data();
    void invalidFiles();
    void errorsNeverQuoteTheLine();
};

void TestApiKeyStore::sha256Vectors_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("hex");
    // FIPS 180-4 examples plus lengths around the padding boundaries (55, 56, 64 bytes).
    QTest::newRow("empty") << QByteArray()
                           << QByteArray("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    QTest::newRow("abc") << QByteArray("abc")
                         << QByteArray("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    QTest::newRow("448 bits") << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                              << QByteArray("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    QTest::newRow("55 a") << QByteArray(55, 'a')
                          << QByteArray("9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    QTest::newRow("56 a") << QByteArray(56, 'a')
                          << QByteArray("b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    QTest::newRow("64 a") << QByteArray(64, 'a')
                          << QByteArray("ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    QTest::newRow("1000 a") << QByteArray(1000, 'a')
                            << QByteArray("41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

void TestApiKeyStore::sha256Vectors()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, hex);
    const std::string got = Sha256::hex(
        Sha256::digest(std::string_view(input.constData(), static_cast<std::size_t>(input.size()))));
    QCOMPARE(QByteArray::fromStdString(got), hex);
}

void TestApiKeyStore::hexRoundTrip()
{
    const auto d = Sha256::digest("key");
    Sha256::Digest back{};
    QVERIFY(Sha256::fromHex(Sha256::hex(d), &back));
    QVERIFY(back == d);
    std::string upper = Sha256::hex(d);
    for (char &c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    QVERIFY(Sha256::fromHex(upper, &back));
    QVERIFY(back == d);
    QVERIFY(!Sha256::fromHex(upper.substr(1), &back));
    QVERIFY(!Sha256::fromHex(std::string(64, 'g'), &back));
}

void TestApiKeyStore::lookup()
{
    const std::string text = "# tenants\n" + Sha256::hex(Sha256::digest("sk-alpha")) + " tenant-a\n" + "\n"
        + Sha256::hex(Sha256::digest("sk-alpha-2")) + "\ttenant-a\r\n" + Sha256::hex(Sha256::digest("sk-beta"))
        + "   tenant-b   \n";
    std::string error;
    const auto store = ApiKeyStore::parse(text, &error);
    QVERIFY2(store, error.c_str());
    QCOMPARE(store->size(), std::size_t(3));
    QVERIFY(store->namespaceFor("sk-alpha"));
    QCOMPARE(*store->namespaceFor("sk-alpha"), std::string("tenant-a"));
    QCOMPARE(*store->namespaceFor("sk-alpha-2"), std::string("tenant-a"));
    QCOMPARE(*store->namespaceFor("sk-beta"), std::string("tenant-b"));
    QVERIFY(!store->namespaceFor("sk-gamma"));
    QVERIFY(!store->namespaceFor(""));
    // The hash itself is not a key.
    QVERIFY(!store->namespaceFor(Sha256::hex(Sha256::digest("sk-alpha"))));
}

void TestApiKeyStore::invalidFiles_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArray>("expected");
    const QByteArray hash = QByteArray::fromStdString(Sha256::hex(Sha256::digest("k")));
    QTest::newRow("empty") << QByteArray() << QByteArray("no keys listed");
    QTest::newRow("comments only") << QByteArray("# nothing\n\n") << QByteArray("no keys listed");
    QTest::newRow("no namespace") << (hash + "\n") << QByteArray(":1: expected");
    QTest::newRow("a key, not a hash") << QByteArray("sk-live-123 tenant\n")
                                       << QByteArray(":1: the first field is not a SHA-256");
    QTest::newRow("short hash") << (hash.left(63) + " t\n") << QByteArray("not a SHA-256");
    QTest::newRow("bad namespace") << (hash + " a b\n") << QByteArray(":1: the namespace");
    QTest::newRow("duplicate") << (hash + " a\n# x\n" + hash + " b\n") << QByteArray(":3: the same key hash");
}

void TestApiKeyStore::invalidFiles()
{
    QFETCH(QByteArray, text);
    QFETCH(QByteArray, expected);
    std::string error;
    QVERIFY(!ApiKeyStore::parse(text.toStdString(), &error, "keys.txt"));
    QVERIFY2(error.find(expected.toStdString()) != std::string::npos, error.c_str());
}

void TestApiKeyStore::errorsNeverQuoteTheLine()
{
    std::string error;
    QVERIFY(!ApiKeyStore::parse("sk-live-SECRET tenant\n", &error));
    QVERIFY2(error.find("SECRET") == std::string::npos, error.c_str());
    QVERIFY(!ApiKeyStore::load("/nonexistent/keys", &error));
    QVERIFY2(error.find("cannot read") != std::string::npos, error.c_str());
}

QTEST_GUILESS_MAIN(TestApiKeyStore)
#include "tst_apikeystore.moc"
