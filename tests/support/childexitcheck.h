#pragma once

#include <QByteArray>
#include <QList>
#include <QProcess>
#include <QString>

namespace l0l3::test {

// How one run of a child process ended, as far as the test harness knows.
struct ChildExit
{
    // What the harness did to end it.
    enum class Ending {
        OnItsOwn,     // nobody asked it to stop
        Terminated,   // SIGTERM from stop(), and it exited within the grace period
        HungOnStop,   // SIGTERM from stop(), no exit within the grace period: SIGKILLed
        KilledByTest, // kill() or sendSignal(): the test ended it on purpose
    };

    QString name; // e.g. "l0l3-gateway" or "redis-server :6379"
    QProcess::ExitStatus status = QProcess::NormalExit;
    int code = 0; // the exit code, or the signal number for a CrashExit
    Ending ending = Ending::OnItsOwn;
    int signalSentByTest = 0;       // the signal of sendSignal(), 0 if none
    QList<int> expectedCodes{0};    // codes the child documents for a clean end (SIGTERM)
    bool codeCheckedByTest = false; // the test waited for this exit and reads exitCode() itself
    QByteArray output;              // stderr (or the merged log) to scan for sanitizer reports
};

// The harness's verdict on how a child ended, shared by ManagedProcess and
// RedisServer so that every child a test starts is held to the same rules:
//  - a sanitizer report in its output (ASan, LSan, UBSan) or LSan's exit
//    code 23 is a failure, always;
//  - death by a signal the harness or the test did not send is a crash
//    (SIGKILL is never a child's own doing and counts as sent on purpose);
//  - after SIGTERM it must exit with one of expectedCodes (default 0) within
//    the grace period; a child SIGKILLed after the grace period hung on shutdown;
//  - an exit on its own that the test did not wait for must have an expected code.
// report() fails the running Qt Test function; outside one (a fixture held by
// the test object, a benchmark) it prints the failure and makes the process
// exit non-zero when it ends, so ctest still sees it.
class ChildExitCheck
{
public:
    // LSan's exit code when it found leaks (the default exitcode of LSAN_OPTIONS).
    static constexpr int kLeakSanitizerExitCode = 23;

    // Empty when the exit is fine, otherwise why it is not.
    static QString verdict(const ChildExit &exit);
    // True when text holds a sanitizer report.
    static bool hasSanitizerReport(const QByteArray &text);
    // Fails the current test with message (see above).
    static void report(const QString &message);
    // Call before starting a child: prepares the exit-time report for
    // failures found outside a test function.
    static void arm();
    // Failures reported outside a test function so far.
    static int pendingFailures();
};

} // namespace l0l3::test
