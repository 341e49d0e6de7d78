#pragma once

#include <cstddef>
#include <string_view>

namespace l0l3 {

// Refuses a semantic (L1) match between a request's text and a candidate
// entry's text when they differ in a way similarity scores miss: a match is
// only ever served past check() == Reason::None. The checks are deliberately
// strict; a refusal costs one upstream call, a wrong answer costs trust.
// A text longer than kMaxInputBytes is refused (Reason::Length): what the
// guard does not read it cannot vouch for, and L1 is for short questions.
class SemanticGuard
{
public:
    static constexpr std::size_t kMaxInputBytes = 2048;

    enum class Reason {
        None,        // no guard objects
        Negation,    // a word negated in one text appears un-negated in the other
        Number,      // different numbers, amounts, dates or identifiers (tokens with digits,
                     // number words, ordinals, month and day names, currency signs)
        QuotedText,  // different quoted strings
        NamedEntity, // a capitalised name in one text is absent from the other
        Script,      // different dominant Unicode script
        Language,    // different language by stop-word profile (same script)
        FollowUp,    // one text continues a conversation ("and the second largest?"), the other does not
        Length,      // very different lengths
    };

    static Reason check(std::string_view request, std::string_view candidate);
    static std::string_view reasonName(Reason reason);
};

} // namespace l0l3
