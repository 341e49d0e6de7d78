#include "ui/formatting.h"

#include <QDateTime>
#include <QLocale>

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

QString Formatting::oneLine(const QString &text, int maxChars)
{
    QString s = text.simplified();
    if (s.size() > maxChars)
        s = s.left(maxChars - 1) + QChar(0x2026);
    return s;
}

} // namespace l0l3
