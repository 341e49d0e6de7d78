// l0l3-console: the approval console. --demo starts the local three-region
// stack and connects to it; --headless prints a status line per second
// instead of a window; --screenshot FILE --quit-after S renders the window
// after S seconds and exits (docs and tests).
#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QImage>
#include <QPixmap>
#include <QProgressDialog>
#include <QTabWidget>
#include <QTextStream>
#include <QTimer>

#include <memory>

#include "app/console/demotomonitor.h"
#include "core/localstack/demoautopilot.h"
#include "core/localstack/demoheadlessrunner.h"
#include "core/localstack/demostack.h"
#include "core/localstack/unixsignalnotifier.h"
#include "ui/dashboard/dashboardpage.h"
#include "ui/mainwindow.h"
#include "ui/settings/profilestore.h"

using namespace l0l3;

namespace {

struct Options
{
    QString profile;
    bool demo = false;
    bool headless = false;
    QString screenshot;
    double quitAfter = 0;
    QString tab;
    double autoApprove = 0; // seconds between autopilot approvals; 0: off
    bool tls = false;       // the demo over TLS
};

DemoOptions demoOptions(const Options &o)
{
    DemoOptions options;
    options.tls = o.tls;
    return options;
}

int usageError(const QString &message)
{
    QTextStream(stderr) << "l0l3-console: " << message << " (see --help)\n";
    return 2;
}

bool hasFlag(int argc, char *argv[], const char *flag)
{
    for (int i = 1; i < argc; ++i) {
        if (qstrcmp(argv[i], flag) == 0)
            return true;
    }
    return false;
}

// Returns -1 when parsing succeeded and the program should go on.
int parse(const QStringList &arguments, Options *o)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("L0L3 approval console"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption profile(QStringLiteral("profile"),
                                     QStringLiteral("Connect with this connection profile. Passwords: "
                                                    "$L0L3_CONSOLE_PASSWORD, $L0L3_TOPOLOGY_PASSWORD, "
                                                    "$L0L3_SENTINEL_AUTH_PASSWORD (or each with _FILE), "
                                                    "else the keychain; never on the command line."),
                                     QStringLiteral("NAME"));
    const QCommandLineOption demo(QStringLiteral("demo"),
                                  QStringLiteral("Start the local three-region demo stack and connect to it."));
    const QCommandLineOption headless(QStringLiteral("headless"),
                                      QStringLiteral("With --demo: no window, one status line per second."));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                        QStringLiteral(
                                            "Write the main window as a PNG after --quit-after seconds, then exit."),
                                        QStringLiteral("FILE"));
    const QCommandLineOption quitAfter(QStringLiteral("quit-after"),
                                       QStringLiteral(
                                           "Exit after S seconds (with --demo: counted from when the stack is ready)."),
                                       QStringLiteral("S"));
    const QCommandLineOption tab(
        QStringLiteral("tab"),
        QStringLiteral("Open on this tab: proposals, entries, audit, dashboards, topology (for screenshots)."),
        QStringLiteral("NAME"));
    const QCommandLineOption autoApprove(QStringLiteral("auto-approve"),
                                         QStringLiteral(
                                             "With --demo: approve the top-ranked proposal every S seconds "
                                             "(audited as demo-autopilot), so hits show without an operator."),
                                         QStringLiteral("S"));
    const QCommandLineOption tls(QStringLiteral("tls"),
                                 QStringLiteral("With --demo: every Redis link over TLS only, verified against a CA "
                                                "made for the run (in the demo's data directory)."));
    parser.addOptions({profile, demo, headless, screenshot, quitAfter, tab, autoApprove, tls});
    if (!parser.parse(arguments))
        return usageError(parser.errorText());
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);
    if (parser.isSet(QStringLiteral("version")))
        parser.showVersion();
    o->profile = parser.value(profile);
    o->demo = parser.isSet(demo);
    o->headless = parser.isSet(headless);
    o->tls = parser.isSet(tls);
    o->screenshot = parser.value(screenshot);
    o->tab = parser.value(tab).toLower();
    if (parser.isSet(quitAfter)) {
        bool ok = false;
        o->quitAfter = parser.value(quitAfter).toDouble(&ok);
        if (!ok || !(o->quitAfter > 0))
            return usageError(QStringLiteral("--quit-after must be a number of seconds > 0"));
    }
    if (parser.isSet(autoApprove)) {
        bool ok = false;
        o->autoApprove = parser.value(autoApprove).toDouble(&ok);
        if (!ok || !(o->autoApprove >= 0.1))
            return usageError(QStringLiteral("--auto-approve must be a number of seconds >= 0.1"));
        if (!o->demo)
            return usageError(QStringLiteral("--auto-approve needs --demo: outside the demo a person approves"));
    }
    if (o->headless && !o->demo)
        return usageError(QStringLiteral("--headless needs --demo"));
    if (o->tls && !o->demo)
        return usageError(QStringLiteral("--tls needs --demo; a profile takes a rediss:// URL and its CA file"));
    if (o->headless && !o->screenshot.isEmpty())
        return usageError(QStringLiteral("--screenshot needs a window; drop --headless"));
    if (!o->screenshot.isEmpty() && !(o->quitAfter > 0))
        return usageError(QStringLiteral("--screenshot needs --quit-after SECONDS"));
    return -1;
}

void startAutopilot(const Options &o, const DemoTopology &topology, QObject *owner)
{
    if (!(o.autoApprove > 0))
        return;
    auto *autopilot = new DemoAutopilot(DemoToMonitor::serviceOptions(topology), int(o.autoApprove * 1000), owner);
    QObject::connect(autopilot, &DemoAutopilot::report, owner,
                     [](const QString &line) { QTextStream(stdout) << line << Qt::endl; });
    autopilot->start();
}

// A child of the stack that crashed or exited non-zero fails the run; stop() logged which and why.
int withChildExits(const DemoStack &stack, int exitCode)
{
    const qsizetype unclean = stack.uncleanExits().size();
    if (unclean == 0)
        return exitCode;
    QTextStream(stderr) << "l0l3-console: " << unclean << " process(es) of the demo stack did not exit cleanly"
                        << Qt::endl;
    return exitCode != 0 ? exitCode : 1;
}

int runHeadless(QCoreApplication &app, const Options &o)
{
    UnixSignalNotifier::quitOnTermination(&app);
    DemoStack stack(demoOptions(o));
    DemoHeadlessRunner runner(&stack);
    // Owns the autopilot: destroyed (its Redis link closed) before the stack
    // stops the servers and while the application still exists.
    auto autopilotScope = std::make_unique<QObject>();
    int exitCode = 0;
    QObject::connect(&stack, &DemoStack::progress, &app, [](int i, int n, const QString &text) {
        QTextStream(stdout) << '[' << i << '/' << n << "] " << text << Qt::endl;
    });
    QObject::connect(&stack, &DemoStack::failed, &app, [&exitCode](const QString &error) {
        QTextStream(stderr) << "l0l3-console: the demo stack did not start: " << error << Qt::endl;
        exitCode = 1;
        QCoreApplication::quit();
    });
    QObject::connect(&stack, &DemoStack::ready, &app, [&] {
        QTextStream(stdout) << "demo ready" << Qt::endl;
        runner.start();
        startAutopilot(o, stack.topology(), autopilotScope.get());
        if (o.quitAfter > 0)
            QTimer::singleShot(int(o.quitAfter * 1000), &app, &QCoreApplication::quit);
    });
    QTimer::singleShot(0, &stack, &DemoStack::start);
    app.exec();
    autopilotScope.reset();
    runner.stop();
    stack.stop();
    return withChildExits(stack, exitCode);
}

void scheduleExit(QApplication &app, MainWindow &window, const Options &o, int *exitCode)
{
    if (!(o.quitAfter > 0))
        return;
    QTimer::singleShot(int(o.quitAfter * 1000), &app, [&app, &window, o, exitCode] {
        if (!o.screenshot.isEmpty()) {
            const QPixmap shot = window.grab();
            if (shot.isNull() || !shot.save(o.screenshot, "PNG")) {
                QTextStream(stderr) << "l0l3-console: cannot write the screenshot to " << o.screenshot << Qt::endl;
                *exitCode = 1;
            } else {
                QTextStream(stdout) << "screenshot " << o.screenshot << ' ' << shot.width() << 'x' << shot.height()
                                    << Qt::endl;
                // What the Dashboards showed, for scripts and tests.
                QTextStream(stdout) << "dashboards: " << window.dashboardPage()->regions().join(u',') << Qt::endl;
            }
        }
        app.quit();
    });
}

int runWindow(QApplication &app, const Options &o)
{
    UnixSignalNotifier::quitOnTermination(&app);
    int exitCode = 0;
    // The window (its Redis links and threads, the autopilot) is destroyed
    // before the stack stops the servers, so no link sees them go away.
    std::unique_ptr<DemoStack> stack;
    auto windowOwner = std::make_unique<MainWindow>();
    MainWindow &window = *windowOwner;
    if (!o.screenshot.isEmpty())
        window.resize(1280, 800);
    if (!o.tab.isEmpty()) {
        bool found = false;
        for (int i = 0; i < window.tabs()->count(); ++i) {
            if (window.tabs()->tabText(i).remove(QLatin1Char('&')).toLower().startsWith(o.tab)) {
                window.tabs()->setCurrentIndex(i);
                found = true;
                break;
            }
        }
        if (!found)
            return usageError(QStringLiteral("unknown --tab %1").arg(o.tab));
    }

    if (o.demo) {
        stack = std::make_unique<DemoStack>(demoOptions(o));
        auto *progress = new QProgressDialog(QObject::tr("Starting the three-region demo…"), QString(), 0,
                                             DemoStack::stepCount(), &window);
        progress->setWindowTitle(QObject::tr("L0L3 demo"));
        progress->setMinimumDuration(0);
        progress->setAutoClose(false);
        progress->setValue(0);
        QObject::connect(stack.get(), &DemoStack::progress, progress,
                         [progress](int step, int total, const QString &text) {
                             progress->setMaximum(total);
                             progress->setValue(step);
                             progress->setLabelText(text);
                             QTextStream(stdout) << '[' << step << '/' << total << "] " << text << Qt::endl;
                         });
        QObject::connect(stack.get(), &DemoStack::failed, &app, [&exitCode, progress](const QString &error) {
            QTextStream(stderr) << "l0l3-console: the demo stack did not start: " << error << Qt::endl;
            progress->close();
            exitCode = 1;
            QCoreApplication::quit();
        });
        QObject::connect(stack.get(), &DemoStack::processExited, &window, [&window](const QString &name, int code) {
            QTextStream(stderr) << "l0l3-console: demo process " << name << " exited with code " << code << Qt::endl;
            Q_UNUSED(window);
        });
        QObject::connect(stack.get(), &DemoStack::ready, &window, [&, progress] {
            progress->close();
            progress->deleteLater();
            const DemoTopology t = stack->topology();
            window.connectWith(DemoToMonitor::primaryOptions(t), QStringLiteral("demo primary"));
            DemoToMonitor::exportSentinelEnvironment(t);
            window.setMonitoring(DemoToMonitor::monitorConfig(t));
            window.setWindowTitle(QObject::tr("L0L3 console — local demo"));
            QTextStream(stdout) << "demo ready" << Qt::endl;
            startAutopilot(o, t, &window);
            scheduleExit(app, window, o, &exitCode);
        });
        window.show();
        QTimer::singleShot(0, stack.get(), &DemoStack::start);
    } else {
        window.show();
        const QString name = o.profile.isEmpty() ? ProfileStore::lastUsed() : o.profile;
        if (const auto profile = ProfileStore::find(name)) {
            window.connectProfile(*profile);
        } else if (!o.profile.isEmpty()) {
            QTextStream(stderr) << "l0l3-console: no connection profile named " << o.profile << Qt::endl;
            return 2;
        } else if (o.screenshot.isEmpty()) {
            QTimer::singleShot(0, &window, &MainWindow::openSettings);
        }
        scheduleExit(app, window, o, &exitCode);
    }

    app.exec();
    QTextStream(stdout).flush();
    if (stack)
        QObject::disconnect(stack.get(), nullptr, nullptr, nullptr);
    windowOwner.reset();
    if (stack) {
        stack->stop();
        exitCode = withChildExits(*stack, exitCode);
    }
    return exitCode;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication::setOrganizationName(QStringLiteral("L0L3"));
    QCoreApplication::setApplicationName(QStringLiteral("l0l3-console"));
    QCoreApplication::setApplicationVersion(QStringLiteral(L0L3_VERSION));

    // --headless, --help and --version must not need a display: decide
    // before creating the app.
    if (hasFlag(argc, argv, "--headless") || hasFlag(argc, argv, "--help") || hasFlag(argc, argv, "-h")
        || hasFlag(argc, argv, "--version") || hasFlag(argc, argv, "-v")) {
        QCoreApplication app(argc, argv);
        Options o;
        if (const int rc = parse(app.arguments(), &o); rc >= 0)
            return rc;
        return runHeadless(app, o);
    }
    if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY")
        && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
        QTextStream(stderr) << "l0l3-console: no display (DISPLAY/WAYLAND_DISPLAY unset); use --demo --headless, "
                               "or QT_QPA_PLATFORM=offscreen with --screenshot\n";
        return 1;
    }
    QApplication app(argc, argv);
    Options o;
    if (const int rc = parse(app.arguments(), &o); rc >= 0)
        return rc;
    return runWindow(app, o);
}
