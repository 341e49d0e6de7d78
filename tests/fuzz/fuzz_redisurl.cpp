// RedisUrl::parse on arbitrary bytes (flags and environment variables).
// Properties: no crash; a parsed URL has a host, a port in 1..65535, a
// non-negative db, and its redacted form (logged) does not depend on the
// password and names the scheme that was parsed (redis:// or rediss://).
#include "core/common/redisurl.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    std::string error;
    const auto url = RedisUrl::parse(text, &error);
    if (!url) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(!url->host.empty());
    FUZZ_CHECK(url->port >= 1 && url->port <= 65535);
    FUZZ_CHECK(url->db >= 0);
    // The log form must not depend on the password at all.
    RedisUrl other = *url;
    other.password = url->password.empty() ? "secret" : std::string();
    FUZZ_CHECK(other.redacted() == url->redacted());
    // The scheme says whether the link is TLS, and nothing else does.
    FUZZ_CHECK(url->redacted().rfind(url->tls ? "rediss://" : "redis://", 0) == 0);
    return 0;
}
