#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <functional>
#include <optional>

#include "core/control/approvalresult.h"
#include "core/localstack/demotopology.h"
#include "tests/support/httpclient.h"

namespace l0l3 {
class ApprovalService;
}

namespace l0l3::test {

class RedisClient;

// The approval path the propagation tests walk on the local three-region
// stack (plain and TLS alike): a miss in every region, the proposals
// approved on the primary, then a hit in every region, first from L0 and
// then from the hot cache. Each step returns false (or nullopt) with *why
// set, for QVERIFY2 in the test.
namespace DemoPropagation {

using Chat = std::function<HttpResult(const DemoRegion &region, const QString &prompt)>;

// status, cache, tier and region headers, error and the start of the body.
QString describe(const HttpResult &r);

// Gone, or a zombie nobody reaped yet (empty cmdline).
bool processGone(qint64 pid);

// prompt is a miss in every region, under one cache key (*key).
bool missEverywhere(const QList<DemoRegion> &regions, const Chat &chat, const QString &prompt, QByteArray *key,
                    QString *why);

// Waits until key's proposals reached the primary, then approves the first
// with response and the others as its duplicates.
std::optional<ApprovalResult> approveProposals(RedisClient &primary, ApprovalService &approvals, const QByteArray &key,
                                               const QString &response, int timeoutMs, QString *why);

// In every region: prompt becomes a hit from L0 (served by that region),
// then an L0.5 hit; every answer is expected. An approval's invalidation
// reaches a gateway twice (replica and primary subscriber), in no fixed
// order with the first L0 read: when one lands after that read, the next
// read is L0 once more, so up to five reads may pass before L0.5.
bool hitThenHotEverywhere(const QList<DemoRegion> &regions, const Chat &chat, const QString &prompt,
                          const QString &expected, int timeoutMs, QString *why);

} // namespace DemoPropagation

} // namespace l0l3::test
