#pragma once

#include "core/gateway/chatrequest.h"
#include "core/gateway/httpexchange.h"

#include <boost/beast/core/error.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace l0l3 {

class ChatRequestParser;

// What the gateway does with a request, decided from the request alone.
struct RouteDecision
{
    enum class Target { Error, Health, Ready, Metrics, Chat };
    Target target = Target::Error;

    // Target::Error: the OpenAI-shaped error to answer with.
    int status = 0;
    std::string code;
    std::string message;
    std::string param;      // empty: null
    std::string_view allow; // value of the Allow header for a 405, empty otherwise
    bool chatRequest = false; // a POST to the chat endpoint: counted as a request in the metrics

    // Target::Chat
    ChatRequest chat;
    std::string ns;
    std::string key;
    bool noCache = false; // Cache-Control: no-cache, skip the lookup
    bool noStore = false; // Cache-Control: no-store, do not propose the answer
};

// The part of request handling that needs no socket, no Redis and no
// upstream: read errors, routing, method and content-type checks, body
// validation, the namespace and Cache-Control. Kept apart from Gateway so
// the fuzzer (tests/fuzz/fuzz_httprequest) and unit tests can drive it.
class RequestRouter
{
public:
    struct Options
    {
        std::size_t maxBodyBytes = 1u << 20; // only quoted in the 413 message
        std::string namespaceDefault = "default";
    };

    // How a failed http::read is reported to the handler: nullopt when the
    // peer is gone (closed, reset, timed out) and nothing should be answered.
    static std::optional<HttpReadError> readErrorFor(boost::beast::error_code ec);

    static RouteDecision route(const HttpRequest &request, HttpReadError readError, ChatRequestParser &parser,
                               const Options &options);

    // 1 to 128 printable ASCII characters.
    static bool isValidNamespace(std::string_view ns);
};

} // namespace l0l3
