#include "app/ctl/foureyescommand.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>

#include <algorithm>
#include <cstdio>

#include "app/ctl/ctloutput.h"
#include "core/common/visibletext.h"
#include "core/control/foureyes.h"
#include "core/control/signoff.h"

namespace l0l3 {

namespace {

void writeJson(const QJsonDocument &doc)
{
    const QByteArray json = doc.toJson(QJsonDocument::Indented);
    const std::string safe = VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())));
    std::fwrite(safe.data(), 1, safe.size(), stdout);
    std::fflush(stdout);
}

} // namespace

QString FourEyesCommand::checkUsage(const QStringList &args)
{
    const QString sub = args.value(0);
    if ((sub == QLatin1String("list") || sub == QLatin1String("pending")) && args.size() == 1)
        return {};
    if ((sub == QLatin1String("set") || sub == QLatin1String("unset")) && args.size() == 2) {
        if (const QString bad = FourEyes::checkNamespace(args[1]); !bad.isEmpty())
            return QStringLiteral("four-eyes: %1").arg(bad);
        return {};
    }
    return QStringLiteral("four-eyes takes \"list\", \"pending\", \"set NS\" or \"unset NS\"");
}

FourEyesCommand::FourEyesCommand(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_options(options)
{
}

void FourEyesCommand::start()
{
    const QString sub = m_options.args.value(0);
    if (sub == QLatin1String("list"))
        return list();
    if (sub == QLatin1String("pending"))
        return pending();
    const bool on = sub == QLatin1String("set");
    const QString ns = m_options.args.value(1);
    FourEyes::set(m_connection, ns, on, m_options.actor, this, [this, on, ns](const QString &error) {
        if (!error.isEmpty()) {
            const QString why = error.startsWith(QLatin1String("NOPERM"))
                ? QStringLiteral("permission refused by Redis (an admin marks namespaces): ") + error
                : error;
            emit done(1, QStringLiteral("l0l3-ctl: four-eyes %1: %2").arg(on ? u"set" : u"unset", why));
            return;
        }
        emit done(0,
                  on ? QStringLiteral("four-eyes on for namespace \"%1\": its approvals need a second approver")
                           .arg(CtlOutput::visible(ns))
                     : QStringLiteral("four-eyes off for namespace \"%1\"").arg(CtlOutput::visible(ns)));
    });
}

void FourEyesCommand::list()
{
    FourEyes::list(m_connection, this, [this](const QStringList &namespaces, const QString &error) {
        if (!error.isEmpty()) {
            emit done(1, QStringLiteral("l0l3-ctl: four-eyes list: %1").arg(error));
            return;
        }
        if (m_options.json) {
            writeJson(QJsonDocument(QJsonArray::fromStringList(namespaces)));
        } else {
            for (const QString &ns : namespaces)
                CtlOutput::write(CtlOutput::visible(ns) + u'\n');
        }
        emit done(0, {});
    });
}

void FourEyesCommand::pending()
{
    SignOff::readAll(m_connection, this, [this](const QHash<QString, SignOff> &signOffs, const QString &error) {
        if (!error.isEmpty()) {
            emit done(1, QStringLiteral("l0l3-ctl: four-eyes pending: %1").arg(error));
            return;
        }
        QStringList keys = signOffs.keys();
        std::sort(keys.begin(), keys.end(),
                  [&](const QString &a, const QString &b) { return signOffs[a].tsMs < signOffs[b].tsMs; });
        auto when = [](qint64 ms) {
            return QDateTime::fromMSecsSinceEpoch(ms, QTimeZone::utc()).toString(Qt::ISODate);
        };
        if (m_options.json) {
            QJsonArray arr;
            for (const QString &key : std::as_const(keys)) {
                const SignOff &s = signOffs[key];
                arr.append(QJsonObject{{QStringLiteral("key"), key},
                                       {QStringLiteral("state"), QStringLiteral("waiting for second approval")},
                                       {QStringLiteral("ns"), s.ns},
                                       {QStringLiteral("proposal"), s.proposalId},
                                       {QStringLiteral("first_user"), s.user},
                                       {QStringLiteral("first_actor"), s.actor},
                                       {QStringLiteral("first_at_ms"), s.tsMs},
                                       {QStringLiteral("response"), s.response}});
            }
            writeJson(QJsonDocument(arr));
        } else {
            CtlOutput::write(QStringLiteral("%1  %2  %3  %4  %5\n")
                                 .arg(QStringLiteral("KEY"), -32)
                                 .arg(QStringLiteral("PROPOSAL"), -17)
                                 .arg(QStringLiteral("FIRST APPROVER"), -20)
                                 .arg(QStringLiteral("AT"), -20)
                                 .arg(QStringLiteral("NAMESPACE")));
            for (const QString &key : std::as_const(keys)) {
                const SignOff &s = signOffs[key];
                CtlOutput::write(key.leftJustified(32) + u"  " + CtlOutput::visible(s.proposalId).leftJustified(17)
                                 + u"  " + CtlOutput::visible(s.user).leftJustified(20) + u"  "
                                 + when(s.tsMs).leftJustified(20) + u"  " + CtlOutput::visible(s.ns)
                                 + QStringLiteral("  (waiting for second approval)\n"));
            }
        }
        emit done(0, {});
    });
}

} // namespace l0l3
