#pragma once

#include <QObject>
#include <QPointer>

#include "core/control/l1review.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// l0l3-ctl l1-review list: the sampled L1 answers waiting for a verdict
// (RedisSchema::kL1Review), oldest first, at most `limit`. Text fields are
// escaped on output (VisibleText, or \u escapes in JSON). `l1-review confirm
// ID` and `l1-review deny ID` are ApprovalService::reviewL1, run by CtlRunner
// like the other decisions. done(exitCode, message): 0 ok, 1 when Redis
// could not be read.
class L1ReviewCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        bool json = false;
        int limit = 50;
    };

    L1ReviewCommand(RedisConnection *connection, const Options &options, QObject *parent = nullptr);

    void start();

    static QByteArray toJson(const QList<L1ReviewItem> &items);
    static QString toText(const QList<L1ReviewItem> &items);

signals:
    void done(int exitCode, const QString &message);

private:
    QPointer<RedisConnection> m_connection;
    Options m_options;
};

} // namespace l0l3
