#include "ui/settings/settingsdialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QVBoxLayout>

#include "ui/settings/passwordvault.h"
#include "ui/settings/profilesecrets.h"
#include "ui/settings/profilestore.h"

namespace l0l3 {

SettingsDialog::SettingsDialog(PasswordVault *vault, QWidget *parent)
    : QDialog(parent)
    , m_vault(vault)
    , m_list(new QListWidget(this))
    , m_name(new QLineEdit(this))
    , m_url(new QLineEdit(this))
    , m_user(new QLineEdit(this))
    , m_password(new QLineEdit(this))
    , m_sentinels(new QLineEdit(this))
    , m_master(new QLineEdit(this))
    , m_metricsSource(new QComboBox(this))
    , m_prometheus(new QLineEdit(this))
    , m_topologyUser(new QLineEdit(this))
    , m_topologyPassword(new QLineEdit(this))
    , m_sentinelUser(new QLineEdit(this))
    , m_tlsCaFile(new QLineEdit(this))
    , m_tlsCertFile(new QLineEdit(this))
    , m_tlsKeyFile(new QLineEdit(this))
    , m_embeddingsUrl(new QLineEdit(this))
    , m_embeddingsModel(new QLineEdit(this))
    , m_embeddingsCaFile(new QLineEdit(this))
    , m_sentinelPassword(new QLineEdit(this))
    , m_dataNodes(new QPlainTextEdit(this))
    , m_remember(new QCheckBox(tr("Remember in the system keychain"), this))
    , m_keychainNote(new QLabel(this))
    , m_message(new QLabel(this))
{
    setWindowTitle(tr("Connection profiles"));
    m_url->setPlaceholderText(QStringLiteral("redis://127.0.0.1:6379"));
    m_url->setToolTip(tr("Primary address without credentials: redis://host:port[/db]"));
    m_user->setPlaceholderText(QStringLiteral("console"));
    m_password->setEchoMode(QLineEdit::Password);
    m_password->setPlaceholderText(tr("stored in the keychain, never in a file"));
    m_sentinels->setPlaceholderText(QStringLiteral("127.0.0.1:26379, 127.0.0.1:26380"));
    m_metricsSource->addItem(tr("Discovered gateways (scrape each one)"),
                             ConnectionProfile::metricsSourceName(
                                 ConnectionProfile::MetricsSource::DiscoveredGateways));
    m_metricsSource->addItem(tr("Prometheus server (large fleets)"),
                             ConnectionProfile::metricsSourceName(ConnectionProfile::MetricsSource::Prometheus));
    m_metricsSource->setToolTip(tr("Gateways announce themselves in Redis; the console scrapes each live one's "
                                   "/metrics. With hundreds of gateways, query Prometheus instead."));
    m_prometheus->setPlaceholderText(QStringLiteral("http://prometheus:9090"));
    m_topologyUser->setPlaceholderText(tr("topology (optional: manual promotion)"));
    m_sentinelUser->setPlaceholderText(tr("l0l3-sentinel (optional: else $L0L3_SENTINEL_AUTH_USER)"));
    for (QLineEdit *e : {m_topologyPassword, m_sentinelPassword}) {
        e->setEchoMode(QLineEdit::Password);
        e->setPlaceholderText(tr("stored in the keychain, never in a file"));
    }
    m_dataNodes->setPlaceholderText(QStringLiteral("nyc=10.0.1.5:6379\ntokyo=10.0.2.5:6379"));
    m_dataNodes->setToolTip(tr("[REGION=]HOST:PORT, one per line or comma-separated: the Redis servers the "
                               "console may send credentials to besides the primary (replica lag, promotion). "
                               "Replicas found elsewhere are shown but never sent a password."));
    m_dataNodes->setTabChangesFocus(true);
    m_dataNodes->setFixedHeight(64);
    auto updatePrometheus = [this] {
        m_prometheus->setEnabled(m_metricsSource->currentData().toString()
                                 == ConnectionProfile::metricsSourceName(ConnectionProfile::MetricsSource::Prometheus));
    };
    connect(m_metricsSource, &QComboBox::currentIndexChanged, this, updatePrometheus);
    updatePrometheus();
    m_remember->setChecked(true);
    // Keychain and URL parser messages may quote what was typed or stored.
    m_keychainNote->setTextFormat(Qt::PlainText);
    m_message->setTextFormat(Qt::PlainText);
    m_keychainNote->setWordWrap(true);
    m_message->setWordWrap(true);
    if (!m_vault->keychainUsable())
        m_keychainNote->setText(tr("No keychain backend: passwords are kept for this session only."));

    auto *form = new QFormLayout;
    form->addRow(tr("&Name:"), m_name);
    form->addRow(tr("&Primary URL:"), m_url);
    form->addRow(tr("&User:"), m_user);
    form->addRow(tr("Pass&word:"), m_password);
    form->addRow(QString(), m_remember);
    form->addRow(tr("&Sentinels:"), m_sentinels);
    form->addRow(tr("Sentinel &master name:"), m_master);
    form->addRow(tr("Sentinel us&er:"), m_sentinelUser);
    form->addRow(tr("Sentinel password:"), m_sentinelPassword);
    form->addRow(tr("&Metrics source:"), m_metricsSource);
    form->addRow(tr("Prometheus &URL:"), m_prometheus);
    form->addRow(tr("&Topology user:"), m_topologyUser);
    form->addRow(tr("Topology password:"), m_topologyPassword);
    form->addRow(tr("&Data nodes:"), m_dataNodes);
    m_tlsCaFile->setPlaceholderText(tr("rediss:// only: PEM file (empty: the system CAs)"));
    m_tlsCertFile->setPlaceholderText(tr("optional: PEM client certificate"));
    m_tlsKeyFile->setPlaceholderText(tr("with the certificate: PEM key"));
    form->addRow(tr("TLS &CA file:"), m_tlsCaFile);
    form->addRow(tr("TLS client certificate:"), m_tlsCertFile);
    form->addRow(tr("TLS client key:"), m_tlsKeyFile);
    m_embeddingsUrl->setPlaceholderText(tr("empty: the embedded lexical provider"));
    m_embeddingsUrl->setToolTip(tr("The gateways' --embeddings: an OpenAI-compatible /v1/embeddings endpoint "
                                   "(http or https) that computes the L1 vectors of approved entries"));
    m_embeddingsModel->setPlaceholderText(tr("the gateways' --embeddings-model"));
    m_embeddingsCaFile->setPlaceholderText(tr("https only: PEM file (empty: the system CAs)"));
    form->addRow(tr("&Embeddings URL:"), m_embeddingsUrl);
    form->addRow(tr("Embeddings model:"), m_embeddingsModel);
    form->addRow(tr("Embeddings CA file:"), m_embeddingsCaFile);

    auto *newButton = new QPushButton(tr("&New"), this);
    auto *deleteButton = new QPushButton(tr("&Delete"), this);
    auto *listButtons = new QHBoxLayout;
    listButtons->addWidget(newButton);
    listButtons->addWidget(deleteButton);
    auto *left = new QVBoxLayout;
    left->addWidget(m_list, 1);
    left->addLayout(listButtons);

    auto *right = new QVBoxLayout;
    right->addLayout(form);
    right->addWidget(m_keychainNote);
    right->addWidget(m_message);
    right->addStretch();

    auto *body = new QHBoxLayout;
    body->addLayout(left, 1);
    body->addLayout(right, 2);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Close, this);
    auto *connectButton = buttons->addButton(tr("&Connect"), QDialogButtonBox::AcceptRole);
    connectButton->setDefault(true);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(body, 1);
    layout->addWidget(buttons);

    connect(newButton, &QPushButton::clicked, this, &SettingsDialog::newProfile);
    connect(deleteButton, &QPushButton::clicked, this, &SettingsDialog::deleteProfile);
    connect(buttons->button(QDialogButtonBox::Save), &QPushButton::clicked, this, &SettingsDialog::saveCurrent);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(connectButton, &QPushButton::clicked, this, [this] {
        const QString password = m_password->text();
        if (!saveCurrent())
            return;
        emit connectRequested(formProfile(), password);
        accept();
    });
    connect(m_list, &QListWidget::currentTextChanged, this, [this](const QString &name) {
        if (const auto p = ProfileStore::find(name))
            showProfile(*p);
    });
    connect(m_vault, &PasswordVault::backendUnavailable, this,
            [this](const QString &message) { m_keychainNote->setText(message); });
    connect(m_vault, &PasswordVault::stored, this,
            [this](const QString &, bool inKeychain, const QString &message) { setMessage(message, !inKeychain); });

    reloadList(ProfileStore::lastUsed());
    if (m_list->count() == 0)
        newProfile();
    resize(760, 560);
}

void SettingsDialog::setMessage(const QString &text, bool error)
{
    m_message->setText(text);
    m_message->setStyleSheet(error ? QStringLiteral("color: #a40;") : QString());
}

void SettingsDialog::reloadList(const QString &select)
{
    m_list->clear();
    for (const ConnectionProfile &p : ProfileStore::load())
        m_list->addItem(p.name);
    if (!select.isEmpty())
        selectProfile(select);
    else if (m_list->count() > 0)
        m_list->setCurrentRow(0);
}

void SettingsDialog::selectProfile(const QString &name)
{
    const auto items = m_list->findItems(name, Qt::MatchExactly);
    if (!items.isEmpty())
        m_list->setCurrentItem(items.first());
}

void SettingsDialog::showProfile(const ConnectionProfile &p)
{
    m_name->setText(p.name);
    m_url->setText(p.primaryUrl);
    m_user->setText(p.user);
    m_sentinels->setText(p.sentinels.join(QStringLiteral(", ")));
    m_master->setText(p.sentinelMaster);
    m_metricsSource->setCurrentIndex(
        qMax(0, m_metricsSource->findData(ConnectionProfile::metricsSourceName(p.metricsSource))));
    m_prometheus->setText(p.prometheusUrl);
    m_topologyUser->setText(p.topologyUser);
    m_sentinelUser->setText(p.sentinelUser);
    m_dataNodes->setPlainText(p.dataNodes.join(u'\n'));
    m_tlsCaFile->setText(p.tlsCaFile);
    m_tlsCertFile->setText(p.tlsCertFile);
    m_tlsKeyFile->setText(p.tlsKeyFile);
    m_embeddingsUrl->setText(p.embeddingsUrl);
    m_embeddingsModel->setText(p.embeddingsModel);
    m_embeddingsCaFile->setText(p.embeddingsCaFile);
    m_topologyPassword->clear();
    m_sentinelPassword->clear();
    m_password->clear();
    m_password->setPlaceholderText(m_vault->hasSessionPassword(p.name) ? tr("(set for this session)")
                                                                       : tr("stored in the keychain, never in a file"));
    setMessage({});
}

void SettingsDialog::newProfile()
{
    m_list->clearSelection();
    ConnectionProfile fresh;
    fresh.name = QStringLiteral("local");
    fresh.primaryUrl = QStringLiteral("redis://127.0.0.1:6379");
    fresh.user = QStringLiteral("console");
    showProfile(fresh);
    m_name->setFocus();
    m_name->selectAll();
}

void SettingsDialog::deleteProfile()
{
    const QString name = m_name->text().trimmed();
    if (name.isEmpty())
        return;
    ProfileStore::remove(name);
    m_vault->remove(name);
    m_vault->remove(ProfileSecrets::vaultName(name, ProfileSecrets::Role::Topology));
    m_vault->remove(ProfileSecrets::vaultName(name, ProfileSecrets::Role::Sentinel));
    reloadList();
}

ConnectionProfile SettingsDialog::formProfile() const
{
    ConnectionProfile p;
    p.name = m_name->text().trimmed();
    p.primaryUrl = m_url->text().trimmed();
    p.user = m_user->text().trimmed();
    for (const QString &s : m_sentinels->text().split(QLatin1Char(','), Qt::SkipEmptyParts))
        p.sentinels.append(s.trimmed());
    p.sentinelMaster = m_master->text().trimmed().isEmpty() ? QStringLiteral("l0l3") : m_master->text().trimmed();
    p.metricsSource = ConnectionProfile::metricsSourceFromName(m_metricsSource->currentData().toString())
                          .value_or(ConnectionProfile::MetricsSource::DiscoveredGateways);
    p.prometheusUrl = m_prometheus->text().trimmed();
    p.topologyUser = m_topologyUser->text().trimmed();
    p.sentinelUser = m_sentinelUser->text().trimmed();
    p.tlsCaFile = m_tlsCaFile->text().trimmed();
    p.tlsCertFile = m_tlsCertFile->text().trimmed();
    p.tlsKeyFile = m_tlsKeyFile->text().trimmed();
    p.embeddingsUrl = m_embeddingsUrl->text().trimmed();
    p.embeddingsModel = m_embeddingsModel->text().trimmed();
    p.embeddingsCaFile = m_embeddingsCaFile->text().trimmed();
    const QString nodes = m_dataNodes->toPlainText();
    for (const QString &line : nodes.split(QRegularExpression(QStringLiteral("[,\\n]")), Qt::SkipEmptyParts)) {
        if (!line.trimmed().isEmpty())
            p.dataNodes.append(line.trimmed());
    }
    return p;
}

bool SettingsDialog::saveCurrent()
{
    const ConnectionProfile p = formProfile();
    QString error;
    if (!p.isValid(&error)) {
        setMessage(error, true);
        return false;
    }
    ProfileStore::upsert(p);
    ProfileStore::setLastUsed(p.name);
    const QString password = m_password->text();
    if (!password.isEmpty()) {
        if (m_remember->isChecked() && m_vault->keychainUsable())
            m_vault->store(p.name, password);
        else {
            m_vault->setSessionPassword(p.name, password);
            setMessage(tr("Password kept in memory for this session only."));
        }
    } else {
        setMessage(tr("Profile saved."));
    }
    m_password->clear();
    if (!p.topologyUser.isEmpty() && !m_topologyPassword->text().isEmpty())
        storeSecret(ProfileSecrets::vaultName(p.name, ProfileSecrets::Role::Topology), m_topologyPassword->text());
    if (!p.sentinelUser.isEmpty() && !m_sentinelPassword->text().isEmpty())
        storeSecret(ProfileSecrets::vaultName(p.name, ProfileSecrets::Role::Sentinel), m_sentinelPassword->text());
    m_topologyPassword->clear();
    m_sentinelPassword->clear();
    reloadList(p.name);
    return true;
}

void SettingsDialog::storeSecret(const QString &vaultName, const QString &password)
{
    if (m_remember->isChecked() && m_vault->keychainUsable())
        m_vault->store(vaultName, password);
    else
        m_vault->setSessionPassword(vaultName, password);
}

QString SettingsDialog::message() const
{
    return m_message->text();
}

} // namespace l0l3
