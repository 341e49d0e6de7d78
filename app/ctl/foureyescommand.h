#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

namespace l0l3 {

class RedisConnection;

// l0l3-ctl four-eyes list [--json] | set NS | unset NS | pending [--json]:
// the namespaces under the four-eyes rule (FourEyes) and the proposals waiting
// for second approval (SignOff). set and unset are audited and need an ACL
// user allowed to write RedisSchema::kFourEyes (admins); list and pending only
// read. done(exitCode, message): 0 ok, 1 when Redis refused or could not be read.
class FourEyesCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QStringList args; // "list", "pending", "set NS" or "unset NS"
        bool json = false;
        QString actor; // recorded beside a service account's user (an operator is its own actor)
    };

    // Empty when args are usable, else the usage error.
    static QString checkUsage(const QStringList &args);

    FourEyesCommand(RedisConnection *connection, const Options &options, QObject *parent = nullptr);
    void start();

signals:
    void done(int exitCode, const QString &message);

private:
    void list();
    void pending();

    RedisConnection *m_connection;
    Options m_options;
};

} // namespace l0l3
