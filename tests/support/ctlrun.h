#pragma once

#include <QByteArray>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

namespace l0l3::test {

class RedisServer;

// One run of l0l3-ctl to its end, as the tests drive it: a ManagedProcess, so
// a crash, a hang past the timeout or a sanitizer report fails the test; the
// exit code is the test's to check.
struct CtlRun
{
    int code = -1; // -1: did not start, did not finish in time, or crashed
    QByteArray out;
    QByteArray err;

    // "exit N", then stderr (and stdout when asked), for failure messages.
    QString describe(bool withStdout = false) const;
};

// The environment l0l3-ctl gets from the tests: this process's, with the
// console user's password in L0L3_REDIS_PASSWORD (never on the command line).
QProcessEnvironment ctlEnvironment();

// redis://console@HOST:PORT, the URL the tests give --primary.
QString consoleUrl(const QString &host, int port);

// Runs l0l3-ctl ARGS and waits at most timeoutMs (scaled by TimeScale).
CtlRun runCtl(const QStringList &args, const QProcessEnvironment &env = ctlEnvironment(), int timeoutMs = 30000);

// Runs l0l3-ctl --primary redis://USER@HOST:PORT ARGS against primary as
// user, the password in L0L3_REDIS_PASSWORD, for at most TimeScale::ms(30000).
CtlRun runCtlAs(const RedisServer &primary, const QString &user, const QString &password, const QStringList &args);

// Adds operator name (ACL user op-NAME) with role and password through
// `l0l3-ctl operators add` as the superuser, the password in the file
// NAME.pw written into dir; code -1 when that file cannot be written.
CtlRun addOperatorWithCtl(const RedisServer &primary, const QString &name, const QString &role, const QString &password,
                          const QString &dir);

} // namespace l0l3::test
