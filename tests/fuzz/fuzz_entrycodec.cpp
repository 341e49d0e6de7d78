// EntryCodec::decode on arbitrary bytes (what a gateway reads from Redis,
// written by anyone with write access). Properties: no crash; a decoded entry
// survives encode/decode unchanged and its encoding is stable.
#include "core/common/entry.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const std::string_view json(reinterpret_cast<const char *>(data), size);
    std::string error;
    const auto entry = EntryCodec::decode(json, &error);
    if (!entry) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    const std::string encoded = EntryCodec::encode(*entry);
    FUZZ_CHECK(fuzz::isValidUtf8(encoded));
    const auto again = EntryCodec::decode(encoded, &error);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == *entry);
    FUZZ_CHECK(EntryCodec::encode(*again) == encoded);
    return 0;
}
