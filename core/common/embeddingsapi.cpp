#include "core/common/embeddingsapi.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <simdjson.h>

#include "core/common/embedding.h"
#include "core/common/jsonwriter.h"

namespace l0l3 {

namespace {

bool fail(std::string *error, std::string message)
{
    if (error)
        *error = std::move(message);
    return false;
}

} // namespace

std::string EmbeddingsApi::modelId(std::string_view model)
{
    return openAiEmbeddingModelId(model);
}

bool EmbeddingsApi::isValidModel(std::string_view model)
{
    if (model.empty() || model.size() > kMaxModelBytes)
        return false;
    for (const char c : model)
        if (c <= ' ' || c > '~')
            return false;
    return true;
}

std::string EmbeddingsApi::request(std::string_view model, std::span<const std::string_view> inputs)
{
    std::string out;
    JsonWriter w(out);
    w.beginObject().key("model").value(model).key("input").beginArray();
    for (const std::string_view input : inputs)
        w.value(input);
    w.endArray().key("encoding_format").value("float").endObject();
    return out;
}

bool EmbeddingsApi::parseRequest(std::string_view body, Request *out, std::string *error)
{
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (const auto err = parser.parse(body.data(), body.size(), true).get(root); err != simdjson::SUCCESS)
        return fail(error, std::string("invalid JSON: ") + simdjson::error_message(err));
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS)
        return fail(error, "the body is not a JSON object");
    Request r;
    bool haveInput = false;
    for (auto field : obj) {
        const std::string_view k = field.key;
        const auto v = field.value;
        std::string_view s;
        if (k == "model") {
            if (v.get_string().get(s) != simdjson::SUCCESS)
                return fail(error, "\"model\" is not a string");
            r.model.assign(s);
        } else if (k == "input") {
            haveInput = true;
            simdjson::dom::array items;
            if (v.get_string().get(s) == simdjson::SUCCESS) {
                r.inputs.emplace_back(s);
            } else if (v.get_array().get(items) == simdjson::SUCCESS) {
                r.inputIsArray = true;
                for (auto item : items) {
                    if (item.get_string().get(s) != simdjson::SUCCESS)
                        return fail(error, "\"input\" holds something other than strings");
                    if (r.inputs.size() == kMaxInputs)
                        return fail(error, "\"input\" holds more than 2048 strings");
                    r.inputs.emplace_back(s);
                }
                if (r.inputs.empty())
                    return fail(error, "\"input\" is empty");
            } else {
                return fail(error, "\"input\" is neither a string nor an array of strings");
            }
        } else if (k == "encoding_format") {
            if (v.get_string().get(s) != simdjson::SUCCESS || s != "float")
                return fail(error, "\"encoding_format\" must be \"float\"");
        } else if (k == "dimensions") {
            std::int64_t d = 0;
            if (!v.is_int64() || v.get_int64().get(d) != simdjson::SUCCESS || d < 1
                || d > static_cast<std::int64_t>(kMaxDimension))
                return fail(error, "\"dimensions\" is not an integer from 1 to 2048");
            r.dimensions = static_cast<int>(d);
        }
    }
    if (!haveInput)
        return fail(error, "missing \"input\"");
    if (r.model.empty())
        return fail(error, "missing \"model\"");
    *out = std::move(r);
    return true;
}

std::string EmbeddingsApi::response(std::string_view model, std::span<const std::vector<float>> vectors,
                                    std::size_t promptTokens)
{
    std::string out;
    out.reserve(64 + vectors.size() * (64 + (vectors.empty() ? 0 : vectors.front().size() * 12)));
    out += "{\"object\":\"list\",\"data\":[";
    char buf[32];
    for (std::size_t i = 0; i < vectors.size(); ++i) {
        if (i)
            out += ',';
        out += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) + ",\"embedding\":[";
        for (std::size_t j = 0; j < vectors[i].size(); ++j) {
            if (j)
                out += ',';
            // The shortest form that reads back as the same float.
            const auto r = std::to_chars(buf, buf + sizeof buf, vectors[i][j]);
            out.append(buf, r.ptr);
        }
        out += "]}";
    }
    out += "],\"model\":\"";
    JsonWriter::appendEscaped(out, model);
    out += "\",\"usage\":{\"prompt_tokens\":" + std::to_string(promptTokens)
        + ",\"total_tokens\":" + std::to_string(promptTokens) + "}}";
    return out;
}

bool EmbeddingsApi::parseResponse(std::string_view body, std::size_t expected, std::vector<std::vector<float>> *out,
                                  std::string *error)
{
    if (expected == 0 || expected > kMaxInputs)
        return fail(error, "expected 1 to 2048 embeddings");
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (const auto err = parser.parse(body.data(), body.size(), true).get(root); err != simdjson::SUCCESS)
        return fail(error, std::string("invalid JSON: ") + simdjson::error_message(err));
    simdjson::dom::array data;
    if (root["data"].get_array().get(data) != simdjson::SUCCESS)
        return fail(error, "no \"data\" array");
    std::vector<std::vector<float>> vectors(expected);
    std::size_t dimension = 0;
    std::size_t count = 0;
    for (auto item : data) {
        if (count == expected)
            return fail(error, "more embeddings than inputs");
        std::int64_t index = -1;
        simdjson::dom::array values;
        if (item["index"].get_int64().get(index) != simdjson::SUCCESS || index < 0
            || index >= static_cast<std::int64_t>(expected))
            return fail(error, "an embedding without a valid \"index\"");
        if (item["embedding"].get_array().get(values) != simdjson::SUCCESS)
            return fail(error, "an embedding without an \"embedding\" array of numbers");
        std::vector<float> &v = vectors[static_cast<std::size_t>(index)];
        if (!v.empty())
            return fail(error, "two embeddings with the same index");
        float maxAbs = 0.0f;
        for (auto value : values) {
            double d = 0.0;
            if (value.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d) || std::fabs(d) > 1e30)
                return fail(error, "an embedding holds something other than finite numbers");
            if (v.size() == kMaxDimension)
                return fail(error, "an embedding has more than 2048 dimensions");
            v.push_back(static_cast<float>(d));
            maxAbs = std::max(maxAbs, std::fabs(v.back()));
        }
        if (v.empty())
            return fail(error, "an empty embedding");
        if (dimension == 0)
            dimension = v.size();
        else if (v.size() != dimension)
            return fail(error, "embeddings of different lengths");
        // Normalised as stored (float), scaled by the largest first: tiny or subnormal
        // values still give a unit vector.
        if (maxAbs > 0.0f) {
            double norm = 0.0;
            for (const float x : v)
                norm += (static_cast<double>(x) / maxAbs) * (static_cast<double>(x) / maxAbs);
            const double scale = 1.0 / (std::sqrt(norm) * maxAbs);
            for (float &x : v)
                x = static_cast<float>(x * scale);
        }
        ++count;
    }
    if (count != expected)
        return fail(error, "fewer embeddings than inputs");
    *out = std::move(vectors);
    return true;
}

} // namespace l0l3
