#include <QDir>
#include <QFileInfo>
#include <QProcessEnvironment>
#include <QStandardPaths>
#include <QTest>

#include <memory>

#include "tests/support/gatewaystack.h"
#include "tests/support/managedprocess.h"
#include "tests/support/testcredentials.h"
#include "tests/support/timescale.h"

using namespace l0l3::test;

namespace {

// The stub's pacing of a stream, and what the SDK must see of it: the first
// chunk long before the stream's end.
constexpr int kTtftMs = 50;
constexpr int kLatencyMs = 1500;
constexpr int kFirstChunkMaxMs = 700;
constexpr int kLastChunkMinMs = 1000;
constexpr int kScriptTimeoutMs = 60000;

const QLatin1String kInstallHint("run scripts/install-deps.sh (installs nodejs, npm and tests/sdk/node_modules)");

} // namespace

// The gateway driven by the official OpenAI Node SDK (tests/sdk/openai-sdk.mjs,
// the 'openai' package pinned in tests/sdk/package-lock.json) against real
// processes: redis primary and replica, l0l3-stub-llm streaming with
// --ttft-ms and --latency-ms behind one gateway, and a second stub that
// answers every request with 429 and Retry-After behind a second gateway.
// Node or the SDK missing is a failure, not a skip.
class TestOpenAiSdk : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void officialSdkAgainstTheGateway();

private:
    QString m_node;
    QString m_script;
    GatewayStack m_stack;
    ManagedProcess m_limitedStub;
    std::unique_ptr<ManagedProcess> m_limitedGateway;
    std::unique_ptr<ManagedProcess> m_sdkRun;
    int m_limitedGatewayPort = -1;
};

void TestOpenAiSdk::initTestCase()
{
    m_node = QStandardPaths::findExecutable(QStringLiteral("node"));
    if (m_node.isEmpty())
        m_node = QStandardPaths::findExecutable(QStringLiteral("nodejs"));
    QVERIFY2(!m_node.isEmpty(), qPrintable(QStringLiteral("node is not on PATH: %1").arg(kInstallHint)));

    const QDir sdkDir(TestCredentials::sourceDir() + QStringLiteral("/tests/sdk"));
    m_script = sdkDir.filePath(QStringLiteral("openai-sdk.mjs"));
    QVERIFY2(QFileInfo::exists(m_script), qPrintable(QStringLiteral("%1 is missing").arg(m_script)));
    const QString sdkPackage = sdkDir.filePath(QStringLiteral("node_modules/openai/package.json"));
    QVERIFY2(QFileInfo::exists(sdkPackage),
             qPrintable(
                 QStringLiteral("the OpenAI SDK is not installed (%1 is missing): %2").arg(sdkPackage, kInstallHint)));

    QString error;
    GatewayStack::Options options;
    options.stubArgs = QStringList{QStringLiteral("--ttft-ms"), QString::number(kTtftMs),
                                   QStringLiteral("--latency-ms"), QString::number(kLatencyMs)};
    QVERIFY2(m_stack.start(options, &error), qPrintable(error));

    QVERIFY2(m_limitedStub.start(ManagedProcess::binary(QStringLiteral("l0l3-stub-llm")),
                                 {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                                  QStringLiteral("--fail-rate"), QStringLiteral("1"), QStringLiteral("--fail-status"),
                                  QStringLiteral("429"), QStringLiteral("--retry-after"), QStringLiteral("1")},
                                 QProcessEnvironment::systemEnvironment(), &error),
             qPrintable(error));
    const int limitedStubPort = m_limitedStub.listenPort();
    QVERIFY2(limitedStubPort > 0, qPrintable(m_limitedStub.describe()));
    // The last --upstream wins over the stack's standard one.
    m_limitedGateway = m_stack.launchGateway(
        {QStringLiteral("--upstream"), QStringLiteral("http://127.0.0.1:%1/v1").arg(limitedStubPort)}, &error);
    QVERIFY2(m_limitedGateway, qPrintable(error));
    m_limitedGatewayPort = m_limitedGateway->listenPort();
    QVERIFY(m_limitedGatewayPort > 0);
}

void TestOpenAiSdk::cleanupTestCase()
{
    if (m_limitedGateway)
        m_limitedGateway->stop();
    m_limitedStub.stop();
    m_stack.stop();
}

void TestOpenAiSdk::cleanup()
{
    m_stack.printLogsIfFailed({m_limitedGateway.get(), &m_limitedStub, m_sdkRun.get()});
    QVERIFY2(m_stack.gateway().isRunning(), "the gateway died");
    QVERIFY2(m_stack.stub().isRunning(), "the stub died");
    QVERIFY2(m_limitedGateway && m_limitedGateway->isRunning(), "the rate-limited gateway died");
}

void TestOpenAiSdk::officialSdkAgainstTheGateway()
{
    const QStringList args{
        m_script,
        m_stack.gatewayUrl(QStringLiteral("/v1")).toString(),
        QStringLiteral("--rate-limited-url"),
        QStringLiteral("http://127.0.0.1:%1/v1").arg(m_limitedGatewayPort),
        QStringLiteral("--first-chunk-max-ms"),
        QString::number(TimeScale::ms(kFirstChunkMaxMs)),
        // A lower bound set by the stub's pacing: not scaled.
        QStringLiteral("--last-chunk-min-ms"),
        QString::number(kLastChunkMinMs),
        QStringLiteral("--timeout-ms"),
        QString::number(TimeScale::ms(20000)),
    };
    m_sdkRun = std::make_unique<ManagedProcess>();
    QString error;
    QVERIFY2(m_sdkRun->start(m_node, args, QProcessEnvironment::systemEnvironment(), &error), qPrintable(error));
    if (!m_sdkRun->waitForFinished(kScriptTimeoutMs)) {
        const QString output = m_sdkRun->describe(60);
        m_sdkRun->kill();
        QFAIL(qPrintable(QStringLiteral("openai-sdk.mjs did not finish in time\n") + output));
    }
    const QString stdoutText = QString::fromUtf8(m_sdkRun->stdoutText());
    const QString report = QStringLiteral("%1 exited %2\nstdout:\n%3\nstderr:\n%4")
                               .arg(m_script)
                               .arg(m_sdkRun->exitCode())
                               .arg(stdoutText, QString::fromUtf8(m_sdkRun->stderrText()));
    qInfo().noquote() << stdoutText.trimmed();
    if (m_sdkRun->exitCode() == 2)
        QFAIL(qPrintable(QStringLiteral("the SDK script could not run (%1)\n%2").arg(kInstallHint, report)));
    QVERIFY2(m_sdkRun->exitStatus() == QProcess::NormalExit && m_sdkRun->exitCode() == 0, qPrintable(report));
    for (const char *check : {"non-streaming-miss", "repeat-unapproved-is-miss", "streaming-chunks-as-they-come",
                              "upstream-429-is-RateLimitError"}) {
        QVERIFY2(stdoutText.contains(QStringLiteral("\nok %1: ").arg(QLatin1String(check)))
                     || stdoutText.startsWith(QStringLiteral("ok %1: ").arg(QLatin1String(check))),
                 qPrintable(QStringLiteral("no passing '%1' check\n%2").arg(QLatin1String(check), report)));
    }
}

QTEST_GUILESS_MAIN(TestOpenAiSdk)
#include "tst_openaisdk.moc"
