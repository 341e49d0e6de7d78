// The gateway's chat request parser on arbitrary bodies, and what the
// gateway builds from its result. Properties: no crash; a rejection is a 400
// with a code and a well-formed OpenAI error body; an accepted request has
// canonical JSON fields, a valid key, a well-formed upstream body without
// streaming, and completion and SSE bodies that carry its text back intact.
#include <simdjson.h>

#include "core/common/cachekey.h"
#include "core/common/canonicaljson.h"
#include "core/gateway/cachedanswer.h"
#include "core/gateway/chatrequestparser.h"
#include "core/gateway/chatresponsewriter.h"
#include "tests/fuzz/fuzzcheck.h"

namespace {

using namespace l0l3;
namespace dom = simdjson::dom;

dom::parser &jsonParser()
{
    static dom::parser parser;
    return parser;
}

bool isCanonicalOrEmpty(const std::string &json)
{
    if (json.empty())
        return true;
    const auto again = CanonicalJson::canonicalise(json);
    return again && *again == json;
}

// The assistant content of a chat.completion body.
std::optional<std::string> completionContent(std::string_view body)
{
    dom::element doc;
    if (jsonParser().parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
        return std::nullopt;
    std::string_view content;
    if (doc["choices"].at(0)["message"]["content"].get_string().get(content) != simdjson::SUCCESS)
        return std::nullopt;
    return std::string(content);
}

// The content deltas of an SSE stream concatenated; nullopt if any event is not JSON.
std::optional<std::string> sseContent(std::string_view body)
{
    std::string content;
    bool done = false;
    while (!body.empty()) {
        const auto end = body.find("\n\n");
        if (end == std::string_view::npos || body.substr(0, 6) != "data: " || done)
            return std::nullopt;
        const std::string_view payload = body.substr(6, end - 6);
        body.remove_prefix(end + 2);
        if (payload == "[DONE]") {
            done = true;
            continue;
        }
        dom::element doc;
        if (jsonParser().parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS)
            return std::nullopt;
        std::string_view piece;
        if (doc["choices"].at(0)["delta"]["content"].get_string().get(piece) == simdjson::SUCCESS)
            content.append(piece);
    }
    if (!done)
        return std::nullopt;
    return content;
}

bool isJson(std::string_view text)
{
    dom::element doc;
    return jsonParser().parse(text.data(), text.size()).get(doc) == simdjson::SUCCESS;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static ChatRequestParser parser;
    const std::string_view body(reinterpret_cast<const char *>(data), size);

    ChatRequest request;
    ChatRequestError error;
    if (!parser.parse(body, &request, &error)) {
        FUZZ_CHECK(error.status == 400);
        FUZZ_CHECK(!error.code.empty());
        std::string out;
        ChatResponseWriter::error(out, error.message, ChatResponseWriter::errorTypeFor(error.status), error.code,
                                  error.param);
        FUZZ_CHECK(isJson(out));
        return 0;
    }

    // A repeat of the body is answered from the parser's recent results: exactly what was parsed.
    {
        ChatRequest repeat;
        repeat.user = "left over";
        FUZZ_CHECK(parser.parse(body, &repeat, &error));
        FUZZ_CHECK(repeat.model == request.model && repeat.stream == request.stream && repeat.system == request.system
                   && repeat.user == request.user && repeat.lastUser == request.lastUser
                   && repeat.responseFormat == request.responseFormat && repeat.tools == request.tools
                   && repeat.toolChoice == request.toolChoice && repeat.singleTurn == request.singleTurn
                   && repeat.bypassReason == request.bypassReason);
    }
    FUZZ_CHECK(isCanonicalOrEmpty(request.responseFormat));
    FUZZ_CHECK(isCanonicalOrEmpty(request.tools));
    FUZZ_CHECK(isCanonicalOrEmpty(request.toolChoice));
    FUZZ_CHECK(request.singleTurn == request.bypassReason.empty());
    FUZZ_CHECK(!request.singleTurn || (request.user == request.lastUser && !request.user.empty()));

    CacheKeyInput input;
    input.ns = "fuzz";
    input.system = request.system;
    input.user = request.singleTurn ? request.user : request.lastUser;
    input.model = request.model;
    input.responseFormat = request.responseFormat;
    input.tools = request.tools;
    input.toolChoice = request.toolChoice;
    FUZZ_CHECK(CacheKey::isValid(CacheKey::derive(input)));

    const std::string upstream = parser.upstreamBody(body);
    FUZZ_CHECK(!upstream.empty());
    {
        dom::element doc;
        FUZZ_CHECK(jsonParser().parse(upstream).get(doc) == simdjson::SUCCESS);
        bool stream = true;
        FUZZ_CHECK(doc["stream"].get_bool().get(stream) == simdjson::SUCCESS && !stream);
        FUZZ_CHECK(doc["stream_options"].error() == simdjson::NO_SUCH_FIELD);
    }
    // The upstream is asked exactly what was keyed: the same parser reads the same request from it.
    {
        ChatRequest sent;
        FUZZ_CHECK(parser.parse(upstream, &sent, &error));
        FUZZ_CHECK(sent.model == request.model && sent.system == request.system && sent.user == request.user
                   && sent.lastUser == request.lastUser && sent.responseFormat == request.responseFormat
                   && sent.tools == request.tools && sent.toolChoice == request.toolChoice
                   && sent.singleTurn == request.singleTurn);
    }

    // What a hit for this request would serve, with its own text as the answer.
    const auto answer = CachedAnswer::fromContent(request.lastUser);
    FUZZ_CHECK(answer != nullptr);
    ChatResponseWriter::Meta meta;
    const std::string id = ChatResponseWriter::newId();
    meta.id = id;
    meta.created = 1700000000;
    meta.model = request.model;
    meta.promptTokens = CachedAnswer::estimateTokens(request.system.size() + request.user.size());
    std::string completion;
    ChatResponseWriter::completion(completion, meta, *answer);
    const auto content = completionContent(completion);
    FUZZ_CHECK(content.has_value());
    FUZZ_CHECK(*content == request.lastUser);
    std::string sse;
    ChatResponseWriter::sse(sse, meta, *answer);
    const auto streamed = sseContent(sse);
    FUZZ_CHECK(streamed.has_value());
    FUZZ_CHECK(*streamed == request.lastUser);
    return 0;
}
