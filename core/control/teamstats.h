#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>

#include "core/common/auditrecord.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// The team's numbers, from the audit stream (RedisSchema::kAudit) and the ids
// of the proposals stream (RedisSchema::kProposals).
//
// Definitions:
// - A decision is an audit record with action approve, edit, reject or revoke
//   (unreject, import and control records are not). Days are UTC days of the
//   record's tsMs (the deciding console's clock).
// - Time per decision: an operator's decisions sorted by tsMs; each decision
//   after the first is timed by the gap to that operator's previous decision
//   when the gap is at most breakMs. A longer gap is a break: that decision
//   is counted but not timed. Gaps belong to the day of the later decision.
// - Wait before a decision: approve and reject records name the proposal
//   they decided ("proposal=ID" in detail); its stream id carries the Redis
//   time at which the console moved it from the gateways' inbox into the
//   queue. The wait is the audit record's own stream id time (the same Redis
//   clock) minus that time; without an audit id, tsMs is used. The time a
//   proposal spent in the inbox before (a poll interval at most) is not
//   included, nor duplicates merged into the decided proposal.
// - Outflow of a day: approve + reject decisions (each takes one proposal off
//   the queue). Inflow of a day: proposals-stream entries whose id time is in
//   that day. The stream is trimmed by size and age, so a day before the
//   oldest entry still there is partial (a lower bound).
// - Median and p90: nearest rank over the samples (the ceil(q*n)-th smallest);
//   -1 when there is no sample.
// Actor names are untrusted: kept at most kMaxActorChars characters, shown
// only through the caller's escaping.
struct TeamQuantiles
{
    qint64 samples = 0;
    qint64 medianMs = -1;
    qint64 p90Ms = -1;
};

struct TeamOperatorStats
{
    QString actor;
    qint64 dayMs = -1; // start of the UTC day; -1: the whole window
    qint64 decisions = 0;
    qint64 approves = 0;
    qint64 approvesEdited = 0; // approvals whose response the operator changed (also in approves)
    qint64 edits = 0;
    qint64 rejects = 0;
    qint64 revokes = 0;
    TeamQuantiles perDecision;
    TeamQuantiles wait;

    double ratio(qint64 n) const { return decisions > 0 ? double(n) / double(decisions) : 0.0; }
};

struct TeamDayFlow
{
    qint64 dayMs = 0;
    qint64 inflow = 0;
    bool inflowPartial = false; // the proposals stream no longer holds (or the read stopped before) part of the day
    qint64 outflow = 0;
    qint64 decisions = 0;
    TeamQuantiles wait;
};

struct TeamStats
{
    qint64 fromMs = 0; // window [fromMs, toMs)
    qint64 toMs = 0;
    qint64 breakMs = 0;
    QList<TeamOperatorStats> operators;    // window totals, by decisions (most first), then actor
    QList<TeamOperatorStats> operatorDays; // per operator per day, by day then actor
    QList<TeamDayFlow> days;               // every day of the window, oldest first
    qint64 auditRecords = 0;               // audit records read in the window
    bool auditTruncated = false;           // more than kMaxAuditRecords: the newest are missing
    bool inflowKnown = false;              // addInflow() was given the proposals
    qint64 proposalsRead = 0;
};

class TeamStatsCalculator
{
public:
    static constexpr qint64 kDayMs = 86400000;
    static constexpr qint64 kDefaultBreakMs = 10 * 60 * 1000;
    static constexpr int kMaxActorChars = 128;

    // Start of the UTC day holding ms.
    static qint64 dayStart(qint64 ms);
    // The ms part of a stream id ("1700000000000-3"); -1 when it is not one.
    static qint64 streamIdMs(const std::string &id);
    // The proposal id an approve/reject record names in its detail; empty if none.
    static std::string proposalIdOf(const AuditRecord &record);
    // Nearest-rank quantiles of samples (sorted in place).
    static TeamQuantiles quantiles(QList<qint64> &samples);

    // Decisions, times and outflow over the records whose tsMs is in
    // [fromMs, toMs), in any order; records up to breakMs before fromMs only
    // time the window's first decisions. days lists every day of the window.
    static TeamStats compute(const QList<AuditRecord> &records, qint64 fromMs, qint64 toMs,
                             qint64 breakMs = kDefaultBreakMs);
    // Inflow: proposalMs the id times of the proposals read; the read is
    // complete for [completeFromMs, completeToMs) only: days reaching outside
    // it are marked partial.
    static void addInflow(TeamStats *stats, const QList<qint64> &proposalMs, qint64 completeFromMs,
                          qint64 completeToMs);
};

// Reads the window's audit records (XRANGE from its start, pages of
// kPageSize, at most kMaxAuditRecords) and the proposals stream's ids (XINFO
// STREAM for trimming, XRANGE pages, at most kMaxProposals), then computes.
// finished() once per start(), also on error (stats then empty, error set).
// Thread affinity: the thread of its RedisConnection (not owned).
class TeamStatsReader : public QObject
{
    Q_OBJECT
public:
    static constexpr int kPageSize = 1000;
    static constexpr qint64 kMaxAuditRecords = 200000;
    // Twice the stream's own MAXLEN (approximate: "~" trims by whole nodes),
    // so that a full stream is read to its end.
    static constexpr qint64 kMaxProposals = 200000;

    explicit TeamStatsReader(RedisConnection *connection, QObject *parent = nullptr);
    // For a reader made before it moved to its connection's thread.
    void setConnection(RedisConnection *connection) { m_connection = connection; }

    // The last `days` UTC days up to nowMs (today included).
    void start(int days, qint64 nowMs, qint64 breakMs = TeamStatsCalculator::kDefaultBreakMs);

signals:
    void finished(const l0l3::TeamStats &stats, const QString &error);

private:
    void readAudit(const QByteArray &from);
    void readProposalInfo();
    void readProposals(const QByteArray &from);
    void finish(const QString &error = {});

    QPointer<RedisConnection> m_connection;
    qint64 m_fromMs = 0, m_toMs = 0, m_breakMs = 0;
    QList<AuditRecord> m_records;
    bool m_auditTruncated = false;
    QList<qint64> m_proposalMs;
    qint64 m_completeFromMs = 0, m_completeToMs = 0;
    bool m_inflowKnown = false;
    bool m_running = false;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::TeamStats)
