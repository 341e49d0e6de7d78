#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/embedding.h"
#include "core/common/entry.h"
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"

namespace l0l3 {

// The control plane's side of the L1 vectors: what ApprovalService writes at
// RedisSchema::vectorKey(key) beside each entry (VectorRecordCodec), with the
// same provider the gateways use (LexicalEmbedder by default: no flag, no
// download). The vector is the embedding of the entry's prompt; its scope is
// the entry's namespace, normalised system prompt and model family.
class EntryVectors
{
public:
    // The provider the console and l0l3-ctl embed with.
    static const EmbeddingProvider &provider();

    // Lower-case hex SHA-256 of PromptNormaliser::normalise(system).
    static std::string systemSha256(std::string_view system);
    // The record of an entry, with the given threshold.
    static VectorRecord recordFor(const Entry &entry, float threshold);
    static std::optional<QByteArray> encode(const Entry &entry, float threshold);
    // SET vector:{key} with the record, then the expiry arguments given (e.g. "EX" "60", "PXAT" ms,
    // "KEEPTTL"); an empty list when the record cannot be encoded (it is then not written and
    // the entry simply has no L1 vector).
    static QList<QByteArray> setCommand(const Entry &entry, float threshold, const QList<QByteArray> &expiry);
    // The record of an entry with a vector computed elsewhere (an EmbeddingClient) under model.
    static VectorRecord recordFor(const Entry &entry, float threshold, std::string model, std::vector<float> vector);
    // SET vector:{key} with that record, then the expiry arguments; empty when it cannot be encoded.
    static QList<QByteArray> setCommand(std::string_view key, const VectorRecord &record,
                                        const QList<QByteArray> &expiry);
    // The threshold of a stored record (a GET reply's bytes); the initial one when there is none
    // or it does not decode.
    static float storedThreshold(const QByteArray &stored);
    // The threshold after a denial at similarity (SemanticThreshold::deny on a threshold with no
    // other state: never lower, at least similarity + its margin, at most its ceiling).
    static float tightened(float threshold, float similarity);
    // The SemanticThreshold of a record: its threshold, denial and evidence. A record written
    // before the last two existed counts a threshold above the initial one as denied at
    // threshold - margin (only denials raised it), so it never loosens past that.
    static SemanticThreshold thresholdOf(const VectorRecord &record);
    static SemanticThreshold thresholdOf(float threshold, std::optional<float> denied, std::vector<float> evidence);
    // Of a stored record (a GET reply's bytes); the initial one when there is none or it does
    // not decode.
    static SemanticThreshold storedState(const QByteArray &stored);
    // Writes t into the record: threshold, denied (-1: none; clamped to [-1, 1]) and evidence.
    static void setThreshold(VectorRecord &record, const SemanticThreshold &t);

    // The cosine similarity of two prompts under provider().
    static float similarity(std::string_view a, std::string_view b);
    // VectorIndex::scopeKey of an entry (or of a proposal's ns/system/model).
    static std::string scopeOf(std::string_view ns, std::string_view system, std::string_view modelFamily);
};

} // namespace l0l3
