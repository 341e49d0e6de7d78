#include "app/ctl/reservationscommand.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>

#include <cstdio>

#include "app/ctl/ctloutput.h"
#include "core/common/visibletext.h"
#include "core/control/reservationstore.h"

namespace l0l3 {

namespace {

QString utc(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, QTimeZone::utc()).toString(Qt::ISODate);
}

} // namespace

QString ReservationsCommand::checkUsage(const QStringList &args)
{
    const QString sub = args.value(0);
    const QString usage = QStringLiteral(
        "reservations takes \"list\", \"claim KIND VALUE [MINUTES]\" or \"release KIND VALUE\"");
    if (sub == QLatin1String("list"))
        return args.size() == 1 ? QString() : usage;
    if (sub == QLatin1String("claim") && (args.size() == 3 || args.size() == 4)) {
        if (args.size() == 4) {
            bool ok = false;
            const int minutes = args[3].toInt(&ok);
            if (!ok || minutes < 1 || minutes > ReservationStore::kMaxMinutes)
                return QStringLiteral("reservations claim: MINUTES is 1 to %1").arg(ReservationStore::kMaxMinutes);
        }
    } else if (!(sub == QLatin1String("release") && args.size() == 3)) {
        return usage;
    }
    if (const QString bad = ReservationStore::checkSlice(args[1], args[2]); !bad.isEmpty())
        return QStringLiteral("reservations: %1").arg(bad);
    return {};
}

ReservationsCommand::ReservationsCommand(RedisConnection *connection, const QStringList &args, bool json,
                                         QObject *parent)
    : QObject(parent)
    , m_store(new ReservationStore(connection, this))
    , m_args(args)
    , m_json(json)
{
}

void ReservationsCommand::start()
{
    const QString sub = m_args.value(0);
    if (sub == QLatin1String("list")) {
        list();
        return;
    }
    auto report = [this, sub](const ReservationStore::Result &r) {
        if (!r.ok) {
            emit done(1, QStringLiteral("l0l3-ctl: reservations %1: %2").arg(sub, r.message));
            return;
        }
        CtlOutput::write(CtlOutput::visible(r.message) + u'\n');
        emit done(0, {});
    };
    if (sub == QLatin1String("claim")) {
        const int minutes = m_args.size() == 4 ? m_args[3].toInt() : ReservationStore::kDefaultMinutes;
        m_store->claim(m_args[1], m_args[2], minutes * 60000LL, report);
    } else {
        m_store->release(m_args[1], m_args[2], report);
    }
}

void ReservationsCommand::list()
{
    m_store->list([this](const QList<Reservation> &live, qint64 nowMs, const QString &error) {
        if (!error.isEmpty()) {
            emit done(1, QStringLiteral("l0l3-ctl: reservations list: %1").arg(error));
            return;
        }
        if (m_json) {
            QJsonArray rows;
            for (const Reservation &r : live) {
                QJsonObject o;
                o.insert(QStringLiteral("kind"), r.kind);
                o.insert(QStringLiteral("value"), r.value);
                o.insert(QStringLiteral("holder"), r.holder);
                o.insert(QStringLiteral("since_ms"), r.sinceMs);
                o.insert(QStringLiteral("until_ms"), r.untilMs);
                rows.append(o);
            }
            QJsonObject top;
            top.insert(QStringLiteral("now_ms"), nowMs);
            top.insert(QStringLiteral("reservations"), rows);
            // JSON escapes every control character itself.
            const QByteArray out = QJsonDocument(top).toJson(QJsonDocument::Compact) + '\n';
            std::fwrite(out.constData(), 1, size_t(out.size()), stdout);
            std::fflush(stdout);
            emit done(0, {});
            return;
        }
        QString text;
        for (const Reservation &r : live)
            text += QStringLiteral("%1\t%2\tuntil %3\n")
                        .arg(CtlOutput::visible(r.field()), CtlOutput::visible(r.holder), utc(r.untilMs));
        if (live.isEmpty())
            text = QStringLiteral("no reservations\n");
        CtlOutput::write(text);
        emit done(0, {});
    });
}

} // namespace l0l3
