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

std::optional<Proposal> ProposalCodec::decode(std::string_view id, StreamFields fields, std::string *error)
{
    Proposal p;
    p.id = std::string(id);
    bool haveKey = false;
    bool haveResponse = false;
    for (auto &[name, value] : fields) {
        std::int64_t *number = nullptr;
        if (name == "key") {
            p.key = std::move(value);
            haveKey = true;
        } else if (name == "response") {
            p.response = std::move(value);
            haveResponse = true;
        } else if (name == "ns") {
            p.ns = std::move(value);
        } else if (name == "system") {
            p.system = std::move(value);
        } else if (name == "prompt") {
            p.prompt = std::move(value);
        } else if (name == "model") {
            p.model = std::move(value);
        } else if (name == "region") {
            p.region = std::move(value);
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
                *error = "field \"" + name + "\" is not a number: \"" + value + "\"";
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

} // namespace l0l3
