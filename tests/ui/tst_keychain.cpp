// QtKeychain round trip through PasswordVault. Under scripts/with-keyring.sh
// (L0L3_REQUIRE_KEYRING=1) a Secret Service is running and the password must
// come back from it; without one, the vault must say so and keep the
// password in memory for the session.
#include <QSignalSpy>
#include <QTest>

#include "tests/support/timescale.h"
#include "ui/settings/passwordvault.h"

using namespace l0l3;

class TestKeychain : public QObject
{
    Q_OBJECT
private slots:
    void roundTrip()
    {
        const bool required = qEnvironmentVariableIntValue("L0L3_REQUIRE_KEYRING") == 1;
        const QString service = QStringLiteral("l0l3-console-test-%1").arg(QCoreApplication::applicationPid());
        const QString password = QStringLiteral("kc-%1").arg(QDateTime::currentMSecsSinceEpoch());

        PasswordVault writer(service);
        QSignalSpy stored(&writer, &PasswordVault::stored);
        QSignalSpy unavailable(&writer, &PasswordVault::backendUnavailable);
        writer.store(QStringLiteral("prod"), password);
        QVERIFY(stored.wait(l0l3::test::TimeScale::ms(20000)));
        const bool inKeychain = stored.first().at(1).toBool();
        if (required)
            QVERIFY2(inKeychain, qPrintable(stored.first().at(2).toString()));

        if (!inKeychain) {
            // No backend: a clear message, and the session copy still works.
            QCOMPARE(unavailable.size(), 1);
            QVERIFY(unavailable.first().first().toString().contains(QStringLiteral("memory")));
            QVERIFY(!writer.keychainUsable());
            QSignalSpy loaded(&writer, &PasswordVault::loaded);
            writer.load(QStringLiteral("prod"));
            QVERIFY(loaded.wait(l0l3::test::TimeScale::ms(5000)));
            QCOMPARE(loaded.first().at(1).toString(), password);
            QVERIFY(loaded.first().at(2).toBool());
            QSKIP("no keychain backend here: fallback checked; run under scripts/with-keyring.sh for the round trip");
        }

        // A fresh vault has no session copy: the password must come from the keychain.
        PasswordVault reader(service);
        QVERIFY(!reader.hasSessionPassword(QStringLiteral("prod")));
        QSignalSpy loaded(&reader, &PasswordVault::loaded);
        reader.load(QStringLiteral("prod"));
        QVERIFY(loaded.wait(l0l3::test::TimeScale::ms(20000)));
        QCOMPARE(loaded.first().at(1).toString(), password);
        QVERIFY(loaded.first().at(2).toBool());

        QSignalSpy removed(&reader, &PasswordVault::removed);
        reader.remove(QStringLiteral("prod"));
        QVERIFY(removed.wait(l0l3::test::TimeScale::ms(20000)));
        QVERIFY(removed.first().at(1).toBool());
        PasswordVault again(service);
        QSignalSpy gone(&again, &PasswordVault::loaded);
        again.load(QStringLiteral("prod"));
        QVERIFY(gone.wait(l0l3::test::TimeScale::ms(20000)));
        QVERIFY(!gone.first().at(2).toBool());
    }
};

QTEST_GUILESS_MAIN(TestKeychain)
#include "tst_keychain.moc"
