#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/gateway/chatrequest.h"

namespace l0l3 {

// Validates and extracts a chat completion request with simdjson. One parser
// per thread (it reuses its buffers); not thread-safe itself.
class ChatRequestParser
{
public:
    ChatRequestParser();
    ~ChatRequestParser();
    ChatRequestParser(const ChatRequestParser &) = delete;
    ChatRequestParser &operator=(const ChatRequestParser &) = delete;

    // Abuse limits checked while parsing; 0 disables one.
    struct Limits
    {
        std::size_t maxMessages = 0;    // more messages: too_many_messages
        std::size_t maxPromptChars = 0; // more characters (code points) of message text: prompt_too_long
        // Earlier user/assistant turns a request may have and still be cached (--semantic-history):
        // they are folded into ChatRequest::system (kHistoryMarker, then each turn as a line
        // "[ROLE BYTES]" and its text, length-prefixed), so the cache key and the L1 scope cover the whole
        // conversation so far and only the last user message is matched. 0: single-turn only.
        std::size_t historyTurns = 0;
    };
    void setLimits(Limits limits);
    // Starts the history folded into a system prompt. A request whose own system prompt holds
    // it bypasses the cache, so no system prompt can pass for a folded history. U+241E twice:
    // no normalisation step (NFC, case fold, white space) makes or unmakes it.
    static constexpr std::string_view kHistoryMarker = "\xE2\x90\x9E\xE2\x90\x9Ehistory";

    // True and *out filled, or false and *error filled (status 400).
    // A body byte-identical to one parsed successfully a moment ago (a hot key's repeat) is answered
    // from a small table of recent results (one hash, one compare, a copy) instead of parsing the
    // JSON again: on a hot-cache hit the parse would be the largest cost.
    bool parse(std::string_view body, ChatRequest *out, ChatRequestError *error);
    std::uint64_t repeats() const; // parses answered from that table

    // The same request body with "stream" forced to false and "stream_options"
    // removed (a whole answer); with stream, "stream" forced to true and the
    // client's "stream_options" (include_usage) kept. Empty when the body is
    // not a JSON object.
    std::string upstreamBody(std::string_view body, bool stream = false);

private:
    bool parseJson(std::string_view body, ChatRequest *out, ChatRequestError *error);

    struct Impl;
    std::unique_ptr<Impl> m_impl;
    Limits m_limits;
};

} // namespace l0l3
