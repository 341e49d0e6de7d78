#pragma once

#include <string>
#include <string_view>

namespace l0l3 {

// Unicode NFC, full case-fold, every run of Unicode white space collapsed to
// one ASCII space, leading/trailing white space removed, trailing
// punctuation (. ! ? , ; : … 。 ！ ？ and friends) trimmed.
// Invalid UTF-8 is never produced: invalid input bytes are replaced by U+FFFD.
// The output is stream-safe (Unicode UAX #15): a run of more than 30
// non-starters (combining marks) gets a COMBINING GRAPHEME JOINER U+034F
// after every 30th, so the work is linear in the input's length whatever its
// marks; text without such runs is unaffected.
class PromptNormaliser
{
public:
    static std::string normalise(std::string_view utf8);
};

} // namespace l0l3
