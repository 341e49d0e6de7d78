#include "core/gateway/requestrouter.h"

#include <cstring>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <xxhash.h>

#include "core/common/cachekey.h"
#include "core/gateway/apikeystore.h"
#include "core/gateway/chatrequestparser.h"
#include "core/gateway/gateway.h"
#include "core/gateway/keymemo.h"
#include "core/gateway/log.h"
#include "core/gateway/sha256.h"

namespace l0l3 {

namespace http = boost::beast::http;

namespace {

// ASCII only (HTTP tokens), inline: std::tolower is a locale-aware library call per character.
constexpr char asciiLower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (asciiLower(a[i]) != asciiLower(b[i]))
            return false;
    }
    return true;
}

bool isJsonContentType(std::string_view ct)
{
    return iequals(RequestRouter::trimmed(ct.substr(0, ct.find(';'))), "application/json");
}

// Cache-Control directives, comma-separated, case-insensitive.
bool hasDirective(std::string_view header, std::string_view directive)
{
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view token = RequestRouter::trimmed(header.substr(0, comma));
        token = token.substr(0, token.find('='));
        if (iequals(RequestRouter::trimmed(token), directive))
            return true;
        if (comma == std::string_view::npos)
            break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

void setError(RouteDecision &d, int status, std::string_view code, std::string_view message,
              std::string_view param = {}, std::string_view allow = {}, std::string_view challenge = {})
{
    d.target = RouteDecision::Target::Error;
    d.status = status;
    d.code.assign(code);
    d.message.assign(message);
    d.param.assign(param);
    d.allow = allow;
    d.challenge = challenge;
}

RouteDecision error(int status, std::string_view code, std::string_view message, std::string_view param = {},
                    std::string_view allow = {})
{
    RouteDecision d;
    setError(d, status, code, message, param, allow);
    return d;
}

// Returned as a prvalue, like error(): constructed in place of the caller's
// result (a named local returned on some paths only would be moved instead).
RouteDecision routeTo(RouteDecision::Target target)
{
    RouteDecision d;
    d.target = target;
    return d;
}

} // namespace

std::optional<HttpReadError> RequestRouter::readErrorFor(boost::beast::error_code ec)
{
    if (!ec)
        return HttpReadError::None;
    if (ec == http::error::body_limit)
        return HttpReadError::BodyTooLarge;
    if (ec == http::error::header_limit)
        return HttpReadError::HeaderTooLarge;
    if (ec == http::error::buffer_overflow) // HttpMessageBudget: the whole message is too large
        return HttpReadError::MessageTooLarge;
    if (ec.category() == http::make_error_code(http::error::bad_target).category() && ec != http::error::end_of_stream
        && ec != http::error::partial_message)
        return HttpReadError::Malformed;
    return std::nullopt;
}

std::string_view RequestRouter::bearerToken(std::string_view auth)
{
    if (auth.size() > 7 && iequals(auth.substr(0, 7), "Bearer "))
        return trimmed(auth.substr(7));
    return {};
}

std::string_view RequestRouter::trimmed(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool RequestRouter::isValidNamespace(std::string_view ns)
{
    if (ns.empty() || ns.size() > 128)
        return false;
    for (char c : ns) {
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

RouteDecision RequestRouter::route(const HttpRequest &req, HttpReadError readError, const Options &options)
{
    if (readError == HttpReadError::BodyTooLarge)
        return error(413, "body_too_large", "Request body exceeds " + std::to_string(options.maxBodyBytes) + " bytes.");
    if (readError == HttpReadError::HeaderTooLarge)
        return error(431, "header_too_large",
                     "Request headers exceed " + std::to_string(options.maxHeaderBytes) + " bytes.");
    if (readError == HttpReadError::MessageTooLarge)
        return error(413, "request_too_large",
                     "Request (head, body framing and trailer) exceeds "
                         + std::to_string(2 * (options.maxHeaderBytes + options.maxBodyBytes)) + " bytes.");
    if (readError == HttpReadError::Overloaded)
        return error(503, "server_busy", "The server is holding too many request bytes; retry shortly.");
    if (readError == HttpReadError::Malformed)
        return error(400, "bad_request", "Malformed HTTP request.");

    std::string_view path = req.target();
    path = path.substr(0, path.find('?'));
    const auto method = req.method();
    const bool isGet = method == http::verb::get || method == http::verb::head;

    if (path == "/v1/chat/completions") {
        if (method != http::verb::post)
            return error(405, "method_not_allowed", "Use POST for /v1/chat/completions.", {}, "POST");
        return routeTo(RouteDecision::Target::Chat);
    }
    if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
        if (!isGet)
            return error(405, "method_not_allowed", "Use GET for " + std::string(path) + ".", {}, "GET, HEAD");
        return routeTo(path == "/healthz"      ? RouteDecision::Target::Health
                           : path == "/readyz" ? RouteDecision::Target::Ready
                                               : RouteDecision::Target::Metrics);
    }
    return error(404, "not_found", "Unknown path " + Log::printable(path, 200) + ".");
}

std::uint64_t RequestRouter::clientOfAddress(const boost::asio::ip::address &address)
{
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        return clientOfAddress(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()));
    if (address.is_v4())
        return XXH3_64bits_withSeed(address.to_v4().to_bytes().data(), 4, 0x4950763400000000ull);
    if (address.is_v6()) {
        // The network half: one host gets a whole /64 and picks any address in it.
        const auto bytes = address.to_v6().to_bytes();
        return XXH3_64bits_withSeed(bytes.data(), 8, 0x4950763600000000ull);
    }
    return 1;
}

bool RequestRouter::authenticate(const HttpRequest &req, const ApiKeyStore *keys,
                                 const boost::asio::ip::address &remote, Caller *caller, RouteDecision *error)
{
    const std::string_view apiKey = bearerToken(req[http::field::authorization]);
    caller->keyNamespace = nullptr;
    caller->peer = 0;
    if (!keys) {
        if (apiKey.empty()) {
            caller->client = clientOfAddress(remote);
        } else {
            caller->client = XXH3_64bits(apiKey.data(), apiKey.size());
            caller->peer = clientOfAddress(remote);
        }
        return true;
    }
    if (apiKey.empty()) {
        setError(*error, 401, "invalid_api_key",
                 "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.", {}, {}, "Bearer");
        return false;
    }
    const Sha256::Digest digest = Sha256::digest(apiKey);
    caller->keyNamespace = keys->namespaceFor(digest);
    if (!caller->keyNamespace) {
        // Never echo the key, not even a prefix: it would end up in client logs and ours.
        setError(*error, 401, "invalid_api_key", "Incorrect API key provided.", {}, {}, "Bearer");
        return false;
    }
    std::memcpy(&caller->client, digest.data(), sizeof caller->client);
    return true;
}

RouteDecision RequestRouter::prepareChat(const HttpRequest &req, ChatRequestParser &parser, const Options &options,
                                         const std::string *keyNamespace)
{
    RouteDecision d;
    prepareChat(d, req, parser, options, keyNamespace, nullptr);
    return d;
}

void RequestRouter::prepareChat(RouteDecision &d, const HttpRequest &req, ChatRequestParser &parser,
                                const Options &options, const std::string *keyNamespace, KeyMemo *memo)
{
    d.allow = {};
    d.challenge = {};
    if (!isJsonContentType(req[http::field::content_type])) {
        setError(d, 415, "unsupported_media_type", "Content-Type must be application/json.");
        return;
    }
    ChatRequestError parseError;
    if (!parser.parse(req.body(), &d.chat, &parseError)) {
        setError(d, parseError.status, parseError.code, parseError.message, parseError.param);
        return;
    }

    const std::string_view apiKey = bearerToken(req[http::field::authorization]);
    if (keyNamespace) {
        // The key decides: a tenant cannot read another's entries by naming its namespace.
        d.ns.assign(*keyNamespace);
    } else if (const auto it = req.find("x-l0l3-namespace"); it != req.end()) {
        if (!isValidNamespace(it->value())) {
            setError(d, 400, "invalid_namespace", "x-l0l3-namespace must be 1 to 128 printable ASCII characters.",
                     "x-l0l3-namespace");
            return;
        }
        d.ns.assign(it->value());
    } else if (!apiKey.empty()) {
        d.ns = Gateway::namespaceForApiKey(apiKey);
    } else {
        d.ns.assign(options.namespaceDefault);
    }

    const std::string_view cacheControl = req[http::field::cache_control];
    d.noCache = hasDirective(cacheControl, "no-cache");
    d.noStore = hasDirective(cacheControl, "no-store");

    CacheKeyInput input;
    input.ns = d.ns;
    input.system = d.chat.system;
    input.user = d.chat.singleTurn ? d.chat.user : d.chat.lastUser;
    input.model = d.chat.model;
    input.responseFormat = d.chat.responseFormat;
    input.tools = d.chat.tools;
    input.toolChoice = d.chat.toolChoice;
    if (memo)
        memo->derive(input, &d.key);
    else
        d.key = CacheKey::derive(input);
    d.target = RouteDecision::Target::Chat;
}

} // namespace l0l3
