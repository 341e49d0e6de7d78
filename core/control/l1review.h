#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QString>

#include <functional>
#include <optional>
#include <string>

#include "core/common/proposal.h"
#include "core/control/redisconnection.h"
#include "core/control/redisreply.h"

namespace l0l3 {

// One sampled L1 answer in RedisSchema::kL1Review, as a gateway wrote it
// (FCALL l0l3_l1_review): the request's key and prompt (its last user
// message), the entry that answered and their similarity, the namespace, the
// region and the time. Untrusted: a gateway credential writes it.
struct L1ReviewItem
{
    QString id;    // stream id
    QString key;   // the request's cache key
    QString entry; // the matched entry's key
    double similarity = 0;
    QString ns;
    QString prompt; // the request's last user message (at most the function's bound)
    QString region;
    qint64 tsMs = 0;
    // Filled by load(): the matched entry's prompt; empty when the entry is gone.
    QString entryPrompt;
};

// Reads of the L1 review queue. Items leave the stream when an operator
// decides them (ApprovalService::reviewL1 XDELs the item in the verdict's
// transaction), so the stream's content is the queue, oldest first.
class L1Review
{
public:
    // Items shown or listed at once: the rest waits behind them.
    static constexpr int kMaxItems = 1000;

    // XRANGE of at most count items after afterId (exclusive); an empty afterId: from the start.
    static QList<QByteArray> rangeCommand(const QString &afterId, int count);
    // The items of an XRANGE reply; malformed ones (wrong keys, fields out of bounds) are
    // counted in *malformed and skipped.
    static QList<L1ReviewItem> parse(const RedisReply &reply, int *malformed = nullptr);
    // nullopt and the reason in *why when a field is missing, twice or out of bounds.
    static std::optional<L1ReviewItem> decode(const std::string &id, const StreamFields &fields,
                                              std::string *why = nullptr);
    using LoadCallback = std::function<void(const QList<L1ReviewItem> &items, int malformed, const QString &error)>;
    // rangeCommand(afterId, count), then the matched entries' prompts (one MGET); cb once, on
    // connection's thread, unless context is gone.
    static void load(RedisConnection *connection, const QString &afterId, int count, QObject *context, LoadCallback cb);
    // A stream id "MS-SEQ" of at most 41 characters.
    static bool isValidId(const QString &id);
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::L1ReviewItem)
