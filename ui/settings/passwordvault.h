#pragma once

#include <QHash>
#include <QObject>
#include <QString>

namespace l0l3 {

// Connection passwords, stored ONLY in the OS keychain through QtKeychain
// (Secret Service, KWallet, macOS Keychain, Windows Credential Store), never
// in QSettings or any file the console writes. When no keychain backend
// answers, it says so once (backendUnavailable) and keeps passwords in
// memory for this session only.
//
// Asynchronous: results arrive as signals on the thread that owns the vault.
class PasswordVault : public QObject
{
    Q_OBJECT
public:
    explicit PasswordVault(const QString &service = QStringLiteral("l0l3-console"), QObject *parent = nullptr);

    // Writes to the keychain; on failure keeps it in memory (stored(..., false, why)).
    void store(const QString &profile, const QString &password);
    // Session memory first, then the keychain.
    void load(const QString &profile);
    void remove(const QString &profile);
    // Never touches the keychain or disk.
    void setSessionPassword(const QString &profile, const QString &password);
    bool hasSessionPassword(const QString &profile) const { return m_session.contains(profile); }
    // False once a keychain call failed for lack of a backend.
    bool keychainUsable() const { return m_keychainUsable; }

    static QString keyFor(const QString &profile);

signals:
    void stored(const QString &profile, bool inKeychain, const QString &message);
    // found false: no password anywhere (message says where it looked).
    void loaded(const QString &profile, const QString &password, bool found, const QString &message);
    void removed(const QString &profile, bool ok, const QString &message);
    void backendUnavailable(const QString &message);

private:
    void markUnavailable(const QString &why);

    QString m_service;
    QHash<QString, QString> m_session;
    bool m_keychainUsable = true;
    bool m_warned = false;
};

} // namespace l0l3
