#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

// Turns a prompt into a unit-length vector whose dot product with another
// one's is their similarity (cosine), in [-1, 1]. Vectors from different
// model ids (or dimensions) are never compared: an entry's stored vector
// records the model id it was computed with.
class EmbeddingProvider
{
public:
    virtual ~EmbeddingProvider() = default;

    // Identifies the model and every parameter that changes its vectors.
    virtual std::string modelId() const = 0;
    virtual std::size_t dimension() const = 0;
    // Writes dimension() floats into out (out.size() must equal dimension()).
    // The result is L2-normalised, or all zeros for a text without features.
    virtual void embedInto(std::string_view text, std::span<float> out) const = 0;

    std::vector<float> embed(std::string_view text) const
    {
        std::vector<float> v(dimension());
        embedInto(text, v);
        return v;
    }
};

// The dot product of two vectors of the same length.
float dot(std::span<const float> a, std::span<const float> b);

// The model id of the vectors an OpenAI-compatible POST /v1/embeddings
// endpoint returns for the model name sent with the request: "openai:" then
// the name as given (e.g. "openai:text-embedding-3-small"). The gateway and
// the control plane both record and compare this id, so the same
// --embeddings-model gives the same id on both sides whatever the URL (the
// same model behind another address computes the same vectors).
std::string openAiEmbeddingModelId(std::string_view model);

} // namespace l0l3
