#include <QTest>

#include <string>

#include "core/common/cachekey.h"
#include "core/gateway/keymemo.h"

using namespace l0l3;

class TestKeyMemo : public QObject
{
    Q_OBJECT

private slots:
    void sameKeyAsDerive_data();
    void sameKeyAsDerive();
    void fieldBoundariesMatter();
    void boundedAndClearedWhenFull();
    void disabledDerivesEveryTime();
};

void TestKeyMemo::sameKeyAsDerive_data()
{
    QTest::addColumn<QString>("ns");
    QTest::addColumn<QString>("system");
    QTest::addColumn<QString>("user");
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("tools");
    QTest::newRow("plain") << "default"
                           << "You are helpful."
                           << "How do I reset my password?"
                           << "gpt-4o-mini"
                           << "";
    QTest::newRow("normalised alike") << "default"
                                      << "  You are  helpful. "
                                      << "HOW do I reset my password?  "
                                      << "gpt-4o-mini-2024-07-18"
                                      << "";
    QTest::newRow("other namespace") << "tenant-b"
                                     << "You are helpful."
                                     << "How do I reset my password?"
                                     << "gpt-4o-mini"
                                     << "";
    QTest::newRow("tools") << "default"
                           << ""
                           << "Weather in Paris?"
                           << "gpt-4o"
                           << R"([{"type":"function"}])";
    QTest::newRow("empty system") << "default"
                                  << ""
                                  << "hi"
                                  << ""
                                  << "";
}

void TestKeyMemo::sameKeyAsDerive()
{
    QFETCH(QString, ns);
    QFETCH(QString, system);
    QFETCH(QString, user);
    QFETCH(QString, model);
    QFETCH(QString, tools);
    const std::string n = ns.toStdString(), s = system.toStdString(), u = user.toStdString(), m = model.toStdString(),
                      t = tools.toStdString();
    CacheKeyInput input;
    input.ns = n;
    input.system = s;
    input.user = u;
    input.model = m;
    input.tools = t;
    const std::string expected = CacheKey::derive(input);
    KeyMemo memo;
    std::string key = "stale";
    memo.derive(input, &key); // derived
    QCOMPARE(key, expected);
    QCOMPARE(memo.hits(), std::uint64_t(0));
    key = "stale";
    memo.derive(input, &key); // remembered
    QCOMPARE(key, expected);
    QCOMPARE(memo.hits(), std::uint64_t(1));
    QCOMPARE(memo.size(), std::size_t(1));
}

void TestKeyMemo::fieldBoundariesMatter()
{
    // Same concatenated bytes, different fields: must not share a memo entry.
    KeyMemo memo;
    CacheKeyInput a;
    a.ns = "default";
    a.system = "ab";
    a.user = "c";
    CacheKeyInput b = a;
    b.system = "a";
    b.user = "bc";
    std::string keyA, keyB;
    memo.derive(a, &keyA);
    memo.derive(b, &keyB);
    QCOMPARE(keyA, CacheKey::derive(a));
    QCOMPARE(keyB, CacheKey::derive(b));
    QVERIFY(keyA != keyB);
    QCOMPARE(memo.hits(), std::uint64_t(0));
}

void TestKeyMemo::boundedAndClearedWhenFull()
{
    KeyMemo memo(8);
    std::string key;
    for (int i = 0; i < 20; ++i) {
        const std::string user = "question " + std::to_string(i);
        CacheKeyInput input;
        input.ns = "default";
        input.user = user;
        memo.derive(input, &key);
        QCOMPARE(key, CacheKey::derive(input));
        QVERIFY(memo.size() <= 8);
    }
    QCOMPARE(memo.hits(), std::uint64_t(0));
}

void TestKeyMemo::disabledDerivesEveryTime()
{
    KeyMemo memo(0);
    CacheKeyInput input;
    input.ns = "default";
    input.user = "hello";
    std::string key;
    memo.derive(input, &key);
    memo.derive(input, &key);
    QCOMPARE(key, CacheKey::derive(input));
    QCOMPARE(memo.size(), std::size_t(0));
    QCOMPARE(memo.hits(), std::uint64_t(0));
}

QTEST_GUILESS_MAIN(TestKeyMemo)
#include "tst_keymemo.moc"
