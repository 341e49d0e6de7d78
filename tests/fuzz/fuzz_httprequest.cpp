// Raw bytes as a client would send them on one keep-alive connection: read
// by Beast's request parser with the gateway's limits, exactly as
// HttpSession does (one parser per request fed through HttpMessageBudget,
// the buffer carried over, put_eof at the end of the input), then routed and
// checked by RequestRouter. The first byte sets how many bytes each read
// returns, so requests arrive split like TCP segments, (odd) whether API keys
// are enforced (RequestRouter::authenticate, as Gateway::handleChat), and
// (bit 1) whether the header limit is the largest the gateway allows
// (HttpServer::kMaxHeaderBytes), where fields near Beast's 64 KiB field limit
// fit; trailers are bounded by the same limit. Properties: no crash and no
// exception (a field over 64 KiB, in a header or a trailer, is a read error);
// the bytes held for one message stay within its element and message limits;
// every answer is a well-formed OpenAI-shaped error or a valid route; a chat
// route has a valid key and a valid namespace.
#include <cstring>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <simdjson.h>

#include "core/common/cachekey.h"
#include "core/gateway/apikeystore.h"
#include "core/gateway/chatrequestparser.h"
#include "core/gateway/chatresponsewriter.h"
#include "core/gateway/gateway.h"
#include "core/gateway/gatewayconfig.h"
#include "core/gateway/httpmessagebudget.h"
#include "core/gateway/httpserver.h"
#include "core/gateway/keymemo.h"
#include "core/gateway/requestrouter.h"
#include "core/gateway/sha256.h"
#include "tests/fuzz/fuzzcheck.h"

namespace http = boost::beast::http;

namespace {

bool isJson(std::string_view text)
{
    static simdjson::dom::parser parser;
    simdjson::dom::element doc;
    return parser.parse(text.data(), text.size()).get(doc) == simdjson::SUCCESS;
}

bool isHex(std::string_view s)
{
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    if (size == 0)
        return 0;
    static ChatRequestParser chatParser;
    static const GatewayConfig config;
    HttpServer::Options serverOptions;
    serverOptions.maxBodyBytes = config.maxBodyBytes;
    serverOptions.maxHeaderBytes = (data[0] & 2) != 0 ? HttpServer::kMaxHeaderBytes : config.maxHeaderBytes;
    RequestRouter::Options options;
    options.maxBodyBytes = serverOptions.maxBodyBytes;
    options.maxHeaderBytes = serverOptions.maxHeaderBytes;
    options.namespaceDefault = config.namespaceDefault;

    const std::size_t readSize = data[0] == 0 ? std::size_t(1) << 20 : data[0];
    std::string_view input(reinterpret_cast<const char *>(data + 1), size - 1);
    // As HttpSession::readMore: one read's bytes appended to the connection's buffer.
    boost::beast::flat_buffer buffer;
    const auto readSome = [&]() -> bool {
        if (input.empty())
            return false;
        const std::size_t n = std::min(readSize, input.size());
        std::memcpy(buffer.prepare(n).data(), input.data(), n);
        buffer.commit(n);
        input.remove_prefix(n);
        return true;
    };

    HeaderArena arena; // as a connection's: reused by its successive requests
    HttpMessageBudget budget(serverOptions.maxHeaderBytes, HttpServer::messageBudget(serverOptions));
    for (int exchange = 0; exchange < 8; ++exchange) {
        http::request_parser<http::string_body, HttpFieldsAllocator> parser(
            std::piecewise_construct, std::make_tuple(), std::make_tuple(HttpFieldsAllocator(&arena)));
        parser.body_limit(serverOptions.maxBodyBytes);
        parser.header_limit(static_cast<std::uint32_t>(serverOptions.maxHeaderBytes));
        budget.startMessage();
        boost::beast::error_code ec;
        while (true) {
            ec = budget.feed(parser, buffer); // an exception out of here fails the fuzzer
            FUZZ_CHECK(budget.consumed() <= budget.maxMessageBytes() || ec == http::error::buffer_overflow);
            if (ec != http::error::need_more)
                break;
            // Held for an incomplete element (the head, a chunk line, the trailer): less than its limit.
            FUZZ_CHECK(buffer.size() < serverOptions.maxHeaderBytes);
            if (readSome())
                continue;
            ec = http::error::end_of_stream; // the client closed: as HttpSession, put_eof if a message started
            if (parser.got_some()) {
                ec = {};
                try {
                    parser.put_eof(ec);
                } catch (const std::exception &) {
                    ec = http::error::bad_value;
                }
            }
            break;
        }
        const auto readError = RequestRouter::readErrorFor(ec);
        if (!readError)
            break; // the peer is gone: nothing to answer
        const HttpRequest request = parser.release();
        RouteDecision d = RequestRouter::route(request, *readError, options);
        if (d.target == RouteDecision::Target::Chat) {
            FUZZ_CHECK(request.method() == http::verb::post);
            // Half the inputs as with enforced API keys (one key, "sk-fuzz"), whose namespace wins.
            static const std::string keyNamespace = "tenant-fuzz";
            static const ApiKeyStore keys = [] {
                std::string error;
                auto store = ApiKeyStore::parse(Sha256::hex(Sha256::digest("sk-fuzz")) + " " + keyNamespace, &error);
                FUZZ_CHECK(store.has_value());
                return *store;
            }();
            const bool enforced = (data[0] & 1) != 0;
            RequestRouter::Caller caller;
            if (!RequestRouter::authenticate(request, enforced ? &keys : nullptr, boost::asio::ip::address(), &caller,
                                             &d)) {
                FUZZ_CHECK(enforced && d.status == 401 && d.challenge == "Bearer");
            } else {
                FUZZ_CHECK(enforced == (caller.keyNamespace != nullptr));
                // As the gateway: one decision and one memo reused across requests.
                static RouteDecision reused;
                static KeyMemo memo(64);
                RequestRouter::prepareChat(reused, request, chatParser, options, caller.keyNamespace, &memo);
                d = reused;
                FUZZ_CHECK(!enforced || d.target != RouteDecision::Target::Chat || d.ns == keyNamespace);
                if (d.target == RouteDecision::Target::Chat) {
                    // The memoised key is the derived key.
                    const RouteDecision fresh = RequestRouter::prepareChat(request, chatParser, options,
                                                                           caller.keyNamespace);
                    FUZZ_CHECK(fresh.target == RouteDecision::Target::Chat && fresh.key == d.key);
                }
            }
        }

        switch (d.target) {
        case RouteDecision::Target::Error: {
            FUZZ_CHECK(d.status >= 400 && d.status < 600);
            FUZZ_CHECK(!d.code.empty());
            FUZZ_CHECK(d.status == 405 ? !d.allow.empty() : d.allow.empty());
            FUZZ_CHECK(d.status == 401 ? !d.challenge.empty() : d.challenge.empty());
            std::string body;
            ChatResponseWriter::error(body, d.message, ChatResponseWriter::errorTypeFor(d.status), d.code, d.param);
            FUZZ_CHECK(isJson(body));
            break;
        }
        case RouteDecision::Target::Chat:
            FUZZ_CHECK(CacheKey::isValid(d.key));
            FUZZ_CHECK(d.ns == options.namespaceDefault || RequestRouter::isValidNamespace(d.ns)
                       || (d.ns.size() == 19 && d.ns.rfind("ns:", 0) == 0 && isHex(d.ns.substr(3))));
            break;
        case RouteDecision::Target::Health:
        case RouteDecision::Target::Ready:
        case RouteDecision::Target::Metrics:
            FUZZ_CHECK(request.method() == http::verb::get || request.method() == http::verb::head);
            break;
        }
        // As HttpSession: after a read error or without keep-alive the connection closes.
        if (*readError != HttpReadError::None || !request.keep_alive())
            break;
    }
    return 0;
}
