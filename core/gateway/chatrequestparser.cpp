#include "core/gateway/chatrequestparser.h"

#include "core/common/canonicaljson.h"
#include "core/common/jsonwriter.h"

#include <simdjson.h>
#include <xxhash.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace l0l3 {

namespace dom = simdjson::dom;

struct ChatRequestParser::Impl
{
    dom::parser parser;
    std::string text; // one message's content parts joined, reused

    // Recent successful parses, direct-mapped by the body's XXH3-128 (a newer body takes its slot).
    // A hit compares the whole body, so a result is only ever reused for the very same bytes.
    static constexpr std::size_t kRepeatSlots = 256;
    static constexpr std::size_t kMaxRepeatBytes = 8192; // bounds the table at ~2 MB
    struct Repeat
    {
        XXH128_hash_t hash{};
        std::string body; // empty: a free slot (an empty body never parses)
        ChatRequest request;
    };
    std::array<Repeat, kRepeatSlots> repeats;
    std::uint64_t repeatHits = 0;
};

namespace {

bool fail(ChatRequestError *error, std::string code, std::string message, std::string param = {})
{
    if (error) {
        error->status = 400;
        error->code = std::move(code);
        error->message = std::move(message);
        error->param = std::move(param);
    }
    return false;
}

// Optional JSON field as canonical JSON; false when present with a type not in `allowed`.
bool canonicalField(dom::object &root, std::string_view name, std::initializer_list<dom::element_type> allowed,
                    std::string *out)
{
    dom::element value;
    if (root[name].get(value) != simdjson::SUCCESS || value.type() == dom::element_type::NULL_VALUE)
        return true;
    bool ok = false;
    for (auto t : allowed)
        ok = ok || value.type() == t;
    if (!ok)
        return false;
    auto canonical = CanonicalJson::canonicalise(simdjson::minify(value));
    if (!canonical)
        return false;
    out->assign(*canonical);
    return true;
}

// Characters (code points) of UTF-8 text: the bytes that are not continuation
// bytes (10xxxxxx), counted 8 at a time (a multiply adds up the flag bytes:
// no popcnt instruction in the baseline x86-64 target).
std::size_t utf8Length(std::string_view text)
{
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    std::size_t continuation = 0;
    std::size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, text.data() + i, sizeof w);
        const std::uint64_t flags = ((w & ~(w << 1)) >> 7) & kOnes; // 1 in each continuation byte
        continuation += static_cast<std::size_t>((flags * kOnes) >> 56);
    }
    for (; i < text.size(); ++i)
        continuation += (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80 ? 1 : 0;
    return text.size() - continuation;
}

} // namespace

ChatRequestParser::ChatRequestParser()
    : m_impl(std::make_unique<Impl>())
{
}

ChatRequestParser::~ChatRequestParser() = default;

void ChatRequestParser::setLimits(Limits limits)
{
    m_limits = limits;
    for (Impl::Repeat &r : m_impl->repeats) // they were accepted under the old limits
        r.body.clear();
}

std::uint64_t ChatRequestParser::repeats() const
{
    return m_impl->repeatHits;
}

bool ChatRequestParser::parse(std::string_view body, ChatRequest *out, ChatRequestError *error)
{
    if (body.size() > Impl::kMaxRepeatBytes)
        return parseJson(body, out, error);
    const XXH128_hash_t hash = XXH3_128bits(body.data(), body.size());
    Impl::Repeat &slot = m_impl->repeats[hash.low64 % Impl::kRepeatSlots];
    if (!slot.body.empty() && XXH128_isEqual(slot.hash, hash) && slot.body == body) {
        *out = slot.request; // assigned string by string: out's capacity is reused
        ++m_impl->repeatHits;
        return true;
    }
    if (!parseJson(body, out, error))
        return false;
    slot.hash = hash;
    slot.body.assign(body);
    slot.request = *out;
    return true;
}

bool ChatRequestParser::parseJson(std::string_view body, ChatRequest *out, ChatRequestError *error)
{
    // Cleared, not reassigned: a ChatRequest reused per worker keeps its strings' capacity.
    out->model.clear();
    out->stream = false;
    out->system.clear();
    out->user.clear();
    out->lastUser.clear();
    out->responseFormat.clear();
    out->tools.clear();
    out->toolChoice.clear();
    out->singleTurn = false;
    out->bypassReason.clear();
    dom::element doc;
    if (m_impl->parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
        return fail(error, "invalid_json", "We could not parse the JSON body of your request.");
    dom::object root;
    if (doc.get_object().get(root) != simdjson::SUCCESS)
        return fail(error, "invalid_type", "The request body must be a JSON object.");

    dom::element value;
    if (root["model"].get(value) == simdjson::SUCCESS && value.type() != dom::element_type::NULL_VALUE) {
        std::string_view model;
        if (value.get_string().get(model) != simdjson::SUCCESS)
            return fail(error, "invalid_type", "'model' must be a string.", "model");
        out->model.assign(model);
    }
    if (root["stream"].get(value) == simdjson::SUCCESS && value.type() != dom::element_type::NULL_VALUE) {
        bool stream = false;
        if (value.get_bool().get(stream) != simdjson::SUCCESS)
            return fail(error, "invalid_type", "'stream' must be a boolean.", "stream");
        out->stream = stream;
    }
    bool severalChoices = false;
    if (root["n"].get(value) == simdjson::SUCCESS && value.type() != dom::element_type::NULL_VALUE) {
        if (!value.is_number())
            return fail(error, "invalid_type", "'n' must be an integer.", "n");
        double n = 1;
        if (value.get_double().get(n) == simdjson::SUCCESS && n > 1)
            severalChoices = true;
    }
    if (!canonicalField(root, "response_format", {dom::element_type::OBJECT}, &out->responseFormat))
        return fail(error, "invalid_type", "'response_format' must be an object.", "response_format");
    if (!canonicalField(root, "tools", {dom::element_type::ARRAY}, &out->tools))
        return fail(error, "invalid_type", "'tools' must be an array.", "tools");
    if (!canonicalField(root, "tool_choice", {dom::element_type::STRING, dom::element_type::OBJECT}, &out->toolChoice))
        return fail(error, "invalid_type", "'tool_choice' must be a string or an object.", "tool_choice");

    if (root["messages"].get(value) != simdjson::SUCCESS || value.type() == dom::element_type::NULL_VALUE)
        return fail(error, "missing_messages", "'messages' is a required property.", "messages");
    dom::array messages;
    if (value.get_array().get(messages) != simdjson::SUCCESS)
        return fail(error, "invalid_type", "'messages' must be an array.", "messages");
    if (messages.size() == 0)
        return fail(error, "empty_messages", "'messages' must contain at least one message.", "messages");
    if (m_limits.maxMessages > 0 && messages.size() > m_limits.maxMessages)
        return fail(error, "too_many_messages",
                    "'messages' has " + std::to_string(messages.size()) + " messages; this gateway accepts at most "
                        + std::to_string(m_limits.maxMessages) + ".",
                    "messages");
    std::size_t promptChars = 0;

    int users = 0;
    int others = 0; // assistant, tool, function turns
    bool nonText = false;
    std::size_t index = 0;
    for (dom::element message : messages) {
        // Built only for an error message: the hit path formats nothing.
        const std::size_t messageIndex = index++;
        const auto at = [messageIndex] { return "messages[" + std::to_string(messageIndex) + "]"; };
        dom::object msg;
        if (message.get_object().get(msg) != simdjson::SUCCESS)
            return fail(error, "invalid_message", "Each message must be an object.", at());
        std::string_view role;
        if (msg["role"].get(value) != simdjson::SUCCESS || value.type() == dom::element_type::NULL_VALUE)
            return fail(error, "missing_role", "Each message must have a 'role'.", at() + ".role");
        if (value.get_string().get(role) != simdjson::SUCCESS)
            return fail(error, "invalid_type", "'role' must be a string.", at() + ".role");
        const bool isSystem = role == "system" || role == "developer";
        const bool isUser = role == "user";
        const bool isOther = role == "assistant" || role == "tool" || role == "function";
        if (!isSystem && !isUser && !isOther)
            return fail(error, "invalid_role", "Unknown role '" + std::string(role) + "'.", at() + ".role");

        // A string content is used where simdjson holds it; parts are joined into m_impl->text.
        std::string_view text;
        bool hasNonTextPart = false;
        const bool hasContent = msg["content"].get(value) == simdjson::SUCCESS
            && value.type() != dom::element_type::NULL_VALUE;
        if (hasContent) {
            std::string_view s;
            dom::array parts;
            if (value.get_string().get(s) == simdjson::SUCCESS) {
                text = s;
            } else if (value.get_array().get(parts) == simdjson::SUCCESS) {
                std::string &joined = m_impl->text;
                joined.clear();
                std::size_t p = 0;
                for (dom::element part : parts) {
                    const std::size_t partIndex = p++;
                    const auto partAt = [&at, partIndex] { return at() + ".content[" + std::to_string(partIndex) + "]"; };
                    dom::object partObj;
                    std::string_view type;
                    if (part.get_object().get(partObj) != simdjson::SUCCESS
                        || partObj["type"].get_string().get(type) != simdjson::SUCCESS)
                        return fail(error, "invalid_type", "Each content part must be an object with a string 'type'.", partAt());
                    if (type == "text") {
                        std::string_view partText;
                        if (partObj["text"].get_string().get(partText) != simdjson::SUCCESS)
                            return fail(error, "invalid_type", "A text content part must have a string 'text'.", partAt() + ".text");
                        if (!joined.empty() && !partText.empty())
                            joined.push_back('\n');
                        joined.append(partText);
                    } else {
                        hasNonTextPart = true;
                    }
                }
                text = joined;
            } else {
                return fail(error, "invalid_type", "'content' must be a string or an array of content parts.", at() + ".content");
            }
        } else if (!isOther) {
            return fail(error, "empty_content", "Message content must not be empty.", at() + ".content");
        }
        if (!isOther && text.empty() && !hasNonTextPart)
            return fail(error, "empty_content", "Message content must not be empty.", at() + ".content");

        if (m_limits.maxPromptChars > 0) {
            promptChars += utf8Length(text);
            if (promptChars > m_limits.maxPromptChars)
                return fail(error, "prompt_too_long",
                            "The messages hold more than " + std::to_string(m_limits.maxPromptChars)
                                + " characters of text; this gateway accepts at most that many.",
                            "messages");
        }
        nonText = nonText || hasNonTextPart;
        if (isSystem) {
            if (!out->system.empty())
                out->system.push_back('\n');
            out->system.append(text);
        } else if (isUser) {
            ++users;
            out->lastUser.assign(text);
        } else {
            ++others;
        }
    }

    if (others > 0)
        out->bypassReason = "multi-turn";
    else if (users != 1)
        out->bypassReason = users == 0 ? "no user message" : "multi-turn";
    else if (nonText)
        out->bypassReason = "non-text content";
    else if (severalChoices)
        out->bypassReason = "n > 1";
    out->singleTurn = out->bypassReason.empty();
    if (out->singleTurn)
        out->user = out->lastUser;
    return true;
}

std::string ChatRequestParser::upstreamBody(std::string_view body)
{
    dom::element doc;
    dom::object root;
    if (m_impl->parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS
        || doc.get_object().get(root) != simdjson::SUCCESS)
        return {};
    std::string out;
    out.reserve(body.size() + 16);
    out.push_back('{');
    for (dom::key_value_pair field : root) {
        if (field.key == "stream" || field.key == "stream_options")
            continue;
        out.push_back('"');
        JsonWriter::appendEscaped(out, field.key);
        out.append("\":");
        out.append(simdjson::minify(field.value));
        out.push_back(',');
    }
    out.append("\"stream\":false}");
    return out;
}

} // namespace l0l3
