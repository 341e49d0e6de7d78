// ProposalCodec and AuditCodec decode stream entries as XRANGE/XREADGROUP
// hand them over: arbitrary field/value byte strings. The input is split at
// NUL into id, field, value, field, value... Properties: no crash; what
// decodes re-encodes to fields that decode to the same record.
#include "core/common/auditrecord.h"
#include "core/common/proposal.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const auto parts = fuzz::splitFields(data, size);
    const std::string_view id = parts.front();
    StreamFields fields;
    for (std::size_t i = 1; i + 1 < parts.size(); i += 2)
        fields.emplace_back(std::string(parts[i]), std::string(parts[i + 1]));

    std::string error;
    if (const auto proposal = ProposalCodec::decode(id, fields, &error)) {
        FUZZ_CHECK(proposal->id == id);
        const auto again = ProposalCodec::decode(id, ProposalCodec::encode(*proposal), &error);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(*again == *proposal);
    } else {
        FUZZ_CHECK(!error.empty());
    }

    error.clear();
    if (const auto record = AuditCodec::decode(id, fields, &error)) {
        FUZZ_CHECK(record->id == id);
        const auto again = AuditCodec::decode(id, AuditCodec::encode(*record), &error);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(*again == *record);
    } else {
        FUZZ_CHECK(!error.empty());
    }
    return 0;
}
