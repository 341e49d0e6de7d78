// VectorRecordCodec::decode on arbitrary bytes (what a gateway and the console read
// from Redis at l0l3:v1:vector:*), then the threshold state it holds restored as the
// console does. Properties: no crash; a refused record says why; a decoded record that
// encodes within the size bound decodes back equal; the restored SemanticThreshold is
// within its bounds, keeps only evidence below its value, and restores to itself.
#include "core/common/semanticthreshold.h"
#include "core/common/vectorrecord.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const std::string_view json(reinterpret_cast<const char *>(data), size);
    std::string error;
    const auto record = VectorRecordCodec::decode(json, &error);
    if (!record) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(record->evidence.size() <= VectorRecordCodec::kMaxEvidence);
    // Re-encoding may escape what the input held raw and outgrow the bound: then refused.
    if (const auto encoded = VectorRecordCodec::encode(*record, &error)) {
        const auto again = VectorRecordCodec::decode(*encoded, &error);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(*again == *record);
    }

    const SemanticThreshold t = SemanticThreshold::restore(record->threshold, record->denied.value_or(-1.0f),
                                                           record->evidence);
    FUZZ_CHECK(t.value() >= SemanticThreshold::kFloor && t.value() <= SemanticThreshold::kCeiling);
    FUZZ_CHECK(t.evidence().size() <= SemanticThreshold::kMaxEvidence);
    for (const float s : t.evidence())
        FUZZ_CHECK(s >= SemanticThreshold::kFloor && s < t.value());
    const SemanticThreshold same = SemanticThreshold::restore(t.value(), t.highestDenied(), t.evidence());
    FUZZ_CHECK(same.value() == t.value() && same.highestDenied() == t.highestDenied());
    FUZZ_CHECK(same.evidence() == t.evidence());
    return 0;
}
