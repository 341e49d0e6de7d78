// PromptNormaliser::normalise and CacheKey::derive on arbitrary bytes.
// Properties: no crash, valid UTF-8 out, normalise is idempotent (a stored
// entry's prompt, normalised again by the console, must give the same key),
// keys are always 32 lower-case hex characters and insensitive to
// normalising their prompt fields first.
#include "core/common/cachekey.h"
#include "core/common/promptnormaliser.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const std::string_view text(reinterpret_cast<const char *>(data), size);

    const std::string once = PromptNormaliser::normalise(text);
    FUZZ_CHECK(fuzz::isValidUtf8(once));
    const std::string twice = PromptNormaliser::normalise(once);
    FUZZ_CHECK(twice == once);
    FUZZ_CHECK(once.empty() || (once.front() != ' ' && once.back() != ' '));
    FUZZ_CHECK(once.find("  ") == std::string::npos);

    // Fields, NUL-separated: user, system, model, ns, response_format, tools, tool_choice.
    const auto f = fuzz::splitFields(data, size);
    const auto field = [&](std::size_t i) { return i < f.size() ? f[i] : std::string_view(); };
    CacheKeyInput input;
    input.user = field(0);
    input.system = field(1);
    input.model = field(2);
    input.ns = field(3);
    input.responseFormat = field(4);
    input.tools = field(5);
    input.toolChoice = field(6);
    const std::string key = CacheKey::derive(input);
    FUZZ_CHECK(CacheKey::isValid(key));

    const std::string user = PromptNormaliser::normalise(input.user);
    const std::string system = PromptNormaliser::normalise(input.system);
    CacheKeyInput normalised = input;
    normalised.user = user;
    normalised.system = system;
    FUZZ_CHECK(CacheKey::derive(normalised) == key);

    const std::string family = CacheKey::modelFamily(input.model);
    FUZZ_CHECK(family.size() <= input.model.size());
    return 0;
}
