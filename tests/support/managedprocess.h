#pragma once

#include <QByteArray>
#include <QFile>
#include <QList>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QString>
#include <QStringList>

#include <memory>

#include "tests/support/childexitcheck.h"

namespace l0l3::test {

// A child process for end-to-end tests: stdout and stderr are kept apart in
// memory and both written (prefixed) to a log file; the destructor stops the
// process. The child is killed by the kernel if the test process dies first.
//
// Every run's end is checked (ChildExitCheck): stop() sends SIGTERM and
// expects an exit with one of expectedExitCodes() (default 0) within the
// grace period; a crash, a hang on shutdown, a sanitizer report or LSan's
// exit code 23 fails the running test with the child's log path and the tail
// of its output, and the log file is kept. Logs of children that ended well
// are removed unless L0L3_KEEP_TEST_DIRS is set. To end a child on purpose
// use kill() or sendSignal(), not ::kill() on pid() (SIGKILL and SIGSTOP/
// SIGCONT by pid are fine). A test that waits for a child to exit by itself
// (waitForFinished() returning true) reads exitCode() itself; crashes and
// sanitizer reports are still checked.
// Every timeout below is a bound tuned for the default build and is scaled by
// TimeScale (L0L3_TIME_SCALE) inside.
class ManagedProcess
{
public:
    ManagedProcess();
    ~ManagedProcess();
    ManagedProcess(const ManagedProcess &) = delete;
    ManagedProcess &operator=(const ManagedProcess &) = delete;

    // $L0L3_BIN_DIR/name (every executable of the build lands there).
    static QString binary(const QString &name);

    bool start(const QString &program, const QStringList &args,
               const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment(), QString *error = nullptr);

    // Waits until a stdout line received after the previous successful
    // match matches re. False on timeout or when the process has exited
    // without printing it.
    bool waitForLine(const QRegularExpression &re, int timeoutMs, QRegularExpressionMatch *match = nullptr);
    // The PORT of the first stdout line "... listening on 127.0.0.1:PORT ...";
    // -1 if none appears in time.
    int listenPort(int timeoutMs = 15000);

    // Waits for the process to exit on its own; false on timeout. Once it
    // has exited, the test owns the exit code (crashes are still failures).
    bool waitForFinished(int timeoutMs);
    int exitCode() const;
    QProcess::ExitStatus exitStatus() const;
    bool isRunning() const;
    qint64 pid() const;

    // SIGTERM, bounded wait (graceMs scaled by TimeScale), SIGKILL fallback;
    // then checks the exit (see above). False when the exit was a failure.
    bool stop(int graceMs = 5000);
    // SIGKILL on purpose (a crash the test simulates); not a failure.
    void kill();
    // Sends signalNumber; a death by that signal is then not a crash.
    bool sendSignal(int signalNumber);
    // Exit codes that count as a clean end after SIGTERM (default {0}); for
    // a child that documents another code.
    void setExpectedExitCodes(const QList<int> &codes) { m_expectedCodes = codes; }
    QList<int> expectedExitCodes() const { return m_expectedCodes; }
    // Checks the exit of a finished run now (stop() and the destructor do it
    // anyway); false, and the test failed, when it was not clean. A run is
    // checked once.
    bool checkExit();
    // True when a run of this process ended badly (its log is kept).
    bool failed() const { return m_failed; }

    QByteArray stdoutText();
    QByteArray stderrText();
    QString logPath() const { return m_logPath; }
    // Program, exit state and the last lines of stdout and stderr, for failure messages.
    QString describe(int lines = 30);

private:
    void readChannels();
    void append(QByteArray *buffer, const QByteArray &data, const char *prefix);

    std::unique_ptr<QProcess> m_process;
    QString m_program;
    QByteArray m_stdout;
    QByteArray m_stderr;
    qsizetype m_scanFrom = 0; // first stdout byte waitForLine has not consumed
    int m_listenPort = -1;
    QString m_logPath;
    std::unique_ptr<QFile> m_log;
    QList<int> m_expectedCodes{0};
    ChildExit::Ending m_ending = ChildExit::Ending::OnItsOwn;
    int m_signalSent = 0;
    bool m_waitedByTest = false;
    bool m_checked = true; // nothing to check before the first start()
    bool m_failed = false;
};

} // namespace l0l3::test
