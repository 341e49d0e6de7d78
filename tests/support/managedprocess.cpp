#include "tests/support/managedprocess.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFileInfo>

#include <csignal>

#include "tests/support/childprocessguard.h"
#include "tests/support/timescale.h"

namespace l0l3::test {

namespace {

QString lastLines(const QByteArray &text, int lines)
{
    QList<QByteArray> all = text.split('\n');
    if (all.size() > lines)
        all = all.mid(all.size() - lines);
    return QString::fromUtf8(all.join('\n'));
}

QDir logDir()
{
    // Outside any QTemporaryDir so that L0L3_KEEP_TEST_DIRS can keep them after the test.
    QDir dir(QDir::tempPath() + QStringLiteral("/l0l3-test-logs"));
    dir.mkpath(QStringLiteral("."));
    return dir;
}

} // namespace

ManagedProcess::ManagedProcess() = default;

ManagedProcess::~ManagedProcess()
{
    stop();
    checkExit();
    // A failed child's log is kept for its failure message; others only on request.
    if (m_log && !m_failed && !qEnvironmentVariableIsSet("L0L3_KEEP_TEST_DIRS")) {
        m_log->close();
        QFile::remove(m_logPath);
    }
}

QString ManagedProcess::binary(const QString &name)
{
    QString dir = qEnvironmentVariable("L0L3_BIN_DIR");
    if (dir.isEmpty())
        dir = QStringLiteral(L0L3_TESTSUPPORT_BIN_DIR);
    return dir + u'/' + name;
}

bool ManagedProcess::start(const QString &program, const QStringList &args, const QProcessEnvironment &env,
                           QString *error)
{
    stop();
    checkExit();
    if (m_log && !m_failed && !qEnvironmentVariableIsSet("L0L3_KEEP_TEST_DIRS")) {
        m_log->close();
        QFile::remove(m_logPath);
    }
    m_stdout.clear();
    m_stderr.clear();
    m_scanFrom = 0;
    m_listenPort = -1;
    m_program = program;
    m_ending = ChildExit::Ending::OnItsOwn;
    m_signalSent = 0;
    m_waitedByTest = false;
    m_checked = false;
    ChildExitCheck::arm();

    // A serial number: a restarted child gets a new log, and a kept log is never overwritten.
    static int runs = 0;
    m_logPath = logDir().filePath(QStringLiteral("%1-%2-%3-%4.log")
                                      .arg(QFileInfo(program).fileName())
                                      .arg(QCoreApplication::applicationPid())
                                      .arg(reinterpret_cast<quintptr>(this), 0, 16)
                                      .arg(++runs));
    m_log = std::make_unique<QFile>(m_logPath);
    if (!m_log->open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Unbuffered))
        m_log.reset();
    if (m_log)
        m_log->write(QStringLiteral("$ %1 %2\n").arg(program, args.join(u' ')).toUtf8());

    m_process = std::make_unique<QProcess>();
    m_process->setProgram(program);
    m_process->setArguments(args);
    m_process->setProcessEnvironment(env);
    m_process->setProcessChannelMode(QProcess::SeparateChannels);
    ChildProcessGuard::install(*m_process);
    QObject::connect(m_process.get(), &QProcess::readyReadStandardOutput, m_process.get(), [this] { readChannels(); });
    QObject::connect(m_process.get(), &QProcess::readyReadStandardError, m_process.get(), [this] { readChannels(); });
    m_process->start();
    if (!m_process->waitForStarted(TimeScale::ms(10000))) {
        if (error)
            *error = QStringLiteral("cannot start %1: %2").arg(program, m_process->errorString());
        m_checked = true; // never ran: nothing to check
        return false;
    }
    return true;
}

void ManagedProcess::append(QByteArray *buffer, const QByteArray &data, const char *prefix)
{
    if (data.isEmpty())
        return;
    const bool atLineStart = buffer->isEmpty() || buffer->endsWith('\n');
    buffer->append(data);
    if (!m_log)
        return;
    QByteArray prefixed;
    bool lineStart = atLineStart;
    for (char c : data) {
        if (lineStart)
            prefixed += prefix;
        prefixed += c;
        lineStart = c == '\n';
    }
    m_log->write(prefixed);
}

void ManagedProcess::readChannels()
{
    if (!m_process)
        return;
    append(&m_stdout, m_process->readAllStandardOutput(), "[out] ");
    append(&m_stderr, m_process->readAllStandardError(), "[err] ");
}

bool ManagedProcess::waitForLine(const QRegularExpression &re, int timeoutMs, QRegularExpressionMatch *match)
{
    QDeadlineTimer deadline(TimeScale::ms(timeoutMs));
    qsizetype lineStart = m_scanFrom;
    for (;;) {
        readChannels();
        // Only complete lines: a half-written line could match a prefix of the pattern.
        for (qsizetype nl = m_stdout.indexOf('\n', lineStart); nl >= 0; nl = m_stdout.indexOf('\n', lineStart)) {
            const QString line = QString::fromUtf8(m_stdout.mid(lineStart, nl - lineStart));
            lineStart = nl + 1;
            const QRegularExpressionMatch m = re.match(line);
            if (m.hasMatch()) {
                m_scanFrom = lineStart;
                if (match)
                    *match = m;
                return true;
            }
        }
        if (!m_process || m_process->state() == QProcess::NotRunning || deadline.hasExpired())
            return false;
        m_process->waitForReadyRead(static_cast<int>(qMin<qint64>(deadline.remainingTime(), 100)));
    }
}

int ManagedProcess::listenPort(int timeoutMs)
{
    if (m_listenPort > 0)
        return m_listenPort;
    // Searched from the first line, independent of earlier waitForLine() calls.
    const qsizetype savedScan = m_scanFrom;
    m_scanFrom = 0;
    static const QRegularExpression re(QStringLiteral("listening on 127\\.0\\.0\\.1:(\\d+)"));
    QRegularExpressionMatch m;
    if (waitForLine(re, timeoutMs, &m))
        m_listenPort = m.captured(1).toInt();
    m_scanFrom = qMax(savedScan, m_scanFrom);
    return m_listenPort;
}

bool ManagedProcess::waitForFinished(int timeoutMs)
{
    if (!m_process)
        return true;
    const bool finished = m_process->state() == QProcess::NotRunning
        || m_process->waitForFinished(TimeScale::ms(timeoutMs));
    readChannels();
    if (finished) {
        if (m_ending == ChildExit::Ending::OnItsOwn)
            m_waitedByTest = true;
        checkExit();
    }
    return finished;
}

int ManagedProcess::exitCode() const
{
    return m_process ? m_process->exitCode() : -1;
}

QProcess::ExitStatus ManagedProcess::exitStatus() const
{
    return m_process ? m_process->exitStatus() : QProcess::CrashExit;
}

bool ManagedProcess::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

qint64 ManagedProcess::pid() const
{
    return m_process ? m_process->processId() : 0;
}

bool ManagedProcess::stop(int graceMs)
{
    if (!isRunning())
        return checkExit();
    ::kill(static_cast<pid_t>(m_process->processId()), SIGCONT); // a stopped process cannot handle SIGTERM
    m_process->terminate();
    m_ending = ChildExit::Ending::Terminated;
    if (!m_process->waitForFinished(TimeScale::ms(graceMs))) {
        m_ending = ChildExit::Ending::HungOnStop;
        m_process->kill();
        m_process->waitForFinished(5000);
    }
    readChannels();
    return checkExit();
}

void ManagedProcess::kill()
{
    if (!isRunning())
        return;
    m_ending = ChildExit::Ending::KilledByTest;
    m_process->kill();
    m_process->waitForFinished(5000);
    readChannels();
    checkExit();
}

bool ManagedProcess::sendSignal(int signalNumber)
{
    if (!isRunning())
        return false;
    m_signalSent = signalNumber;
    return ::kill(static_cast<pid_t>(m_process->processId()), signalNumber) == 0;
}

bool ManagedProcess::checkExit()
{
    if (m_checked || !m_process || isRunning())
        return !m_failed;
    m_checked = true;
    readChannels();
    ChildExit exit;
    exit.name = QFileInfo(m_program).fileName();
    exit.status = m_process->exitStatus();
    exit.code = m_process->exitCode();
    exit.ending = m_ending;
    exit.signalSentByTest = m_signalSent;
    exit.expectedCodes = m_expectedCodes;
    exit.codeCheckedByTest = m_waitedByTest;
    exit.output = m_stderr;
    const QString why = ChildExitCheck::verdict(exit);
    if (why.isEmpty())
        return true;
    m_failed = true;
    if (m_log)
        m_log->flush();
    ChildExitCheck::report(why + QStringLiteral("; log kept at ") + m_logPath + u'\n' + describe(40));
    return false;
}

QByteArray ManagedProcess::stdoutText()
{
    readChannels();
    return m_stdout;
}

QByteArray ManagedProcess::stderrText()
{
    readChannels();
    return m_stderr;
}

QString ManagedProcess::describe(int lines)
{
    readChannels();
    QString state;
    if (!m_process)
        state = QStringLiteral("not started");
    else if (isRunning())
        state = QStringLiteral("running, pid %1").arg(pid());
    else
        state = QStringLiteral("exited, code %1%2")
                    .arg(m_process->exitCode())
                    .arg(m_process->exitStatus() == QProcess::CrashExit ? QStringLiteral(" (crashed)") : QString());
    return QStringLiteral("%1 (%2), log %3\n--- stdout ---\n%4\n--- stderr ---\n%5")
        .arg(m_program, state, m_logPath, lastLines(m_stdout, lines), lastLines(m_stderr, lines));
}

} // namespace l0l3::test
