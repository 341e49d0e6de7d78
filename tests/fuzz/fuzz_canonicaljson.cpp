// CanonicalJson::canonicalise on arbitrary bytes. Properties: no crash; when
// it succeeds, the output is valid UTF-8 and a fixed point (canonical JSON of
// canonical JSON is itself), so a response_format or tools value hashes the
// same whether the client or the gateway canonicalised it.
#include "core/common/canonicaljson.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const std::string_view json(reinterpret_cast<const char *>(data), size);
    const auto once = CanonicalJson::canonicalise(json);
    if (!once)
        return 0;
    FUZZ_CHECK(fuzz::isValidUtf8(*once));
    const auto twice = CanonicalJson::canonicalise(*once);
    FUZZ_CHECK(twice.has_value());
    FUZZ_CHECK(*twice == *once);
    return 0;
}
