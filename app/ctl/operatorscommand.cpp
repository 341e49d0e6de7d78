#include "app/ctl/operatorscommand.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimeZone>

#include <cstdio>

#include "app/ctl/ctloutput.h"
#include "core/common/visibletext.h"

namespace l0l3 {

namespace {

bool readPassword(const QString &path, QByteArray *password, QString *error)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, f.errorString());
        return false;
    }
    *password = f.read(OperatorStore::kMaxPasswordBytes + 2);
    // One trailing newline is the file's, not the password's.
    if (password->endsWith('\n'))
        password->chop(1);
    if (password->endsWith('\r'))
        password->chop(1);
    return true;
}

QString when(qint64 ms)
{
    return ms > 0 ? QDateTime::fromMSecsSinceEpoch(ms, QTimeZone::utc()).toString(Qt::ISODate) : QStringLiteral("-");
}

} // namespace

OperatorsCommand::OperatorsCommand(RedisConnection *primary, const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
    , m_primary(primary)
    , m_store(new OperatorStore(primary, this))
{
}

QString OperatorsCommand::checkUsage(const Options &o)
{
    const QString verb = o.args.value(0);
    const bool named = verb == QLatin1String("add") || verb == QLatin1String("remove")
        || verb == QLatin1String("rotate-password");
    if (verb.isEmpty())
        return QStringLiteral("operators needs add, remove, list, rotate-password or sync");
    if (!named && verb != QLatin1String("list") && verb != QLatin1String("sync"))
        return QStringLiteral("operators: unknown verb \"%1\"").arg(verb.left(64));
    if (o.args.size() != (named ? 2 : 1))
        return named ? QStringLiteral("operators %1 takes a NAME").arg(verb)
                     : QStringLiteral("operators %1 takes no argument").arg(verb);
    if (named && !OperatorStore::validName(o.args[1]))
        return QStringLiteral("invalid operator name: 1 to 32 of a-z 0-9 . _ -, starting with a letter or digit");
    if (verb == QLatin1String("add") && !OperatorStore::validRole(o.role))
        return QStringLiteral("operators add needs --role viewer|approver|admin");
    if ((verb == QLatin1String("add") || verb == QLatin1String("rotate-password")) && o.passwordFile.isEmpty())
        return QStringLiteral("operators %1 needs --password-file FILE (the operator's password; log in with "
                              "$L0L3_REDIS_PASSWORD)")
            .arg(verb);
    return {};
}

void OperatorsCommand::start()
{
    askSentinels(0);
}

// Each Sentinel in turn: the primary and the replicas it knows, so a replica
// that is down or not yet attached to the primary is not missed by a sync.
void OperatorsCommand::askSentinels(qsizetype index)
{
    if (index >= m_options.sentinels.size()) {
        m_store->setExtraNodes(m_sentinelNodes);
        run();
        return;
    }
    RedisConnection::Options o;
    o.host = m_options.sentinels[index].host;
    o.port = m_options.sentinels[index].port;
    o.user = qgetenv("L0L3_SENTINEL_AUTH_USER");
    o.password = qgetenv("L0L3_SENTINEL_AUTH_PASSWORD");
    o.tls = m_primary->options().tls; // the Sentinels' tls-port, with the primary's CA
    o.autoReconnect = false;
    o.connectTimeoutMs = 5000;
    o.commandTimeoutMs = 5000;
    auto *conn = new RedisConnection(o, this);
    conn->open();
    const QByteArray name = m_options.masterName.toUtf8();
    conn->pipeline({{QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("GET-MASTER-ADDR-BY-NAME"), name},
                    {QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("REPLICAS"), name}},
                   this, [this, conn, index](const QList<RedisReply> &r) {
                       auto add = [this](const QString &host, int port) {
                           const OperatorStore::Node n{host.left(255), port};
                           if (!host.isEmpty() && port > 0 && port <= 65535 && !m_sentinelNodes.contains(n))
                               m_sentinelNodes.append(n);
                       };
                       if (r[0].isError() || r[1].isError()) {
                           const QString why = (r[0].isError() ? r[0] : r[1]).errorMessage().left(300);
                           std::fprintf(stderr, "l0l3-ctl: warning: Sentinel %s:%d: %s\n",
                                        qPrintable(m_options.sentinels[index].host), m_options.sentinels[index].port,
                                        qPrintable(CtlOutput::visible(why)));
                       } else {
                           if (r[0].isArray() && r[0].elements.size() == 2)
                               add(r[0].elements[0].toString(), int(r[0].elements[1].toInteger()));
                           for (const RedisReply &replica : r[1].elements) {
                               QString host;
                               int port = 0;
                               for (qsizetype i = 0; i + 1 < replica.elements.size(); i += 2) {
                                   if (replica.elements[i].str == "ip")
                                       host = replica.elements[i + 1].toString();
                                   else if (replica.elements[i].str == "port")
                                       port = int(replica.elements[i + 1].toInteger());
                               }
                               add(host, port);
                           }
                       }
                       conn->deleteLater();
                       askSentinels(index + 1);
                   });
}

void OperatorsCommand::run()
{
    const QString verb = m_options.args.value(0);
    const QString name = m_options.args.value(1);
    auto cb = [this](const OperatorStore::Result &r) { report(r); };
    QByteArray password;
    QString error;
    if ((verb == QLatin1String("add") || verb == QLatin1String("rotate-password"))
        && !readPassword(m_options.passwordFile, &password, &error)) {
        emit done(2, QStringLiteral("l0l3-ctl: ") + error);
        return;
    }
    if (verb == QLatin1String("add"))
        m_store->add(name, m_options.role, password, cb);
    else if (verb == QLatin1String("rotate-password"))
        m_store->rotatePassword(name, password, cb);
    else if (verb == QLatin1String("remove"))
        m_store->remove(name, cb);
    else if (verb == QLatin1String("sync"))
        m_store->sync(cb);
    else
        m_store->list(cb);
}

void OperatorsCommand::report(const OperatorStore::Result &r)
{
    const bool listing = m_options.args.value(0) == QLatin1String("list");
    if (!r.ok && r.appliedNodes.isEmpty() && !listing) {
        QString message = QStringLiteral("l0l3-ctl: operators: ") + CtlOutput::visible(r.message);
        for (const QString &f : r.failedNodes)
            message += QStringLiteral("\n  ") + CtlOutput::visible(f);
        emit done(1, message);
        return;
    }
    if (listing) {
        if (!r.ok) {
            emit done(1, QStringLiteral("l0l3-ctl: operators: ") + CtlOutput::visible(r.message));
            return;
        }
        if (m_options.json) {
            QJsonArray arr;
            for (const OperatorRecord &o : r.operators)
                arr.append(QJsonObject{{QStringLiteral("name"), o.name},
                                       {QStringLiteral("acl_user"), QString::fromUtf8(OperatorStore::aclUser(o.name))},
                                       {QStringLiteral("role"), o.role},
                                       {QStringLiteral("created_ms"), o.createdMs},
                                       {QStringLiteral("updated_ms"), o.updatedMs},
                                       {QStringLiteral("by"), o.by}});
            CtlOutput::write(QString::fromUtf8(QJsonDocument(arr).toJson(QJsonDocument::Indented)));
        } else {
            CtlOutput::write(QStringLiteral("%1  %2  %3  %4\n")
                                 .arg(QStringLiteral("NAME"), -20)
                                 .arg(QStringLiteral("ROLE"), -8)
                                 .arg(QStringLiteral("UPDATED"), -20)
                                 .arg(QStringLiteral("BY")));
            for (const OperatorRecord &o : r.operators)
                CtlOutput::write(o.name.leftJustified(20) + u"  " + o.role.leftJustified(8) + u"  "
                                 + when(o.updatedMs).leftJustified(20) + u"  " + CtlOutput::visible(o.by) + u'\n');
        }
        for (const QString &f : r.failedNodes)
            std::fprintf(stderr, "l0l3-ctl: warning: %s\n", qPrintable(CtlOutput::visible(f)));
        emit done(0, {});
        return;
    }
    CtlOutput::write(CtlOutput::visible(r.message) + QStringLiteral(": ") + r.appliedNodes.join(QStringLiteral(", "))
                     + u'\n');
    if (!r.replicationWarning.isEmpty())
        std::fprintf(stderr, "l0l3-ctl: warning: %s\n", qPrintable(CtlOutput::visible(r.replicationWarning)));
    for (const QString &n : r.unsavedNodes)
        std::fprintf(stderr,
                     "l0l3-ctl: warning: %s has no aclfile (ACL SAVE refused): the change is lost when it restarts\n",
                     qPrintable(CtlOutput::visible(n)));
    if (!r.failedNodes.isEmpty()) {
        QString message = QStringLiteral("l0l3-ctl: operators: not applied everywhere (run `operators sync` once the "
                                         "nodes are back):");
        for (const QString &f : r.failedNodes)
            message += QStringLiteral("\n  ") + CtlOutput::visible(f);
        emit done(1, message);
        return;
    }
    emit done(0, {});
}

} // namespace l0l3
