#include "ui/common/formatting.h"

#include <QDateTime>
#include <QLocale>

#include <algorithm>

#include "core/common/visibletext.h"

namespace l0l3 {

QString Formatting::age(qint64 ms)
{
    if (ms < 0)
        return QStringLiteral("—");
    const qint64 s = ms / 1000;
    if (s < 1)
        return QStringLiteral("now");
    if (s < 60)
        return QStringLiteral("%1 s").arg(s);
    if (s < 3600)
        return QStringLiteral("%1 min").arg(s / 60);
    if (s < 86400)
        return QStringLiteral("%1 h").arg(s / 3600);
    return QStringLiteral("%1 d").arg(s / 86400);
}

QString Formatting::timestamp(qint64 msEpoch)
{
    if (msEpoch <= 0)
        return QStringLiteral("—");
    return QDateTime::fromMSecsSinceEpoch(msEpoch).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

QString Formatting::ttl(qint64 seconds)
{
    if (seconds < 0)
        return QStringLiteral("no expiry");
    if (seconds < 3600)
        return QStringLiteral("%1 s").arg(seconds);
    if (seconds < 86400)
        return QStringLiteral("%1 h %2 min").arg(seconds / 3600).arg((seconds % 3600) / 60);
    return QStringLiteral("%1 d %2 h").arg(seconds / 86400).arg((seconds % 86400) / 3600);
}

namespace {

// Appends pieces up to a bound; once a piece does not fit, the text is cut and
// ends in an ellipsis (never inside a surrogate pair).
class BoundedText
{
public:
    explicit BoundedText(int maxChars)
        : m_max(std::max(1, maxChars))
    {
        m_out.reserve(std::min<qsizetype>(m_max, 4096));
    }
    bool full() const { return m_full; }
    void append(QStringView piece)
    {
        if (m_full)
            return;
        if (m_out.size() + piece.size() > m_max) {
            m_out.append(piece.first(std::max<qsizetype>(0, m_max - m_out.size())));
            m_full = true;
            return;
        }
        m_out.append(piece);
    }
    QString take()
    {
        if (m_full) {
            m_out.truncate(m_max - 1);
            if (!m_out.isEmpty() && m_out.back().isHighSurrogate())
                m_out.chop(1);
            m_out.append(QChar(0x2026));
        }
        return std::move(m_out);
    }

private:
    QString m_out;
    qsizetype m_max;
    bool m_full = false;
};

QString escapeOf(char16_t c)
{
    return QString::fromStdString(VisibleText::escapeOf(c));
}

} // namespace

QString Formatting::oneLine(const QString &text, int maxChars)
{
    BoundedText out(maxChars);
    bool space = false;
    bool started = false;
    for (qsizetype i = 0; i < text.size() && !out.full(); ++i) {
        const QChar c = text[i];
        if (c.isSpace()) {
            space = started;
            continue;
        }
        if (space)
            out.append(u" ");
        space = false;
        started = true;
        if (VisibleText::isHazard(c.unicode()))
            out.append(escapeOf(c.unicode()));
        else
            out.append(QStringView(&text.constData()[i], 1));
    }
    return out.take();
}

QString Formatting::multiLine(const QString &text, int maxChars)
{
    BoundedText out(maxChars);
    for (qsizetype i = 0; i < text.size() && !out.full(); ++i) {
        const char16_t c = text[i].unicode();
        if (c != u'\n' && c != u'\t' && VisibleText::isHazard(c))
            out.append(escapeOf(c));
        else
            out.append(QStringView(&text.constData()[i], 1));
    }
    return out.take();
}

QString Formatting::toolTip(const QString &text, int maxChars)
{
    QString html = multiLine(text, maxChars).toHtmlEscaped();
    html.replace(u'\n', QStringLiteral("<br>"));
    return QStringLiteral("<qt>") + html + QStringLiteral("</qt>");
}

QString Formatting::chartLabel(const QString &text, int maxChars)
{
    return oneLine(text, maxChars).toHtmlEscaped();
}

} // namespace l0l3
