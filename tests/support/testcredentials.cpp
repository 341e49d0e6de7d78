#include "tests/support/testcredentials.h"

#include <QDir>
#include <QFile>

#include "core/localstack/aclfile.h"
#include "core/localstack/redisnodeconfig.h"

namespace l0l3::test {

TestCredentials::TestCredentials()
    : gateway(AclFile::randomPassword())
    , console(AclFile::randomPassword())
    , replication(AclFile::randomPassword())
    , sentinel(AclFile::randomPassword())
    , topology(AclFile::randomPassword())
    , tester(AclFile::randomPassword())
    , sentinelAuth(AclFile::randomPassword())
    , superuser(AclFile::randomPassword())
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
    if (user == u"topology")
        return topology;
    if (user == u"tester")
        return tester;
    if (user == QLatin1String(RedisNodeConfig::kSentinelUser))
        return sentinelAuth;
    if (user == u"l0l3-superuser")
        return superuser;
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
    for (const QString &user : {QStringLiteral("gateway"), QStringLiteral("console"), QStringLiteral("replication"),
                                QStringLiteral("sentinel"), QStringLiteral("topology")})
        acl.setPassword(user, password(user));
    const QString path = QDir(dir).filePath(QStringLiteral("users.acl"));
    if (!acl.write(sourceDir() + QStringLiteral("/packaging/redis/users.acl"), path, error))
        return {};
    // Tests of the connection classes run plain data commands on keys of their own.
    QFile file(path);
    if (!file.open(QIODevice::Append)
        || file.write(
               QByteArray("user tester on #" + AclFile::passwordHash(tester)
                          + " resetchannels &l0l3:test:* resetkeys ~l0l3:test:* -@all +@read +@write +@connection"
                            " +@transaction -@dangerous\n"
                            "user l0l3-superuser on #"
                          + AclFile::passwordHash(superuser) + " ~* &* +@all\n"))
            < 0) {
        if (error)
            *error = QStringLiteral("cannot append the test user to %1: %2").arg(path, file.errorString());
        return {};
    }
    return path;
}

} // namespace l0l3::test
