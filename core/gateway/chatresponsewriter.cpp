#include "core/gateway/chatresponsewriter.h"

#include <charconv>
#include <cstring>
#include <ctime>
#include <random>

#include "core/common/jsonwriter.h"

namespace l0l3 {

namespace {

void appendInt(std::string &out, std::int64_t n)
{
    char buf[24];
    const auto res = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, res.ptr);
}

void chunkPrefix(std::string &out, const ChatResponseWriter::Meta &meta)
{
    out.append("data: {\"id\":\"");
    JsonWriter::appendEscaped(out, meta.id);
    out.append("\",\"object\":\"chat.completion.chunk\",\"created\":");
    appendInt(out, meta.created);
    out.append(",\"model\":\"");
    JsonWriter::appendEscaped(out, meta.model);
    out.append("\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{");
}

} // namespace

void ChatResponseWriter::completion(std::string &out, const Meta &meta, const CachedAnswer &answer)
{
    out.append("{\"id\":\"");
    JsonWriter::appendEscaped(out, meta.id);
    out.append("\",\"object\":\"chat.completion\",\"created\":");
    appendInt(out, meta.created);
    out.append(",\"model\":\"");
    JsonWriter::appendEscaped(out, meta.model);
    out.append(
        "\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
    out.append(answer.escapedContent);
    out.append("\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":");
    appendInt(out, meta.promptTokens);
    out.append(",\"completion_tokens\":");
    appendInt(out, answer.completionTokens);
    out.append(",\"total_tokens\":");
    appendInt(out, meta.promptTokens + answer.completionTokens);
    out.append("}}");
}

void ChatResponseWriter::sse(std::string &out, const Meta &meta, const CachedAnswer &answer)
{
    chunkPrefix(out, meta);
    out.append("\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    std::size_t start = 0;
    for (std::uint32_t end : answer.chunkEnds) {
        chunkPrefix(out, meta);
        out.append("\"content\":\"");
        out.append(std::string_view(answer.escapedContent).substr(start, end - start));
        out.append("\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        start = end;
    }
    chunkPrefix(out, meta);
    out.append("},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n");
    out.append("data: [DONE]\n\n");
}

void ChatResponseWriter::sseError(std::string &out, std::string_view message, std::string_view code)
{
    out.append("data: ");
    error(out, message, "server_error", code);
    out.append("\n\n");
}

void ChatResponseWriter::error(std::string &out, std::string_view message, std::string_view type, std::string_view code,
                               std::string_view param)
{
    out.append("{\"error\":{\"message\":\"");
    JsonWriter::appendEscaped(out, message);
    out.append("\",\"type\":\"");
    JsonWriter::appendEscaped(out, type);
    out.append("\",\"param\":");
    if (param.empty()) {
        out.append("null");
    } else {
        out.push_back('"');
        JsonWriter::appendEscaped(out, param);
        out.push_back('"');
    }
    out.append(",\"code\":\"");
    JsonWriter::appendEscaped(out, code);
    out.append("\"}}");
}

std::string ChatResponseWriter::newId()
{
    IdBuffer buffer;
    return std::string(newId(buffer));
}

std::string_view ChatResponseWriter::newId(IdBuffer &buffer)
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    static constexpr std::string_view kPrefix = "chatcmpl-l0l3";
    static_assert(kPrefix.size() + 20 == std::tuple_size_v<IdBuffer>);
    std::memcpy(buffer.data(), kPrefix.data(), kPrefix.size());
    char *p = buffer.data() + kPrefix.size();
    std::uint64_t a = rng();
    std::uint64_t b = rng();
    for (int i = 0; i < 16; ++i, a >>= 4)
        *p++ = kHex[a & 0xF];
    for (int i = 0; i < 4; ++i, b >>= 4)
        *p++ = kHex[b & 0xF];
    return std::string_view(buffer.data(), buffer.size());
}

ChatResponseWriter::Meta ChatResponseWriter::newMeta(IdBuffer &idBuffer, std::string_view model,
                                                     std::int64_t promptTokens)
{
    Meta meta;
    meta.id = newId(idBuffer);
    meta.created = static_cast<std::int64_t>(std::time(nullptr));
    meta.model = model;
    meta.promptTokens = promptTokens;
    return meta;
}

std::string_view ChatResponseWriter::errorTypeFor(int status)
{
    if (status == 429)
        return "rate_limit_error";
    if (status >= 500)
        return "server_error";
    return "invalid_request_error";
}

} // namespace l0l3
