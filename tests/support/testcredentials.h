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

    // The password of "gateway", "console", "replication" or "sentinel"; empty otherwise.
    QString password(const QString &user) const;

    // Writes <dir>/users.acl from packaging/redis/users.acl with each
    // @NAME_SHA256@ placeholder replaced by the SHA-256 of that password and
    // comment/blank lines dropped (as scripts/render-acl.sh does). Returns
    // the file's path, or an empty string and a reason in *error.
    QString renderAclFile(const QString &dir, QString *error = nullptr) const;

    // $L0L3_SOURCE_DIR, else the source dir this library was configured from.
    static QString sourceDir();

private:
    TestCredentials();
};

} // namespace l0l3::test
