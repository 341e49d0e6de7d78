#include "tests/integration/demopropagation.h"

#include <QFile>

#include <vector>

#include "core/common/proposal.h"
#include "core/control/approvalservice.h"
#include "tests/integration/chatwire.h"
#include "tests/integration/e2estack.h"
#include "tests/support/poll.h"
#include "tests/support/redisclient.h"

namespace l0l3::test::DemoPropagation {

QString describe(const HttpResult &r)
{
    return QStringLiteral("status %1 cache=%2 tier=%3 region=%4 %5 %6")
        .arg(r.status)
        .arg(QString::fromLatin1(r.header("x-l0l3-cache")), QString::fromLatin1(r.header("x-l0l3-tier")),
             QString::fromLatin1(r.header("x-l0l3-region")), r.error, QString::fromUtf8(r.body.left(300)));
}

bool processGone(qint64 pid)
{
    QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(pid));
    return !cmdline.open(QIODevice::ReadOnly) || cmdline.readAll().isEmpty();
}

bool missEverywhere(const QList<DemoRegion> &regions, const Chat &chat, const QString &prompt, QByteArray *key,
                    QString *why)
{
    key->clear();
    for (const DemoRegion &region : regions) {
        const HttpResult miss = chat(region, prompt);
        const bool ok = miss.status == 200 && miss.header("x-l0l3-cache") == "miss"
            && miss.header("x-l0l3-region") == region.name.toUtf8() && !miss.header("x-l0l3-key").isEmpty()
            && (key->isEmpty() || miss.header("x-l0l3-key") == *key);
        if (!ok) {
            *why = QStringLiteral("%1: expected a miss under key %2: %3")
                       .arg(region.name, QString::fromLatin1(*key), describe(miss));
            return false;
        }
        *key = miss.header("x-l0l3-key");
    }
    return true;
}

std::optional<ApprovalResult> approveProposals(RedisClient &primary, ApprovalService &approvals, const QByteArray &key,
                                               const QString &response, int timeoutMs, QString *why)
{
    std::vector<Proposal> proposals;
    if (!Poll::until(
            [&] {
                proposals = E2eStack::proposalsFor(primary, key);
                return !proposals.empty();
            },
            timeoutMs)) {
        *why = QStringLiteral("no proposal of %1 reached the primary").arg(QString::fromLatin1(key));
        return std::nullopt;
    }
    ApprovalRequest request;
    request.proposalId = QString::fromStdString(proposals.front().id);
    for (std::size_t i = 1; i < proposals.size(); ++i)
        request.duplicateIds.append(QString::fromStdString(proposals[i].id));
    request.response = response;
    auto approved = E2eStack::await([&](ApprovalService::ResultCallback cb) { approvals.approve(request, cb); });
    if (!approved)
        *why = QStringLiteral("approve() never answered");
    else if (!approved->ok || approved->replicasAcked < 1)
        *why = approved->message;
    return approved;
}

bool hitThenHotEverywhere(const QList<DemoRegion> &regions, const Chat &chat, const QString &prompt,
                          const QString &expected, int timeoutMs, QString *why)
{
    const auto served = [&](const HttpResult &r, const DemoRegion &region) {
        return r.header("x-l0l3-cache") == "hit" && r.header("x-l0l3-region") == region.name.toUtf8()
            && ChatWire::completionContent(r.body) == expected;
    };
    for (const DemoRegion &region : regions) {
        HttpResult first;
        if (!Poll::until(
                [&] {
                    first = chat(region, prompt);
                    return first.header("x-l0l3-cache") == "hit";
                },
                timeoutMs)
            || first.header("x-l0l3-tier") != "L0" || !served(first, region)) {
            *why = region.name + QStringLiteral(": expected an L0 hit with the approved answer: ") + describe(first);
            return false;
        }
        HttpResult hot;
        bool stayedHit = true;
        for (int reads = 0; reads < 5 && stayedHit; ++reads) {
            hot = chat(region, prompt);
            stayedHit = served(hot, region);
            if (stayedHit && hot.header("x-l0l3-tier") == "L0.5")
                break;
        }
        if (!stayedHit || hot.header("x-l0l3-tier") != "L0.5") {
            *why = region.name + QStringLiteral(": expected an L0.5 hit with the approved answer: ") + describe(hot);
            return false;
        }
    }
    return true;
}

} // namespace l0l3::test::DemoPropagation
