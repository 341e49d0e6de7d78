#include "tests/integration/approvalstream.h"

#include <QTimer>

#include "core/common/proposal.h"
#include "core/control/approvalservice.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"

namespace l0l3::test {

ApprovalStream::ApprovalStream(ApprovalService *service, const QList<Item> &items, int gapMs, QObject *parent)
    : QObject(parent)
    , m_service(service)
    , m_items(items)
    , m_gapMs(gapMs)
{
    m_clock.start();
}

QList<ApprovalStream::Item> ApprovalStream::seedReplicated(E2eStack &stack, const QString &promptPrefix,
                                                           const std::string &answer, int count)
{
    RedisClient primary = stack.primary().client();
    QList<Item> items;
    for (int i = 0; i < count; ++i) {
        Proposal p;
        p.prompt = QStringLiteral("%1-%2").arg(promptPrefix).arg(i).toStdString();
        p.response = answer;
        p.model = ChatWire::kModel;
        p.region = "tokyo";
        p.key = p.derivedKey();
        const QByteArray id = E2eStack::addProposal(primary, p);
        if (id.isEmpty())
            return {};
        items.append({QString::fromLatin1(id), QString::fromStdString(p.key)});
    }
    const RedisValue acked = primary.command({"WAIT", QByteArray::number(stack.regions().size()), "5000"});
    if (!acked.isInteger() || acked.integer < stack.regions().size())
        return {};
    return items;
}

void ApprovalStream::start()
{
    if (m_running)
        return;
    m_running = true;
    if (!m_inFlight)
        sendNext();
}

void ApprovalStream::stop()
{
    m_running = false;
}

QStringList ApprovalStream::acknowledgedKeys() const
{
    QStringList keys;
    for (const StreamedApproval &r : m_results)
        if (r.ok && r.replicasAcked >= 1)
            keys.append(r.key);
    return keys;
}

void ApprovalStream::sendNext()
{
    if (!m_running || !m_service || m_next >= m_items.size())
        return;
    const Item item = m_items.at(m_next++);
    m_inFlight = true;
    ApprovalRequest request;
    request.proposalId = item.proposalId;
    request.key = item.key;
    request.response = QStringLiteral("approved answer for %1").arg(item.key);
    QPointer<ApprovalStream> self(this);
    m_service->approve(request, [self, item](const ApprovalResult &r) {
        if (!self)
            return;
        StreamedApproval s;
        s.key = item.key;
        s.ok = r.ok;
        s.replicasAcked = r.replicasAcked;
        s.port = self->m_service && self->m_service->connection() ? self->m_service->connection()->options().port : 0;
        s.atMs = self->m_clock.elapsed();
        s.error = r.error;
        s.message = r.message;
        self->m_results.append(s);
        self->m_inFlight = false;
        emit self->resultArrived(s);
        if (self->m_running)
            QTimer::singleShot(self->m_gapMs, self, &ApprovalStream::sendNext);
    });
}

} // namespace l0l3::test
