#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace l0l3 {

// A word-level diff (longest common subsequence over words and the white
// space between them), enough to show an operator what an edit changed.
// Inputs longer than maxTokens words fall back to a line-level diff so the
// quadratic table stays small.
class TextDiff
{
public:
    enum class Op { Equal, Insert, Delete };
    struct Segment
    {
        Op op = Op::Equal;
        QString text;
        bool operator==(const Segment &) const = default;
    };

    static QList<Segment> compute(const QString &before, const QString &after, int maxTokens = 3000);
    // Deletions struck through in red, insertions underlined in green. Each
    // segment's text is shown through Formatting::multiLine (controls and bidi
    // overrides visible, at most kMaxSegmentChars) and HTML-escaped.
    static QString toHtml(const QList<Segment> &segments);
    static constexpr int kMaxSegmentChars = 20000;
    // Counts of inserted/deleted words, for a one-line summary.
    static QString summary(const QList<Segment> &segments);

    static QStringList tokenize(const QString &text);
};

} // namespace l0l3
