#include "app/ctl/statscommand.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>

#include <cstdio>

#include "app/ctl/ctloutput.h"
#include "core/common/visibletext.h"

namespace l0l3 {

namespace {

QString day(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, QTimeZone::utc()).toString(QStringLiteral("yyyy-MM-dd"));
}

QJsonValue msOrNull(qint64 ms)
{
    return ms >= 0 ? QJsonValue(double(ms)) : QJsonValue(QJsonValue::Null);
}

QJsonObject operatorJson(const TeamOperatorStats &o)
{
    QJsonObject j{{QStringLiteral("actor"), o.actor},
                  {QStringLiteral("decisions"), double(o.decisions)},
                  {QStringLiteral("approve"), double(o.approves)},
                  {QStringLiteral("approve_edited"), double(o.approvesEdited)},
                  {QStringLiteral("edit"), double(o.edits)},
                  {QStringLiteral("reject"), double(o.rejects)},
                  {QStringLiteral("revoke"), double(o.revokes)},
                  {QStringLiteral("approve_ratio"), o.ratio(o.approves)},
                  {QStringLiteral("edit_ratio"), o.ratio(o.edits)},
                  {QStringLiteral("reject_ratio"), o.ratio(o.rejects)},
                  {QStringLiteral("revoke_ratio"), o.ratio(o.revokes)},
                  {QStringLiteral("timed_decisions"), double(o.perDecision.samples)},
                  {QStringLiteral("median_ms"), msOrNull(o.perDecision.medianMs)},
                  {QStringLiteral("p90_ms"), msOrNull(o.perDecision.p90Ms)},
                  {QStringLiteral("waits"), double(o.wait.samples)},
                  {QStringLiteral("wait_median_ms"), msOrNull(o.wait.medianMs)},
                  {QStringLiteral("wait_p90_ms"), msOrNull(o.wait.p90Ms)}};
    if (o.dayMs >= 0)
        j.insert(QStringLiteral("day"), day(o.dayMs));
    return j;
}

QString seconds(qint64 ms)
{
    return ms >= 0 ? QString::number(double(ms) / 1000.0, 'f', 1) + QStringLiteral(" s") : QStringLiteral("-");
}

QString percent(double r)
{
    return QString::number(r * 100.0, 'f', 0) + u'%';
}

} // namespace

StatsCommand::StatsCommand(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
    , m_reader(new TeamStatsReader(connection, this))
{
}

void StatsCommand::start()
{
    connect(m_reader, &TeamStatsReader::finished, this, [this](const TeamStats &stats, const QString &error) {
        if (!error.isEmpty()) {
            emit done(1, QStringLiteral("l0l3-ctl: stats: ") + error);
            return;
        }
        if (m_options.json) {
            // The JSON writer leaves non-ASCII as UTF-8: escape what a terminal would act on.
            const QByteArray json = toJson(stats, m_options.days);
            const std::string safe = VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())));
            std::fwrite(safe.data(), 1, safe.size(), stdout);
            std::fputc('\n', stdout);
        } else {
            const QByteArray text = toText(stats, m_options.days).toUtf8();
            std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
        }
        std::fflush(stdout);
        emit done(0, {});
    });
    m_reader->start(m_options.days, QDateTime::currentMSecsSinceEpoch());
}

QByteArray StatsCommand::toJson(const TeamStats &stats, int days)
{
    const qint64 today = TeamStatsCalculator::dayStart(stats.toMs - 1);
    QJsonArray operators;
    for (const TeamOperatorStats &o : stats.operators) {
        QJsonObject j = operatorJson(o);
        qint64 todayDecisions = 0;
        for (const TeamOperatorStats &d : stats.operatorDays)
            if (d.dayMs == today && d.actor == o.actor)
                todayDecisions = d.decisions;
        j.insert(QStringLiteral("decisions_today"), double(todayDecisions));
        operators.append(j);
    }
    QJsonArray operatorDays;
    for (const TeamOperatorStats &o : stats.operatorDays)
        operatorDays.append(operatorJson(o));
    QJsonArray flow;
    for (const TeamDayFlow &d : stats.days)
        flow.append(QJsonObject{{QStringLiteral("day"), day(d.dayMs)},
                                {QStringLiteral("inflow"),
                                 stats.inflowKnown ? QJsonValue(double(d.inflow)) : QJsonValue(QJsonValue::Null)},
                                {QStringLiteral("inflow_partial"), !stats.inflowKnown || d.inflowPartial},
                                {QStringLiteral("outflow"), double(d.outflow)},
                                {QStringLiteral("decisions"), double(d.decisions)},
                                {QStringLiteral("waits"), double(d.wait.samples)},
                                {QStringLiteral("wait_median_ms"), msOrNull(d.wait.medianMs)},
                                {QStringLiteral("wait_p90_ms"), msOrNull(d.wait.p90Ms)}});
    const QJsonObject root{{QStringLiteral("days"), days},
                           {QStringLiteral("from_ms"), double(stats.fromMs)},
                           {QStringLiteral("to_ms"), double(stats.toMs)},
                           {QStringLiteral("break_ms"), double(stats.breakMs)},
                           {QStringLiteral("audit_records"), double(stats.auditRecords)},
                           {QStringLiteral("audit_truncated"), stats.auditTruncated},
                           {QStringLiteral("proposals_read"), double(stats.proposalsRead)},
                           {QStringLiteral("operators"), operators},
                           {QStringLiteral("operator_days"), operatorDays},
                           {QStringLiteral("flow"), flow}};
    return QJsonDocument(root).toJson(QJsonDocument::Compact);
}

QString StatsCommand::toText(const TeamStats &stats, int days)
{
    QString s = QStringLiteral("last %1 day(s) (UTC), %2 audit records%3; a gap over %4 min is a break\n")
                    .arg(days)
                    .arg(stats.auditRecords)
                    .arg(stats.auditTruncated ? QStringLiteral(" (truncated: the newest are missing)") : QString())
                    .arg(stats.breakMs / 60000);
    s += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9\n")
             .arg(QStringLiteral("OPERATOR"), -24)
             .arg(QStringLiteral("DECISIONS"), 9)
             .arg(QStringLiteral("MEDIAN"), 9)
             .arg(QStringLiteral("P90"), 9)
             .arg(QStringLiteral("APPROVE"), 7)
             .arg(QStringLiteral("EDIT"), 5)
             .arg(QStringLiteral("REJECT"), 6)
             .arg(QStringLiteral("REVOKE"), 6)
             .arg(QStringLiteral("WAIT P50"), 9);
    for (const TeamOperatorStats &o : stats.operators)
        s += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9\n")
                 .arg(CtlOutput::visible(o.actor), -24)
                 .arg(o.decisions, 9)
                 .arg(seconds(o.perDecision.medianMs), 9)
                 .arg(seconds(o.perDecision.p90Ms), 9)
                 .arg(percent(o.ratio(o.approves)), 7)
                 .arg(percent(o.ratio(o.edits)), 5)
                 .arg(percent(o.ratio(o.rejects)), 6)
                 .arg(percent(o.ratio(o.revokes)), 6)
                 .arg(seconds(o.wait.medianMs), 9);
    s += QStringLiteral("\n%1 %2 %3 %4\n")
             .arg(QStringLiteral("DAY"), -10)
             .arg(QStringLiteral("INFLOW"), 8)
             .arg(QStringLiteral("OUTFLOW"), 8)
             .arg(QStringLiteral("WAIT P50"), 9);
    for (const TeamDayFlow &d : stats.days) {
        QString in = stats.inflowKnown ? QString::number(d.inflow) : QStringLiteral("?");
        if (stats.inflowKnown && d.inflowPartial)
            in = QStringLiteral(">=") + in;
        s += QStringLiteral("%1 %2 %3 %4\n")
                 .arg(day(d.dayMs), -10)
                 .arg(in, 8)
                 .arg(d.outflow, 8)
                 .arg(seconds(d.wait.medianMs), 9);
    }
    return s;
}

} // namespace l0l3
