#include "core/gateway/chatrequestparser.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include <simdjson.h>
#include <xxhash.h>

#include "core/common/canonicaljson.h"
#include "core/common/jsonwriter.h"

namespace l0l3 {

namespace dom = simdjson::dom;

struct ChatRequestParser::Impl
{
    dom::parser parser;
    std::string text;                   // one message's content parts joined, reused
    std::string history;                // earlier turns, folded (Limits::historyTurns), reused
    std::vector<std::string_view> keys; // duplicate-key check, reused

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

// Where a key occurs twice in one object: the key and the path of that object.
struct DuplicateKey
{
    std::string key;
    std::vector<std::string> outward; // the object's path, innermost first: "content", "[0]", "messages"

    // "messages[0].content", empty for the body itself.
    std::string path() const
    {
        std::string out;
        for (auto it = outward.rbegin(); it != outward.rend(); ++it) {
            if (!out.empty() && it->front() != '[')
                out.push_back('.');
            out.append(*it);
        }
        return out;
    }
};

// At most this many bytes of a client's key or path are quoted back, cut at a character boundary.
std::string clipped(std::string_view s, std::size_t max)
{
    if (s.size() <= max)
        return std::string(s);
    std::size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
        --end;
    return std::string(s.substr(0, end)) + "\xE2\x80\xA6";
}

// True when the keys[first..] hold one string twice; *which is that string.
bool repeatedKey(std::vector<std::string_view> &keys, std::size_t first, std::string_view *which)
{
    const auto begin = keys.begin() + static_cast<std::ptrdiff_t>(first);
    const std::size_t n = keys.size() - first;
    if (n < 16) { // the usual object: comparing pairs is cheaper than sorting
        for (std::size_t i = first; i < keys.size(); ++i) {
            for (std::size_t j = i + 1; j < keys.size(); ++j) {
                if (keys[i] == keys[j]) {
                    *which = keys[i];
                    return true;
                }
            }
        }
        return false;
    }
    std::sort(begin, keys.end());
    const auto it = std::adjacent_find(begin, keys.end());
    if (it == keys.end())
        return false;
    *which = *it;
    return true;
}

// JSON allows a key twice in an object and parsers disagree on which copy
// counts (simdjson's lookup takes the first, most upstreams the last), so a
// body with one is refused at any depth: what is keyed, shown for approval
// and sent upstream must be one reading of the bytes. keys is scratch space.
bool findDuplicateKey(dom::element value, std::vector<std::string_view> &keys, DuplicateKey *found)
{
    if (value.type() == dom::element_type::ARRAY) {
        std::size_t index = 0;
        dom::array array;
        if (value.get_array().get(array) != simdjson::SUCCESS)
            return false;
        for (dom::element item : array) {
            if (findDuplicateKey(item, keys, found)) {
                found->outward.push_back("[" + std::to_string(index) + "]");
                return true;
            }
            ++index;
        }
        return false;
    }
    dom::object object;
    if (value.get_object().get(object) != simdjson::SUCCESS)
        return false;
    const std::size_t first = keys.size();
    for (dom::key_value_pair field : object)
        keys.push_back(field.key);
    std::string_view which;
    const bool repeated = repeatedKey(keys, first, &which);
    keys.resize(first);
    if (repeated) {
        found->key.assign(which);
        found->outward.clear();
        return true;
    }
    for (dom::key_value_pair field : object) {
        if (findDuplicateKey(field.value, keys, found)) {
            found->outward.emplace_back(field.key.empty() ? std::string_view("\"\"") : field.key);
            return true;
        }
    }
    return false;
}

// How each top-level field bears on the cache. One row per field OpenAI
// documents; docs/SCHEMA.md explains the choices.
enum class FieldUse {
    Read,   // read by parseJson(): in the key (model family, response_format, tools, tool_choice) or checked there
    Noise,  // sampling or bookkeeping: any approved answer is a right answer, whatever its value
    Cap,    // a limit on the answer's length: an approved answer is served whole, not keyed
    Bypass, // changes what a right answer is and is not in the key: the request bypasses the cache
};

struct FieldRule
{
    std::string_view name;
    FieldUse use;
};

constexpr FieldRule kFieldRules[] = {
    {"model", FieldUse::Read},
    {"messages", FieldUse::Read},
    {"stream", FieldUse::Read},
    {"n", FieldUse::Read},
    {"response_format", FieldUse::Read},
    {"tools", FieldUse::Read},
    {"tool_choice", FieldUse::Read},
    {"temperature", FieldUse::Noise},
    {"top_p", FieldUse::Noise},
    {"presence_penalty", FieldUse::Noise},
    {"frequency_penalty", FieldUse::Noise},
    {"seed", FieldUse::Noise},
    {"user", FieldUse::Noise},
    {"safety_identifier", FieldUse::Noise},
    {"prompt_cache_key", FieldUse::Noise},
    {"stream_options", FieldUse::Noise},
    {"metadata", FieldUse::Noise},
    {"store", FieldUse::Noise},
    {"service_tier", FieldUse::Noise},
    {"parallel_tool_calls", FieldUse::Noise},
    {"max_tokens", FieldUse::Cap},
    {"max_completion_tokens", FieldUse::Cap},
    {"stop", FieldUse::Bypass},
    {"logprobs", FieldUse::Bypass},
    {"top_logprobs", FieldUse::Bypass},
    {"logit_bias", FieldUse::Bypass},
    {"functions", FieldUse::Bypass},
    {"function_call", FieldUse::Bypass},
    {"modalities", FieldUse::Bypass},
    {"audio", FieldUse::Bypass},
    {"reasoning_effort", FieldUse::Bypass},
    {"verbosity", FieldUse::Bypass},
    {"prediction", FieldUse::Bypass},
    {"web_search_options", FieldUse::Bypass},
};

// A value that asks for nothing: null, false, an empty array or object, or
// modalities ["text"] (what every cached answer is).
bool asksNothing(std::string_view name, dom::element value)
{
    bool flag = true;
    dom::array array;
    dom::object object;
    if (value.type() == dom::element_type::NULL_VALUE)
        return true;
    if (value.get_bool().get(flag) == simdjson::SUCCESS)
        return !flag;
    if (value.get_object().get(object) == simdjson::SUCCESS)
        return object.size() == 0;
    if (value.get_array().get(array) != simdjson::SUCCESS)
        return false;
    if (array.size() == 0)
        return true;
    std::string_view only;
    return name == "modalities" && array.size() == 1 && array.at(0).get_string().get(only) == simdjson::SUCCESS
        && only == "text";
}

// Why a top-level field makes the request bypass the cache; empty when none does.
std::string fieldBypassReason(dom::object &root)
{
    for (dom::key_value_pair field : root) {
        const FieldRule *rule = nullptr;
        for (const FieldRule &r : kFieldRules) {
            if (r.name == field.key) {
                rule = &r;
                break;
            }
        }
        if (!rule)
            return "unknown field '" + clipped(field.key, 64) + "'";
        if (rule->use == FieldUse::Bypass && !asksNothing(field.key, field.value))
            return "'" + std::string(field.key) + "' changes the answer";
    }
    return {};
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
    m_impl->keys.clear();
    if (DuplicateKey dup; findDuplicateKey(doc, m_impl->keys, &dup)) {
        const std::string path = dup.path();
        const std::string key = clipped(dup.key, 64);
        const std::string where = path.empty() ? std::string("the request body") : "'" + clipped(path, 128) + "'";
        return fail(error, "duplicate_key",
                    "The key '" + key + "' appears more than once in " + where
                        + "; each key may appear only once in a JSON object.",
                    path.empty() ? key : clipped(path + "." + dup.key, 128));
    }

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
    int tools = 0;  // tool, function turns (never folded into a history)
    bool lastIsUser = false;
    std::size_t lastUserAt = 0; // where the last user turn starts in m_impl->history
    std::string &history = m_impl->history;
    history.clear();
    bool nonText = false;
    std::string messageBypass; // the first message field that is not in the key, for bypassReason
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
        if (messageBypass.empty()) {
            // Only role and content are in the key; a participant's name, for one, changes the answer.
            for (dom::key_value_pair field : msg) {
                if (field.key != "role" && field.key != "content" && !asksNothing(field.key, field.value)) {
                    messageBypass = "message field '" + clipped(field.key, 64) + "'";
                    break;
                }
            }
        }

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
                    const auto partAt = [&at, partIndex] {
                        return at() + ".content[" + std::to_string(partIndex) + "]";
                    };
                    dom::object partObj;
                    std::string_view type;
                    if (part.get_object().get(partObj) != simdjson::SUCCESS
                        || partObj["type"].get_string().get(type) != simdjson::SUCCESS)
                        return fail(error, "invalid_type", "Each content part must be an object with a string 'type'.",
                                    partAt());
                    if (type == "text") {
                        if (messageBypass.empty() && partObj.size() != 2)
                            messageBypass = "content part field other than type and text";
                        std::string_view partText;
                        if (partObj["text"].get_string().get(partText) != simdjson::SUCCESS)
                            return fail(error, "invalid_type", "A text content part must have a string 'text'.",
                                        partAt() + ".text");
                        if (!joined.empty() && !partText.empty())
                            joined.push_back('\n');
                        joined.append(partText);
                    } else {
                        hasNonTextPart = true;
                    }
                }
                text = joined;
            } else {
                return fail(error, "invalid_type", "'content' must be a string or an array of content parts.",
                            at() + ".content");
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
            tools += role == "assistant" ? 0 : 1;
        }
        if (!isSystem && m_limits.historyTurns > 0) {
            // Length-prefixed: no text can pass for a turn boundary.
            lastUserAt = history.size();
            history.append("[").append(role).append(" ").append(std::to_string(text.size())).append("]\n");
            history.append(text).push_back('\n');
        }
        if (!isSystem)
            lastIsUser = isUser;
    }
    const std::size_t earlierTurns = std::size_t(users + others) - (lastIsUser ? 1 : 0);
    const bool folded = others + users > 1 && m_limits.historyTurns > 0 && lastIsUser && tools == 0
        && earlierTurns <= m_limits.historyTurns;

    if (out->system.find(kHistoryMarker) != std::string::npos)
        out->bypassReason = "reserved history marker in the system prompt";
    else if (others > 0 && !folded)
        out->bypassReason = "multi-turn";
    else if (users != 1 && !folded)
        out->bypassReason = users == 0 ? "no user message" : "multi-turn";
    else if (nonText)
        out->bypassReason = "non-text content";
    else if (severalChoices)
        out->bypassReason = "n > 1";
    else if (!messageBypass.empty())
        out->bypassReason = std::move(messageBypass);
    else
        out->bypassReason = fieldBypassReason(root);
    out->singleTurn = out->bypassReason.empty();
    if (out->singleTurn)
        out->user = out->lastUser;
    if (out->singleTurn && folded) {
        history.resize(lastUserAt); // the last user turn is the prompt, not history
        out->system.append(out->system.empty() ? "" : "\n").append(kHistoryMarker).append("\n").append(history);
    }
    return true;
}

std::string ChatRequestParser::upstreamBody(std::string_view body, bool stream)
{
    dom::element doc;
    dom::object root;
    if (m_impl->parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS
        || doc.get_object().get(root) != simdjson::SUCCESS)
        return {};
    m_impl->keys.clear();
    if (DuplicateKey dup; findDuplicateKey(doc, m_impl->keys, &dup))
        return {}; // parse() refuses such a body; never send a reading of it

    std::string out;
    out.reserve(body.size() + 16);
    out.push_back('{');
    for (dom::key_value_pair field : root) {
        if (field.key == "stream" || (field.key == "stream_options" && !stream))
            continue;
        out.push_back('"');
        JsonWriter::appendEscaped(out, field.key);
        out.append("\":");
        out.append(simdjson::minify(field.value));
        out.push_back(',');
    }
    out.append(stream ? "\"stream\":true}" : "\"stream\":false}");
    return out;
}

} // namespace l0l3
