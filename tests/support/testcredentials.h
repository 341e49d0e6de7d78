#pragma once

#include <QString>

namespace l0l3::test {

// Random passwords for the Redis ACL users of packaging/redis/users.acl,
// generated once per test process so no password is ever committed or reused.
class TestCredentials
{
public:
    static const TestCredentials &get();

    QString gateway;
    QString console;
    QString replication;
    QString sentinel;
    QString topology; // REPLICAOF for a promotion without Sentinel
    // Not in users.acl: a test-only user with plain data commands on
    // l0l3:test:* (tests of the connection classes).
    QString tester;
    // The Sentinels' own ACL user (RedisNodeConfig::kSentinelUser).
    QString sentinelAuth;
    // Not in users.acl: "l0l3-superuser" (~* &* +@all), the Redis superuser an
    // operator bootstraps the first admin operator with.
    QString superuser;

    // The password of "gateway", "console", "replication", "sentinel",
    // "topology", "tester", "l0l3-sentinel" or "l0l3-superuser"; empty otherwise.
    QString password(const QString &user) const;

    // Writes <dir>/users.acl from packaging/redis/users.acl with each
    // @NAME_SHA256@ placeholder replaced by the SHA-256 of that password and
    // comment/blank lines dropped (as scripts/render-acl.sh does), plus the
    // user "tester". Returns the file's path, or an empty string and a
    // reason in *error.
    QString renderAclFile(const QString &dir, QString *error = nullptr) const;

    // $L0L3_SOURCE_DIR, else the source dir this library was configured from.
    static QString sourceDir();

private:
    TestCredentials();
};

} // namespace l0l3::test
