#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>

#include "core/common/entry.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// l0l3-ctl variants KEY [--json]: the variants of an approved entry
// (RedisSchema::variantsKey, each entry read back), oldest first. Text
// fields are escaped on output (VisibleText, or \u escapes in JSON).
// `approve ID --variant-of KEY` attaches one (ApprovalService, run by
// CtlRunner). done(exitCode, message): 0 ok, 1 when Redis could not be read
// or the key has no entry.
class VariantsCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString key;
        bool json = false;
    };

    VariantsCommand(RedisConnection *connection, const Options &options, QObject *parent = nullptr);

    void start();

    static QByteArray toJson(const Entry &main, const QList<Entry> &variants);
    static QString toText(const Entry &main, const QList<Entry> &variants);

signals:
    void done(int exitCode, const QString &message);

private:
    void readVariants(const Entry &main, const QList<QByteArray> &keys);

    RedisConnection *m_connection;
    Options m_options;
};

} // namespace l0l3
