#include "core/control/teamstats.h"

#include <QHash>
#include <QMap>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/common/redisschema.h"
#include "core/control/redisreply.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

bool isDecision(const std::string &action)
{
    return action == "approve" || action == "edit" || action == "reject" || action == "revoke";
}

// Whether detail holds the word w (space-separated).
bool hasWord(const std::string &detail, std::string_view w)
{
    std::string_view d(detail);
    while (!d.empty()) {
        const size_t sp = d.find(' ');
        if (d.substr(0, sp) == w)
            return true;
        if (sp == std::string_view::npos)
            break;
        d.remove_prefix(sp + 1);
    }
    return false;
}

struct Accumulator
{
    TeamOperatorStats stats;
    QList<qint64> gaps;
    QList<qint64> waits;

    void add(const AuditRecord &r, qint64 gapMs, qint64 waitMs)
    {
        ++stats.decisions;
        if (r.action == "approve") {
            ++stats.approves;
            if (hasWord(r.detail, "edited"))
                ++stats.approvesEdited;
        } else if (r.action == "edit") {
            ++stats.edits;
        } else if (r.action == "reject") {
            ++stats.rejects;
        } else if (r.action == "revoke") {
            ++stats.revokes;
        }
        if (gapMs >= 0)
            gaps.append(gapMs);
        if (waitMs >= 0)
            waits.append(waitMs);
    }
    TeamOperatorStats finish()
    {
        stats.perDecision = TeamStatsCalculator::quantiles(gaps);
        stats.wait = TeamStatsCalculator::quantiles(waits);
        return stats;
    }
};

} // namespace

qint64 TeamStatsCalculator::dayStart(qint64 ms)
{
    qint64 d = ms / kDayMs;
    if (ms % kDayMs < 0)
        --d;
    return d * kDayMs;
}

qint64 TeamStatsCalculator::streamIdMs(const std::string &id)
{
    const size_t dash = id.find('-');
    if (dash == 0 || dash == std::string::npos || dash > 20)
        return -1;
    qint64 ms = -1;
    const auto [ptr, ec] = std::from_chars(id.data(), id.data() + dash, ms);
    if (ec != std::errc() || ptr != id.data() + dash || ms < 0)
        return -1;
    return ms;
}

std::string TeamStatsCalculator::proposalIdOf(const AuditRecord &record)
{
    if (record.action != "approve" && record.action != "reject")
        return {};
    constexpr std::string_view prefix = "proposal=";
    std::string_view d(record.detail);
    if (d.substr(0, prefix.size()) != prefix)
        return {};
    d.remove_prefix(prefix.size());
    return std::string(d.substr(0, d.find(' ')));
}

TeamQuantiles TeamStatsCalculator::quantiles(QList<qint64> &samples)
{
    TeamQuantiles q;
    q.samples = samples.size();
    if (samples.isEmpty())
        return q;
    std::sort(samples.begin(), samples.end());
    const auto rank = [&](double p) {
        const qint64 r = qint64(std::ceil(p * double(samples.size())));
        return samples.at(qBound<qint64>(1, r, samples.size()) - 1);
    };
    q.medianMs = rank(0.5);
    q.p90Ms = rank(0.9);
    return q;
}

TeamStats TeamStatsCalculator::compute(const QList<AuditRecord> &records, qint64 fromMs, qint64 toMs, qint64 breakMs)
{
    TeamStats out;
    out.fromMs = fromMs;
    out.toMs = toMs;
    out.breakMs = breakMs;

    // Decisions in the window, oldest first (stable: records of one ms keep
    // their stream order), and those up to breakMs before it: they only time
    // the first decisions of the window.
    QList<const AuditRecord *> decisions;
    for (const AuditRecord &r : records) {
        if (r.tsMs >= toMs || r.tsMs < fromMs - breakMs)
            continue;
        if (r.tsMs >= fromMs)
            ++out.auditRecords;
        if (isDecision(r.action))
            decisions.append(&r);
    }
    std::stable_sort(decisions.begin(), decisions.end(),
                     [](const AuditRecord *a, const AuditRecord *b) { return a->tsMs < b->tsMs; });

    QMap<QString, Accumulator> totals;
    QMap<std::pair<qint64, QString>, Accumulator> perDay;
    QMap<qint64, QList<qint64>> dayWaits;
    QMap<qint64, TeamDayFlow> flow;
    for (qint64 d = dayStart(fromMs); d < toMs; d += kDayMs)
        flow[d].dayMs = d;
    QHash<QString, qint64> lastDecision;

    for (const AuditRecord *r : decisions) {
        const QString actor = QString::fromStdString(r->actor).left(kMaxActorChars);
        const qint64 day = dayStart(r->tsMs);
        qint64 gap = -1;
        const auto last = lastDecision.constFind(actor);
        if (last != lastDecision.constEnd() && r->tsMs - *last <= breakMs)
            gap = r->tsMs - *last;
        lastDecision.insert(actor, r->tsMs);
        if (r->tsMs < fromMs)
            continue;

        qint64 wait = -1;
        const std::string proposal = proposalIdOf(*r);
        if (!proposal.empty()) {
            const qint64 proposedMs = streamIdMs(proposal);
            const qint64 auditMs = streamIdMs(r->id);
            const qint64 decidedMs = auditMs >= 0 ? auditMs : r->tsMs;
            if (proposedMs >= 0 && decidedMs >= proposedMs)
                wait = decidedMs - proposedMs;
        }

        Accumulator &t = totals[actor];
        t.stats.actor = actor;
        t.add(*r, gap, wait);
        Accumulator &pd = perDay[{day, actor}];
        pd.stats.actor = actor;
        pd.stats.dayMs = day;
        pd.add(*r, gap, wait);

        TeamDayFlow &f = flow[day];
        f.dayMs = day;
        ++f.decisions;
        if (r->action == "approve" || r->action == "reject")
            ++f.outflow;
        if (wait >= 0)
            dayWaits[day].append(wait);
    }

    for (auto it = totals.begin(); it != totals.end(); ++it)
        out.operators.append(it->finish());
    std::stable_sort(out.operators.begin(), out.operators.end(),
                     [](const TeamOperatorStats &a, const TeamOperatorStats &b) { return a.decisions > b.decisions; });
    for (auto it = perDay.begin(); it != perDay.end(); ++it)
        out.operatorDays.append(it->finish());
    for (auto it = flow.begin(); it != flow.end(); ++it) {
        it->wait = quantiles(dayWaits[it.key()]);
        out.days.append(*it);
    }
    return out;
}

void TeamStatsCalculator::addInflow(TeamStats *stats, const QList<qint64> &proposalMs, qint64 completeFromMs,
                                    qint64 completeToMs)
{
    stats->inflowKnown = true;
    stats->proposalsRead = proposalMs.size();
    QHash<qint64, qint64> counts;
    for (qint64 ms : proposalMs) {
        if (ms >= stats->fromMs && ms < stats->toMs)
            ++counts[dayStart(ms)];
    }
    for (TeamDayFlow &d : stats->days) {
        d.inflow = counts.value(d.dayMs);
        const qint64 from = qMax(d.dayMs, stats->fromMs);
        const qint64 to = qMin(d.dayMs + kDayMs, stats->toMs);
        d.inflowPartial = from < completeFromMs || to > completeToMs;
    }
}

TeamStatsReader::TeamStatsReader(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
}

void TeamStatsReader::start(int days, qint64 nowMs, qint64 breakMs)
{
    if (m_running)
        return;
    m_running = true;
    m_toMs = nowMs + 1;
    m_fromMs = TeamStatsCalculator::dayStart(nowMs) - qint64(qMax(days, 1) - 1) * TeamStatsCalculator::kDayMs;
    m_breakMs = breakMs;
    m_records.clear();
    m_proposalMs.clear();
    m_auditTruncated = false;
    m_inflowKnown = false;
    // The previous decision of the day's first one may lie before the window;
    // records before fromMs are read for that gap only (compute() skips them).
    readAudit(QByteArray::number(qMax<qint64>(0, m_fromMs - breakMs)));
}

void TeamStatsReader::readAudit(const QByteArray &from)
{
    if (!m_connection) {
        finish(QStringLiteral("no Redis connection"));
        return;
    }
    m_connection->command(
        {QByteArrayLiteral("XRANGE"), bytes(RedisSchema::kAudit), from, QByteArrayLiteral("+"),
         QByteArrayLiteral("COUNT"), QByteArray::number(kPageSize)},
        this, [this](const RedisReply &r) {
            if (r.isError()) {
                finish(QStringLiteral("cannot read the audit stream: %1").arg(r.errorMessage().left(300)));
                return;
            }
            std::string lastId;
            for (const RedisReply &e : r.elements) {
                std::string id;
                StreamFields fields;
                if (!e.toStreamEntry(&id, &fields))
                    continue;
                lastId = id;
                if (auto rec = AuditCodec::decode(id, fields))
                    m_records.append(std::move(*rec));
            }
            if (r.elements.size() < kPageSize || lastId.empty()) {
                readProposalInfo();
            } else if (m_records.size() >= kMaxAuditRecords) {
                m_auditTruncated = true;
                readProposalInfo();
            } else {
                readAudit("(" + bytes(lastId));
            }
        });
}

void TeamStatsReader::readProposalInfo()
{
    m_connection->command({QByteArrayLiteral("XINFO"), QByteArrayLiteral("STREAM"), bytes(RedisSchema::kProposals)},
                          this, [this](const RedisReply &r) {
                              if (r.isError()) {
                                  // No proposal ever: inflow is zero and complete.
                                  if (r.str.contains("no such key")) {
                                      m_inflowKnown = true;
                                      m_completeFromMs = 0;
                                      m_completeToMs = m_toMs;
                                  }
                                  finish();
                                  return;
                              }
                              qint64 length = -1, added = -1, firstMs = -1;
                              for (qsizetype i = 0; i + 1 < r.elements.size(); i += 2) {
                                  const QByteArray &f = r.elements[i].str;
                                  const RedisReply &v = r.elements[i + 1];
                                  if (f == "length")
                                      length = v.toInteger();
                                  else if (f == "entries-added")
                                      added = v.toInteger();
                                  else if (f == "first-entry" && v.isArray() && !v.elements.isEmpty())
                                      firstMs = TeamStatsCalculator::streamIdMs(
                                          v.elements[0].str.left(64).toStdString());
                              }
                              m_inflowKnown = true;
                              m_completeToMs = m_toMs;
                              // Whole (or an older Redis that cannot tell: taken as whole), or
                              // trimmed: complete only after the oldest entry left (one of the
                              // same ms may be gone), nothing when it is empty.
                              if (added < 0 || length < 0 || added <= length)
                                  m_completeFromMs = 0;
                              else
                                  m_completeFromMs = firstMs >= 0 ? firstMs + 1 : m_toMs;
                              readProposals(QByteArray::number(m_fromMs));
                          });
}

void TeamStatsReader::readProposals(const QByteArray &from)
{
    m_connection->command({QByteArrayLiteral("XRANGE"), bytes(RedisSchema::kProposals), from, QByteArrayLiteral("+"),
                           QByteArrayLiteral("COUNT"), QByteArray::number(kPageSize)},
                          this, [this](const RedisReply &r) {
                              if (r.isError()) {
                                  m_inflowKnown = false;
                                  finish();
                                  return;
                              }
                              QByteArray lastId;
                              for (const RedisReply &e : r.elements) {
                                  if (!e.isArray() || e.elements.isEmpty())
                                      continue;
                                  lastId = e.elements[0].str.left(64);
                                  const qint64 ms = TeamStatsCalculator::streamIdMs(lastId.toStdString());
                                  if (ms >= 0)
                                      m_proposalMs.append(ms);
                              }
                              if (r.elements.size() < kPageSize || lastId.isEmpty()) {
                                  finish();
                              } else if (m_proposalMs.size() >= kMaxProposals) {
                                  m_completeToMs = m_proposalMs.last();
                                  finish();
                              } else {
                                  readProposals("(" + lastId);
                              }
                          });
}

void TeamStatsReader::finish(const QString &error)
{
    m_running = false;
    TeamStats stats;
    if (error.isEmpty()) {
        stats = TeamStatsCalculator::compute(m_records, m_fromMs, m_toMs, m_breakMs);
        stats.auditTruncated = m_auditTruncated;
        if (m_inflowKnown)
            TeamStatsCalculator::addInflow(&stats, m_proposalMs, m_completeFromMs, m_completeToMs);
    }
    m_records.clear();
    m_proposalMs.clear();
    emit finished(stats, error);
}

} // namespace l0l3
