#pragma once

#include <QObject>
#include <QTimer>

#include "core/control/approvalservice.h"
#include "core/control/proposalqueue.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// --demo --auto-approve S: a stand-in operator for demos nobody is watching
// (headless runs, screenshots). Every S seconds it approves the proposal
// ranked highest by savings, through the same ApprovalService as the console
// (audited, actor "demo-autopilot"), so hit rates move without a person.
// Never used outside the demo: approving unread answers is what L0L3 exists
// to prevent.
class DemoAutopilot : public QObject
{
    Q_OBJECT
public:
    DemoAutopilot(const RedisConnection::Options &primary, int intervalMs, QObject *parent = nullptr);

    void start();

signals:
    // One line per decision or failure, for the status output.
    void report(const QString &line);

private:
    void tick();
    void approveTop();

    RedisConnection m_connection;
    ProposalQueue m_queue;
    ApprovalService m_approvals;
    QTimer m_timer;
    bool m_busy = false;
};

} // namespace l0l3
