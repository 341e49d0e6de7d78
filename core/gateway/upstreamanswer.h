#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace l0l3 {

// The parts of an upstream chat.completion the gateway uses: the assistant's
// text (to replay as SSE and to propose) and the token usage.
struct UpstreamAnswer
{
    std::string content;
    bool hasTextContent = false; // false for tool calls / refusals without text
    std::int64_t promptTokens = 0;
    std::int64_t completionTokens = 0;

    // nullopt when the body is not a chat.completion object with choices.
    static std::optional<UpstreamAnswer> parse(std::string_view body);
};

} // namespace l0l3
