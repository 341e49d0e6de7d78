#include "tests/support/testcredentials.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QRandomGenerator>
#include <QSaveFile>

namespace l0l3::test {

namespace {

QString randomPassword()
{
    QByteArray bytes(24, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(bytes.data()), bytes.size() / 4);
    return QString::fromLatin1(bytes.toHex());
}

QByteArray sha256Hex(const QString &password)
{
    return QCryptographicHash::hash(password.toUtf8(), QCryptographicHash::Sha256).toHex();
}

} // namespace

TestCredentials::TestCredentials()
    : gateway(randomPassword())
    , console(randomPassword())
    , replication(randomPassword())
    , sentinel(randomPassword())
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
    const QString templatePath = sourceDir() + QStringLiteral("/packaging/redis/users.acl");
    QFile in(templatePath);
    if (!in.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read %1: %2").arg(templatePath, in.errorString());
        return {};
    }
    QByteArray text = in.readAll();
    text.replace("@GATEWAY_SHA256@", sha256Hex(gateway));
    text.replace("@CONSOLE_SHA256@", sha256Hex(console));
    text.replace("@REPLICATION_SHA256@", sha256Hex(replication));
    text.replace("@SENTINEL_SHA256@", sha256Hex(sentinel));

    QByteArray rendered;
    for (const QByteArray &line : text.split('\n')) {
        if (line.isEmpty() || line.startsWith('#'))
            continue;
        rendered += line + '\n';
    }
    if (rendered.contains("_SHA256@")) {
        if (error)
            *error = QStringLiteral("%1 has a placeholder the fixture does not know").arg(templatePath);
        return {};
    }

    const QString outPath = QDir(dir).filePath(QStringLiteral("users.acl"));
    QSaveFile out(outPath);
    if (!out.open(QIODevice::WriteOnly) || out.write(rendered) != rendered.size()
        || !out.setPermissions(QFile::ReadOwner | QFile::WriteOwner) || !out.commit()) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(outPath, out.errorString());
        return {};
    }
    return outPath;
}

} // namespace l0l3::test
