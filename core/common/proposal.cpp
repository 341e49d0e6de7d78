#include "core/common/proposal.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/common/cachekey.h"
#include "core/common/decimal.h"

namespace l0l3 {

namespace {

void appendNetstring(std::string &out, std::string_view s)
{
    out += Decimal::format(std::int64_t(s.size()));
    out += ':';
    out += s;
    out += ',';
}

// One netstring ("<length>:<bytes>,") at the start of rest, consumed; nullopt
// when rest does not start with a whole one.
std::optional<std::string_view> takeNetstring(std::string_view &rest)
{
    std::size_t len = 0;
    std::size_t i = 0;
    for (; i < rest.size() && i < 10 && rest[i] >= '0' && rest[i] <= '9'; ++i)
        len = len * 10 + std::size_t(rest[i] - '0');
    if (i == 0 || i >= rest.size() || rest[i] != ':' || (i > 1 && rest[0] == '0'))
        return std::nullopt;
    ++i;
    if (rest.size() - i <= len || rest[i + len] != ',')
        return std::nullopt;
    const std::string_view s = rest.substr(i, len);
    rest.remove_prefix(i + len + 1);
    return s;
}

} // namespace

StreamFields ProposalCodec::encode(const Proposal &p)
{
    const std::string ts = Decimal::format(p.tsMs);
    const std::string upstream = Decimal::format(p.upstreamMs);
    const std::string promptTokens = Decimal::format(p.promptTokens);
    const std::string completionTokens = Decimal::format(p.completionTokens);
    const std::pair<std::string_view, std::string_view> named[] = {
        {"ns", p.ns},
        {"system", p.system},
        {"prompt", p.prompt},
        {"response", p.response},
        {"model", p.model},
        {"region", p.region},
        {"ts", ts},
        {"upstream_ms", upstream},
        {"prompt_tokens", promptTokens},
        {"completion_tokens", completionTokens},
        {"response_format", p.responseFormat},
        {"tools", p.tools},
        {"tool_choice", p.toolChoice},
    };
    std::size_t bytes = 0;
    for (const auto &[name, value] : named)
        bytes += name.size() + value.size() + 2 * 12;
    std::string packed;
    packed.reserve(bytes + (p.l1Key.empty() ? 0 : p.l1Key.size() + 64));
    for (const auto &[name, value] : named) {
        appendNetstring(packed, name);
        appendNetstring(packed, value);
    }
    // Optional: a proposal without a candidate stays readable by a library that predates them.
    if (!p.l1Key.empty()) {
        char similarity[16];
        const float s = std::isfinite(p.l1Similarity) ? std::clamp(p.l1Similarity, -1.0f, 1.0f) : 0.0f;
        const int n = std::snprintf(similarity, sizeof similarity, "%.4f", static_cast<double>(s));
        appendNetstring(packed, "l1_key");
        appendNetstring(packed, p.l1Key);
        appendNetstring(packed, "l1_similarity");
        appendNetstring(packed, std::string_view(similarity, static_cast<std::size_t>(n)));
    }
    return {{"key", p.key}, {std::string(kPackedField), std::move(packed)}};
}

Proposal ProposalView::toProposal() const
{
    Proposal p;
    p.id = std::string(id);
    p.key = std::string(key);
    p.ns = std::string(ns);
    p.system = std::string(system);
    p.prompt = std::string(prompt);
    p.response = std::string(response);
    p.model = std::string(model);
    p.region = std::string(region);
    p.tsMs = tsMs;
    p.upstreamMs = upstreamMs;
    p.promptTokens = promptTokens;
    p.completionTokens = completionTokens;
    p.responseFormat = std::string(responseFormat);
    p.tools = std::string(tools);
    p.toolChoice = std::string(toolChoice);
    p.l1Key = std::string(l1Key);
    p.l1Similarity = l1Similarity;
    return p;
}

std::string ProposalView::derivedKey() const
{
    return CacheKey::derive({ns, system, prompt, model, responseFormat, tools, toolChoice});
}

bool ProposalView::keyMatches(std::string *error) const
{
    const std::string derived = derivedKey();
    if (derived == key)
        return true;
    if (error)
        *error = "forged or damaged: key \"" + std::string(key.substr(0, 64)) + "\" is not the key of its fields (\""
            + derived + "\")";
    return false;
}

std::string Proposal::derivedKey() const
{
    return CacheKey::derive({ns, system, prompt, model, responseFormat, tools, toolChoice});
}

std::optional<ProposalView> ProposalCodec::decodeView(std::string_view id, std::span<const std::string_view> fv,
                                                      std::string *error)
{
    auto failWith = [error](std::string why) {
        if (error)
            *error = std::move(why);
        return std::nullopt;
    };
    if (fv.size() % 2 != 0)
        return failWith("odd number of field names and values");
    ProposalView p;
    p.id = id;
    std::string_view l1Similarity;
    bool haveKey = false;
    bool haveResponse = false;
    // One field, whether a stream field of its own or one packed in kPackedField.
    auto apply = [&](std::string_view name, std::string_view value) {
        std::int64_t *number = nullptr;
        if (name == "key") {
            p.key = value;
            haveKey = true;
        } else if (name == "response") {
            p.response = value;
            haveResponse = true;
        } else if (name == "ns") {
            p.ns = value;
        } else if (name == "system") {
            p.system = value;
        } else if (name == "prompt") {
            p.prompt = value;
        } else if (name == "model") {
            p.model = value;
        } else if (name == "region") {
            p.region = value;
        } else if (name == "ts") {
            number = &p.tsMs;
        } else if (name == "upstream_ms") {
            number = &p.upstreamMs;
        } else if (name == "prompt_tokens") {
            number = &p.promptTokens;
        } else if (name == "completion_tokens") {
            number = &p.completionTokens;
        } else if (name == "response_format") {
            p.responseFormat = value;
        } else if (name == "tools") {
            p.tools = value;
        } else if (name == "tool_choice") {
            p.toolChoice = value;
        } else if (name == "l1_key") {
            p.l1Key = value;
        } else if (name == "l1_similarity") {
            l1Similarity = value;
        }
        if (number && !Decimal::parse(value, *number)) {
            failWith("field \"" + std::string(name) + "\" is not a number: \"" + std::string(value) + "\"");
            return false;
        }
        return true;
    };
    for (size_t i = 0; i < fv.size(); i += 2) {
        if (fv[i] != kPackedField) {
            if (!apply(fv[i], fv[i + 1]))
                return std::nullopt;
            continue;
        }
        std::string_view rest = fv[i + 1];
        while (!rest.empty()) {
            const std::size_t at = fv[i + 1].size() - rest.size();
            const auto name = takeNetstring(rest);
            const auto value = name ? takeNetstring(rest) : std::nullopt;
            if (!value)
                return failWith("field \"" + std::string(kPackedField) + "\" is not a list of netstring pairs (at byte "
                                + std::to_string(at) + ")");
            if (!apply(*name, *value)) // kPackedField inside is an unknown name: not unpacked again
                return std::nullopt;
        }
    }
    if (!haveKey || !haveResponse)
        return failWith(!haveKey ? "missing field \"key\"" : "missing field \"response\"");
    // The candidate is advisory: one that does not parse is dropped, the proposal is kept.
    float similarity = 0.0f;
    const auto parsed = std::from_chars(l1Similarity.data(), l1Similarity.data() + l1Similarity.size(), similarity);
    const bool similarityOk = !l1Similarity.empty() && parsed.ec == std::errc()
        && parsed.ptr == l1Similarity.data() + l1Similarity.size() && std::isfinite(similarity) && similarity >= -1.0f
        && similarity <= 1.0f;
    if (!CacheKey::isValid(p.l1Key) || !similarityOk) {
        p.l1Key = {};
        p.l1Similarity = 0.0f;
    } else {
        p.l1Similarity = similarity;
    }
    return p;
}

std::optional<Proposal> ProposalCodec::decode(std::string_view id, const StreamFields &fields, std::string *error)
{
    std::vector<std::string_view> fv;
    fv.reserve(fields.size() * 2);
    for (const auto &[name, value] : fields) {
        fv.push_back(name);
        fv.push_back(value);
    }
    const auto view = decodeView(id, fv, error);
    if (!view)
        return std::nullopt;
    return view->toProposal();
}

} // namespace l0l3
