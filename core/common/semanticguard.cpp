#include "core/common/semanticguard.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include <utf8proc.h>

#include "core/common/lexicalembedder.h"
#include "core/common/promptnormaliser.h"
#include "core/common/utf8prefix.h"

namespace l0l3 {

namespace {

template<std::size_t N>
bool contains(const std::array<std::string_view, N> &list, std::string_view word)
{
    return std::find(list.begin(), list.end(), word) != list.end();
}

// English negators; a word ending in "n't" is one too.
constexpr std::array<std::string_view, 20> kNegators = {"not",    "no",      "never",  "none",    "nothing",
                                                        "nobody", "neither", "nor",    "without", "cannot",
                                                        "cant",   "dont",    "doesnt", "didnt",   "isnt",
                                                        "wont",   "nowhere", "noone",  "lack",    "lacking"};

// Words between a negator and what it negates ("is not a valid", "don't really remember").
constexpr std::array<std::string_view, 30> kNegationSkip = {
    "a",   "an",  "the",    "be",   "been", "being", "to",   "i",    "you", "it",  "we",  "they", "he",  "she", "have",
    "has", "any", "really", "very", "so",   "too",   "even", "ever", "at",  "all", "get", "got",  "yet", "my",  "your"};

// Number words, ordinals, months and days: they change the answer like digits do.
constexpr std::array<std::string_view, 66> kNumberWords = {
    "zero",     "one",      "two",       "three",    "four",     "five",      "six",     "seven",     "eight",
    "nine",     "ten",      "eleven",    "twelve",   "thirteen", "fourteen",  "fifteen", "sixteen",   "seventeen",
    "eighteen", "nineteen", "twenty",    "thirty",   "forty",    "fifty",     "hundred", "thousand",  "million",
    "billion",  "first",    "second",    "third",    "fourth",   "fifth",     "sixth",   "seventh",   "eighth",
    "ninth",    "tenth",    "last",      "half",     "twice",    "double",    "triple",  "january",   "february",
    "march",    "april",    "june",      "july",     "august",   "september", "october", "november",  "december",
    "monday",   "tuesday",  "wednesday", "thursday", "friday",   "saturday",  "sunday",  "yesterday", "today",
    "tomorrow", "dozen",    "quarter"};

constexpr std::array<std::string_view, 6> kFollowUpStarts = {"and", "but", "also", "plus", "then", "so"};

// A few frequent, distinctive function words per language (case-folded).
struct StopWords
{
    std::string_view language;
    std::array<std::string_view, 12> words;
};
constexpr std::array<StopWords, 7> kStopWords = {{
    {"en", {"the", "is", "are", "what", "how", "my", "i", "you", "do", "of", "with", "can"}},
    {"fr", {"le", "la", "les", "est", "je", "mon", "ma", "comment", "quel", "quelle", "des", "pour"}},
    {"de", {"der", "die", "das", "ist", "ich", "mein", "wie", "nicht", "und", "ein", "eine", "mit"}},
    {"es", {"el", "los", "las", "es", "mi", "como", "cómo", "qué", "que", "por", "una", "con"}},
    {"it", {"il", "gli", "è", "mio", "come", "che", "della", "per", "sono", "una", "non", "di"}},
    {"pt", {"o", "os", "é", "meu", "minha", "como", "não", "uma", "do", "da", "em", "para"}},
    {"nl", {"de", "het", "is", "ik", "mijn", "hoe", "wat", "niet", "een", "van", "en", "met"}},
}};

enum class Script {
    None,
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Hebrew,
    Arabic,
    Devanagari,
    Thai,
    Hangul,
    Kana,
    Han,
    Other
};

Script scriptOf(utf8proc_int32_t cp)
{
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || (cp >= 0xC0 && cp <= 0x24F)
        || (cp >= 0x1E00 && cp <= 0x1EFF))
        return Script::Latin;
    if (cp >= 0x370 && cp <= 0x3FF)
        return Script::Greek;
    if (cp >= 0x400 && cp <= 0x52F)
        return Script::Cyrillic;
    if (cp >= 0x530 && cp <= 0x58F)
        return Script::Armenian;
    if (cp >= 0x590 && cp <= 0x5FF)
        return Script::Hebrew;
    if ((cp >= 0x600 && cp <= 0x6FF) || (cp >= 0x750 && cp <= 0x77F))
        return Script::Arabic;
    if (cp >= 0x900 && cp <= 0x97F)
        return Script::Devanagari;
    if (cp >= 0xE00 && cp <= 0xE7F)
        return Script::Thai;
    if ((cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF))
        return Script::Hangul;
    if (cp >= 0x3040 && cp <= 0x30FF)
        return Script::Kana;
    if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF))
        return Script::Han;
    return Script::Other;
}

bool isLetter(utf8proc_int32_t cp)
{
    const auto c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT
        || c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_LO;
}

bool isWordChar(utf8proc_int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    const auto c = utf8proc_category(cp);
    return isLetter(cp) || c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ND
        || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

std::string stripApostrophes(std::string_view w)
{
    std::string out;
    out.reserve(w.size());
    for (const char c : w) {
        if (c != '\'')
            out += c;
    }
    return out;
}

struct Profile
{
    std::vector<std::string> words;   // normalised
    std::vector<std::string> negated; // words a negator applies to
    std::size_t negators = 0;
    std::vector<std::string> numbers; // digit tokens, number words, currency signs; sorted
    std::vector<std::string> quoted;  // normalised quoted strings; sorted
    std::vector<std::string> names;   // case-folded capitalised names and acronyms
    Script script = Script::None;
    std::string_view language;
    bool followUp = false;

    bool hasWord(std::string_view w) const { return std::find(words.begin(), words.end(), w) != words.end(); }
    bool isNegated(std::string_view w) const { return std::find(negated.begin(), negated.end(), w) != negated.end(); }
};

bool isNegator(const std::string &w)
{
    const std::string bare = stripApostrophes(w);
    if (contains(kNegators, bare))
        return true;
    return w.size() > 3 && w.compare(w.size() - 3, 3, "n't") == 0;
}

// Scans the raw text once: scripts, quoted strings, capitalised names, currency signs.
void scanRaw(std::string_view raw, Profile &p)
{
    std::array<int, 13> scripts{};
    const auto *s = reinterpret_cast<const utf8proc_uint8_t *>(raw.data());
    const auto size = static_cast<utf8proc_ssize_t>(raw.size());
    utf8proc_ssize_t i = 0;
    bool sentenceStart = true;
    std::string word;
    bool wordCapitalised = false;
    bool wordAllCaps = true;
    int wordLetters = 0;
    bool wordAtSentenceStart = false;
    utf8proc_int32_t openQuote = 0;
    utf8proc_int32_t closeQuote = 0;
    std::string quote;
    auto endWord = [&]() {
        if (word.empty())
            return;
        const bool acronym = wordAllCaps && wordLetters >= 2;
        if ((wordCapitalised && !wordAtSentenceStart && word != "I") || acronym)
            p.names.push_back(PromptNormaliser::normalise(word));
        word.clear();
    };
    while (i < size) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t n = utf8proc_iterate(s + i, size - i, &cp);
        if (n <= 0) {
            n = 1;
            cp = 0xFFFD;
        }
        const std::string_view bytes = raw.substr(static_cast<std::size_t>(i), static_cast<std::size_t>(n));
        i += n;
        if (openQuote != 0) {
            if (cp == closeQuote) {
                p.quoted.push_back(PromptNormaliser::normalise(quote));
                quote.clear();
                openQuote = 0;
            } else if (quote.size() < 1024) {
                quote.append(bytes);
            }
        } else if (cp == '"' || cp == 0x201C || cp == 0xAB || cp == '`' || cp == 0x2018 || cp == 0x201E) {
            openQuote = cp;
            closeQuote = cp == 0x201C ? 0x201D : cp == 0xAB ? 0xBB : cp == 0x2018 ? 0x2019 : cp == 0x201E ? 0x201C : cp;
        }
        if (isLetter(cp))
            ++scripts[static_cast<std::size_t>(scriptOf(cp))];
        if (cp == '$' || cp == 0x20AC || cp == 0xA3 || cp == 0xA5 || cp == '%' || cp == 0x20B9)
            p.numbers.emplace_back(bytes);
        if (isWordChar(cp) || ((cp == '\'' || cp == 0x2019) && !word.empty())) {
            if (word.empty()) {
                const auto c = utf8proc_category(cp);
                wordCapitalised = c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT;
                wordAtSentenceStart = sentenceStart;
                wordAllCaps = true;
                wordLetters = 0;
            }
            if (isLetter(cp)) {
                ++wordLetters;
                if (utf8proc_category(cp) != UTF8PROC_CATEGORY_LU)
                    wordAllCaps = false;
            }
            word.append(bytes);
            sentenceStart = false;
        } else {
            endWord();
            if (cp == '.' || cp == '!' || cp == '?' || cp == '\n' || cp == ':' || cp == 0x3002 || cp == 0xBF
                || cp == 0xA1)
                sentenceStart = true;
        }
    }
    endWord();
    // Japanese mixes Han and kana in any proportion: any kana makes it kana.
    if (scripts[static_cast<std::size_t>(Script::Kana)] > 0)
        scripts[static_cast<std::size_t>(Script::Han)] = 0;
    int best = 0;
    for (std::size_t k = 1; k < scripts.size(); ++k) {
        if (scripts[k] > best) {
            best = scripts[k];
            p.script = static_cast<Script>(k);
        }
    }
}

Profile profileOf(std::string_view text)
{
    Profile p;
    const std::string_view raw = utf8Prefix(text, SemanticGuard::kMaxInputBytes);
    p.words = LexicalEmbedder::words(PromptNormaliser::normalise(raw));
    scanRaw(raw, p);

    for (std::size_t i = 0; i < p.words.size(); ++i) {
        const std::string &w = p.words[i];
        bool hasDigit = false;
        for (const char c : w)
            hasDigit = hasDigit || (c >= '0' && c <= '9');
        if (hasDigit || contains(kNumberWords, w))
            p.numbers.push_back(w);
        if (isNegator(w)) {
            ++p.negators;
            for (std::size_t j = i + 1; j < p.words.size() && j <= i + 4; ++j) {
                if (contains(kNegationSkip, p.words[j]))
                    continue;
                if (!isNegator(p.words[j]))
                    p.negated.push_back(p.words[j]);
                break;
            }
        }
    }
    std::sort(p.numbers.begin(), p.numbers.end());
    std::sort(p.quoted.begin(), p.quoted.end());

    if (!p.words.empty()) {
        p.followUp = contains(kFollowUpStarts, p.words[0]);
        if (p.words.size() >= 2 && (p.words[0] == "what" || p.words[0] == "how")
            && (p.words[1] == "about" || p.words[1] == "if"))
            p.followUp = true;
    }

    int best = 0;
    bool tie = false;
    for (const StopWords &sw : kStopWords) {
        int count = 0;
        for (const std::string &w : p.words)
            count += contains(sw.words, w) ? 1 : 0;
        if (count > best) {
            best = count;
            p.language = sw.language;
            tie = false;
        } else if (count == best && count > 0) {
            tie = true;
        }
    }
    if (best < 2 || tie)
        p.language = {};
    return p;
}

// Polarity differs when one text negates more often than the other and what
// one of them negates appears in the other ("allowed" / "not allowed"). The
// same number of negations on both sides counts as the same polarity ("not
// allowed" / "isn't allowed"); negations of words the other text does not
// contain say nothing ("can't log in" / "reset my password").
bool negationConflict(const Profile &a, const Profile &b)
{
    if (a.negators == b.negators)
        return false;
    for (const std::string &w : a.negated) {
        if (b.hasWord(w) && !b.isNegated(w))
            return true;
    }
    return false;
}

bool namesMissing(const Profile &a, const Profile &b)
{
    for (const std::string &name : a.names) {
        if (!b.hasWord(name) && std::find(b.names.begin(), b.names.end(), name) == b.names.end())
            return true;
    }
    return false;
}

} // namespace

SemanticGuard::Reason SemanticGuard::check(std::string_view request, std::string_view candidate)
{
    if (request.size() > kMaxInputBytes || candidate.size() > kMaxInputBytes)
        return Reason::Length;
    const Profile a = profileOf(request);
    const Profile b = profileOf(candidate);
    if (a.words.empty() != b.words.empty())
        return Reason::Length;
    if (a.script != b.script)
        return Reason::Script;
    if (!a.language.empty() && !b.language.empty() && a.language != b.language)
        return Reason::Language;
    if (a.followUp != b.followUp)
        return Reason::FollowUp;
    if (negationConflict(a, b) || negationConflict(b, a))
        return Reason::Negation;
    if (a.numbers != b.numbers)
        return Reason::Number;
    if (a.quoted != b.quoted)
        return Reason::QuotedText;
    if (namesMissing(a, b) || namesMissing(b, a))
        return Reason::NamedEntity;
    const std::size_t shorter = std::min(a.words.size(), b.words.size());
    const std::size_t longer = std::max(a.words.size(), b.words.size());
    if (longer > 2 * shorter + 3)
        return Reason::Length;
    return Reason::None;
}

std::string_view SemanticGuard::reasonName(Reason reason)
{
    switch (reason) {
    case Reason::None: return "none";
    case Reason::Negation: return "negation";
    case Reason::Number: return "number";
    case Reason::QuotedText: return "quoted text";
    case Reason::NamedEntity: return "named entity";
    case Reason::Script: return "script";
    case Reason::Language: return "language";
    case Reason::FollowUp: return "follow-up";
    case Reason::Length: return "length";
    }
    return "unknown";
}

} // namespace l0l3
