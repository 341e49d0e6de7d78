#pragma once

#include <QList>
#include <QString>

namespace l0l3 {

// The operator's keystroke, measured in the console itself (offscreen Qt, a
// real primary and replica): N proposals seeded as gateways write them and
// loaded into a shown ProposalsPage, then D decisions typed into its queue
// view with QTest key events (Enter approves, every fifth one Backspace
// rejects), one after the other, each on the proposal the page shows next.
// Per decision:
//  - keystroke -> next proposal shown: from the key press until the first
//    frame (the page's UpdateRequest, every dirty widget painted) that ends
//    after it, with the next proposal current in the queue and the detail pane;
//  - keystroke -> outcome: until ApprovalService's result (MULTI/EXEC, WAIT 1)
//    has removed the row;
//  - the UI thread's CPU time over that whole cycle (the key handling, the
//    frames, the result and the row's removal from a queue of N).
// Every decision's outcome is then checked in Redis.
class DecisionBench
{
public:
    struct Options
    {
        bool smoke = false;
        int queue = 100000;
        int decisions = 200;
    };
    struct Results
    {
        int queue = 0;
        int approvals = 0;
        int rejections = 0;
        double seedMs = 0;
        double loadMs = 0;
        QList<double> nextShownMs;
        QList<double> keyHandlingMs; // the key press' own synchronous handling
        QList<double> outcomeMs;
        QList<double> uiCpuMs;
        double totalSeconds = 0;
        int clusterRuns = 0;     // ProposalClusterTracker runs during the decisions
        qint64 clusterRunMs = 0; // the last one's time off the UI thread
    };

    explicit DecisionBench(const Options &options);

    // false + error() when something did not work (never for a missed target).
    bool run();
    const Results &results() const { return m_results; }
    QString error() const { return m_error; }
    QString markdown() const;

private:
    bool fail(const QString &message);

    Options m_options;
    Results m_results;
    QString m_error;
};

} // namespace l0l3
