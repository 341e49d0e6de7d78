#include "tests/support/ctlrun.h"

#include "tests/support/managedprocess.h"
#include "tests/support/testcredentials.h"

namespace l0l3::test {

QString CtlRun::describe(bool withStdout) const
{
    QString text = QStringLiteral("exit %1\n--- stderr ---\n%2").arg(code).arg(QString::fromUtf8(err));
    if (withStdout)
        text += QStringLiteral("\n--- stdout ---\n") + QString::fromUtf8(out);
    return text;
}

QProcessEnvironment ctlEnvironment()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), TestCredentials::get().console);
    return env;
}

QString consoleUrl(const QString &host, int port)
{
    return QStringLiteral("redis://console@%1:%2").arg(host).arg(port);
}

CtlRun runCtl(const QStringList &args, const QProcessEnvironment &env, int timeoutMs)
{
    ManagedProcess process;
    CtlRun run;
    if (!process.start(ManagedProcess::binary(QStringLiteral("l0l3-ctl")), args, env))
        return run;
    if (!process.waitForFinished(timeoutMs)) {
        process.kill();
        run.err = process.stderrText();
        return run;
    }
    run.code = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.out = process.stdoutText();
    run.err = process.stderrText();
    return run;
}

} // namespace l0l3::test
