#pragma once

#include <QList>
#include <QString>

namespace l0l3 {

// Writes synthetic proposals into Redis the way gateways do on a miss
// (core/gateway/proposer.cpp): HINCRBY l0l3:v1:seen:KEY REGION 1, HINCRBY
// ... _total 1, then XADD l0l3:v1:proposals MAXLEN ~ N * <ProposalCodec
// fields>. Pipelined over one blocking hiredis connection (this is setup, not
// what is measured). Every proposal has its own cache key (CacheKey::derive),
// so N proposals become N rows in the console.
class ProposalSeeder
{
public:
    ProposalSeeder(QString host, int port);

    // Appends count proposals numbered from first; false + *error on failure.
    bool seed(int first, int count, QString *error);
    // Drops the console's consumer group (a fresh group re-reads everything).
    bool destroyGroup(QString *error);
    qint64 streamLength(QString *error);

    // The reference a console load is compared with, in the same invocation:
    // the Redis work a load asks for, done by the plainest client. Stock
    // hiredis on one blocking connection, page after page: XREADGROUP COUNT
    // pageSize > into a fresh group of its own, then one pipeline of EXISTS
    // (the page's entry keys), ZMSCORE rejected and HGETALL seen per key;
    // every reply parsed by hiredis and freed, nothing decoded or kept. The
    // group is dropped afterwards. Returns the entries read, -1 on error.
    qint64 plainLoad(int pageSize, QString *error);

    // Redis' own accounting of the commands it ran so far (INFO commandstats),
    // to say where a load's server time goes (the difference around it).
    struct CommandStat
    {
        QString command;
        qint64 calls = 0;
        qint64 usec = 0;
    };
    QList<CommandStat> commandStats(QString *error);
    // The server's whole CPU time so far (INFO cpu: used_cpu_user + used_cpu_sys,
    // which includes writing replies to sockets), in ms; -1 on error.
    double cpuMs(QString *error);

private:
    QString m_host;
    int m_port;
};

} // namespace l0l3
