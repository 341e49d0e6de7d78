#pragma once

#include <QString>

namespace l0l3 {

// What l0l3-ctl's commands print. Prompts, answers, keys, region names, audit
// fields and Redis errors are untrusted: nothing of them reaches the terminal
// raw. Table rows show each field escaped by VisibleText (a newline as "\n",
// ESC as "\x1B", U+202E as "\u202E", "\" as "\\"); JSON output writes the
// same characters as \u escapes; messages on stderr keep their newlines only.
class CtlOutput
{
public:
    // s with every control, bidi or otherwise hazardous character written as
    // its visible escape (VisibleText::escape), on one line.
    static QString visible(const QString &s);

    // Writes s to stdout as UTF-8 and flushes.
    static void write(const QString &s);
};

} // namespace l0l3
