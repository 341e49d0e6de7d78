#include "core/gateway/keymemo.h"

#include <cstring>

#include <xxhash.h>

namespace l0l3 {

namespace {

void appendField(std::string &out, std::string_view field)
{
    const std::uint64_t n = field.size();
    char len[sizeof n];
    std::memcpy(len, &n, sizeof n);
    out.append(len, sizeof len);
    out.append(field);
}

} // namespace

KeyMemo::KeyMemo(std::size_t maxEntries)
    : m_maxEntries(maxEntries)
{
    m_keys.reserve(maxEntries);
}

void KeyMemo::derive(const CacheKeyInput &input, std::string *key)
{
    if (m_maxEntries == 0) {
        *key = CacheKey::derive(input);
        return;
    }
    m_raw.clear();
    for (std::string_view field :
         {input.ns, input.system, input.user, input.model, input.responseFormat, input.tools, input.toolChoice})
        appendField(m_raw, field);
    const XXH128_hash_t h = XXH3_128bits(m_raw.data(), m_raw.size());
    const Fingerprint fp{h.low64, h.high64};
    if (const auto it = m_keys.find(fp); it != m_keys.end()) {
        ++m_hits;
        key->assign(it->second.data(), it->second.size());
        return;
    }
    *key = CacheKey::derive(input);
    if (key->size() != 32)
        return;
    if (m_keys.size() >= m_maxEntries)
        m_keys.clear(); // a new working set; the hot keys come back at once
    std::array<char, 32> stored;
    std::memcpy(stored.data(), key->data(), stored.size());
    m_keys.emplace(fp, stored);
}

} // namespace l0l3
