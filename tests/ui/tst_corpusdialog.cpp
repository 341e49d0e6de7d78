#include <QAction>
#include <QApplication>
#include <QDeadlineTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <optional>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/redisschema.h"
#include "core/control/redisconnection.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "tests/support/timescale.h"
#include "tests/ui/uitestsupport.h"
#include "ui/backup/corpusdialog.h"
#include "ui/entries/entriespage.h"
#include "ui/entries/entrytablemodel.h"
#include "ui/mainwindow.h"

using namespace l0l3;
using namespace l0l3::test;

// File → Export… and File → Import… of the console against a real Redis: the
// shortcuts open the dialogs, the jobs run on the ControlWorker thread, and
// the summary names what happened, hostile text escaped.
class TestCorpusDialog : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void exportThenImportFromTheMenu();

private:
    QByteArray get(const QString &key);
    CorpusDialog *openDialog(const char *actionName);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<MainWindow> m_window;
    QTemporaryDir m_dir;
    QStringList m_keys;
};

void TestCorpusDialog::initTestCase()
{
    m_primary = std::make_unique<RedisServer>();
    QString why;
    QVERIFY2(m_primary->start({}, &why), qPrintable(why));
    for (int i = 0; i < 3; ++i) {
        Entry e;
        e.ns = "default";
        e.system = "Be brief.";
        e.prompt = "Question " + std::to_string(i) + (i == 2 ? " <b>bold</b>\x1b[31m\xe2\x80\xae" : "");
        e.model = "gpt-4o";
        e.key = CacheKey::derive({e.ns, e.system, e.prompt, e.model, {}, {}, {}});
        e.response = "Answer " + std::to_string(i);
        e.version = i + 1;
        e.approvedBy = "alice";
        e.approvedAtMs = 1700000000000 + i;
        QVERIFY(writeEntry(*m_primary, e));
        m_keys.append(QString::fromStdString(e.key));
    }
    m_window = std::make_unique<MainWindow>();
    QVERIFY(showConnected(*m_window, *m_primary));
    m_window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(m_window.get()));
    // Connected once the entries page shows what is stored.
    QTRY_VERIFY_WITH_TIMEOUT(m_window->entriesPage()->model()->rowOfKey(m_keys.first()) >= 0, TimeScale::ms(15000));
}

void TestCorpusDialog::cleanupTestCase()
{
    m_window.reset();
    if (m_primary)
        QVERIFY(m_primary->stop());
}

QByteArray TestCorpusDialog::get(const QString &key)
{
    RedisClient c = m_primary->client(QStringLiteral("console"));
    return c.get(bytes(RedisSchema::entryKey(key.toStdString())));
}

CorpusDialog *TestCorpusDialog::openDialog(const char *actionName)
{
    auto *action = m_window->findChild<QAction *>(QLatin1String(actionName));
    if (!action)
        return nullptr;
    m_window->activateWindow();
    if (!QTest::qWaitForWindowActive(m_window.get()))
        return nullptr;
    // The shortcut, as a person would press it.
    const QKeyCombination combo = action->shortcut()[0];
    QTest::keyClick(m_window.get(), combo.key(), combo.keyboardModifiers());
    // Bounded poll: the dialog opens from the event loop.
    CorpusDialog *dialog = nullptr;
    QDeadlineTimer deadline(TimeScale::ms(5000));
    while (!(dialog = m_window->findChild<CorpusDialog *>()) && !deadline.hasExpired())
        QTest::qWait(10);
    return dialog;
}

void TestCorpusDialog::exportThenImportFromTheMenu()
{
    auto *exportAction = m_window->findChild<QAction *>(QStringLiteral("exportCorpusAction"));
    auto *importAction = m_window->findChild<QAction *>(QStringLiteral("importCorpusAction"));
    QVERIFY(exportAction && importAction);
    QCOMPARE(exportAction->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
    QCOMPARE(importAction->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_I));

    const QString file = m_dir.filePath(QStringLiteral("console.jsonl"));
    QList<QByteArray> before;
    for (const QString &key : std::as_const(m_keys))
        before.append(get(key));

    CorpusDialog *dialog = openDialog("exportCorpusAction");
    QVERIFY(dialog);
    QCOMPARE(dialog->objectName(), QStringLiteral("corpusExportDialog"));
    dialog->setPath(file);
    dialog->setWithAudit(true);
    QSignalSpy done(dialog, &CorpusDialog::jobFinished);
    dialog->start();
    QVERIFY(dialog->isRunning());
    QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, TimeScale::ms(15000));
    QCOMPARE(done.at(0).at(0).toBool(), true);
    QVERIFY2(dialog->summaryText().contains(QStringLiteral("Exported 3 entries")), qPrintable(dialog->summaryText()));
    QVERIFY(QFile::exists(file));
    dialog->close();
    QTRY_VERIFY_WITH_TIMEOUT(m_window->findChild<CorpusDialog *>() == nullptr, TimeScale::ms(5000));

    // Lost: one entry deleted, one changed behind the console's back.
    RedisClient c = m_primary->client(QStringLiteral("console"));
    c.command({"DEL", bytes(RedisSchema::entryKey(m_keys[0].toStdString()))});
    Entry changed = *EntryCodec::decode(before[2].toStdString());
    changed.response = "changed";
    changed.approvedBy = "mallory\x1b[2J\xe2\x80\xae";
    QVERIFY(c.set(bytes(RedisSchema::entryKey(changed.key)), bytes(EntryCodec::encode(changed))));

    dialog = openDialog("importCorpusAction");
    QVERIFY(dialog);
    QCOMPARE(dialog->objectName(), QStringLiteral("corpusImportDialog"));
    dialog->setPath(file);
    QSignalSpy imported(dialog, &CorpusDialog::jobFinished);
    dialog->start();
    QTRY_COMPARE_WITH_TIMEOUT(imported.size(), 1, TimeScale::ms(15000));
    const QString summary = dialog->summaryText();
    QVERIFY2(summary.contains(QStringLiteral("Imported 1 (replaced 0), unchanged 1, conflicts 1")),
             qPrintable(summary));
    // The conflicting key is listed, the hostile approver escaped.
    QVERIFY2(summary.contains(m_keys[2]), qPrintable(summary));
    QVERIFY2(summary.contains(QStringLiteral("mallory\\x1B[2J\\u202E")), qPrintable(summary));
    QVERIFY(!summary.contains(QChar(0x1b)) && !summary.contains(QChar(0x202e)));
    QCOMPARE(get(m_keys[0]), before[0]);
    QCOMPARE(get(m_keys[1]), before[1]);
    QVERIFY(get(m_keys[2]) != before[2]); // a conflict is never overwritten silently
    dialog->close();
}

QTEST_MAIN(TestCorpusDialog)
#include "tst_corpusdialog.moc"
