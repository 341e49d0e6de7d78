#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

// The L1 vector of one approved entry (a main entry or a variant), stored at
// RedisSchema::vectorKey(key) as a JSON string of at most kMaxBytes, written
// by the control plane in the same transaction as the entry, with the same
// expiry, and deleted with it:
//   {"model": "lexical-v1-d256", "dim": 256, "ns": "...", "system_sha256": "<64 hex>",
//    "model_family": "...", "threshold": 0.92, "v": "<base64 of dim float32, little-endian>",
//    "denied": 0.95, "evidence": "<base64 of float32, little-endian>"}
// model: the EmbeddingProvider's modelId() the vector was computed with; a
// reader using another model ignores the record. ns, model_family: the
// entry's namespace and model family. system_sha256: lower-case hex SHA-256
// of PromptNormaliser::normalise(entry's system prompt) (the normalisation of
// the cache key), so VectorIndex::scopeKey(ns, system_sha256, model_family)
// is the entry's scope on both sides. threshold: the entry's SemanticThreshold
// value, moved only by operator verdicts; denied and evidence (optional: records
// written before them have neither) are the rest of its state, the highest
// similarity denied (-1: none) and the confirmed similarities below the
// threshold, ascending. The vector was embedded from the entry's prompt and is
// L2-normalised (or all zeros for a prompt without features).
struct VectorRecord
{
    std::string model;
    std::string ns;
    std::string systemSha256;
    std::string modelFamily;
    float threshold = 0.92f;
    std::vector<float> vector;   // its size is "dim"
    std::optional<float> denied; // nullopt: the field is absent
    std::vector<float> evidence; // empty: the field is absent

    bool operator==(const VectorRecord &) const = default;
};

class VectorRecordCodec
{
public:
    static constexpr std::size_t kMaxBytes = 16 * 1024;
    static constexpr std::size_t kMaxDimension = 2048;
    static constexpr std::size_t kMaxModelBytes = 256;
    static constexpr std::size_t kMaxNamespaceBytes = 1024;
    static constexpr std::size_t kMaxModelFamilyBytes = 256;
    // threshold bounds (SemanticThreshold::kFloor .. kCeiling)
    static constexpr float kMinThreshold = 0.80f;
    static constexpr float kMaxThreshold = 1.01f;
    static constexpr std::size_t kMaxEvidence = 256; // SemanticThreshold::kMaxEvidence

    // nullopt and a reason in *error when the record breaks one of decode()'s
    // rules (nothing is clamped: the writer is the control plane).
    static std::optional<std::string> encode(const VectorRecord &record, std::string *error = nullptr);
    // Strict: at most kMaxBytes, a JSON object with each field above exactly
    // once (any key twice is refused, known or not; unknown keys are
    // ignored), strings within their bounds, system_sha256 64 lower-case hex
    // digits, dim from 1 to kMaxDimension, "v" canonical base64 of exactly
    // dim * 4 bytes, every value finite with an L2 norm within 1e-3 of 1 (or
    // all zeros), threshold finite within [kMinThreshold, kMaxThreshold]; when
    // present, denied a number within [-1, 1] and evidence canonical base64 of
    // 1 to kMaxEvidence float32 values, ascending, each within
    // [kMinThreshold, threshold).
    static std::optional<VectorRecord> decode(std::string_view json, std::string *error = nullptr);

    static std::string base64Encode(std::string_view bytes);
    // Canonical padded base64 only (RFC 4648, no white space); nullopt otherwise.
    static std::optional<std::string> base64Decode(std::string_view text);
};

} // namespace l0l3
