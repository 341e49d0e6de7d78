#include "ui/common/textdiff.h"

#include <vector>

#include "ui/common/formatting.h"

namespace l0l3 {

QStringList TextDiff::tokenize(const QString &text)
{
    QStringList tokens;
    QString current;
    int kind = -1; // 0 space, 1 word
    for (const QChar c : text) {
        const int k = c.isSpace() ? 0 : 1;
        if (k != kind && !current.isEmpty()) {
            tokens.append(current);
            current.clear();
        }
        kind = k;
        current.append(c);
    }
    if (!current.isEmpty())
        tokens.append(current);
    return tokens;
}

static QList<TextDiff::Segment> lcsDiff(const QStringList &a, const QStringList &b)
{
    const qsizetype n = a.size();
    const qsizetype m = b.size();
    std::vector<std::vector<int>> len(n + 1, std::vector<int>(m + 1, 0));
    for (qsizetype i = n - 1; i >= 0; --i)
        for (qsizetype j = m - 1; j >= 0; --j)
            len[i][j] = a[i] == b[j] ? len[i + 1][j + 1] + 1 : std::max(len[i + 1][j], len[i][j + 1]);

    QList<TextDiff::Segment> out;
    auto push = [&out](TextDiff::Op op, const QString &text) {
        if (!out.isEmpty() && out.last().op == op)
            out.last().text += text;
        else
            out.append({op, text});
    };
    qsizetype i = 0;
    qsizetype j = 0;
    while (i < n && j < m) {
        if (a[i] == b[j]) {
            push(TextDiff::Op::Equal, a[i]);
            ++i;
            ++j;
        } else if (len[i + 1][j] >= len[i][j + 1]) {
            push(TextDiff::Op::Delete, a[i++]);
        } else {
            push(TextDiff::Op::Insert, b[j++]);
        }
    }
    while (i < n)
        push(TextDiff::Op::Delete, a[i++]);
    while (j < m)
        push(TextDiff::Op::Insert, b[j++]);
    return out;
}

QList<TextDiff::Segment> TextDiff::compute(const QString &before, const QString &after, int maxTokens)
{
    if (before == after)
        return before.isEmpty() ? QList<Segment>{} : QList<Segment>{{Op::Equal, before}};
    const QStringList a = tokenize(before);
    const QStringList b = tokenize(after);
    if (a.size() <= maxTokens && b.size() <= maxTokens)
        return lcsDiff(a, b);
    // Too long for a word table: diff whole lines (keeping their newlines).
    auto lines = [](const QString &text) {
        QStringList out;
        qsizetype start = 0;
        for (qsizetype i = 0; i < text.size(); ++i) {
            if (text[i] == u'\n') {
                out.append(text.mid(start, i - start + 1));
                start = i + 1;
            }
        }
        if (start < text.size())
            out.append(text.mid(start));
        return out;
    };
    const QStringList la = lines(before);
    const QStringList lb = lines(after);
    if (la.size() <= maxTokens && lb.size() <= maxTokens)
        return lcsDiff(la, lb);
    return {{Op::Delete, before}, {Op::Insert, after}};
}

QString TextDiff::toHtml(const QList<Segment> &segments)
{
    QString html = QStringLiteral("<div style=\"white-space: pre-wrap\">");
    for (const Segment &s : segments) {
        // Every fragment is untrusted text: hazards made visible, bounded (the
        // editor holds the whole answer), then HTML-escaped.
        QString text = Formatting::multiLine(s.text, kMaxSegmentChars).toHtmlEscaped();
        if (s.text.size() > kMaxSegmentChars)
            text += QStringLiteral(" [%1 characters in all]").arg(s.text.size());
        switch (s.op) {
        case Op::Equal: html += text; break;
        case Op::Delete:
            html += QStringLiteral("<span style=\"background:#fdd; color:#a00; text-decoration:line-through\">") + text
                + QStringLiteral("</span>");
            break;
        case Op::Insert:
            html += QStringLiteral("<span style=\"background:#dfd; color:#060; text-decoration:underline\">") + text
                + QStringLiteral("</span>");
            break;
        }
    }
    return html + QStringLiteral("</div>");
}

QString TextDiff::summary(const QList<Segment> &segments)
{
    int inserted = 0;
    int deleted = 0;
    for (const Segment &s : segments) {
        const int words = int(s.text.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts).size());
        if (s.op == Op::Insert)
            inserted += words;
        else if (s.op == Op::Delete)
            deleted += words;
    }
    if (!inserted && !deleted)
        return QStringLiteral("no change");
    return QStringLiteral("+%1 / −%2 words").arg(inserted).arg(deleted);
}

} // namespace l0l3
