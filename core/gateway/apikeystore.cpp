#include "core/gateway/apikeystore.h"

#include <fstream>
#include <sstream>

#include "core/gateway/requestrouter.h"

namespace l0l3 {

namespace {

std::string_view trimmed(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

} // namespace

std::optional<ApiKeyStore> ApiKeyStore::parse(std::string_view text, std::string *error, std::string_view origin)
{
    ApiKeyStore store;
    int lineNo = 0;
    auto fail = [&](std::string why) -> std::optional<ApiKeyStore> {
        if (error)
            *error = std::string(origin) + ":" + std::to_string(lineNo) + ": " + why;
        return std::nullopt;
    };
    while (!text.empty()) {
        ++lineNo;
        const auto eol = text.find('\n');
        const std::string_view line = trimmed(text.substr(0, eol));
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        if (line.empty() || line.front() == '#')
            continue;
        const auto space = line.find_first_of(" \t");
        if (space == std::string_view::npos)
            return fail("expected 'sha256hex namespace'");
        const std::string_view hex = line.substr(0, space);
        const std::string_view ns = trimmed(line.substr(space));
        Sha256::Digest digest;
        // Never echo the field: a key pasted by mistake instead of its hash must not reach a log.
        if (!Sha256::fromHex(hex, &digest))
            return fail("the first field is not a SHA-256 in hex (64 digits); store hashes, never keys");
        if (!RequestRouter::isValidNamespace(ns))
            return fail("the namespace must be 1 to 128 printable ASCII characters without spaces");
        if (!store.m_keys.emplace(digest, std::string(ns)).second)
            return fail("the same key hash is listed twice");
    }
    if (store.m_keys.empty()) {
        lineNo = 0;
        return fail("no keys listed");
    }
    return store;
}

std::optional<ApiKeyStore> ApiKeyStore::load(const std::string &path, std::string *error)
{
    std::ifstream file(path);
    if (!file) {
        if (error)
            *error = "cannot read --api-keys-file '" + path + "'";
        return std::nullopt;
    }
    std::stringstream ss;
    ss << file.rdbuf();
    return parse(ss.str(), error, path);
}

const std::string *ApiKeyStore::namespaceFor(std::string_view apiKey) const
{
    return namespaceFor(Sha256::digest(apiKey));
}

const std::string *ApiKeyStore::namespaceFor(const Sha256::Digest &digest) const
{
    const auto it = m_keys.find(digest);
    return it == m_keys.end() ? nullptr : &it->second;
}

} // namespace l0l3
