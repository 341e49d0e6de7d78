// parseControlMessage on arbitrary bytes (what arrives on the control channel).
// Properties: no crash; a refusal says why; an accepted message is canonical
// (encode() gives back the exact input) and its fields are within the grammar.
#include "core/common/controlmessage.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    std::string error;
    const auto message = parseControlMessage(text, &error);
    if (!message) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(text.size() <= ControlMessage::kMaxBytes);
    FUZZ_CHECK(encode(*message) == text);
    FUZZ_CHECK(parseControlMessage(encode(*message)) == message);
    FUZZ_CHECK(message->target.find(' ') == std::string::npos);
    switch (message->verb) {
    case ControlMessage::Verb::Drain:
    case ControlMessage::Verb::Undrain: FUZZ_CHECK(message->target == "*" || isValidRegionName(message->target)); break;
    case ControlMessage::Verb::Flush:
        FUZZ_CHECK(message->target.empty() || message->target == "*" || isValidRegionName(message->target));
        break;
    case ControlMessage::Verb::Freeze:
    case ControlMessage::Verb::Unfreeze:
        FUZZ_CHECK(message->target.empty());
        FUZZ_CHECK(!message->addressesRegion("r"));
        break;
    case ControlMessage::Verb::Failover:
    case ControlMessage::Verb::Promote:
        FUZZ_CHECK(message->target.find(':') != std::string::npos
                   || (message->target.empty() && message->verb == ControlMessage::Verb::Failover));
        FUZZ_CHECK(message->isAuditOnly() == (message->verb == ControlMessage::Verb::Failover));
        FUZZ_CHECK(!message->addressesRegion("r"));
        break;
    }
    return 0;
}
