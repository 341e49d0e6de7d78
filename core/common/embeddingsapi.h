#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

// The OpenAI-compatible POST /v1/embeddings format, both sides:
//   request:  {"model": "...", "input": "text" | ["text", ...], "encoding_format": "float"}
//   response: {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, ...]}, ...],
//              "model": "...", "usage": {"prompt_tokens": N, "total_tokens": N}}
// Used by the gateway's HTTP provider, the benchmark and the stub LLM. Replies come
// from a remote service: parseResponse() is strict and bounded.
class EmbeddingsApi
{
public:
    static constexpr std::size_t kMaxInputs = 2048; // per request, as OpenAI's own limit
    static constexpr std::size_t kMaxModelBytes = 200;
    static constexpr std::size_t kMaxDimension = 2048; // VectorRecordCodec::kMaxDimension

    // The model id of vectors from an OpenAI-compatible endpoint serving model: stored
    // in vector records (VectorRecord::model) by the control plane and compared by the
    // gateways, so both sides must derive it from the same --embeddings-model. The URL
    // is not part of it: the same model may be reached under different addresses.
    // The same as openAiEmbeddingModelId() (embedding.h).
    static std::string modelId(std::string_view model);

    // A model name usable in a request and a model id: 1 to kMaxModelBytes printable ASCII bytes.
    static bool isValidModel(std::string_view model);

    static std::string request(std::string_view model, std::span<const std::string_view> inputs);

    struct Request
    {
        std::string model;
        std::vector<std::string> inputs;
        bool inputIsArray = false;
        int dimensions = 0; // "dimensions" when given, else 0
    };
    // For a server (the stub): "input" a string or a non-empty array of at most kMaxInputs
    // strings; "model" a string; "encoding_format" absent or "float"; "dimensions" a
    // positive integer if present. False and a reason otherwise.
    static bool parseRequest(std::string_view body, Request *out, std::string *error);

    static std::string response(std::string_view model, std::span<const std::vector<float>> vectors,
                                std::size_t promptTokens);

    // The vectors of a response to a request of expected inputs, in input order: "data"
    // must hold exactly one embedding per index 0..expected-1 (any order), each a
    // non-empty array of at most kMaxDimension finite numbers, all of one length. Each
    // vector is L2-normalised here (all zeros stays all zeros), as records require.
    static bool parseResponse(std::string_view body, std::size_t expected, std::vector<std::vector<float>> *out,
                              std::string *error);
};

} // namespace l0l3
