#include "tests/integration/l1approval.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QtGlobal>

#include "core/common/cachekey.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "tests/integration/chatwire.h"
#include "tests/support/redisclient.h"

namespace l0l3::test {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

} // namespace

Entry L1Approval::entry(const std::string &prompt, const std::string &response, const std::string &system)
{
    Entry e;
    e.key = CacheKey::derive({"default", system, prompt, ChatWire::kModel, "", "", ""});
    e.ns = "default";
    e.system = system;
    e.response = response;
    e.prompt = prompt;
    e.model = CacheKey::modelFamily(ChatWire::kModel);
    e.approvedBy = "testkit";
    e.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
    return e;
}

VectorRecord L1Approval::record(const Entry &e, const std::string &model, float threshold, std::vector<float> vector)
{
    VectorRecord r;
    r.model = model;
    r.ns = e.ns;
    r.systemSha256 = QCryptographicHash::hash(QByteArray::fromStdString(PromptNormaliser::normalise(e.system)),
                                              QCryptographicHash::Sha256)
                         .toHex()
                         .toStdString();
    r.modelFamily = e.model;
    r.threshold = threshold;
    r.vector = std::move(vector);
    return r;
}

QByteArray L1Approval::store(RedisClient &primary, const Entry &e, const VectorRecord &r)
{
    std::string why;
    const auto json = VectorRecordCodec::encode(r, &why);
    if (!json) {
        qWarning("vector record: %s", why.c_str());
        return {};
    }
    primary.command({"MULTI"});
    primary.command({"SET", bytes(RedisSchema::entryKey(e.key)), bytes(EntryCodec::encode(e))});
    primary.command({"SET", bytes(RedisSchema::vectorKey(e.key)), bytes(*json)});
    const RedisValue done = primary.command({"EXEC"});
    if (done.isError()) {
        qWarning("EXEC: %s", qPrintable(done.toString()));
        return {};
    }
    primary.command({"PUBLISH", bytes(RedisSchema::kInvalidateChannel), bytes(e.key)});
    return QByteArray::fromStdString(e.key);
}

} // namespace l0l3::test
