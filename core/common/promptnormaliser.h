#pragma once

#include <string>
#include <string_view>

namespace l0l3 {

// Unicode NFC, full case-fold, every run of Unicode white space collapsed to
// one ASCII space, leading/trailing white space removed, trailing
// punctuation (. ! ? , ; : … 。 ！ ？ and friends) trimmed.
// Invalid UTF-8 is never produced: invalid input bytes are replaced by U+FFFD.
class PromptNormaliser
{
public:
    static std::string normalise(std::string_view utf8);
};

} // namespace l0l3
