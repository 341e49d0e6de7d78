#include "tests/support/ctlrun.h"

#include <QDir>
#include <QFile>

#include "tests/support/managedprocess.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

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

CtlRun runCtlAs(const RedisServer &primary, const QString &user, const QString &password, const QStringList &args)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), password);
    const QString url = QStringLiteral("redis://%1@%2:%3").arg(user, primary.host()).arg(primary.port());
    return runCtl(QStringList{QStringLiteral("--primary"), url} + args, env, TimeScale::ms(30000));
}

CtlRun addOperatorWithCtl(const RedisServer &primary, const QString &name, const QString &role, const QString &password,
                          const QString &dir)
{
    const QString pwFile = QDir(dir).filePath(name + QStringLiteral(".pw"));
    QFile f(pwFile);
    if (!f.open(QIODevice::WriteOnly)) {
        CtlRun failed;
        failed.err = "cannot write " + pwFile.toUtf8();
        return failed;
    }
    f.write(password.toUtf8());
    f.close();
    return runCtlAs(primary, QStringLiteral("l0l3-superuser"), TestCredentials::get().superuser,
                    {QStringLiteral("operators"), QStringLiteral("add"), name, QStringLiteral("--role"), role,
                     QStringLiteral("--password-file"), pwFile});
}

} // namespace l0l3::test
