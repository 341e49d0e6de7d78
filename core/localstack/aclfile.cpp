#include "core/localstack/aclfile.h"

#include <QCryptographicHash>
#include <QFile>
#include <QRandomGenerator>

#include "core/localstack/privatefile.h"

namespace l0l3 {

void AclFile::setPassword(const QString &user, const QString &password)
{
    for (auto &[name, value] : m_passwords) {
        if (name == user) {
            value = password;
            return;
        }
    }
    m_passwords.append({user, password});
}

void AclFile::addOperator(const QString &name, const QString &role, const QString &password)
{
    m_operators.append({name, role, password});
}

QByteArray AclFile::passwordHash(const QString &password)
{
    return QCryptographicHash::hash(password.toUtf8(), QCryptographicHash::Sha256).toHex();
}

QString AclFile::randomPassword()
{
    quint32 words[6];
    QRandomGenerator::system()->fillRange(words);
    return QString::fromLatin1(QByteArray(reinterpret_cast<const char *>(words), sizeof(words)).toHex());
}

QByteArray AclFile::render(const QByteArray &templateText, QString *error) const
{
    QByteArray rendered;
    qsizetype operatorsRendered = 0;
    const QList<QByteArray> lines = templateText.split('\n');
    for (QByteArray line : lines) {
        if (line.trimmed().isEmpty() || line.startsWith('#'))
            continue;
        for (const auto &[user, password] : m_passwords) {
            const QByteArray placeholder = '@' + user.toUpper().toUtf8() + "_SHA256@";
            line.replace(placeholder, passwordHash(password));
        }
        rendered += line + '\n';
        for (const Operator &op : m_operators) {
            const QByteArray head = "user role-" + op.role.toUtf8() + " off ";
            if (!line.startsWith(head))
                continue;
            rendered += "user op-" + op.name.toUtf8() + " on #" + passwordHash(op.password) + ' '
                + line.mid(head.size()) + '\n';
            ++operatorsRendered;
        }
    }
    if (operatorsRendered != m_operators.size()) {
        if (error)
            *error = QStringLiteral("the ACL template has no role template line for an operator's role");
        return {};
    }
    if (rendered.contains("_SHA256@")) {
        if (error)
            *error = QStringLiteral("the ACL template has a @NAME_SHA256@ placeholder without a password");
        return {};
    }
    return rendered;
}

bool AclFile::write(const QString &templatePath, const QString &path, QString *error) const
{
    QFile in(templatePath);
    if (!in.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read %1: %2").arg(templatePath, in.errorString());
        return false;
    }
    QString why = QStringLiteral("%1 has no ACL lines").arg(templatePath);
    const QByteArray rendered = render(in.readAll(), &why);
    if (rendered.isEmpty()) {
        if (error)
            *error = why;
        return false;
    }
    return writePrivateFile(path, rendered, error);
}

} // namespace l0l3
