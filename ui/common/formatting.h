#pragma once

#include <QString>

namespace l0l3 {

// How the console writes times, ages and texts. Every string that came from a
// request, an upstream, a gateway or Redis goes through oneLine(), multiLine(),
// toolTip() or chartLabel() before a widget shows it: characters a text layout
// would act on (controls, bidi overrides, line separators) become visible
// escapes (VisibleText's), and the length is bounded so a huge line cannot
// stall a layout. Labels showing such text are Qt::PlainText.
class Formatting
{
public:
    // "12 s", "5 min", "3 h", "2 d"; "now" under a second, "—" for negative ages.
    static QString age(qint64 ms);
    // Local date and time of a ms epoch; "—" for 0.
    static QString timestamp(qint64 msEpoch);
    // Remaining TTL in seconds; "no expiry" for -1.
    static QString ttl(qint64 seconds);
    // For single-line views (table cells, labels, titles, the status bar):
    // white space collapsed to single spaces, hazards escaped, cut to maxChars
    // with an ellipsis. Reads no further than the output needs.
    static QString oneLine(const QString &text, int maxChars);
    // For multi-line views (read-only text panes, message boxes): newlines and
    // tabs kept, every other hazard escaped, cut to maxChars with an ellipsis.
    static QString multiLine(const QString &text, int maxChars);
    // A tooltip that shows text literally: multiLine(), HTML-escaped, inside <qt>.
    static QString toolTip(const QString &text, int maxChars = kToolTipChars);
    // Qt Charts renders legend, title and category labels as HTML: oneLine(),
    // HTML-escaped.
    static QString chartLabel(const QString &text, int maxChars = 48);

    static constexpr int kToolTipChars = 1000;
};

} // namespace l0l3
