#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/common/stringhash.h"

namespace l0l3 {

// Nearest-neighbour search over the unit vectors of approved entries, for L1.
// Entries live in scopes (scopeKey(): namespace, system prompt hash, model
// family): a search only ever compares a query with entries of its own scope.
// An entry key is in at most one scope; upsert() of a key moves or replaces it.
//
// Storage per entry: its vector quantised to int8 with one float scale
// (dimension + 4 bytes; similarity within about 0.005 of the float dot
// product), a 32-byte int8 sketch (the vector folded to 32 dimensions), and
// the key. A scope of at most exactScanLimit entries is scanned exactly; a
// larger one is scanned by sketch first and only the best rerankCandidates
// within sketchMargin of the threshold are scored exactly (see
// docs/BENCHMARKS.md, L1, for the recall this costs).
// Not thread-safe: one writer, or a lock around every call.
class VectorIndex
{
public:
    static constexpr std::size_t kSketchDimension = 32;

    struct Options
    {
        std::size_t exactScanLimit = 8192;
        std::size_t rerankCandidates = 256;
        // An entry whose sketch similarity is below the search threshold by more than this
        // is not a candidate (the sketch's error is about 0.2 / sqrt(32) near similarity 0.9).
        float sketchMargin = 0.3f;
    };
    struct Match
    {
        std::string key;
        float similarity = 0.0f;
    };

    // dimension: of the provider's vectors, at least 1.
    explicit VectorIndex(std::size_t dimension);
    VectorIndex(std::size_t dimension, Options options);
    ~VectorIndex();
    VectorIndex(const VectorIndex &) = delete;
    VectorIndex &operator=(const VectorIndex &) = delete;

    // One string for namespace, system prompt hash and model family (separated by NUL bytes).
    static std::string scopeKey(std::string_view ns, std::string_view systemPromptHash, std::string_view modelFamily);

    // Inserts or replaces the entry's vector (which must have dimension() floats and be
    // L2-normalised by the provider; false and nothing changes otherwise).
    bool upsert(std::string_view scope, std::string_view key, std::span<const float> vector);
    // False when the key is not indexed.
    bool erase(std::string_view key);
    void clear();

    // At most k entries of the scope whose similarity with query is at least threshold, best first.
    std::vector<Match> search(std::string_view scope, std::span<const float> query, std::size_t k,
                              float threshold) const;
    // Every entry of the scope scored exactly, whatever its size (what search() approximates).
    std::vector<Match> searchExact(std::string_view scope, std::span<const float> query, std::size_t k,
                                   float threshold) const;

    std::size_t dimension() const { return m_inputDimension; }
    std::size_t size() const { return m_locations.size(); }
    std::size_t scopeCount() const { return m_scopes.size(); }
    // The heap bytes the index holds (vectors, sketches, keys, maps), approximately.
    std::size_t memoryBytes() const;

private:
    struct Scope;
    struct Location
    {
        Scope *scope = nullptr;
        std::size_t slot = 0;
    };
    using LocationMap = std::unordered_map<std::string, Location, StringHash, std::equal_to<>>;

    void removeSlot(Scope &scope, std::size_t slot);
    std::vector<Match> scan(const Scope &scope, std::span<const float> query, std::size_t k, float threshold,
                            bool exact) const;

    std::size_t m_inputDimension;
    std::size_t m_dimension; // padded to a multiple of 32 bytes
    Options m_options;
    std::unordered_map<std::string, std::unique_ptr<Scope>, StringHash, std::equal_to<>> m_scopes;
    LocationMap m_locations;
};

} // namespace l0l3
