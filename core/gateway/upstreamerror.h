#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace l0l3 {

// What the gateway relays from an upstream that answered an error status (a
// 429 or a 5xx). The upstream is trusted for neither: its Retry-After is
// passed on only in one of the forms HTTP defines, its body only when it is a
// small JSON object carrying an OpenAI-style `error` object. Anything else is
// dropped (the header) or replaced by a body the gateway writes.
class UpstreamError
{
public:
    static constexpr std::size_t kMaxRetryAfterBytes = 64;
    static constexpr std::size_t kMaxBodyBytes = 16 * 1024;

    struct RetryAfter
    {
        std::string_view value;   // the field value without surrounding whitespace, as relayed
        std::int64_t seconds = 0; // the delay asked for from now; 0 for a date already past
    };

    // A Retry-After field value: delta-seconds (1 to 10 digits) or an
    // HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms, which
    // HTTP recipients must accept), at most kMaxRetryAfterBytes after trimming
    // spaces and tabs; nullopt for anything else. nowUnixSeconds turns a date
    // into a delay.
    static std::optional<RetryAfter> parseRetryAfter(std::string_view raw, std::int64_t nowUnixSeconds);

    // True when body, at most kMaxBodyBytes, is valid JSON (UTF-8 checked):
    // an object with unique member names and exactly one "error", itself an
    // object with unique member names and a string "message".
    static bool isPassableBody(std::string_view body);
};

} // namespace l0l3
