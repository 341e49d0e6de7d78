// The connection profile's fleet fields through the SettingsDialog and
// ProfileStore, and where ProfileSecrets takes passwords from. No keychain
// (the D-Bus address points nowhere): passwords stay in session memory.
#include <QComboBox>
#include <QFile>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "ui/settings/passwordvault.h"
#include "ui/settings/profilemonitoring.h"
#include "ui/settings/profilesecrets.h"
#include "ui/settings/profilestore.h"
#include "ui/settings/settingsdialog.h"

using namespace l0l3;

class TestProfileSettings : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        qputenv("XDG_CONFIG_HOME", m_dir.filePath(QStringLiteral("config")).toUtf8());
        QCoreApplication::setOrganizationName(QStringLiteral("L0L3-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_profilesettings"));
        for (const char *name :
             {"L0L3_CONSOLE_PASSWORD", "L0L3_CONSOLE_PASSWORD_FILE", "L0L3_TOPOLOGY_PASSWORD",
              "L0L3_TOPOLOGY_PASSWORD_FILE", "L0L3_SENTINEL_AUTH_PASSWORD", "L0L3_SENTINEL_AUTH_PASSWORD_FILE"})
            qunsetenv(name);
    }

    void dialogSavesTheFleetFields()
    {
        PasswordVault vault(QStringLiteral("l0l3-test-profilesettings"));
        SettingsDialog dialog(&vault);
        dialog.nameEdit()->setText(QStringLiteral("prod"));
        dialog.urlEdit()->setText(QStringLiteral("redis://10.0.0.1:6379"));
        dialog.userEdit()->setText(QStringLiteral("console"));
        dialog.sentinelsEdit()->setText(QStringLiteral("10.0.0.1:26379, 10.0.0.2:26379"));
        dialog.sentinelUserEdit()->setText(QStringLiteral("l0l3-sentinel"));
        dialog.sentinelPasswordEdit()->setText(QStringLiteral("sentinel-secret"));
        dialog.topologyUserEdit()->setText(QStringLiteral("topology"));
        dialog.topologyPasswordEdit()->setText(QStringLiteral("topology-secret"));
        dialog.dataNodesEdit()->setPlainText(QStringLiteral("nyc=10.0.1.5:6379\ntokyo=10.0.2.5:6379, 10.0.3.5:6379"));
        QComboBox *source = dialog.metricsSourceBox();
        source->setCurrentIndex(source->findData(QStringLiteral("prometheus")));
        QVERIFY(dialog.prometheusEdit()->isEnabled());

        // Prometheus without a URL: refused with a message that says what is missing.
        QVERIFY(!dialog.saveCurrent());
        QVERIFY2(dialog.message().contains(QLatin1String("Prometheus")), qPrintable(dialog.message()));
        QVERIFY(!ProfileStore::find(QStringLiteral("prod")));
        dialog.prometheusEdit()->setText(QStringLiteral("http://prom:9090"));
        dialog.dataNodesEdit()->setPlainText(QStringLiteral("nyc=10.0.1.5"));
        QVERIFY(!dialog.saveCurrent());
        QVERIFY2(dialog.message().contains(QLatin1String("HOST:PORT")), qPrintable(dialog.message()));
        dialog.dataNodesEdit()->setPlainText(QStringLiteral("nyc=10.0.1.5:6379\ntokyo=10.0.2.5:6379, 10.0.3.5:6379"));
        QVERIFY2(dialog.saveCurrent(), qPrintable(dialog.message()));

        const auto saved = ProfileStore::find(QStringLiteral("prod"));
        QVERIFY(saved);
        QCOMPARE(saved->metricsSource, ConnectionProfile::MetricsSource::Prometheus);
        QCOMPARE(saved->prometheusUrl, QStringLiteral("http://prom:9090"));
        QCOMPARE(saved->topologyUser, QStringLiteral("topology"));
        QCOMPARE(saved->sentinelUser, QStringLiteral("l0l3-sentinel"));
        QCOMPARE(saved->dataNodes,
                 (QStringList{QStringLiteral("nyc=10.0.1.5:6379"), QStringLiteral("tokyo=10.0.2.5:6379"),
                              QStringLiteral("10.0.3.5:6379")}));
        // The password fields are cleared and went to the vault only.
        QVERIFY(dialog.topologyPasswordEdit()->text().isEmpty());
        QTRY_VERIFY(vault.hasSessionPassword(
            ProfileSecrets::vaultName(QStringLiteral("prod"), ProfileSecrets::Role::Topology)));
        QVERIFY(vault.hasSessionPassword(
            ProfileSecrets::vaultName(QStringLiteral("prod"), ProfileSecrets::Role::Sentinel)));
        QSettings().sync();
        QFile conf(QSettings().fileName());
        QVERIFY(conf.open(QIODevice::ReadOnly));
        const QByteArray text = conf.readAll();
        QVERIFY(!text.contains("topology-secret"));
        QVERIFY(!text.contains("sentinel-secret"));

        // What the console then watches.
        RedisConnection::Options primary;
        primary.host = QStringLiteral("10.0.0.1");
        primary.port = 6379;
        const MonitorConfig config = monitorConfigForProfile(*saved, primary, QStringLiteral("t"), QStringLiteral("s"));
        QVERIFY(config.discoverFleet);
        QCOMPARE(config.prometheusUrl, QUrl(QStringLiteral("http://prom:9090")));
        QCOMPARE(config.sentinels.size(), 2);
        QCOMPARE(config.topologyPassword, QByteArray("t"));
        QCOMPARE(config.sentinelUser, QByteArray("l0l3-sentinel"));
        QCOMPARE(config.replicas.size(), 3);
        QCOMPARE(config.replicas.at(0).region, QStringLiteral("nyc"));
        QCOMPARE(config.replicas.at(2).region, QStringLiteral("10.0.3.5:6379"));
        QCOMPARE(config.redisHosts.size(), 3);
    }

    // rediss:// profiles: the CA and client certificate paths are saved
    // (paths, not secrets) and reach every link the console opens.
    void dialogSavesTheTlsFields()
    {
        PasswordVault vault(QStringLiteral("l0l3-test-profilesettings"));
        SettingsDialog dialog(&vault);
        dialog.nameEdit()->setText(QStringLiteral("tls"));
        dialog.urlEdit()->setText(QStringLiteral("redis://redis.example:6379"));
        dialog.userEdit()->setText(QStringLiteral("console"));
        dialog.sentinelsEdit()->setText(QStringLiteral("redis.example:26379"));
        dialog.dataNodesEdit()->setPlainText(QStringLiteral("tokyo=replica.example:6380"));
        dialog.tlsCaFileEdit()->setText(QStringLiteral("/etc/l0l3/redis-ca.pem"));
        // A CA file with a plain-text URL would be ignored: refused instead.
        QVERIFY(!dialog.saveCurrent());
        QVERIFY2(dialog.message().contains(QLatin1String("rediss://")), qPrintable(dialog.message()));
        dialog.urlEdit()->setText(QStringLiteral("rediss://redis.example:6379"));
        QVERIFY2(dialog.saveCurrent(), qPrintable(dialog.message()));

        const auto saved = ProfileStore::find(QStringLiteral("tls"));
        QVERIFY(saved);
        QCOMPARE(saved->tlsCaFile, QStringLiteral("/etc/l0l3/redis-ca.pem"));
        ConnectionProfile halfCertificate = *saved;
        halfCertificate.tlsCertFile = QStringLiteral("/etc/l0l3/console.pem");
        QString why;
        QVERIFY(!halfCertificate.isValid(&why));
        QVERIFY2(why.contains(QLatin1String("key")), qPrintable(why));

        const auto options = saved->toOptions(QStringLiteral("pw"));
        QVERIFY(options);
        QVERIFY(options->tls.enabled);
        QCOMPARE(options->host, QStringLiteral("redis.example"));
        QCOMPARE(options->tls.caFile, QStringLiteral("/etc/l0l3/redis-ca.pem"));
        QVERIFY(options->redacted().startsWith(QStringLiteral("rediss://")));
        const MonitorConfig config = monitorConfigForProfile(*saved, *options, {}, {});
        QCOMPARE(config.replicas.size(), 1);
        QVERIFY(config.replicas.at(0).options.tls.enabled);
        QCOMPARE(config.replicas.at(0).options.tls.caFile, QStringLiteral("/etc/l0l3/redis-ca.pem"));
        QCOMPARE(config.primary.tls.caFile, QStringLiteral("/etc/l0l3/redis-ca.pem"));
    }

    // The embeddings provider of the approvals: saved with the profile, checked like
    // l0l3-ctl's flags, and the model id the gateways compare.
    void dialogSavesTheEmbeddingsFields()
    {
        PasswordVault vault(QStringLiteral("l0l3-test-profilesettings"));
        SettingsDialog dialog(&vault);
        dialog.nameEdit()->setText(QStringLiteral("embeddings"));
        dialog.urlEdit()->setText(QStringLiteral("redis://redis.example:6379"));
        dialog.userEdit()->setText(QStringLiteral("console"));
        dialog.tlsCaFileEdit()->clear(); // the dialog may show an earlier profile's
        dialog.embeddingsUrlEdit()->setText(QStringLiteral("http://embed.example:8081"));
        // A URL without a model is refused.
        QVERIFY(!dialog.saveCurrent());
        QVERIFY2(dialog.message().contains(QLatin1String("model")), qPrintable(dialog.message()));
        dialog.embeddingsModelEdit()->setText(QStringLiteral("text-embedding-3-small"));
        // A CA file needs https.
        dialog.embeddingsCaFileEdit()->setText(QStringLiteral("/etc/l0l3/embed-ca.pem"));
        QVERIFY(!dialog.saveCurrent());
        QVERIFY2(dialog.message().contains(QLatin1String("https")), qPrintable(dialog.message()));
        dialog.embeddingsCaFileEdit()->clear();
        QVERIFY2(dialog.saveCurrent(), qPrintable(dialog.message()));

        const auto saved = ProfileStore::find(QStringLiteral("embeddings"));
        QVERIFY(saved);
        QCOMPARE(saved->embeddingsUrl, QStringLiteral("http://embed.example:8081"));
        QCOMPARE(saved->embeddingsModel, QStringLiteral("text-embedding-3-small"));
        const EmbeddingSettings e = saved->embeddings();
        QVERIFY(e.isRemote());
        QCOMPARE(e.endpoint(), QStringLiteral("http://embed.example:8081/v1/embeddings"));
        QCOMPARE(e.modelId(), std::string("openai:text-embedding-3-small"));

        ConnectionProfile withPassword = *saved;
        withPassword.embeddingsUrl = QStringLiteral("https://user:secret@embed.example/v1/embeddings");
        QString why;
        QVERIFY(!withPassword.isValid(&why));
        QVERIFY2(why.contains(QLatin1String("credentials")), qPrintable(why));
        // No URL: the embedded lexical provider.
        ConnectionProfile lexical = *saved;
        lexical.embeddingsUrl.clear();
        lexical.embeddingsModel.clear();
        QVERIFY(lexical.isValid(&why));
        QVERIFY(!lexical.embeddings().isRemote());
        QCOMPARE(lexical.embeddings().modelId(), std::string("lexical-v1-d256"));
    }

    void environmentComesFirst()
    {
        PasswordVault vault(QStringLiteral("l0l3-test-profilesettings"));
        vault.setSessionPassword(QStringLiteral("p"), QStringLiteral("from-vault"));
        vault.setSessionPassword(ProfileSecrets::vaultName(QStringLiteral("p"), ProfileSecrets::Role::Topology),
                                 QStringLiteral("topology-from-vault"));
        qputenv("L0L3_CONSOLE_PASSWORD", "from-env");
        ProfileSecrets secrets(&vault);
        QSignalSpy resolved(&secrets, &ProfileSecrets::resolved);
        secrets.resolve(QStringLiteral("p"), {ProfileSecrets::Role::Console, ProfileSecrets::Role::Topology});
        QTRY_COMPARE(resolved.count(), 1);
        const auto passwords = resolved.first().at(1).value<QHash<int, QString>>();
        QCOMPARE(passwords.value(int(ProfileSecrets::Role::Console)), QStringLiteral("from-env"));
        QCOMPARE(passwords.value(int(ProfileSecrets::Role::Topology)), QStringLiteral("topology-from-vault"));
        qunsetenv("L0L3_CONSOLE_PASSWORD");
    }

    void passwordFileMustBePrivate()
    {
        QFile file(m_dir.filePath(QStringLiteral("pw")));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("file-secret\nignored second line\n");
        file.close();
        qputenv("L0L3_TOPOLOGY_PASSWORD_FILE", file.fileName().toUtf8());
        QVERIFY(file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadOther));
        QString error;
        QVERIFY(!ProfileSecrets::fromEnvironment(ProfileSecrets::Role::Topology, &error));
        QVERIFY2(error.contains(QLatin1String("chmod 600")), qPrintable(error));
        QVERIFY(file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner));
        QCOMPARE(ProfileSecrets::fromEnvironment(ProfileSecrets::Role::Topology, &error),
                 std::optional<QString>(QStringLiteral("file-secret")));
        qputenv("L0L3_TOPOLOGY_PASSWORD_FILE", m_dir.filePath(QStringLiteral("missing")).toUtf8());
        QVERIFY(!ProfileSecrets::fromEnvironment(ProfileSecrets::Role::Topology, &error));
        QVERIFY2(error.contains(QLatin1String("cannot read")), qPrintable(error));
        qunsetenv("L0L3_TOPOLOGY_PASSWORD_FILE");
        QVERIFY(!ProfileSecrets::fromEnvironment(ProfileSecrets::Role::Topology));
    }

private:
    QTemporaryDir m_dir;
};

QTEST_MAIN(TestProfileSettings)
#include "tst_profilesettings.moc"
