#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QString>

#include <map>
#include <string>
#include <vector>

#include "core/common/prometheusparser.h"
#include "core/common/proposal.h"
#include "tests/support/redisvalue.h"

namespace l0l3::test {

// What the gateway's tests put on and read off the wire: OpenAI chat
// requests, completions, SSE chunk streams, errors, metrics, stream replies.
class ChatWire
{
public:
    static constexpr const char *kModel = "gpt-4o-mini";

    // {"model":kModel,"messages":[{"role":"user","content":prompt}]} merged with extra.
    static QByteArray chatBody(const QString &prompt, const QJsonObject &extra = {});

    // choices[0].message.content of a chat.completion; a null QString and a
    // reason in *why when the body is not one.
    static QString completionContent(const QByteArray &body, QString *why = nullptr);

    // Checks an SSE body strictly: only "data: " events separated by blank
    // lines, each a JSON chat.completion.chunk until a final "data: [DONE]",
    // nothing after it. Returns the concatenated delta contents, or a null
    // QString and the reason in *why.
    static QString sseContent(const QByteArray &body, QString *why = nullptr);

    // True for {"error":{"message":non-empty string,"type":non-empty string,"code":...}}.
    static bool isOpenAiError(const QByteArray &body, QString *why = nullptr);

    // Sum of the samples called name whose labels include every pair of match.
    static double sum(const std::vector<PromSample> &samples, const std::string &name,
                      const std::map<std::string, std::string> &match = {});
    // Sum of l0l3_requests_total over outcomes that are not hit/miss/bypass.
    static double errorRequests(const std::vector<PromSample> &samples);

    // An XRANGE reply decoded with ProposalCodec (undecodable entries skipped).
    static std::vector<Proposal> proposals(const RedisValue &xrangeReply);
};

} // namespace l0l3::test
