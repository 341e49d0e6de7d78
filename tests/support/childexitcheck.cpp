#include "tests/support/childexitcheck.h"

#include <QTest>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <unistd.h>

namespace l0l3::test {

namespace {

std::atomic<int> g_pendingFailures{0};

void exitNonZeroIfFailed()
{
    if (g_pendingFailures.load() == 0)
        return;
    std::fprintf(stderr, "FAIL!  : %d child process failure(s) reported outside a test function (see above)\n",
                 g_pendingFailures.load());
    std::fflush(stderr);
    std::fflush(stdout);
    // The test's own result is already decided; only _exit can still change the status ctest sees.
    ::_exit(1);
}

QString signalName(int signalNumber)
{
    const char *name = ::sigabbrev_np(signalNumber);
    return name ? QStringLiteral("SIG") + QString::fromLatin1(name) : QStringLiteral("signal %1").arg(signalNumber);
}

QString codes(const QList<int> &list)
{
    QStringList out;
    for (int c : list)
        out << QString::number(c);
    return out.join(QStringLiteral(" or "));
}

} // namespace

bool ChildExitCheck::hasSanitizerReport(const QByteArray &text)
{
    return text.contains("ERROR: AddressSanitizer") || text.contains("ERROR: LeakSanitizer")
        || text.contains("SUMMARY: UndefinedBehaviorSanitizer") || text.contains(": runtime error: ")
        || text.contains("WARNING: ThreadSanitizer");
}

QString ChildExitCheck::verdict(const ChildExit &exit)
{
    if (hasSanitizerReport(exit.output))
        return QStringLiteral("%1 printed a sanitizer report").arg(exit.name);
    const bool crashed = exit.status == QProcess::CrashExit;
    if (!crashed && exit.code == kLeakSanitizerExitCode && !exit.expectedCodes.contains(exit.code))
        return QStringLiteral("%1 exited with code %2 (LeakSanitizer found leaks)").arg(exit.name).arg(exit.code);

    switch (exit.ending) {
    case ChildExit::Ending::HungOnStop:
        return QStringLiteral(
                   "%1 did not exit after SIGTERM within the grace period and was SIGKILLed (hang on shutdown)")
            .arg(exit.name);
    case ChildExit::Ending::KilledByTest:
        if (crashed && exit.code != SIGKILL && exit.code != exit.signalSentByTest)
            return QStringLiteral("%1 crashed with %2 while the test was ending it")
                .arg(exit.name, signalName(exit.code));
        return {};
    case ChildExit::Ending::Terminated:
        if (crashed)
            return QStringLiteral("%1 died of %2 after SIGTERM instead of exiting %3")
                .arg(exit.name, signalName(exit.code), codes(exit.expectedCodes));
        if (!exit.expectedCodes.contains(exit.code))
            return QStringLiteral("%1 exited with code %2 after SIGTERM, expected %3")
                .arg(exit.name)
                .arg(exit.code)
                .arg(codes(exit.expectedCodes));
        return {};
    case ChildExit::Ending::OnItsOwn:
        if (crashed && exit.code != SIGKILL && exit.code != exit.signalSentByTest)
            return QStringLiteral("%1 crashed with %2").arg(exit.name, signalName(exit.code));
        if (!crashed && !exit.codeCheckedByTest && !exit.expectedCodes.contains(exit.code))
            return QStringLiteral("%1 exited on its own with code %2, expected it to keep running or exit %3")
                .arg(exit.name)
                .arg(exit.code)
                .arg(codes(exit.expectedCodes));
        return {};
    }
    return {};
}

void ChildExitCheck::arm()
{
    static std::once_flag once;
    std::call_once(once, [] { std::atexit(exitNonZeroIfFailed); });
}

int ChildExitCheck::pendingFailures()
{
    return g_pendingFailures.load();
}

void ChildExitCheck::report(const QString &message)
{
    if (QTest::currentTestFunction()) {
        QTest::qFail(qPrintable(message), __FILE__, __LINE__);
        return;
    }
    arm();
    ++g_pendingFailures;
    std::fprintf(stderr, "FAIL!  : child process: %s\n", qPrintable(message));
    std::fflush(stderr);
}

} // namespace l0l3::test
