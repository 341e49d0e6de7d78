#include <QTest>

#include "core/control/teamstats.h"

using namespace l0l3;

namespace {

constexpr qint64 kDay = TeamStatsCalculator::kDayMs;
constexpr qint64 kMin = 60 * 1000;
// 2023-11-14 00:00:00 UTC
constexpr qint64 kDay0 = 1699920000000;

AuditRecord rec(const std::string &actor, const std::string &action, qint64 tsMs, const std::string &detail = {},
                const std::string &id = {})
{
    AuditRecord r;
    r.id = id;
    r.actor = actor;
    r.action = action;
    r.tsMs = tsMs;
    r.key = "k";
    r.detail = detail;
    return r;
}

const TeamOperatorStats *find(const QList<TeamOperatorStats> &list, const QString &actor, qint64 day = -1)
{
    for (const TeamOperatorStats &s : list)
        if (s.actor == actor && s.dayMs == day)
            return &s;
    return nullptr;
}

} // namespace

class TstTeamStats : public QObject
{
    Q_OBJECT
private slots:
    void dayStartAndIds()
    {
        QCOMPARE(TeamStatsCalculator::dayStart(kDay0 + 5), kDay0);
        QCOMPARE(TeamStatsCalculator::dayStart(kDay0 - 1), kDay0 - kDay);
        QCOMPARE(TeamStatsCalculator::dayStart(-1), -kDay);
        QCOMPARE(TeamStatsCalculator::streamIdMs("1700000000000-3"), 1700000000000LL);
        QCOMPARE(TeamStatsCalculator::streamIdMs("abc-1"), -1);
        QCOMPARE(TeamStatsCalculator::streamIdMs("-1"), -1);
        QCOMPARE(TeamStatsCalculator::streamIdMs("12"), -1);
        QCOMPARE(TeamStatsCalculator::streamIdMs("99999999999999999999999-0"), -1);
        QCOMPARE(TeamStatsCalculator::proposalIdOf(rec("a", "approve", 0, "proposal=5-1 intent=x")),
                 std::string("5-1"));
        QCOMPARE(TeamStatsCalculator::proposalIdOf(rec("a", "reject", 0, "proposal=7-0 days=30")), std::string("7-0"));
        QCOMPARE(TeamStatsCalculator::proposalIdOf(rec("a", "edit", 0, "proposal=7-0")), std::string());
    }

    void quantilesNearestRank()
    {
        QList<qint64> empty;
        QCOMPARE(TeamStatsCalculator::quantiles(empty).medianMs, -1);
        QList<qint64> v{10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
        const TeamQuantiles q = TeamStatsCalculator::quantiles(v);
        QCOMPARE(q.samples, 10);
        QCOMPARE(q.medianMs, 5);
        QCOMPARE(q.p90Ms, 9);
        QList<qint64> one{42};
        QCOMPARE(TeamStatsCalculator::quantiles(one).p90Ms, 42);
    }

    // One operator: gaps of 10, 20, 30 s, a break of 11 min, then 40 s.
    void gapsAndBreaks()
    {
        const qint64 t = kDay0 + 9 * 3600 * 1000;
        QList<AuditRecord> records{
            // newest first, as XREVRANGE would give them: the order must not matter
            rec("alice", "approve", t + 60000 + 11 * kMin + 40000),
            rec("alice", "approve", t + 60000 + 11 * kMin),
            rec("alice", "reject", t + 60000, "proposal=1-0 days=30"),
            rec("alice", "edit", t + 30000),
            rec("alice", "approve", t + 10000, "proposal=2-0 edited"),
            rec("alice", "revoke", t),
            rec("alice", "unreject", t + 5000), // not a decision, does not split a gap
            rec("alice", "control", t + 6000),
        };
        const TeamStats s = TeamStatsCalculator::compute(records, kDay0, kDay0 + kDay);
        QCOMPARE(s.auditRecords, 8);
        QCOMPARE(s.operators.size(), 1);
        const TeamOperatorStats &a = s.operators.first();
        QCOMPARE(a.actor, QStringLiteral("alice"));
        QCOMPARE(a.decisions, 6);
        QCOMPARE(a.approves, 3);
        QCOMPARE(a.approvesEdited, 1);
        QCOMPARE(a.edits, 1);
        QCOMPARE(a.rejects, 1);
        QCOMPARE(a.revokes, 1);
        QCOMPARE(a.ratio(a.approves), 0.5);
        // timed: 10, 20, 30, 40 s; the decision after the break is not
        QCOMPARE(a.perDecision.samples, 4);
        QCOMPARE(a.perDecision.medianMs, 20000);
        QCOMPARE(a.perDecision.p90Ms, 40000);
        QCOMPARE(s.days.size(), 1);
        QCOMPARE(s.days.first().outflow, 4); // 3 approvals + 1 reject
        QCOMPARE(s.days.first().decisions, 6);
        QCOMPARE(s.operatorDays.size(), 1);
        QCOMPARE(s.operatorDays.first().dayMs, kDay0);
    }

    void exactlyBreakIsTimed()
    {
        QList<AuditRecord> records{rec("a", "approve", kDay0 + 1000), rec("a", "approve", kDay0 + 1000 + 10 * kMin),
                                   rec("a", "approve", kDay0 + 1000 + 20 * kMin + 1)};
        const TeamStats s = TeamStatsCalculator::compute(records, kDay0, kDay0 + kDay);
        QCOMPARE(s.operators.first().perDecision.samples, 1);
        QCOMPARE(s.operators.first().perDecision.medianMs, 10 * kMin);
        const TeamStats shortBreak = TeamStatsCalculator::compute(records, kDay0, kDay0 + kDay, kMin);
        QCOMPARE(shortBreak.operators.first().perDecision.samples, 0);
        QCOMPARE(shortBreak.operators.first().perDecision.medianMs, -1);
    }

    // Two operators interleaved: each one's gaps are its own.
    void operatorsAreSeparate()
    {
        QList<AuditRecord> records;
        for (int i = 0; i < 10; ++i) {
            records.append(rec("alice", "approve", kDay0 + i * 5000));
            records.append(rec("bob", "reject", kDay0 + 1000 + i * 60000));
        }
        records.append(rec("carol", "approve", kDay0 + kDay + 100)); // the next day
        const TeamStats s = TeamStatsCalculator::compute(records, kDay0, kDay0 + 2 * kDay);
        QCOMPARE(s.operators.size(), 3);
        QCOMPARE(s.operators.at(2).actor, QStringLiteral("carol")); // fewest decisions last
        const TeamOperatorStats *alice = find(s.operators, QStringLiteral("alice"));
        const TeamOperatorStats *bob = find(s.operators, QStringLiteral("bob"));
        QVERIFY(alice && bob);
        QCOMPARE(alice->perDecision.medianMs, 5000);
        QCOMPARE(alice->perDecision.samples, 9);
        QCOMPARE(bob->perDecision.medianMs, 60000);
        QCOMPARE(bob->ratio(bob->rejects), 1.0);
        QCOMPARE(s.days.size(), 2);
        QCOMPARE(s.days.at(0).outflow, 20);
        QCOMPARE(s.days.at(1).outflow, 1);
        QVERIFY(find(s.operatorDays, QStringLiteral("carol"), kDay0 + kDay));
        QVERIFY(!find(s.operatorDays, QStringLiteral("carol"), kDay0));
    }

    // Records outside the window are not counted; those just before it time
    // its first decision.
    void windowEdges()
    {
        QList<AuditRecord> records{rec("a", "approve", kDay0 - 2000), rec("a", "approve", kDay0 + 3000),
                                   rec("a", "approve", kDay0 + kDay)};
        const TeamStats s = TeamStatsCalculator::compute(records, kDay0, kDay0 + kDay);
        QCOMPARE(s.auditRecords, 1);
        QCOMPARE(s.operators.first().decisions, 1);
        QCOMPARE(s.operators.first().perDecision.medianMs, 5000);
    }

    void waitBeforeDecision()
    {
        const qint64 proposed = kDay0 + 1000;
        QList<AuditRecord> records{
            // the audit id's time is the decision time (Redis clock), not tsMs
            rec("a", "approve", kDay0 + 50000, "proposal=" + std::to_string(proposed) + "-0",
                std::to_string(proposed + 30000) + "-0"),
            // without an audit id: tsMs
            rec("a", "reject", kDay0 + 90000, "proposal=" + std::to_string(proposed) + "-1 days=3"),
            // a proposal id from the future (skew, forgery): no wait
            rec("a", "approve", kDay0 + 100000, "proposal=" + std::to_string(kDay0 + 200000) + "-0"),
            // garbage id
            rec("a", "approve", kDay0 + 110000, "proposal=nonsense"),
            rec("a", "edit", kDay0 + 120000, "edit"),
        };
        const TeamStats s = TeamStatsCalculator::compute(records, kDay0, kDay0 + kDay);
        const TeamOperatorStats &a = s.operators.first();
        QCOMPARE(a.wait.samples, 2);
        QCOMPARE(a.wait.medianMs, 30000);
        QCOMPARE(a.wait.p90Ms, 89000);
        QCOMPARE(s.days.first().wait.samples, 2);
    }

    void inflow()
    {
        QList<AuditRecord> records{rec("a", "approve", kDay0 + 10)};
        TeamStats s = TeamStatsCalculator::compute(records, kDay0, kDay0 + 3 * kDay);
        QCOMPARE(s.days.size(), 3);
        QVERIFY(!s.inflowKnown);
        const QList<qint64> ms{kDay0 - 5, kDay0 + 1, kDay0 + 2, kDay0 + kDay + 7, kDay0 + 3 * kDay};
        // complete from the middle of day 0 on, up to the end
        TeamStatsCalculator::addInflow(&s, ms, kDay0 + 1000, kDay0 + 3 * kDay);
        QVERIFY(s.inflowKnown);
        QCOMPARE(s.days.at(0).inflow, 2);
        QVERIFY(s.days.at(0).inflowPartial);
        QCOMPARE(s.days.at(1).inflow, 1);
        QVERIFY(!s.days.at(1).inflowPartial);
        QCOMPARE(s.days.at(2).inflow, 0);
        QVERIFY(!s.days.at(2).inflowPartial);
        // a read that stopped inside day 1
        TeamStatsCalculator::addInflow(&s, ms, 0, kDay0 + kDay + 7);
        QVERIFY(!s.days.at(0).inflowPartial);
        QVERIFY(s.days.at(1).inflowPartial);
        QVERIFY(s.days.at(2).inflowPartial);
    }

    // Actor names are data: control characters, bidi overrides, invalid
    // UTF-8, huge names and names that look like others stay separate and
    // bounded.
    void hostileActors()
    {
        const std::string huge(100000, 'x');
        QList<AuditRecord> records{
            rec("bob\x1b[2J", "approve", kDay0 + 1),
            rec("bob", "approve", kDay0 + 2),
            rec("\xe2\x80\xae"
                "bob",
                "approve", kDay0 + 3),
            rec("\xff\xfe", "reject", kDay0 + 4),
            rec(huge, "approve", kDay0 + 5),
            rec("", "approve", kDay0 + 6),
        };
        const TeamStats s = TeamStatsCalculator::compute(records, kDay0, kDay0 + kDay);
        QCOMPARE(s.operators.size(), 6);
        for (const TeamOperatorStats &o : s.operators) {
            QVERIFY(o.actor.size() <= TeamStatsCalculator::kMaxActorChars);
            QCOMPARE(o.decisions, 1);
            QCOMPARE(o.perDecision.samples, 0);
        }
        QVERIFY(find(s.operators, QStringLiteral("bob\x1b[2J")));
        QVERIFY(find(s.operators, QString(QChar(0x202E)) + QStringLiteral("bob")));
    }
};

QTEST_GUILESS_MAIN(TstTeamStats)
#include "tst_teamstats.moc"
