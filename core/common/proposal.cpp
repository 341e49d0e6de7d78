#include "core/common/proposal.h"

#include <charconv>

namespace l0l3 {

namespace {

std::string decimal(std::int64_t n)
{
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    return std::string(buf, r.ptr);
}

bool parseInt(std::string_view s, std::int64_t &out)
{
    if (s.empty())
        return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

} // namespace

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
        {"ts", decimal(p.tsMs)},
        {"upstream_ms", decimal(p.upstreamMs)},
        {"prompt_tokens", decimal(p.promptTokens)},
        {"completion_tokens", decimal(p.completionTokens)},
    };
}

std::optional<Proposal> ProposalCodec::decode(std::string_view id, const StreamFields &fields, std::string *error)
{
    Proposal p;
    p.id = std::string(id);
    bool haveKey = false;
    bool haveResponse = false;
    for (const auto &[name, value] : fields) {
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
        if (number && !parseInt(value, *number)) {
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
