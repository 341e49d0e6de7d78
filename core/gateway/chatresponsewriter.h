#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/gateway/cachedanswer.h"

namespace l0l3 {

// Serialises OpenAI chat.completion objects and chat.completion.chunk SSE
// streams, and OpenAI-shaped errors, by appending to a caller-owned buffer.
class ChatResponseWriter
{
public:
    struct Meta
    {
        std::string_view id;      // "chatcmpl-..."
        std::int64_t created = 0; // seconds since epoch
        std::string_view model;   // echoed from the request
        std::int64_t promptTokens = 0;
    };

    // {"id":..,"object":"chat.completion",..,"choices":[{..,"finish_reason":"stop"}],"usage":{..}}
    static void completion(std::string &out, const Meta &meta, const CachedAnswer &answer);
    // data: {chunk with delta.role}\n\n, one event per content chunk, a final
    // event with finish_reason "stop", then data: [DONE]\n\n
    static void sse(std::string &out, const Meta &meta, const CachedAnswer &answer);
    // data: {"error":{..}}\n\n: a stream that cannot go on ends with this event and no data: [DONE].
    static void sseError(std::string &out, std::string_view message, std::string_view code);
    // {"error":{"message":..,"type":..,"param":..|null,"code":..}}
    static void error(std::string &out, std::string_view message, std::string_view type, std::string_view code,
                      std::string_view param = {});

    // "chatcmpl-l0l3" + 20 random hex characters; cheap, thread-safe.
    static std::string newId();
    // The same into a caller's buffer, without allocating; the view points into it.
    using IdBuffer = std::array<char, 33>;
    static std::string_view newId(IdBuffer &buffer);
    // The Meta of a new reply: a new id (in idBuffer) and the current time.
    static Meta newMeta(IdBuffer &idBuffer, std::string_view model, std::int64_t promptTokens);
    static std::string_view errorTypeFor(int status);
};

} // namespace l0l3
