#include "core/control/operatorstore.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>

#include <algorithm>

#include "core/common/auditrecord.h"
#include "core/common/redisschema.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

constexpr int kMaxOperators = 1000;
constexpr int kMaxRecordBytes = 4096;
constexpr int kNodeTimeoutMs = 5000;

QString nodeName(const OperatorStore::Node &n)
{
    return QStringLiteral("%1:%2").arg(n.host).arg(n.port);
}

bool isHexSha256(const QByteArray &s)
{
    static const QRegularExpression re(QStringLiteral("^[0-9a-f]{64}$"));
    return re.match(QString::fromLatin1(s)).hasMatch();
}

// The name an audit record gives the authenticated user: an operator's own name.
QString actorOf(const QString &user)
{
    return user.startsWith(QLatin1String("op-")) && user.size() > 3 ? user.mid(3) : user;
}

} // namespace

QByteArray OperatorRecord::encode() const
{
    const QJsonObject o{{QStringLiteral("role"), role},
                        {QStringLiteral("sha256"), QString::fromLatin1(passwordSha256)},
                        {QStringLiteral("created_ms"), createdMs},
                        {QStringLiteral("updated_ms"), updatedMs},
                        {QStringLiteral("by"), by}};
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

std::optional<OperatorRecord> OperatorRecord::decode(const QString &name, const QByteArray &json, QString *error)
{
    auto bad = [&](const QString &why) {
        if (error)
            *error = why;
        return std::nullopt;
    };
    if (!OperatorStore::validName(name))
        return bad(QStringLiteral("invalid operator name"));
    if (json.size() > kMaxRecordBytes)
        return bad(QStringLiteral("record larger than %1 bytes").arg(kMaxRecordBytes));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (!doc.isObject())
        return bad(QStringLiteral("not a JSON object"));
    const QJsonObject o = doc.object();
    OperatorRecord r;
    r.name = name;
    r.role = o.value(QStringLiteral("role")).toString();
    r.passwordSha256 = o.value(QStringLiteral("sha256")).toString().toLatin1();
    r.createdMs = qint64(o.value(QStringLiteral("created_ms")).toDouble());
    r.updatedMs = qint64(o.value(QStringLiteral("updated_ms")).toDouble());
    r.by = o.value(QStringLiteral("by")).toString().left(128);
    if (!OperatorStore::validRole(r.role))
        return bad(QStringLiteral("unknown role"));
    if (!isHexSha256(r.passwordSha256))
        return bad(QStringLiteral("sha256 is not 64 hex digits"));
    return r;
}

struct OperatorStore::Job
{
    enum class Kind { Add, Rotate, Remove, List, Sync, SyncNode };
    Kind kind = Kind::List;
    QString name;
    QString role;
    QByteArray passwordSha256;
    Callback cb;

    QString user; // ACL WHOAMI of the primary connection
    std::map<QString, OperatorRecord> records;
    std::map<QString, QList<QByteArray>> templates; // role -> rules
    QList<Node> nodes;
    qsizetype next = 0;
    Result result;
    QString detail; // the audit record's
};

OperatorStore::OperatorStore(RedisConnection *primary, QObject *parent)
    : QObject(parent)
    , m_primary(primary)
{
}

OperatorStore::~OperatorStore() = default;

bool OperatorStore::validName(const QString &name)
{
    static const QRegularExpression re(QStringLiteral("^[a-z0-9][a-z0-9._-]{0,31}$"));
    return re.match(name).hasMatch();
}

bool OperatorStore::validRole(const QString &role)
{
    return role == QLatin1String("viewer") || role == QLatin1String("approver") || role == QLatin1String("admin");
}

QByteArray OperatorStore::passwordHash(const QByteArray &password)
{
    return QCryptographicHash::hash(password, QCryptographicHash::Sha256).toHex();
}

QList<QByteArray> OperatorStore::rulesOfAclListLine(const QByteArray &line)
{
    // Split on spaces, keeping "(...)" selectors whole.
    QList<QByteArray> tokens;
    QByteArray current;
    int depth = 0;
    for (const char c : line) {
        if (c == '(')
            ++depth;
        else if (c == ')' && depth > 0)
            --depth;
        if (c == ' ' && depth == 0) {
            if (!current.isEmpty())
                tokens.append(std::exchange(current, {}));
            continue;
        }
        current.append(c);
    }
    if (!current.isEmpty())
        tokens.append(current);
    if (tokens.size() < 2 || tokens[0] != "user")
        return {};
    QList<QByteArray> rules;
    for (qsizetype i = 2; i < tokens.size(); ++i) {
        const QByteArray &t = tokens[i];
        // State and credentials are the operator's own, never the template's.
        if (t == "on" || t == "off" || t == "nopass" || t == "resetpass" || t.startsWith('#') || t.startsWith('>')
            || t.startsWith('<') || t.startsWith('!'))
            continue;
        rules.append(t);
    }
    return rules;
}

QList<QByteArray> OperatorStore::setUserCommand(const OperatorRecord &record, const QList<QByteArray> &rules)
{
    QList<QByteArray> argv{QByteArrayLiteral("ACL"),   QByteArrayLiteral("SETUSER"), aclUser(record.name),
                           QByteArrayLiteral("reset"), QByteArrayLiteral("on"),      '#' + record.passwordSha256};
    argv.append(rules);
    return argv;
}

QList<OperatorStore::Node> OperatorStore::replicasOfInfo(const QByteArray &info)
{
    QList<Node> nodes;
    for (const QByteArray &raw : info.split('\n')) {
        const QByteArray line = raw.trimmed();
        static const QRegularExpression re(QStringLiteral("^slave\\d+:(.*)$"));
        const QRegularExpressionMatch m = re.match(QString::fromLatin1(line));
        if (!m.hasMatch())
            continue;
        Node n;
        for (const QString &kv : m.captured(1).split(u',')) {
            const qsizetype eq = kv.indexOf(u'=');
            if (eq <= 0)
                continue;
            const QString k = kv.left(eq), v = kv.mid(eq + 1);
            if (k == QLatin1String("ip"))
                n.host = v.left(255);
            else if (k == QLatin1String("port"))
                n.port = v.toInt();
        }
        if (!n.host.isEmpty() && n.port > 0 && n.port <= 65535 && !nodes.contains(n))
            nodes.append(n);
    }
    return nodes;
}

QString OperatorStore::Permissions::role() const
{
    if (!known)
        return {};
    return canAdmin ? QStringLiteral("admin") : canDecide ? QStringLiteral("approver") : QStringLiteral("viewer");
}

void OperatorStore::probePermissions(RedisConnection *connection, QObject *context,
                                     std::function<void(const Permissions &)> cb)
{
    QPointer<RedisConnection> conn = connection;
    QPointer<QObject> ctx = context;
    connection->command(
        {QByteArrayLiteral("ACL"), QByteArrayLiteral("WHOAMI")}, context, [conn, ctx, cb](const RedisReply &who) {
            if (!who.isString() || !conn || !ctx)
                return cb(Permissions{});
            const QByteArray user = who.str.left(128);
            const QByteArray entry = bytes(RedisSchema::entryKey("0123456789abcdef0123456789abcdef"));
            conn->pipeline({{QByteArrayLiteral("ACL"), QByteArrayLiteral("DRYRUN"), user, QByteArrayLiteral("SET"),
                             entry, QByteArrayLiteral("{}")},
                            {QByteArrayLiteral("ACL"), QByteArrayLiteral("DRYRUN"), user, QByteArrayLiteral("SET"),
                             bytes(RedisSchema::kFrozen), QByteArrayLiteral("1")}},
                           ctx, [user, cb](const QList<RedisReply> &r) {
                               Permissions p;
                               p.user = QString::fromUtf8(user);
                               // DRYRUN answers OK, or a bulk string saying why not; an error: it may not ask.
                               if (r[0].isError() || r[1].isError())
                                   return cb(p);
                               p.known = true;
                               p.canDecide = r[0].type == RedisReply::Type::Status && r[0].str == "OK";
                               p.canAdmin = r[1].type == RedisReply::Type::Status && r[1].str == "OK";
                               cb(p);
                           });
        });
}

void OperatorStore::add(const QString &name, const QString &role, const QByteArray &password, Callback cb)
{
    auto job = std::make_shared<Job>();
    job->kind = Job::Kind::Add;
    job->name = name;
    job->role = role;
    job->passwordSha256 = passwordHash(password);
    job->cb = std::move(cb);
    if (!validName(name))
        return failJob(job,
                       QStringLiteral("invalid operator name \"%1\": 1 to 32 of a-z 0-9 . _ -, starting with a "
                                      "letter or digit")
                           .arg(name.left(64)));
    if (!validRole(role))
        return failJob(job, QStringLiteral("unknown role \"%1\": viewer, approver or admin").arg(role.left(64)));
    if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes)
        return failJob(job,
                       QStringLiteral("a password is %1 to %2 bytes (Redis keeps an unsalted SHA-256 of it: "
                                      "use a long random one)")
                           .arg(kMinPasswordBytes)
                           .arg(kMaxPasswordBytes));
    start(job);
}

void OperatorStore::rotatePassword(const QString &name, const QByteArray &password, Callback cb)
{
    auto job = std::make_shared<Job>();
    job->kind = Job::Kind::Rotate;
    job->name = name;
    job->passwordSha256 = passwordHash(password);
    job->cb = std::move(cb);
    if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes)
        return failJob(job,
                       QStringLiteral("a password is %1 to %2 bytes").arg(kMinPasswordBytes).arg(kMaxPasswordBytes));
    start(job);
}

void OperatorStore::remove(const QString &name, Callback cb)
{
    auto job = std::make_shared<Job>();
    job->kind = Job::Kind::Remove;
    job->name = name;
    job->cb = std::move(cb);
    start(job);
}

void OperatorStore::list(Callback cb)
{
    auto job = std::make_shared<Job>();
    job->kind = Job::Kind::List;
    job->cb = std::move(cb);
    start(job);
}

void OperatorStore::sync(Callback cb)
{
    auto job = std::make_shared<Job>();
    job->kind = Job::Kind::Sync;
    job->cb = std::move(cb);
    start(job);
}

void OperatorStore::syncNode(const Node &node, Callback cb)
{
    auto job = std::make_shared<Job>();
    job->kind = Job::Kind::SyncNode;
    job->nodes = {node};
    job->cb = std::move(cb);
    start(job);
}

void OperatorStore::start(std::shared_ptr<Job> job)
{
    if (!m_primary)
        return failJob(job, QStringLiteral("no Redis connection"));
    m_primary->pipeline(
        {{QByteArrayLiteral("ACL"), QByteArrayLiteral("WHOAMI")},
         {QByteArrayLiteral("HGETALL"), bytes(RedisSchema::kOperators)}},
        this, [this, job](const QList<RedisReply> &r) {
            if (r[1].isError())
                return failJob(job, QStringLiteral("cannot read the operators"), r[1]);
            job->user = r[0].isString() ? QString::fromUtf8(r[0].str.left(128)) : QString();
            const QList<RedisReply> &fields = r[1].elements;
            if (fields.size() / 2 > kMaxOperators)
                return failJob(job, QStringLiteral("more than %1 operators").arg(kMaxOperators));
            for (qsizetype i = 0; i + 1 < fields.size(); i += 2) {
                const QString name = fields[i].toString();
                QString why;
                std::optional<OperatorRecord> rec = OperatorRecord::decode(name, fields[i + 1].str, &why);
                if (!rec) {
                    // Skipped, never applied: a record only an admin could have forged.
                    job->result.failedNodes.append(QStringLiteral("record \"%1\" skipped: %2").arg(name.left(64), why));
                    continue;
                }
                job->records.emplace(name, *rec);
            }
            if (job->kind == Job::Kind::List) {
                Result res;
                res.ok = true;
                for (const auto &[name, rec] : job->records)
                    res.operators.append(rec);
                res.failedNodes = job->result.failedNodes;
                return finish(job, res);
            }
            const bool exists = job->records.count(job->name) > 0;
            if (job->kind == Job::Kind::Add && exists)
                return failJob(job,
                               QStringLiteral("operator \"%1\" exists; use rotate-password, or "
                                              "remove it first to change its role")
                                   .arg(job->name));
            if ((job->kind == Job::Kind::Rotate || job->kind == Job::Kind::Remove) && !exists)
                return failJob(job, QStringLiteral("no operator \"%1\"").arg(job->name.left(64)));
            readTemplates(job);
        });
}

void OperatorStore::readTemplates(std::shared_ptr<Job> job)
{
    m_primary->command({QByteArrayLiteral("ACL"), QByteArrayLiteral("LIST")}, this, [this, job](const RedisReply &r) {
        if (r.isError() || !r.isArray())
            return failJob(job, QStringLiteral("cannot read the role templates (ACL LIST)"), r);
        for (const RedisReply &line : r.elements) {
            if (!line.str.startsWith("user role-"))
                continue;
            const QList<QByteArray> head = line.str.left(64).split(' ');
            const QString role = QString::fromUtf8(head.value(1).mid(5));
            if (validRole(role))
                job->templates[role] = rulesOfAclListLine(line.str);
        }
        QSet<QString> needed;
        if (!job->role.isEmpty())
            needed.insert(job->role);
        for (const auto &[name, rec] : job->records)
            needed.insert(rec.role);
        for (const QString &role : std::as_const(needed)) {
            if (job->templates.count(role) == 0 || job->templates[role].isEmpty())
                return failJob(job,
                               QStringLiteral("the primary has no ACL template user "
                                              "\"role-%1\": load packaging/redis/users.acl "
                                              "on every node first")
                                   .arg(role));
        }
        writeRecord(job);
    });
}

void OperatorStore::writeRecord(std::shared_ptr<Job> job)
{
    if (job->kind == Job::Kind::Sync || job->kind == Job::Kind::SyncNode)
        return findNodes(job);
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QList<QList<QByteArray>> commands;
    AuditRecord audit;
    audit.action = "operators";
    audit.key = job->name.toStdString();
    audit.user = job->user.toStdString();
    audit.actor = actorOf(job->user).toStdString();
    audit.tsMs = now;
    if (job->kind == Job::Kind::Remove) {
        commands.append({QByteArrayLiteral("HDEL"), bytes(RedisSchema::kOperators), job->name.toUtf8()});
        audit.detail = "remove (was " + job->records[job->name].role.toStdString() + ")";
        job->records.erase(job->name);
    } else {
        OperatorRecord rec = job->kind == Job::Kind::Add ? OperatorRecord{} : job->records[job->name];
        rec.name = job->name;
        if (job->kind == Job::Kind::Add) {
            rec.role = job->role;
            rec.createdMs = now;
        }
        rec.passwordSha256 = job->passwordSha256;
        rec.updatedMs = now;
        rec.by = job->user;
        job->records[job->name] = rec;
        commands.append({QByteArrayLiteral("HSET"), bytes(RedisSchema::kOperators), job->name.toUtf8(), rec.encode()});
        audit.detail = job->kind == Job::Kind::Add ? "add role=" + rec.role.toStdString() : "rotate-password";
    }
    QList<QByteArray> xadd{QByteArrayLiteral("XADD"), bytes(RedisSchema::kAudit), QByteArrayLiteral("*")};
    for (const auto &[field, value] : AuditCodec::encode(audit)) {
        xadd.append(bytes(field));
        xadd.append(bytes(value));
    }
    commands.append(xadd);
    m_primary->transaction(commands, this, [this, job](const RedisReply &exec) {
        if (exec.isError() || !exec.isArray())
            return failJob(job, QStringLiteral("cannot record the change on the primary"), exec);
        for (const RedisReply &r : exec.elements) {
            if (r.isError())
                return failJob(job, QStringLiteral("cannot record the change on the primary"), r);
        }
        findNodes(job);
    });
}

void OperatorStore::findNodes(std::shared_ptr<Job> job)
{
    if (job->kind == Job::Kind::SyncNode)
        return applyNext(job);
    m_primary->command({QByteArrayLiteral("INFO"), QByteArrayLiteral("replication")}, this,
                       [this, job](const RedisReply &r) {
                           job->nodes.append({m_primary->options().host, m_primary->options().port});
                           if (r.isString()) {
                               for (const Node &n : replicasOfInfo(r.str.left(1 << 20)))
                                   if (!job->nodes.contains(n))
                                       job->nodes.append(n);
                           } else {
                               job->result.failedNodes.append(
                                   QStringLiteral("replicas unknown (INFO replication: %1)").arg(r.errorMessage()));
                           }
                           // The nodes so far, but the primary, are its replicas.
                           const bool replicas = job->nodes.size() > 1;
                           for (const Node &n : std::as_const(m_extraNodes))
                               if (!job->nodes.contains(n))
                                   job->nodes.append(n);
                           const bool change = job->kind == Job::Kind::Add || job->kind == Job::Kind::Rotate
                               || job->kind == Job::Kind::Remove;
                           if (change && replicas)
                               return confirmReplication(job);
                           applyNext(job);
                       });
}

void OperatorStore::confirmReplication(std::shared_ptr<Job> job)
{
    if (!m_primary)
        return applyNext(job);
    const int commandTimeout = kReplicaWaitMs + m_primary->options().commandTimeoutMs;
    m_primary->command(
        {QByteArrayLiteral("WAIT"), QByteArrayLiteral("1"), QByteArray::number(kReplicaWaitMs)}, this,
        [this, job](const RedisReply &r) {
            if (!r.isInteger()) {
                job->result.replicationWarning =
                    QStringLiteral("written, replication not confirmed (WAIT: %1)").arg(r.errorMessage().left(300));
                return applyNext(job);
            }
            job->result.replicasAcked = int(r.integer);
            if (r.integer < 1)
                job->result.replicationWarning =
                    QStringLiteral("written, replication not confirmed: no replica acknowledged the record within "
                                   "%1 ms (it is lost if the primary fails before it replicates)")
                        .arg(kReplicaWaitMs);
            applyNext(job);
        },
        commandTimeout);
}

void OperatorStore::applyNext(std::shared_ptr<Job> job)
{
    if (job->next >= job->nodes.size()) {
        Result res = job->result;
        res.ok = res.failedNodes.isEmpty();
        QString what;
        switch (job->kind) {
        case Job::Kind::Add: what = QStringLiteral("added %1 (%2)").arg(job->name, job->role); break;
        case Job::Kind::Rotate: what = QStringLiteral("rotated the password of %1").arg(job->name); break;
        case Job::Kind::Remove: what = QStringLiteral("removed %1").arg(job->name); break;
        default: what = QStringLiteral("synced %1 operator(s)").arg(job->records.size()); break;
        }
        res.message = QStringLiteral("%1 on %2 node(s)").arg(what).arg(res.appliedNodes.size());
        if (!res.replicationWarning.isEmpty())
            res.message += QStringLiteral("; ") + res.replicationWarning;
        for (const auto &[name, rec] : job->records)
            res.operators.append(rec);
        return finish(job, res);
    }
    const Node node = job->nodes[job->next++];
    applyTo(job, node);
}

void OperatorStore::applyTo(std::shared_ptr<Job> job, const Node &node)
{
    RedisConnection::Options o = m_primary ? m_primary->options() : RedisConnection::Options{};
    o.host = node.host;
    o.port = node.port;
    o.autoReconnect = false;
    o.connectTimeoutMs = kNodeTimeoutMs;
    o.commandTimeoutMs = kNodeTimeoutMs;
    auto *conn = new RedisConnection(o, this);
    conn->open();
    auto done = [this, job, conn](const QString &failure, bool unsaved, const Node &n) {
        if (!failure.isEmpty())
            job->result.failedNodes.append(QStringLiteral("%1: %2").arg(nodeName(n), failure));
        else
            job->result.appliedNodes.append(nodeName(n));
        if (unsaved)
            job->result.unsavedNodes.append(nodeName(n));
        conn->deleteLater();
        applyNext(job);
    };
    conn->command({QByteArrayLiteral("ACL"), QByteArrayLiteral("USERS")}, this,
                  [this, job, conn, node, done](const RedisReply &users) {
                      if (users.isError() || !users.isArray())
                          return done(QStringLiteral("ACL USERS: %1").arg(users.errorMessage()), false, node);
                      QList<QList<QByteArray>> commands;
                      for (const auto &[name, rec] : job->records)
                          commands.append(setUserCommand(rec, job->templates[rec.role]));
                      // Operators that are no longer recorded lose their ACL user (and its connections).
                      for (const RedisReply &u : users.elements) {
                          if (!u.str.startsWith("op-"))
                              continue;
                          const QString name = QString::fromUtf8(u.str.mid(3));
                          if (job->records.count(name) == 0)
                              commands.append({QByteArrayLiteral("ACL"), QByteArrayLiteral("DELUSER"), u.str});
                      }
                      commands.append({QByteArrayLiteral("ACL"), QByteArrayLiteral("SAVE")});
                      conn->pipeline(commands, this, [done, node](const QList<RedisReply> &replies) {
                          for (qsizetype i = 0; i + 1 < replies.size(); ++i) {
                              if (replies[i].isError())
                                  return done(replies[i].errorMessage(), false, node);
                          }
                          const RedisReply &save = replies.constLast();
                          // A node started without an aclfile keeps the users until it restarts.
                          const bool unsaved = save.isError();
                          if (unsaved && !save.errorMessage().contains(QLatin1String("ACL file")))
                              return done(QStringLiteral("ACL SAVE: %1").arg(save.errorMessage()), false, node);
                          done({}, unsaved, node);
                      });
                  });
}

void OperatorStore::finish(std::shared_ptr<Job> job, Result result)
{
    if (job->cb) {
        // Never synchronous, as the rest of the control plane.
        QMetaObject::invokeMethod(
            this, [cb = std::move(job->cb), result] { cb(result); }, Qt::QueuedConnection);
        job->cb = nullptr;
    }
}

void OperatorStore::failJob(std::shared_ptr<Job> job, const QString &message, const RedisReply &reply)
{
    Result r;
    r.permissionDenied = reply.isError() && reply.errorCode() == "NOPERM";
    r.message = message;
    if (reply.isError())
        r.message += QStringLiteral(": ") + reply.errorMessage().left(300);
    if (r.permissionDenied)
        r.message += QStringLiteral(" (permission refused by Redis: operators are managed by an admin operator, "
                                    "or by a Redis superuser for the first admin)");
    r.failedNodes = job->result.failedNodes;
    finish(job, r);
}

} // namespace l0l3
