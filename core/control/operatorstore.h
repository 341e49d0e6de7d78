#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "core/control/redisconnection.h"

namespace l0l3 {

// One operator as l0l3:v1:operators holds it (name -> this JSON). The SHA-256
// is what Redis ACL stores too (`#<hex>`): enough to re-create the ACL user on
// a node that lacks it, never the password.
struct OperatorRecord
{
    QString name;              // operatorName() rules
    QString role;              // viewer | approver | admin
    QByteArray passwordSha256; // 64 lowercase hex digits
    qint64 createdMs = 0;      // when it was added
    qint64 updatedMs = 0;      // last role or password change
    QString by;                // the ACL user that added or last changed it

    QByteArray encode() const;
    static std::optional<OperatorRecord> decode(const QString &name, const QByteArray &json, QString *error = nullptr);
};

// Operators are Redis ACL users "op-NAME" with the rules of a role template
// ("role-viewer", "role-approver", "role-admin" in packaging/redis/users.acl),
// recorded in the hash l0l3:v1:operators on the primary (so it replicates).
// ACLs are not replicated: every change is applied with ACL SETUSER/DELUSER
// to the primary, each replica the primary reports (INFO replication) and
// each extra node (those the Sentinels know), then ACL SAVE where the node
// loads an aclfile. A change waits (bounded) for one replica to acknowledge
// the record, and says so when none did. The rules come from the primary's own template users
// (ACL LIST), so a role is defined in one place.
//
// Runs as an admin operator, or as a Redis superuser to bootstrap the first
// admin. Each change is audited (action "operators"). Results arrive
// asynchronously, exactly once per call, on the connection's thread.
class OperatorStore : public QObject
{
    Q_OBJECT
public:
    struct Node
    {
        QString host;
        int port = 0;
        bool operator==(const Node &) const = default;
    };
    struct Result
    {
        bool ok = false;
        bool permissionDenied = false;   // Redis answered NOPERM
        QString message;                 // what failed, or what was done
        QList<OperatorRecord> operators; // list(): sorted by name
        QStringList appliedNodes;        // HOST:PORT of each node now up to date
        QStringList failedNodes;         // HOST:PORT: why
        QStringList unsavedNodes;        // applied, but the node has no aclfile (ACL SAVE refused)
        // A change (add, rotate, remove) on a primary with replicas: WAIT 1 kReplicaWaitMs after the
        // record is written. -1: not asked (no replica, or not a change), or WAIT failed.
        int replicasAcked = -1;
        // Set when the primary has replicas and none acknowledged the record in time: it may be
        // lost if the primary fails before it replicates. Also appended to message.
        QString replicationWarning;
    };
    using Callback = std::function<void(const Result &)>;
    // What the connection's ACL user may do, asked of Redis itself (ACL WHOAMI, then ACL DRYRUN
    // of an entry write and of the frozen flag): what a console greys out. known is false when
    // the server would not say (no +acl|whoami/+acl|dryrun): then nothing is assumed refused.
    struct Permissions
    {
        bool known = false;
        QString user;
        bool canDecide = true; // approve, edit, reject, revoke
        bool canAdmin = true;  // freeze, drain, flush, failover, promote, operators
        QString role() const;  // viewer | approver | admin | "" when unknown
    };
    static void probePermissions(RedisConnection *connection, QObject *context,
                                 std::function<void(const Permissions &)> cb);

    static constexpr int kMinPasswordBytes = 16;
    static constexpr int kReplicaWaitMs = 1000;
    static constexpr int kMaxPasswordBytes = 1024;

    // primary: connected (or connecting) as an admin or a superuser; not owned.
    explicit OperatorStore(RedisConnection *primary, QObject *parent = nullptr);
    ~OperatorStore() override;

    // Nodes beyond the primary and its replicas (e.g. what Sentinel knows).
    void setExtraNodes(const QList<Node> &nodes) { m_extraNodes = nodes; }

    void add(const QString &name, const QString &role, const QByteArray &password, Callback cb);
    void rotatePassword(const QString &name, const QByteArray &password, Callback cb);
    void remove(const QString &name, Callback cb);
    void list(Callback cb);
    // Every recorded operator onto every node; op-* users that are not recorded are deleted.
    void sync(Callback cb);
    // The same for one node (a replica that joined, a node promoted after a failover).
    void syncNode(const Node &node, Callback cb);

    static bool validName(const QString &name);
    static bool validRole(const QString &role);
    static QByteArray aclUser(const QString &name) { return "op-" + name.toUtf8(); }
    static QByteArray templateUser(const QString &role) { return "role-" + role.toUtf8(); }
    static QByteArray passwordHash(const QByteArray &password);
    // The rules of one ACL LIST line ("user NAME [on|off] [#hash|>pw|nopass]... rules"), without
    // the user's name, state and passwords; a selector "(...)" stays one element.
    static QList<QByteArray> rulesOfAclListLine(const QByteArray &line);
    // ACL SETUSER op-NAME reset on #hash <rules>.
    static QList<QByteArray> setUserCommand(const OperatorRecord &record, const QList<QByteArray> &rules);
    // The replicas "slaveN:ip=...,port=..." of an INFO replication reply.
    static QList<Node> replicasOfInfo(const QByteArray &info);

private:
    struct Job;
    void start(std::shared_ptr<Job> job);
    void readOperators(std::shared_ptr<Job> job);
    void readTemplates(std::shared_ptr<Job> job);
    void writeRecord(std::shared_ptr<Job> job);
    void findNodes(std::shared_ptr<Job> job);
    // After a change, when the primary reported replicas: WAIT 1 kReplicaWaitMs, then applyNext.
    void confirmReplication(std::shared_ptr<Job> job);
    void applyNext(std::shared_ptr<Job> job);
    void applyTo(std::shared_ptr<Job> job, const Node &node);
    void finish(std::shared_ptr<Job> job, Result result);
    void failJob(std::shared_ptr<Job> job, const QString &message, const RedisReply &reply = {});

    QPointer<RedisConnection> m_primary;
    QList<Node> m_extraNodes;
};

} // namespace l0l3
