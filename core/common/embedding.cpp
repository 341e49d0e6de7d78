#include "core/common/embedding.h"

namespace l0l3 {

float dot(std::span<const float> a, std::span<const float> b)
{
    const std::size_t n = a.size() < b.size() ? a.size() : b.size();
    // Eight independent partial sums: lets the compiler vectorise without -ffast-math.
    float acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (std::size_t k = 0; k < 8; ++k)
            acc[k] += a[i + k] * b[i + k];
    }
    float sum = 0.0f;
    for (; i < n; ++i)
        sum += a[i] * b[i];
    for (const float x : acc)
        sum += x;
    return sum;
}

std::string openAiEmbeddingModelId(std::string_view model)
{
    return "openai:" + std::string(model);
}

} // namespace l0l3
