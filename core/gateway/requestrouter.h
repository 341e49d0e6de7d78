#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/error.hpp>

#include "core/gateway/chatrequest.h"
#include "core/gateway/httpexchange.h"

namespace l0l3 {

class ApiKeyStore;
class ChatRequestParser;
class KeyMemo;

// Where a request goes, and for the chat endpoint what it asks for.
struct RouteDecision
{
    enum class Target { Error, Health, Ready, Metrics, Chat };
    Target target = Target::Error;

    // Target::Error: the OpenAI-shaped error to answer with.
    int status = 0;
    std::string code;
    std::string message;
    std::string param;          // empty: null
    std::string_view allow;     // value of the Allow header for a 405, empty otherwise
    std::string_view challenge; // value of the WWW-Authenticate header for a 401, empty otherwise

    // Target::Chat, filled by prepareChat().
    ChatRequest chat;
    std::string ns;
    std::string key;
    bool noCache = false; // Cache-Control: no-cache, skip the lookup
    bool noStore = false; // Cache-Control: no-store, do not propose the answer
};

// The part of request handling that needs no socket, no Redis, no upstream
// and no mutable gateway state; Gateway::handle serves every request through
// it: read errors (HttpSession), routing, method checks, API-key
// authentication, the rate limiter's client identity, content-type and body
// validation, the namespace, Cache-Control and the key. Only the rate
// limiter's bucket (state) stays in the gateway, between authenticate() and
// prepareChat(). Kept apart so the fuzzer (tests/fuzz/fuzz_httprequest) and
// unit tests drive the code that serves requests.
class RequestRouter
{
public:
    struct Options
    {
        std::size_t maxBodyBytes = 1u << 20;    // only quoted in the 413 message
        std::size_t maxHeaderBytes = 16 * 1024; // only quoted in the 431 message
        std::string namespaceDefault = "default";
    };

    // How a failed http::read is reported to the handler, as HttpSession
    // does: nullopt when the peer is gone (closed, reset, timed out) and
    // nothing should be answered.
    static std::optional<HttpReadError> readErrorFor(boost::beast::error_code ec);

    // Target::Chat means a POST to the chat endpoint; its body is not looked at yet.
    static RouteDecision route(const HttpRequest &request, HttpReadError readError, const Options &options);

    // Who a chat request is charged to.
    struct Caller
    {
        const std::string *keyNamespace = nullptr; // with enforced keys: the key's namespace
        std::uint64_t client = 0;                  // rate-limiter identity
        // Charged as well when the token is not verified (anyone can send a new one per
        // request): the peer address's identity; 0 when client already is, or the key is verified.
        std::uint64_t peer = 0;
    };
    // keys null (not enforced): true, the client is the bearer token's xxh3
    // (and peer the address's) or else the peer address's. Enforced: true
    // with the key's namespace and identity, or false and *error a 401 with
    // its challenge. An address's identity: IPv4, or an IPv6 /64 (what one
    // subscriber usually holds; an IPv4-mapped address counts as IPv4).
    static std::uint64_t clientOfAddress(const boost::asio::ip::address &address);
    static bool authenticate(const HttpRequest &request, const ApiKeyStore *keys,
                             const boost::asio::ip::address &remote, Caller *caller, RouteDecision *error);

    // The chat endpoint's checks on a request route() sent there: Target::Chat
    // with the request, namespace and key, or Target::Error. keyNamespace:
    // the namespace of an enforced API key, which wins over x-l0l3-namespace.
    static RouteDecision prepareChat(const HttpRequest &request, ChatRequestParser &parser, const Options &options,
                                     const std::string *keyNamespace = nullptr);
    // The same into a caller-owned decision whose strings keep their capacity
    // from one request to the next (the hit path allocates nothing here);
    // memo, when given, skips normalisation for byte-identical repeats.
    static void prepareChat(RouteDecision &decision, const HttpRequest &request, ChatRequestParser &parser,
                            const Options &options, const std::string *keyNamespace, KeyMemo *memo);

    // The token of "Authorization: Bearer TOKEN", empty when there is none.
    static std::string_view bearerToken(std::string_view authorization);
    // 1 to 128 printable ASCII characters (x-l0l3-namespace, the API key file).
    static bool isValidNamespace(std::string_view ns);
    // Without leading and trailing spaces and tabs (HTTP optional white space).
    static std::string_view trimmed(std::string_view s);
};

} // namespace l0l3
