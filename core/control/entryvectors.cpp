#include "core/control/entryvectors.h"

#include <QCryptographicHash>

#include <algorithm>
#include <cmath>

#include "core/common/lexicalembedder.h"
#include "core/common/promptnormaliser.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorindex.h"

namespace l0l3 {

const EmbeddingProvider &EntryVectors::provider()
{
    static const LexicalEmbedder lexical;
    return lexical;
}

std::string EntryVectors::systemSha256(std::string_view system)
{
    const std::string normalised = PromptNormaliser::normalise(system);
    return QCryptographicHash::hash(QByteArrayView(normalised.data(), qsizetype(normalised.size())),
                                    QCryptographicHash::Sha256)
        .toHex()
        .toStdString();
}

VectorRecord EntryVectors::recordFor(const Entry &entry, float threshold)
{
    VectorRecord r;
    r.model = provider().modelId();
    r.ns = entry.ns;
    r.systemSha256 = systemSha256(entry.system);
    r.modelFamily = entry.model;
    r.threshold = threshold;
    r.vector = provider().embed(entry.prompt);
    return r;
}

VectorRecord EntryVectors::recordFor(const Entry &entry, float threshold, std::string model, std::vector<float> vector)
{
    VectorRecord r;
    r.model = std::move(model);
    r.ns = entry.ns;
    r.systemSha256 = systemSha256(entry.system);
    r.modelFamily = entry.model;
    r.threshold = threshold;
    r.vector = std::move(vector);
    return r;
}

QList<QByteArray> EntryVectors::setCommand(std::string_view key, const VectorRecord &record,
                                           const QList<QByteArray> &expiry)
{
    const auto json = VectorRecordCodec::encode(record);
    if (!json)
        return {};
    QList<QByteArray> set{QByteArrayLiteral("SET"), QByteArray::fromStdString(RedisSchema::vectorKey(key)),
                          QByteArray::fromStdString(*json)};
    set.append(expiry);
    return set;
}

std::optional<QByteArray> EntryVectors::encode(const Entry &entry, float threshold)
{
    const auto json = VectorRecordCodec::encode(recordFor(entry, threshold));
    if (!json)
        return std::nullopt;
    return QByteArray::fromStdString(*json);
}

QList<QByteArray> EntryVectors::setCommand(const Entry &entry, float threshold, const QList<QByteArray> &expiry)
{
    const auto record = encode(entry, threshold);
    if (!record)
        return {};
    const std::string key = RedisSchema::vectorKey(entry.key);
    QList<QByteArray> set{QByteArrayLiteral("SET"), QByteArray::fromStdString(key), *record};
    set.append(expiry);
    return set;
}

float EntryVectors::storedThreshold(const QByteArray &stored)
{
    if (stored.isEmpty())
        return SemanticThreshold::kInitial;
    const auto record = VectorRecordCodec::decode(std::string_view(stored.constData(), std::size_t(stored.size())));
    return record ? record->threshold : SemanticThreshold::kInitial;
}

float EntryVectors::tightened(float threshold, float similarity)
{
    SemanticThreshold t = SemanticThreshold::restore(threshold, -1.0f, {});
    t.deny(similarity);
    return t.value();
}

SemanticThreshold EntryVectors::thresholdOf(const VectorRecord &record)
{
    return thresholdOf(record.threshold, record.denied, record.evidence);
}

SemanticThreshold EntryVectors::thresholdOf(float threshold, std::optional<float> denied, std::vector<float> evidence)
{
    float highest = -1.0f;
    if (denied)
        highest = *denied;
    else if (threshold > SemanticThreshold::kInitial)
        highest = threshold - SemanticThreshold::kDenialMargin;
    return SemanticThreshold::restore(threshold, highest, std::move(evidence));
}

SemanticThreshold EntryVectors::storedState(const QByteArray &stored)
{
    if (stored.isEmpty())
        return SemanticThreshold();
    const auto record = VectorRecordCodec::decode(std::string_view(stored.constData(), std::size_t(stored.size())));
    return record ? thresholdOf(*record) : SemanticThreshold();
}

void EntryVectors::setThreshold(VectorRecord &record, const SemanticThreshold &t)
{
    record.threshold = t.value();
    record.denied = std::clamp(t.highestDenied(), -1.0f, 1.0f);
    record.evidence = t.evidence();
}

float EntryVectors::similarity(std::string_view a, std::string_view b)
{
    const std::vector<float> va = provider().embed(a);
    const std::vector<float> vb = provider().embed(b);
    return dot(va, vb);
}

std::string EntryVectors::scopeOf(std::string_view ns, std::string_view system, std::string_view modelFamily)
{
    return VectorIndex::scopeKey(ns, systemSha256(system), modelFamily);
}

} // namespace l0l3
