#pragma once

#include <QObject>
#include <QString>

#include "core/control/redisconnection.h"
#include "core/control/teamstats.h"

namespace l0l3 {

// l0l3-ctl stats: the team's numbers over the last `days` UTC days (today
// included), as TeamStatsCalculator defines them: per operator decisions,
// approve/edit/reject/revoke counts and ratios, median and p90 time per
// decision and wait before a decision, then per day inflow vs outflow. Actor
// names are escaped on output (VisibleText, or \u escapes in JSON).
// done(exitCode, message): 0 ok, 1 when Redis could not be read.
class StatsCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        bool json = false;
        int days = 7;
    };

    StatsCommand(RedisConnection *connection, const Options &options, QObject *parent = nullptr);

    void start();

    // The JSON document `stats --json` prints (exposed for tests).
    static QByteArray toJson(const TeamStats &stats, int days);
    // The text tables.
    static QString toText(const TeamStats &stats, int days);

signals:
    void done(int exitCode, const QString &message);

private:
    Options m_options;
    TeamStatsReader *m_reader;
};

} // namespace l0l3
