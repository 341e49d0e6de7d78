// Per-namespace review guidelines against a real primary: the pane beside the
// proposal renders the Markdown without HTML (HTML, images and bidi controls
// in it stay visible text), the editor writes them, a value over 64 KiB is
// refused both ways, and `l0l3-ctl guidelines set/get` round-trips a file.
#include <QDialog>
#include <QDialogButtonBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>

#include <memory>

#include "core/control/guidelines.h"
#include "tests/support/managedprocess.h"
#include "tests/support/redisserver.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"
#include "ui/proposals/guidelinespane.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

const QByteArray kHostile = QByteArrayLiteral(
    "# Support answers\n\n"
    "Keep it **short**.\n\n"
    "<b>not bold</b> <img src=\"file:///etc/passwd\"> <script>alert(1)</script>\n\n"
    "<div style=\"color:red\">a block</div>\n\n"
    "![logo](file:///etc/hostname) [a link](https://example.invalid/)\n\n"
    "evil \xe2\x80\xae reversed\n");

} // namespace

class TestGuidelines : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void htmlStaysText();
    void editorWritesThem();
    void oversizedRefused();
    void ctlRoundTrip();

private:
    RedisClient redis() const { return m_primary->client(); }
    // Shows ns in a fresh pane and waits until it was read.
    std::unique_ptr<GuidelinesPane> showFresh(const QString &ns);

    std::unique_ptr<RedisServer> m_primary;
    std::unique_ptr<ControlClient> m_control;
};

void TestGuidelines::initTestCase()
{
    QString error;
    m_primary = std::make_unique<RedisServer>();
    QVERIFY2(m_primary->start({}, &error), qPrintable(error));
    m_control = std::make_unique<ControlClient>();
    QSignalSpy state(m_control->worker(), &ControlWorker::connectionChanged);
    RedisConnection::Options o;
    o.host = m_primary->host();
    o.port = m_primary->port();
    o.user = QByteArrayLiteral("console");
    o.password = TestCredentials::get().console.toUtf8();
    m_control->connectTo(o, QStringLiteral("tst_guidelines"));
    QTRY_VERIFY_WITH_TIMEOUT(!state.isEmpty() && state.last().at(0).toString() == QLatin1String("ready"),
                             TimeScale::ms(10000));
}

void TestGuidelines::cleanupTestCase()
{
    m_control.reset();
    if (m_primary)
        QVERIFY2(m_primary->stop(), qPrintable(m_primary->logTail()));
}

std::unique_ptr<GuidelinesPane> TestGuidelines::showFresh(const QString &ns)
{
    auto pane = std::make_unique<GuidelinesPane>(m_control.get());
    QSignalSpy shown(pane.get(), &GuidelinesPane::shown);
    pane->showNamespace(ns);
    if (!shown.wait(TimeScale::ms(10000)))
        return {};
    return pane;
}

void TestGuidelines::htmlStaysText()
{
    RedisClient r = redis();
    QVERIFY2(r.isConnected(), qPrintable(r.lastError()));
    QVERIFY(!r.command({"SET", "l0l3:v1:guidelines:support", kHostile}).isError());

    auto pane = showFresh(QStringLiteral("support"));
    QVERIFY(pane);
    QCOMPARE(pane->markdown(), QString::fromUtf8(kHostile));
    const QString text = pane->view()->document()->toPlainText();
    // Markdown is rendered: the heading and emphasis lose their markers.
    QVERIFY2(text.contains(QLatin1String("Support answers")), qPrintable(text));
    QVERIFY2(!text.contains(QLatin1String("# Support")), qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("Keep it short.")), qPrintable(text));
    // HTML is not: every tag is shown as written.
    for (const char *tag : {"<b>not bold</b>", "<img src=\"file:///etc/passwd\">", "<script>alert(1)</script>",
                            "<div style=\"color:red\">a block</div>"})
        QVERIFY2(text.contains(QLatin1String(tag)), tag);
    const QString html = pane->view()->document()->toHtml();
    QVERIFY2(!html.contains(QLatin1String("<img src=\"file:///etc/passwd\"")), qPrintable(html));
    QVERIFY2(!html.contains(QLatin1String("<script")), qPrintable(html));
    // The bidi override is shown as an escape, never applied.
    QVERIFY2(!text.contains(QChar(0x202E)), qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("\\u202E")), qPrintable(text));
    // The Markdown image stays an image reference that loads nothing.
    const QVariant image = pane->view()->loadResource(QTextDocument::ImageResource,
                                                      QUrl(QStringLiteral("file:///etc/hostname")));
    QVERIFY(!image.isValid());

    // A namespace without guidelines says so.
    auto empty = showFresh(QStringLiteral("nothing-here"));
    QVERIFY(empty);
    QVERIFY(empty->view()->toPlainText().contains(QLatin1String("No guidelines")));
}

void TestGuidelines::editorWritesThem()
{
    auto pane = showFresh(QStringLiteral("billing"));
    QVERIFY(pane);
    pane->show();
    pane->editGuidelines();
    auto *dialog = pane->findChild<QDialog *>(QStringLiteral("guidelinesDialog"));
    QVERIFY(dialog);
    auto *editor = dialog->findChild<QPlainTextEdit *>(QStringLiteral("guidelinesEditor"));
    QVERIFY(editor);
    const QString written = QStringLiteral("## Billing\n\n- Never quote a price.\n- <i>Refunds</i>: link the form.\n");
    editor->setPlainText(written);
    QSignalSpy shown(pane.get(), &GuidelinesPane::shown);
    dialog->findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Save)->click();
    // Written to the primary, then read back and shown.
    QTRY_COMPARE_WITH_TIMEOUT(redis().command({"GET", "l0l3:v1:guidelines:billing"}).str, written.toUtf8(),
                              TimeScale::ms(10000));
    QTRY_COMPARE_WITH_TIMEOUT(pane->markdown(), written, TimeScale::ms(10000));
    QVERIFY(pane->view()->document()->toPlainText().contains(QLatin1String("<i>Refunds</i>")));
}

void TestGuidelines::oversizedRefused()
{
    // Stored by someone else past the bound: not shown, an error instead.
    RedisClient r = redis();
    QVERIFY(!r.command({"SET", "l0l3:v1:guidelines:huge", QByteArray(Guidelines::kMaxBytes + 1, 'x')}).isError());
    auto pane = showFresh(QStringLiteral("huge"));
    QVERIFY(pane);
    QVERIFY2(pane->view()->toPlainText().contains(QLatin1String("Could not read")),
             qPrintable(pane->view()->toPlainText()));
    QVERIFY(pane->markdown().isEmpty());
    // And never written.
    QVERIFY(!Guidelines::checkText(QByteArray(Guidelines::kMaxBytes + 1, 'x')).isEmpty());
    QVERIFY(Guidelines::checkText(QByteArray(Guidelines::kMaxBytes, 'x')).isEmpty());
    QVERIFY(!Guidelines::checkText(QByteArray("\xff\xfe")).isEmpty());
    QVERIFY(!Guidelines::checkNamespace(QString()).isEmpty());
    QVERIFY(!Guidelines::checkNamespace(QStringLiteral("a\nb")).isEmpty());
}

void TestGuidelines::ctlRoundTrip()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QFile in(dir.filePath(QStringLiteral("in.md")));
    QVERIFY(in.open(QIODevice::WriteOnly));
    in.write(kHostile);
    in.close();

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("L0L3_REDIS_PASSWORD"), TestCredentials::get().console);
    const QString primary = QStringLiteral("redis://console@%1:%2").arg(m_primary->host()).arg(m_primary->port());
    auto ctl = [&](const QStringList &args, QByteArray *out = nullptr) {
        ManagedProcess p;
        if (!p.start(ManagedProcess::binary(QStringLiteral("l0l3-ctl")),
                     QStringList{QStringLiteral("--primary"), primary} + args, env)
            || !p.waitForFinished(TimeScale::ms(30000)))
            return -1;
        if (out)
            *out = p.stdoutText();
        if (p.exitCode() != 0)
            qWarning("l0l3-ctl: %s", p.stderrText().constData());
        return p.exitCode();
    };
    QCOMPARE(ctl({QStringLiteral("guidelines"), QStringLiteral("set"), QStringLiteral("faq"), QStringLiteral("--file"),
                  in.fileName()}),
             0);
    QCOMPARE(redis().command({"GET", "l0l3:v1:guidelines:faq"}).str, kHostile);
    const QString outPath = dir.filePath(QStringLiteral("out.md"));
    QCOMPARE(ctl({QStringLiteral("guidelines"), QStringLiteral("get"), QStringLiteral("faq"), QStringLiteral("--file"),
                  outPath}),
             0);
    QFile out(outPath);
    QVERIFY(out.open(QIODevice::ReadOnly));
    QCOMPARE(out.readAll(), kHostile);
    // To the terminal: the bidi override escaped, newlines kept.
    QByteArray printed;
    QCOMPARE(ctl({QStringLiteral("guidelines"), QStringLiteral("get"), QStringLiteral("faq")}, &printed), 0);
    QVERIFY2(!printed.contains("\xe2\x80\xae") && printed.contains("\\u202E")
                 && printed.contains("# Support answers\n"),
             printed.constData());
    // Usage errors: no file for set, a bad sub-command; a file over 64 KiB is refused.
    QCOMPARE(ctl({QStringLiteral("guidelines"), QStringLiteral("set"), QStringLiteral("faq")}), 2);
    QCOMPARE(ctl({QStringLiteral("guidelines"), QStringLiteral("drop"), QStringLiteral("faq")}), 2);
    QFile big(dir.filePath(QStringLiteral("big.md")));
    QVERIFY(big.open(QIODevice::WriteOnly));
    big.write(QByteArray(Guidelines::kMaxBytes + 1, 'x'));
    big.close();
    QCOMPARE(ctl({QStringLiteral("guidelines"), QStringLiteral("set"), QStringLiteral("faq"), QStringLiteral("--file"),
                  big.fileName()}),
             1);
    QCOMPARE(redis().command({"GET", "l0l3:v1:guidelines:faq"}).str, kHostile);
    // An empty file deletes them.
    QFile empty(dir.filePath(QStringLiteral("empty.md")));
    QVERIFY(empty.open(QIODevice::WriteOnly));
    empty.close();
    QCOMPARE(ctl({QStringLiteral("guidelines"), QStringLiteral("set"), QStringLiteral("faq"), QStringLiteral("--file"),
                  empty.fileName()}),
             0);
    QVERIFY(redis().command({"EXISTS", "l0l3:v1:guidelines:faq"}).integer == 0);
}

QTEST_MAIN(TestGuidelines)
#include "tst_guidelines.moc"
