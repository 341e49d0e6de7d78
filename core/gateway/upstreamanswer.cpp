#include "core/gateway/upstreamanswer.h"

#include <simdjson.h>

namespace l0l3 {

std::optional<UpstreamAnswer> UpstreamAnswer::parse(std::string_view body)
{
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
        return std::nullopt;
    simdjson::dom::array choices;
    if (doc["choices"].get_array().get(choices) != simdjson::SUCCESS || choices.size() == 0)
        return std::nullopt;
    UpstreamAnswer answer;
    simdjson::dom::element first = choices.at(0);
    std::string_view content;
    if (first["message"]["content"].get_string().get(content) == simdjson::SUCCESS) {
        answer.content.assign(content);
        answer.hasTextContent = true;
    }
    std::int64_t n = 0;
    if (doc["usage"]["prompt_tokens"].get_int64().get(n) == simdjson::SUCCESS)
        answer.promptTokens = n;
    if (doc["usage"]["completion_tokens"].get_int64().get(n) == simdjson::SUCCESS)
        answer.completionTokens = n;
    return answer;
}

} // namespace l0l3
