// No password reaches disk: save a profile with a password through the
// settings dialog (the path an operator takes), then scan every file under
// the test-mode config and data directories for the password bytes.
#include <QCheckBox>
#include <QDirIterator>
#include <QLineEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

#include "tests/support/timescale.h"
#include "ui/settings/connectionprofile.h"
#include "ui/settings/passwordvault.h"
#include "ui/settings/profilestore.h"
#include "ui/settings/settingsdialog.h"

using namespace l0l3;

class TestPasswordStorage : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("L0L3-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_passwordstorage"));
        for (auto loc : {QStandardPaths::GenericConfigLocation, QStandardPaths::AppConfigLocation,
                         QStandardPaths::GenericDataLocation, QStandardPaths::AppDataLocation})
            QDir(QStandardPaths::writableLocation(loc)).removeRecursively();
    }

    void profileRejectsPasswordInUrl()
    {
        ConnectionProfile p{QStringLiteral("x"),
                            QStringLiteral("redis://console:secret@127.0.0.1:6379"),
                            QStringLiteral("console"),
                            {},
                            QStringLiteral("l0l3")};
        QString error;
        QVERIFY(!p.isValid(&error));
        QVERIFY(error.contains(QStringLiteral("password")));
    }

    void savedProfileHoldsNoPassword_data()
    {
        QTest::addColumn<bool>("remember");
        QTest::newRow("remember in keychain") << true;
        QTest::newRow("session only") << false;
    }
    void savedProfileHoldsNoPassword()
    {
        QFETCH(bool, remember);
        const QString password =
            QStringLiteral("pw-%1-Zq8r!").arg(QString::number(QDateTime::currentMSecsSinceEpoch(), 36));
        const QString name = remember ? QStringLiteral("prod") : QStringLiteral("staging");
        PasswordVault vault(QStringLiteral("l0l3-console-test"));
        QSignalSpy stored(&vault, &PasswordVault::stored);
        {
            SettingsDialog dialog(&vault);
            dialog.nameEdit()->setText(name);
            dialog.urlEdit()->setText(QStringLiteral("redis://127.0.0.1:6390"));
            dialog.userEdit()->setText(QStringLiteral("console"));
            dialog.passwordEdit()->setText(password);
            dialog.rememberBox()->setChecked(remember);
            QVERIFY(dialog.saveCurrent());
            QVERIFY(dialog.passwordEdit()->text().isEmpty());
        }
        if (remember && vault.keychainUsable())
            QVERIFY(stored.wait(l0l3::test::TimeScale::ms(15000))
                    || !stored.isEmpty()); // keychain or its documented fallback answered
        QSettings().sync();

        // The profile itself was written, so the scan looks at real files.
        const auto profile = ProfileStore::find(name);
        QVERIFY(profile);
        QCOMPARE(profile->primaryUrl, QStringLiteral("redis://127.0.0.1:6390"));
        // The session still has it, in memory.
        QVERIFY(vault.hasSessionPassword(name));

        QStringList roots;
        for (auto loc : {QStandardPaths::GenericConfigLocation, QStandardPaths::AppConfigLocation,
                         QStandardPaths::GenericDataLocation, QStandardPaths::AppDataLocation,
                         QStandardPaths::GenericCacheLocation, QStandardPaths::CacheLocation})
            roots.append(QStandardPaths::writableLocation(loc));
        roots.append(QFileInfo(QSettings().fileName()).absolutePath());
        int scanned = 0;
        const QByteArray needles[] = {password.toUtf8(), password.toUtf8().toBase64(), password.toUtf8().toHex()};
        for (const QString &root : std::as_const(roots)) {
            QDirIterator it(root, QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
            while (it.hasNext()) {
                const QString path = it.next();
                QFile f(path);
                QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(path));
                const QByteArray content = f.readAll();
                ++scanned;
                for (const QByteArray &needle : needles)
                    QVERIFY2(!content.contains(needle), qPrintable(QStringLiteral("password found in ") + path));
            }
        }
        QVERIFY2(scanned > 0, "no settings file was written: the scan proves nothing");
    }
};

QTEST_MAIN(TestPasswordStorage)
#include "tst_passwordstorage.moc"
