#include "core/common/proposal.h"

#include "core/common/decimal.h"

namespace l0l3 {

StreamFields ProposalCodec::encode(const Proposal &p)
{
    return {
        {"key", p.key},
        {"ns", p.ns},
        {"system", p.system},
        {"prompt", p.prompt},
        {"response", p.response},
        {"model", p.model},
        {"region", p.region},
        {"ts", Decimal::format(p.tsMs)},
        {"upstream_ms", Decimal::format(p.upstreamMs)},
        {"prompt_tokens", Decimal::format(p.promptTokens)},
        {"completion_tokens", Decimal::format(p.completionTokens)},
    };
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
    return p;
}

std::optional<ProposalView> ProposalCodec::decodeView(std::string_view id, std::span<const std::string_view> fv,
                                                      std::string *error)
{
    if (fv.size() % 2 != 0) {
        if (error)
            *error = "odd number of field names and values";
        return std::nullopt;
    }
    ProposalView p;
    p.id = id;
    bool haveKey = false;
    bool haveResponse = false;
    for (size_t i = 0; i < fv.size(); i += 2) {
        const std::string_view name = fv[i];
        const std::string_view value = fv[i + 1];
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
        }
        if (number && !Decimal::parse(value, *number)) {
            if (error)
                *error = "field \"" + std::string(name) + "\" is not a number: \"" + std::string(value) + "\"";
            return std::nullopt;
        }
    }
    if (!haveKey || !haveResponse) {
        if (error)
            *error = !haveKey ? "missing field \"key\"" : "missing field \"response\"";
        return std::nullopt;
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
