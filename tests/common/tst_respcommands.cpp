#include <QTest>

#include <random>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include "core/common/respcommands.h"

using l0l3::RespCommands;

// RespCommands must produce, byte for byte, what hiredis' own formatter
// (redisFormatCommandArgv, used by redisAsyncCommandArgv) produces.
class TestRespCommands : public QObject
{
    Q_OBJECT

private slots:
    void sameBytesAsHiredis();
    void severalCommandsSplitAtTheirStarts();
    void twoPieceArgument();
    void emptyCommandIsFlagged();
    void clearKeepsNothing();
};

namespace {

std::string viaHiredis(const std::vector<std::string> &args)
{
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (const std::string &a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char *out = nullptr;
    const int len = redisFormatCommandArgv(&out, int(argv.size()), argv.data(), lens.data());
    std::string s(out, size_t(len));
    redisFreeCommand(out);
    return s;
}

} // namespace

void TestRespCommands::sameBytesAsHiredis()
{
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
        std::vector<std::string> args(1 + rng() % 12);
        for (std::string &a : args) {
            const size_t len = rng() % 4 == 0 ? rng() % 70000 : rng() % 40; // beyond 64 KB now and then
            a.resize(len);
            for (char &c : a)
                c = char(rng()); // binary, NULs and CRLF included
        }
        RespCommands batch;
        batch.addRange(args);
        QCOMPARE(batch.size(), size_t(1));
        QVERIFY(batch.command(0) == viaHiredis(args));
    }
}

void TestRespCommands::severalCommandsSplitAtTheirStarts()
{
    RespCommands batch;
    batch.add({"GET", "k"});
    batch.add({"EXISTS", "a", "", "c"});
    batch.add({"PING"});
    QCOMPARE(batch.size(), size_t(3));
    QVERIFY(batch.command(0) == viaHiredis({"GET", "k"}));
    QVERIFY(batch.command(1) == viaHiredis({"EXISTS", "a", "", "c"}));
    QVERIFY(batch.command(2) == viaHiredis({"PING"}));
    QCOMPARE(batch.bytes(), viaHiredis({"GET", "k"}) + viaHiredis({"EXISTS", "a", "", "c"}) + viaHiredis({"PING"}));
    QVERIFY(!batch.hasEmptyCommand());
}

void TestRespCommands::twoPieceArgument()
{
    RespCommands batch;
    batch.begin(2);
    batch.arg("HGETALL");
    batch.arg("l0l3:v1:seen:", "abc");
    QVERIFY(batch.command(0) == viaHiredis({"HGETALL", "l0l3:v1:seen:abc"}));
}

void TestRespCommands::emptyCommandIsFlagged()
{
    RespCommands batch;
    batch.add({"PING"});
    batch.addRange(std::vector<std::string>{});
    QVERIFY(batch.hasEmptyCommand());
}

void TestRespCommands::clearKeepsNothing()
{
    RespCommands batch;
    batch.add({"SET", "a", "b"});
    batch.clear();
    QVERIFY(batch.empty());
    batch.add({"GET", "a"});
    QCOMPARE(batch.bytes(), viaHiredis({"GET", "a"}));
}

QTEST_APPLESS_MAIN(TestRespCommands)
#include "tst_respcommands.moc"
