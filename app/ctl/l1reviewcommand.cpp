#include "app/ctl/l1reviewcommand.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>

#include <cstdio>

#include "core/common/visibletext.h"

namespace l0l3 {

namespace {

QString field(const QString &s)
{
    return QString::fromStdString(VisibleText::escape(s.toStdString()));
}

QString oneLine(const QString &s, int max)
{
    QString t = s.simplified();
    if (t.size() > max)
        t = t.left(max - 1) + QChar(0x2026);
    return field(t);
}

} // namespace

L1ReviewCommand::L1ReviewCommand(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_options(options)
{
}

void L1ReviewCommand::start()
{
    if (!m_connection) {
        emit done(1, QStringLiteral("l0l3-ctl: l1-review: no Redis connection"));
        return;
    }
    m_connection->command(L1Review::rangeCommand({}, m_options.limit), this, [this](const RedisReply &r) {
        if (r.isError()) {
            emit done(1, QStringLiteral("l0l3-ctl: l1-review: ") + r.errorMessage());
            return;
        }
        int malformed = 0;
        const QList<L1ReviewItem> items = L1Review::parse(r, &malformed);
        if (malformed > 0)
            std::fprintf(stderr, "l0l3-ctl: skipped %d review item(s) that do not decode\n", malformed);
        const QByteArray text = m_options.json ? toJson(items) : toText(items).toUtf8();
        std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
        std::fflush(stdout);
        emit done(0, {});
    });
}

QByteArray L1ReviewCommand::toJson(const QList<L1ReviewItem> &items)
{
    QJsonArray arr;
    for (const L1ReviewItem &i : items) {
        arr.append(QJsonObject{{QStringLiteral("id"), i.id},
                               {QStringLiteral("key"), i.key},
                               {QStringLiteral("entry"), i.entry},
                               {QStringLiteral("similarity"), i.similarity},
                               {QStringLiteral("ns"), i.ns},
                               {QStringLiteral("prompt"), i.prompt},
                               {QStringLiteral("region"), i.region},
                               {QStringLiteral("ts_ms"), i.tsMs}});
    }
    const QByteArray json = QJsonDocument(arr).toJson(QJsonDocument::Indented);
    const std::string safe = VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())));
    return QByteArray(safe.data(), qsizetype(safe.size()));
}

QString L1ReviewCommand::toText(const QList<L1ReviewItem> &items)
{
    QString out = QStringLiteral("%1  %2  %3  %4  %5  %6\n")
                      .arg(QStringLiteral("ID"), -20)
                      .arg(QStringLiteral("ENTRY"), -32)
                      .arg(QStringLiteral("SIM"), 5)
                      .arg(QStringLiteral("REGION"), -10)
                      .arg(QStringLiteral("NS"), -12)
                      .arg(QStringLiteral("PROMPT"));
    for (const L1ReviewItem &i : items) {
        // Concatenated, not chained arg(): a "%3" inside a field stays text.
        out += field(i.id).leftJustified(20) + u"  " + field(i.entry).leftJustified(32) + u"  "
            + QString::number(i.similarity, 'f', 3).rightJustified(5) + u"  " + oneLine(i.region, 10).leftJustified(10)
            + u"  " + oneLine(i.ns, 12).leftJustified(12) + u"  " + oneLine(i.prompt, 60) + u'\n';
    }
    return out;
}

} // namespace l0l3
