#pragma once

#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>

#include "core/control/operatorstore.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// l0l3-ctl operators add NAME --role R --password-file F | rotate-password NAME
// --password-file F | remove NAME | list [--json] | sync: OperatorStore on the
// primary, its replicas and, with --sentinel, every node the Sentinels know
// (their user/password: $L0L3_SENTINEL_AUTH_USER/_PASSWORD; their tls-port
// with the primary's TLS settings when it is rediss://). Passwords come
// from a file, never argv; listings never show a hash.
// done(exitCode, message): 0 ok, 1 Redis refused or a node was not updated,
// 2 usage.
class OperatorsCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QStringList args; // verb [NAME]
        QString role;
        QString passwordFile;
        bool json = false;
        QList<OperatorStore::Node> sentinels;
        QString masterName = QStringLiteral("l0l3");
    };

    OperatorsCommand(RedisConnection *primary, const Options &options, QObject *parent = nullptr);

    void start();
    // Usage problems of args/role/password file, before connecting; empty when fine.
    static QString checkUsage(const Options &options);

signals:
    void done(int exitCode, const QString &message);

private:
    void askSentinels(qsizetype index);
    void run();
    void report(const OperatorStore::Result &result);

    Options m_options;
    RedisConnection *m_primary;
    OperatorStore *m_store;
    QList<OperatorStore::Node> m_sentinelNodes;
};

} // namespace l0l3
