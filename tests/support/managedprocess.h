#pragma once

#include <QByteArray>
#include <QFile>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QString>
#include <QStringList>

#include <memory>

namespace l0l3::test {

// A child process for end-to-end tests: stdout and stderr are kept apart in
// memory and both written (prefixed) to a log file, which the destructor
// removes unless L0L3_KEEP_TEST_DIRS is set; the destructor stops the process.
// The child is killed by the kernel if the test process dies first.
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
               const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment(),
               QString *error = nullptr);

    // Waits until a stdout line received after the previous successful
    // match matches re. False on timeout or when the process has exited
    // without printing it.
    bool waitForLine(const QRegularExpression &re, int timeoutMs, QRegularExpressionMatch *match = nullptr);
    // The PORT of the first stdout line "... listening on 127.0.0.1:PORT ...";
    // -1 if none appears in time.
    int listenPort(int timeoutMs = 15000);

    // Waits for the process to exit on its own; false on timeout.
    bool waitForFinished(int timeoutMs);
    int exitCode() const;
    QProcess::ExitStatus exitStatus() const;
    bool isRunning() const;
    qint64 pid() const;

    // SIGTERM, bounded wait, SIGKILL fallback.
    void stop(int graceMs = 5000);
    void kill();

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
};

} // namespace l0l3::test
