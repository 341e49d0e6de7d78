#include "core/common/controlmessage.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace l0l3 {

namespace {

using Verb = ControlMessage::Verb;

enum class Argument { None, Region, OptionalRegion, HostPort, OptionalHostPort };

struct VerbForm
{
    std::string_view name;
    Verb verb;
    Argument argument;
};

constexpr std::array<VerbForm, 7> kForms{{
    {"drain", Verb::Drain, Argument::Region},
    {"undrain", Verb::Undrain, Argument::Region},
    {"flush", Verb::Flush, Argument::OptionalRegion},
    {"freeze", Verb::Freeze, Argument::None},
    {"unfreeze", Verb::Unfreeze, Argument::None},
    {"failover", Verb::Failover, Argument::OptionalHostPort},
    {"promote", Verb::Promote, Argument::HostPort},
}};

const VerbForm *formOf(std::string_view name)
{
    const auto it = std::find_if(kForms.begin(), kForms.end(), [name](const VerbForm &f) { return f.name == name; });
    return it == kForms.end() ? nullptr : &*it;
}

bool isAlnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A host name, an IPv4 address or an IPv6 address (bare, as Sentinel reports
// it, or in brackets).
bool isValidHost(std::string_view host)
{
    return !host.empty() && host.size() <= ControlMessage::kMaxHostBytes
        && std::all_of(host.begin(), host.end(), [](char c) {
               return isAlnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
           });
}

// 1..65535 in decimal, without sign or leading zero.
bool isValidPort(std::string_view port)
{
    if (port.empty() || port.size() > 5 || port.front() == '0')
        return false;
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    return r.ec == std::errc() && r.ptr == port.data() + port.size() && value >= 1 && value <= 65535;
}

std::optional<ControlMessage> refuse(std::string *error, std::string_view why)
{
    if (error)
        *error = why;
    return std::nullopt;
}

} // namespace

bool ControlMessage::addressesRegion(std::string_view region) const
{
    switch (verb) {
    case Verb::Flush:
        if (target.empty())
            return true;
        [[fallthrough]];
    case Verb::Drain:
    case Verb::Undrain: return target == region || target == "*" || target == "all";
    case Verb::Freeze:
    case Verb::Unfreeze:
    case Verb::Failover:
    case Verb::Promote: break;
    }
    return false;
}

std::string_view controlVerbName(ControlMessage::Verb verb)
{
    for (const VerbForm &f : kForms) {
        if (f.verb == verb)
            return f.name;
    }
    return {};
}

bool isValidRegionName(std::string_view name)
{
    return !name.empty() && name.size() <= ControlMessage::kMaxRegionBytes
        && std::all_of(name.begin(), name.end(), [](char c) { return isAlnum(c) || c == '-' || c == '_'; });
}

std::string encode(const ControlMessage &message)
{
    std::string text(controlVerbName(message.verb));
    if (!message.target.empty()) {
        text += ' ';
        text += message.target;
    }
    return text;
}

std::optional<ControlMessage> parseControlMessage(std::string_view text, std::string *error)
{
    if (text.size() > ControlMessage::kMaxBytes)
        return refuse(error, "control message too long");
    if (text.empty())
        return refuse(error, "empty control message");
    const std::size_t space = text.find(' ');
    const VerbForm *form = formOf(text.substr(0, space));
    if (!form) {
        return refuse(error,
                      "unknown control verb (expected drain, undrain, flush, freeze, unfreeze, failover "
                      "or promote)");
    }
    ControlMessage message;
    message.verb = form->verb;
    if (space == std::string_view::npos) {
        if (form->argument == Argument::None || form->argument == Argument::OptionalRegion
            || form->argument == Argument::OptionalHostPort)
            return message;
        return refuse(error, form->argument == Argument::Region ? "a region is required" : "HOST:PORT is required");
    }
    const std::string_view argument = text.substr(space + 1);
    if (form->argument == Argument::None)
        return refuse(error, "this control verb takes no argument");
    if (argument.empty() || argument.find(' ') != std::string_view::npos)
        return refuse(error, "exactly one argument, after exactly one space, is expected");
    if (form->argument == Argument::HostPort || form->argument == Argument::OptionalHostPort) {
        const std::size_t colon = argument.rfind(':');
        if (colon == std::string_view::npos || !isValidHost(argument.substr(0, colon)))
            return refuse(error, "HOST:PORT expected (host: letters, digits, '.', '-', '_', ':', brackets)");
        if (!isValidPort(argument.substr(colon + 1)))
            return refuse(error, "the port must be a number from 1 to 65535");
    } else if (argument != "*" && !isValidRegionName(argument)) {
        return refuse(error, "invalid region name (letters, digits, '-', '_', at most 64 bytes; or *)");
    }
    message.target = std::string(argument);
    return message;
}

} // namespace l0l3
