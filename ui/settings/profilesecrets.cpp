#include "ui/settings/profilesecrets.h"

#include <QFile>
#include <QFileDevice>

#include "ui/settings/passwordvault.h"

namespace l0l3 {

namespace {

constexpr qint64 kMaxSecretFileBytes = 4096;

QString roleName(ProfileSecrets::Role role)
{
    switch (role) {
    case ProfileSecrets::Role::Console: return QStringLiteral("console");
    case ProfileSecrets::Role::Topology: return QStringLiteral("topology");
    case ProfileSecrets::Role::Sentinel: return QStringLiteral("sentinel");
    }
    return {};
}

} // namespace

ProfileSecrets::ProfileSecrets(PasswordVault *vault, QObject *parent)
    : QObject(parent)
    , m_vault(vault)
{
}

QString ProfileSecrets::vaultName(const QString &profile, Role role)
{
    return role == Role::Console ? profile : profile + QLatin1Char('#') + roleName(role);
}

QString ProfileSecrets::environmentName(Role role)
{
    switch (role) {
    case Role::Console: return QStringLiteral("L0L3_CONSOLE_PASSWORD");
    case Role::Topology: return QStringLiteral("L0L3_TOPOLOGY_PASSWORD");
    case Role::Sentinel: return QStringLiteral("L0L3_SENTINEL_AUTH_PASSWORD");
    }
    return {};
}

std::optional<QString> ProfileSecrets::fromEnvironment(Role role, QString *error)
{
    const QString name = environmentName(role);
    const QByteArray key = name.toLatin1();
    if (qEnvironmentVariableIsSet(key.constData()))
        return qEnvironmentVariable(key.constData());
    const QByteArray fileKey = key + "_FILE";
    if (!qEnvironmentVariableIsSet(fileKey.constData()))
        return std::nullopt;
    const QString path = qEnvironmentVariable(fileKey.constData());
    auto fail = [error, &name](const QString &why) -> std::optional<QString> {
        if (error)
            *error = QStringLiteral("%1_FILE: %2").arg(name, why);
        return std::nullopt;
    };
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(QStringLiteral("cannot read %1 (%2)").arg(path.left(300), file.errorString()));
    const QFileDevice::Permissions others = QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ReadGroup
        | QFileDevice::WriteGroup;
    if (file.permissions() & others)
        return fail(QStringLiteral("%1 may be read by others: chmod 600 it").arg(path.left(300)));
    if (file.size() > kMaxSecretFileBytes)
        return fail(QStringLiteral("%1 is larger than %2 bytes").arg(path.left(300)).arg(kMaxSecretFileBytes));
    QByteArray line = file.read(kMaxSecretFileBytes);
    if (const qsizetype nl = line.indexOf('\n'); nl >= 0)
        line.truncate(nl);
    if (line.endsWith('\r'))
        line.chop(1);
    return QString::fromUtf8(line);
}

void ProfileSecrets::resolve(const QString &profile, const QList<Role> &roles)
{
    delete m_waiting;
    m_waiting = nullptr;
    m_profile = profile;
    m_pending = roles;
    m_passwords.clear();
    m_notes.clear();
    next();
}

void ProfileSecrets::next()
{
    while (!m_pending.isEmpty()) {
        const Role role = m_pending.first();
        QString error;
        if (const auto env = fromEnvironment(role, &error)) {
            m_passwords.insert(int(role), *env);
            m_pending.removeFirst();
            continue;
        }
        if (!error.isEmpty()) {
            // A configured source that fails is reported, never silently replaced.
            m_notes.append(error);
            m_passwords.insert(int(role), {});
            m_pending.removeFirst();
            continue;
        }
        const QString entry = vaultName(m_profile, role);
        m_waiting = new QObject(this);
        connect(m_vault, &PasswordVault::loaded, m_waiting,
                [this, entry, role](const QString &name, const QString &pw, bool found, const QString &message) {
                    if (name != entry)
                        return;
                    m_waiting->deleteLater();
                    m_waiting = nullptr;
                    m_passwords.insert(int(role), pw);
                    if (!found)
                        m_notes.append(tr("%1 password: %2").arg(roleName(role), message));
                    m_pending.removeFirst();
                    next();
                });
        m_vault->load(entry);
        return;
    }
    emit resolved(m_profile, m_passwords, m_notes);
}

} // namespace l0l3
