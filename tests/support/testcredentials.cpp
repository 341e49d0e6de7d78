#include "tests/support/testcredentials.h"

#include <QDir>

#include "app/demo/aclfile.h"

namespace l0l3::test {

TestCredentials::TestCredentials()
    : gateway(AclFile::randomPassword())
    , console(AclFile::randomPassword())
    , replication(AclFile::randomPassword())
    , sentinel(AclFile::randomPassword())
{
}

const TestCredentials &TestCredentials::get()
{
    static const TestCredentials credentials;
    return credentials;
}

QString TestCredentials::password(const QString &user) const
{
    if (user == u"gateway")
        return gateway;
    if (user == u"console")
        return console;
    if (user == u"replication")
        return replication;
    if (user == u"sentinel")
        return sentinel;
    return {};
}

QString TestCredentials::sourceDir()
{
    const QString fromEnv = qEnvironmentVariable("L0L3_SOURCE_DIR");
    return fromEnv.isEmpty() ? QStringLiteral(L0L3_TESTSUPPORT_SOURCE_DIR) : fromEnv;
}

QString TestCredentials::renderAclFile(const QString &dir, QString *error) const
{
    AclFile acl;
    for (const QString &user : {QStringLiteral("gateway"), QStringLiteral("console"), QStringLiteral("replication"), QStringLiteral("sentinel")})
        acl.setPassword(user, password(user));
    const QString path = QDir(dir).filePath(QStringLiteral("users.acl"));
    if (!acl.write(sourceDir() + QStringLiteral("/packaging/redis/users.acl"), path, error))
        return {};
    return path;
}

} // namespace l0l3::test
