#pragma once

#include <string>

namespace l0l3 {

// What the gateway needs from a POST /v1/chat/completions body. Owns its
// strings so it can outlive the JSON parser's buffer (the miss path is async).
struct ChatRequest
{
    std::string model; // as sent; empty when absent
    bool stream = false;
    std::string system;         // system/developer messages joined with "\n", then the folded history, if any
    std::string user;           // the single user turn (single-turn requests), or the last one after a history
    std::string lastUser;       // text of the last user message, whatever the shape
    std::string responseFormat; // canonical JSON or empty
    std::string tools;          // canonical JSON or empty
    std::string toolChoice;     // canonical JSON or empty
    // Optional system message(s) + exactly one user message with text-only
    // content, n <= 1; or, with ChatRequestParser::Limits::historyTurns, at most
    // that many earlier user/assistant turns before a last user message, folded
    // into system. Everything else bypasses the cache.
    bool singleTurn = false;
    std::string bypassReason; // why it is not cacheable, for logs
};

// A rejected request: HTTP status and the OpenAI-shaped error fields.
struct ChatRequestError
{
    int status = 400;
    std::string code; // invalid_json, invalid_type, missing_messages, invalid_message,
                      // missing_role, invalid_role, empty_content
    std::string message;
    std::string param; // offending field, e.g. "messages[1].content"; empty: null
};

} // namespace l0l3
