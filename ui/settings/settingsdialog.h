#pragma once

#include <QDialog>

#include "ui/settings/connectionprofile.h"

class QCheckBox;
class QComboBox;
class QPlainTextEdit;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;

namespace l0l3 {

class PasswordVault;

// Connection profiles: name, primary URL (no password), ACL user, Sentinels,
// the metrics source (discovered gateways or a Prometheus URL), the optional
// topology and Sentinel users, and the data nodes credentials may go to.
// Password fields go to the PasswordVault only (keychain, or session memory
// when "remember" is off or no keychain exists), never to QSettings.
class SettingsDialog : public QDialog
{
    Q_OBJECT
public:
    SettingsDialog(PasswordVault *vault, QWidget *parent = nullptr);

    // Saves the form (profile to QSettings, password to the vault). False
    // with a message in the dialog when the form is invalid.
    bool saveCurrent();
    void selectProfile(const QString &name);
    ConnectionProfile formProfile() const;

    QLineEdit *nameEdit() const { return m_name; }
    QLineEdit *urlEdit() const { return m_url; }
    QLineEdit *userEdit() const { return m_user; }
    QLineEdit *passwordEdit() const { return m_password; }
    QCheckBox *rememberBox() const { return m_remember; }
    QComboBox *metricsSourceBox() const { return m_metricsSource; }
    QLineEdit *prometheusEdit() const { return m_prometheus; }
    QLineEdit *topologyUserEdit() const { return m_topologyUser; }
    QLineEdit *topologyPasswordEdit() const { return m_topologyPassword; }
    QLineEdit *sentinelUserEdit() const { return m_sentinelUser; }
    QLineEdit *tlsCaFileEdit() const { return m_tlsCaFile; }
    QLineEdit *embeddingsUrlEdit() const { return m_embeddingsUrl; }
    QLineEdit *embeddingsModelEdit() const { return m_embeddingsModel; }
    QLineEdit *embeddingsCaFileEdit() const { return m_embeddingsCaFile; }
    QLineEdit *sentinelPasswordEdit() const { return m_sentinelPassword; }
    QPlainTextEdit *dataNodesEdit() const { return m_dataNodes; }
    QLineEdit *sentinelsEdit() const { return m_sentinels; }
    QString message() const;

signals:
    // Password may be empty: the caller then asks the vault.
    void connectRequested(const l0l3::ConnectionProfile &profile, const QString &password);

private:
    void reloadList(const QString &select = {});
    void showProfile(const ConnectionProfile &profile);
    void newProfile();
    void deleteProfile();
    void setMessage(const QString &text, bool error = false);
    void storeSecret(const QString &vaultName, const QString &password);

    PasswordVault *m_vault;
    QListWidget *m_list;
    QLineEdit *m_name;
    QLineEdit *m_url;
    QLineEdit *m_user;
    QLineEdit *m_password;
    QLineEdit *m_sentinels;
    QLineEdit *m_master;
    QComboBox *m_metricsSource;
    QLineEdit *m_prometheus;
    QLineEdit *m_topologyUser;
    QLineEdit *m_topologyPassword;
    QLineEdit *m_sentinelUser;
    QLineEdit *m_tlsCaFile;
    QLineEdit *m_tlsCertFile;
    QLineEdit *m_tlsKeyFile;
    QLineEdit *m_embeddingsUrl;
    QLineEdit *m_embeddingsModel;
    QLineEdit *m_embeddingsCaFile;
    QLineEdit *m_sentinelPassword;
    QPlainTextEdit *m_dataNodes;
    QCheckBox *m_remember;
    QLabel *m_keychainNote;
    QLabel *m_message;
};

} // namespace l0l3
