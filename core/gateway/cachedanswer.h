#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

// An answer ready to be served without re-parsing anything: the content is
// stored JSON-escaped and pre-split into SSE chunks, so a hit is a few
// appends into the connection's output buffer.
struct CachedAnswer
{
    std::string escapedContent;           // JSON string body, without quotes
    std::vector<std::uint32_t> chunkEnds; // end offsets of the SSE content chunks in escapedContent
    std::int64_t completionTokens = 0;    // estimate (~4 bytes per token) unless the upstream told us
    std::int64_t version = 0;             // Entry::version it came from; 0 for upstream answers
    std::int64_t reviewByMs = 0;          // Entry::reviewByMs (ms since epoch); 0: no date recorded

    // Splits into about `chunks` pieces at white space (never inside a UTF-8
    // sequence or an escape).
    static std::shared_ptr<CachedAnswer> fromContent(std::string_view content, std::int64_t version = 0,
                                                     int chunks = 4);
    std::size_t bytes() const { return sizeof(CachedAnswer) + escapedContent.capacity() + chunkEnds.capacity() * 4; }
    static std::int64_t estimateTokens(std::size_t bytes) { return static_cast<std::int64_t>((bytes + 3) / 4); }
};

} // namespace l0l3
