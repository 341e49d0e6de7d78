#include "core/localstack/demoautopilot.h"

namespace l0l3 {

DemoAutopilot::DemoAutopilot(const RedisConnection::Options &primary, int intervalMs, QObject *parent)
    : QObject(parent)
    , m_connection(primary)
    , m_queue(&m_connection)
    , m_approvals(&m_connection)
{
    m_approvals.setDefaultActor(QStringLiteral("demo-autopilot"));
    m_timer.setInterval(intervalMs);
    connect(&m_timer, &QTimer::timeout, this, &DemoAutopilot::tick);
    connect(&m_queue, &ProposalQueue::loadFinished, this, &DemoAutopilot::approveTop);
    connect(&m_queue, &ProposalQueue::loadFailed, this, [this](const QString &message) {
        m_busy = false;
        emit report(QStringLiteral("autopilot: cannot read proposals: %1").arg(message));
    });
}

void DemoAutopilot::start()
{
    m_connection.open();
    m_timer.start();
}

void DemoAutopilot::tick()
{
    if (m_busy)
        return; // the previous decision is still on its way
    m_busy = true;
    m_queue.load();
}

void DemoAutopilot::approveTop()
{
    const QList<ProposalItem> ranked = m_queue.rankedItems();
    if (ranked.isEmpty()) {
        m_busy = false;
        return;
    }
    const ProposalItem &top = ranked.first();
    ApprovalRequest request;
    request.proposalId = top.id;
    request.duplicateIds = top.duplicateIds;
    request.key = top.key;
    const QString prompt = top.prompt.left(60);
    const qint64 seen = top.seenTotal;
    m_approvals.approve(request, [this, prompt, seen](const ApprovalResult &result) {
        m_busy = false;
        if (result.ok) {
            emit report(QStringLiteral("autopilot approved \"%1\" (seen %2, %3 replica(s) acknowledged)")
                            .arg(prompt)
                            .arg(seen)
                            .arg(result.replicasAcked));
        } else {
            emit report(QStringLiteral("autopilot: approval failed: %1").arg(result.message));
        }
    });
}

} // namespace l0l3
