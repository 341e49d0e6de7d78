// EmbeddingsApi on arbitrary bytes: parseResponse (what an embeddings endpoint answers the
// gateway and the control plane) and parseRequest (what the stub reads). The first byte
// picks how many embeddings the response must hold (1 to 4); the rest is the body.
// Properties: no crash; a parsed response holds exactly that many vectors, all of one
// length from 1 to 2048, finite, L2-normalised or all zeros, so that a vector record with
// them encodes; a parsed request has a model and 1 to 2048 inputs.
#include <cmath>

#include "core/common/embeddingsapi.h"
#include "core/common/vectorrecord.h"
#include "tests/fuzz/fuzzcheck.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace l0l3;
    if (size == 0)
        return 0;
    const std::size_t expected = 1 + data[0] % 4;
    const std::string_view body(reinterpret_cast<const char *>(data + 1), size - 1);

    std::vector<std::vector<float>> vectors;
    std::string error;
    if (EmbeddingsApi::parseResponse(body, expected, &vectors, &error)) {
        FUZZ_CHECK(vectors.size() == expected);
        const std::size_t dimension = vectors.front().size();
        FUZZ_CHECK(dimension >= 1 && dimension <= EmbeddingsApi::kMaxDimension);
        for (const std::vector<float> &v : vectors) {
            FUZZ_CHECK(v.size() == dimension);
            double norm = 0.0;
            for (const float x : v) {
                FUZZ_CHECK(std::isfinite(x));
                norm += static_cast<double>(x) * x;
            }
            FUZZ_CHECK(norm == 0.0 || std::fabs(std::sqrt(norm) - 1.0) < 1e-3);
            VectorRecord record;
            record.model = EmbeddingsApi::modelId("fuzz");
            record.ns = "default";
            record.systemSha256 = std::string(64, 'a');
            record.modelFamily = "gpt-4o-mini";
            record.vector = v;
            std::string why;
            FUZZ_CHECK(VectorRecordCodec::encode(record, &why).has_value());
        }
    } else {
        FUZZ_CHECK(!error.empty());
    }

    EmbeddingsApi::Request request;
    if (EmbeddingsApi::parseRequest(body, &request, &error)) {
        FUZZ_CHECK(!request.model.empty());
        FUZZ_CHECK(!request.inputs.empty() && request.inputs.size() <= EmbeddingsApi::kMaxInputs);
        FUZZ_CHECK(request.dimensions >= 0 && request.dimensions <= static_cast<int>(EmbeddingsApi::kMaxDimension));
    } else {
        FUZZ_CHECK(!error.empty());
    }
    return 0;
}
