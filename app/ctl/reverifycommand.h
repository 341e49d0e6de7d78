#pragma once

#include <QObject>
#include <QString>

#include "core/control/redisconnection.h"
#include "core/control/reverifyqueue.h"

namespace l0l3 {

// l0l3-ctl reverify list: the approved entries whose review date has passed
// (ReverifyQueue), most overdue first, at most `limit` of them. Text fields
// are escaped on output (VisibleText, or \u escapes in JSON). `reverify keep
// KEY` is ApprovalService::keep, run by CtlRunner like the other decisions.
// done(exitCode, message): 0 ok, 1 when Redis could not be read.
class ReverifyCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        bool json = false;
        int limit = 50;
    };

    ReverifyCommand(RedisConnection *connection, const Options &options, QObject *parent = nullptr);

    void start();

    // What `reverify list --json` prints (exposed for tests).
    static QByteArray toJson(const QList<ReverifyItem> &due, qint64 nowMs);
    static QString toText(const QList<ReverifyItem> &due, qint64 nowMs);

signals:
    void done(int exitCode, const QString &message);

private:
    Options m_options;
    ReverifyQueue *m_queue;
};

} // namespace l0l3
