#include "app/ctl/reverifycommand.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>

#include <cstdio>

#include "core/common/visibletext.h"

namespace l0l3 {

namespace {

QString iso(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, QTimeZone::utc()).toString(Qt::ISODate);
}

QString field(const std::string &s)
{
    return QString::fromStdString(VisibleText::escape(s));
}

QString oneLine(const std::string &s, int max)
{
    QString t = QString::fromStdString(s).simplified();
    if (t.size() > max)
        t = t.left(max - 1) + QChar(0x2026);
    return QString::fromStdString(VisibleText::escape(t.toStdString()));
}

} // namespace

ReverifyCommand::ReverifyCommand(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
    , m_queue(new ReverifyQueue(connection, this))
{
}

void ReverifyCommand::start()
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    connect(m_queue, &ReverifyQueue::failed, this,
            [this](const QString &message) { emit done(1, QStringLiteral("l0l3-ctl: reverify: ") + message); });
    connect(m_queue, &ReverifyQueue::loaded, this, [this, now](const QList<ReverifyItem> &due, int, int malformed) {
        if (malformed > 0)
            std::fprintf(stderr, "l0l3-ctl: skipped %d entr%s that do not decode\n", malformed,
                         malformed == 1 ? "y" : "ies");
        const QByteArray text = m_options.json ? toJson(due, now) : toText(due, now).toUtf8();
        std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
        std::fflush(stdout);
        emit done(0, {});
    });
    m_queue->load(now, qMax(1, m_options.limit));
}

QByteArray ReverifyCommand::toJson(const QList<ReverifyItem> &due, qint64 nowMs)
{
    QJsonArray arr;
    for (const ReverifyItem &i : due) {
        const Entry &e = i.item.entry;
        arr.append(QJsonObject{{QStringLiteral("key"), QString::fromStdString(e.key)},
                               {QStringLiteral("ns"), QString::fromStdString(e.ns)},
                               {QStringLiteral("prompt"), QString::fromStdString(e.prompt)},
                               {QStringLiteral("version"), qint64(e.version)},
                               {QStringLiteral("approved_by"), QString::fromStdString(e.approvedBy)},
                               {QStringLiteral("approved_at_ms"), qint64(e.approvedAtMs)},
                               {QStringLiteral("review_by_ms"), i.dueMs},
                               {QStringLiteral("review_by_derived"), i.derived},
                               {QStringLiteral("overdue_ms"), nowMs - i.dueMs},
                               {QStringLiteral("period_days"), i.periodDays}});
    }
    const QByteArray json = QJsonDocument(arr).toJson(QJsonDocument::Indented);
    const std::string safe = VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())));
    return QByteArray(safe.data(), qsizetype(safe.size()));
}

QString ReverifyCommand::toText(const QList<ReverifyItem> &due, qint64 nowMs)
{
    QString out = QStringLiteral("%1  %2  %3  %4  %5\n")
                      .arg(QStringLiteral("KEY"), -32)
                      .arg(QStringLiteral("REVIEW BY"), -21)
                      .arg(QStringLiteral("OVERDUE"), 8)
                      .arg(QStringLiteral("NS"), -12)
                      .arg(QStringLiteral("PROMPT"));
    for (const ReverifyItem &i : due) {
        const Entry &e = i.item.entry;
        // Concatenated, not chained arg(): a "%3" inside a field stays text.
        out += field(e.key).leftJustified(32) + u"  "
            + QString(iso(i.dueMs) + (i.derived ? u"*" : u" ")).leftJustified(21) + u"  "
            + QString(QString::number((nowMs - i.dueMs) / 86400000) + u'd').rightJustified(8) + u"  "
            + field(e.ns).leftJustified(12) + u"  " + oneLine(e.prompt, 60) + u'\n';
    }
    if (!due.isEmpty())
        out += QStringLiteral("(* no date recorded: approved_at + the namespace's period)\n");
    return out;
}

} // namespace l0l3
