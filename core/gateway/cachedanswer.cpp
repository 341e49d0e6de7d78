#include "core/gateway/cachedanswer.h"

#include "core/common/jsonwriter.h"

namespace l0l3 {

std::shared_ptr<CachedAnswer> CachedAnswer::fromContent(std::string_view content, std::int64_t version, int chunks)
{
    auto answer = std::make_shared<CachedAnswer>();
    answer->version = version;
    answer->completionTokens = estimateTokens(content.size());
    answer->escapedContent.reserve(content.size() + content.size() / 8 + 8);
    const auto pieces = static_cast<std::size_t>(chunks < 1 ? 1 : chunks);
    const std::size_t target = std::max<std::size_t>(16, content.size() / pieces + 1);
    answer->chunkEnds.reserve(pieces);
    std::size_t start = 0;
    while (start < content.size()) {
        std::size_t end = std::min(content.size(), start + target);
        // Prefer to cut after a space within a short look-ahead, like a tokenizer would.
        std::size_t probe = end;
        while (probe < content.size() && probe < end + 24 && content[probe] != ' ')
            ++probe;
        if (probe < content.size() && content[probe] == ' ')
            end = probe + 1;
        while (end < content.size() && (static_cast<unsigned char>(content[end]) & 0xC0) == 0x80)
            ++end; // never split a UTF-8 sequence
        JsonWriter::appendEscaped(answer->escapedContent, content.substr(start, end - start));
        answer->chunkEnds.push_back(static_cast<std::uint32_t>(answer->escapedContent.size()));
        start = end;
    }
    return answer;
}

} // namespace l0l3
