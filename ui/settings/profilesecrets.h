#pragma once

#include <QHash>
#include <QList>
#include <QObject>
#include <QString>

#include <optional>

namespace l0l3 {

class PasswordVault;

// The passwords a profile needs, from non-interactive sources first:
// - the environment: L0L3_CONSOLE_PASSWORD, L0L3_TOPOLOGY_PASSWORD,
//   L0L3_SENTINEL_AUTH_PASSWORD, or each with _FILE naming a file that holds
//   it (its first line; at most 4 KiB; refused when others may read it);
// - else the PasswordVault (session memory, then the keychain), under the
//   profile's name for the console user and "NAME#topology" / "NAME#sentinel"
//   for the others.
// Never the command line, never QSettings.
class ProfileSecrets : public QObject
{
    Q_OBJECT
public:
    enum class Role { Console, Topology, Sentinel };

    ProfileSecrets(PasswordVault *vault, QObject *parent = nullptr);

    // The vault entry of a profile's password for role.
    static QString vaultName(const QString &profile, Role role);
    static QString environmentName(Role role);
    // The password from the environment; nullopt when neither variable is
    // set. A set _FILE that cannot be used is an error in *error (and nullopt).
    static std::optional<QString> fromEnvironment(Role role, QString *error = nullptr);

    // Resolves roles one after another; resolved() once all are known.
    // A password found nowhere is empty, with a note saying so.
    void resolve(const QString &profile, const QList<Role> &roles);

signals:
    void resolved(const QString &profile, const QHash<int, QString> &passwords, const QStringList &notes);

private:
    void next();

    PasswordVault *m_vault;
    QString m_profile;
    QList<Role> m_pending;
    QHash<int, QString> m_passwords;
    QStringList m_notes;
    QObject *m_waiting = nullptr;
};

} // namespace l0l3
