#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QTimeZone>
#include <QTimer>

#include <cstdio>

#include "app/ctl/ctlrunner.h"
#include "app/ctl/foureyescommand.h"
#include "app/ctl/guidelinescommand.h"
#include "app/ctl/operatorscommand.h"
#include "app/ctl/reservationscommand.h"

using l0l3::CtlRunner;

namespace {

const char kUsage[] =
    "usage: l0l3-ctl --primary redis://[user:pass@]HOST:PORT [--actor NAME] COMMAND [ARGS]\n"
    "commands:\n"
    "  proposals [--limit N] [--json]       ranked proposals (by estimated savings)\n"
    "  approve ID [--response-file F] [--intent NAME] [--variant-of KEY]\n"
    "                                       --variant-of: attach it as a variant of the approved entry KEY\n"
    "                                       (its phrasing then serves KEY's answer, edited and revoked with it)\n"
    "  variants KEY [--json]                the variants of an approved entry\n"
    "  reject ID [--days N]\n"
    "  revoke KEY                           KEY as in the gateway's x-l0l3-key header\n"
    "  edit KEY --response-file F [--expect-version V]\n"
    "  entries [--json] [--search TEXT]\n"
    "  audit [--json] [--limit N]\n"
    "  freeze | unfreeze                    approvals\n"
    "  drain REGION | undrain REGION | flush\n"
    "  export --out FILE [--with-audit]     the corpus (entries, rejected keys) as a checked file\n"
    "  audit-archive --before DATE --out FILE\n"
    "                                       audit records older than DATE (YYYY-MM-DD[THH:MM:SSZ], UTC) to a\n"
    "                                       checked file, then trimmed (as the audit-archiver user only)\n"
    "  stats [--json] [--days N]            the team's numbers over the last N UTC days (default 7):\n"
    "                                       decisions, time per decision, ratios, inflow vs outflow\n"
    "  fleet [--json] [--sentinel HOST:PORT,...] [--master-name NAME] [--no-scrape]\n"
    "                                       regions, gateways (registry + their /metrics), replicas,\n"
    "                                       Sentinels (their user/password: $L0L3_SENTINEL_AUTH_USER/_PASSWORD)\n"
    "  reverify list [--json] [--limit N]  approved entries past their review date, most overdue first\n"
    "  reverify keep KEY [--days N] [--expect-version V]\n"
    "                                       re-verified: the review date moves N days (default: the entry's\n"
    "                                       period, else its namespace's in l0l3:v1:review-policy, else 90)\n"
    "  reservations list [--json] | claim namespace|region|cluster VALUE [MINUTES] | release KIND VALUE\n"
    "                                       who holds which slice of the queue; claim it for yourself (the\n"
    "                                       logged-in ACL user) for MINUTES (default 30), or give it back\n"
    "  l1-review list [--json] [--limit N] sampled L1 answers waiting for a verdict, oldest first\n"
    "  l1-review confirm ID | deny ID      the verdict on one (deny tightens the entry's L1 threshold)\n"
    "  operators add NAME --role viewer|approver|admin --password-file F | rotate-password NAME\n"
    "            --password-file F | remove NAME | list [--json] | sync [--sentinel HOST:PORT,...]\n"
    "                                       operator ACL users (op-NAME) on the primary, its replicas and the\n"
    "                                       Sentinels' nodes; as an admin operator or a Redis superuser. Here\n"
    "                                       --password-file is the operator's: log in with $L0L3_REDIS_PASSWORD\n"
    "  guidelines get NS [--file F] | guidelines set NS --file F\n"
    "                                       a namespace's review guidelines (Markdown, at most 64 KiB; an\n"
    "                                       empty file deletes them); set as an admin\n"
    "  four-eyes list | pending [--json] | set NS | unset NS\n"
    "                                       namespaces whose approvals need a second approver, a different\n"
    "                                       user (the first approval only signs off); pending: the proposals\n"
    "                                       waiting for it; set/unset as an admin (audited)\n"
    "  import FILE [--dry-run] [--prefer newer|file|server]\n"
    "                                       restore it; conflicts are listed, never overwritten\n"
    "  vectors rebuild [--missing]          recompute the L1 vectors of all approved entries with the\n"
    "                                       embeddings provider below (after switching it); --missing: only\n"
    "                                       those without a vector of that model (after embeddings failures)\n"
    "embeddings (approve, import, vectors): the gateways' provider, the embedded lexical one without\n"
    "  --embeddings URL --embeddings-model NAME [--embeddings-ca-file F] [--embeddings-timeout-ms N]\n"
    "  (an OpenAI-compatible /v1/embeddings endpoint, http or https; its key in $L0L3_EMBEDDINGS_API_KEY\n"
    "  or --embeddings-api-key-file F); when it fails an approval is\n"
    "  still written, without its vector, with a warning: vectors rebuild --missing repairs it\n"
    "password: in the URL, $L0L3_REDIS_PASSWORD or --password-file F (user defaults to \"console\")\n"
    "output: text read from Redis never reaches the terminal raw: in table rows control characters,\n"
    "  bidi overrides and line separators are escaped (\\n, \\x1B, \\u202E), a backslash as \\\\;\n"
    "  --json writes them as \\u escapes (the same JSON values)\n"
    "exit codes: 0 ok, 1 operational error (an invalid export file too), 2 usage error,\n"
    "  3 version conflict (import: conflicts left unresolved)\n";

int usageError(const QString &message)
{
    std::fprintf(stderr, "l0l3-ctl: %s\n%s", qPrintable(message), kUsage);
    return CtlRunner::UsageError;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("l0l3-ctl"));

    QCommandLineParser parser;
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsOptions);
    const QCommandLineOption primary(QStringLiteral("primary"), QStringLiteral("Primary Redis URL."),
                                     QStringLiteral("url"));
    const QCommandLineOption actor(QStringLiteral("actor"), QStringLiteral("Operator name for the audit log."),
                                   QStringLiteral("name"));
    const QCommandLineOption passwordFile(QStringLiteral("password-file"), QStringLiteral("File holding the password."),
                                          QStringLiteral("file"));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("JSON output."));
    const QCommandLineOption limit(QStringLiteral("limit"), QStringLiteral("At most N rows."), QStringLiteral("n"));
    const QCommandLineOption responseFile(QStringLiteral("response-file"), QStringLiteral("Response text."),
                                          QStringLiteral("file"));
    const QCommandLineOption intent(QStringLiteral("intent"), QStringLiteral("Intent name."), QStringLiteral("name"));
    const QCommandLineOption days(QStringLiteral("days"), QStringLiteral("Days a rejected key stays rejected."),
                                  QStringLiteral("n"));
    const QCommandLineOption search(QStringLiteral("search"), QStringLiteral("Filter entries."),
                                    QStringLiteral("text"));
    const QCommandLineOption expectVersion(QStringLiteral("expect-version"), QStringLiteral("Expected entry version."),
                                           QStringLiteral("v"));
    const QCommandLineOption waitMs(QStringLiteral("wait-ms"), QStringLiteral("WAIT timeout after writes."),
                                    QStringLiteral("ms"));
    const QCommandLineOption outFile(QStringLiteral("out"), QStringLiteral("Export file."), QStringLiteral("file"));
    const QCommandLineOption before(QStringLiteral("before"), QStringLiteral("audit-archive: records older than this."),
                                    QStringLiteral("date"));
    const QCommandLineOption withAudit(QStringLiteral("with-audit"), QStringLiteral("Export the audit stream too."));
    const QCommandLineOption dryRun(QStringLiteral("dry-run"), QStringLiteral("Import: write nothing."));
    const QCommandLineOption prefer(QStringLiteral("prefer"), QStringLiteral("Import: who wins a conflict."),
                                    QStringLiteral("newer|file|server"));
    const QCommandLineOption sentinel(QStringLiteral("sentinel"), QStringLiteral("Fleet: Sentinels, HOST:PORT,..."),
                                      QStringLiteral("hosts"));
    const QCommandLineOption masterName(QStringLiteral("master-name"), QStringLiteral("Fleet: the Sentinels' name."),
                                        QStringLiteral("name"));
    const QCommandLineOption noScrape(QStringLiteral("no-scrape"),
                                      QStringLiteral("Fleet: skip the gateways' /metrics."));
    const QCommandLineOption role(QStringLiteral("role"), QStringLiteral("Operators: viewer, approver or admin."),
                                  QStringLiteral("role"));
    const QCommandLineOption variantOf(QStringLiteral("variant-of"),
                                       QStringLiteral("Approve: as a variant of this entry."), QStringLiteral("key"));
    const QCommandLineOption file(QStringLiteral("file"), QStringLiteral("Guidelines: the Markdown file."),
                                  QStringLiteral("file"));
    const QCommandLineOption help(QStringList{QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Usage."));
    parser.addOptions({primary, actor,  passwordFile,  json,       limit,    responseFile, intent,
                       days,    search, expectVersion, waitMs,     outFile,  before,       withAudit,
                       dryRun,  prefer, sentinel,      masterName, noScrape, help});
    parser.addOption(role);
    // rediss:// on --primary: TLS, verified against this CA (system CAs without it), optional client certificate.
    const QCommandLineOption redisCaFile(QStringLiteral("redis-ca-file"),
                                         QStringLiteral("CA certificates (PEM) for rediss:// links."),
                                         QStringLiteral("file"));
    const QCommandLineOption redisCertFile(QStringLiteral("redis-cert-file"),
                                           QStringLiteral("TLS client certificate (PEM)."), QStringLiteral("file"));
    const QCommandLineOption redisKeyFile(QStringLiteral("redis-key-file"), QStringLiteral("TLS client key (PEM)."),
                                          QStringLiteral("file"));
    parser.addOptions({redisCaFile, redisCertFile, redisKeyFile});
    parser.addOption(variantOf);
    parser.addOption(file);
    const QCommandLineOption embeddings(QStringLiteral("embeddings"),
                                        QStringLiteral("OpenAI-compatible /v1/embeddings URL."), QStringLiteral("url"));
    const QCommandLineOption embeddingsModel(QStringLiteral("embeddings-model"),
                                             QStringLiteral("Embeddings model name."), QStringLiteral("name"));
    const QCommandLineOption embeddingsCaFile(QStringLiteral("embeddings-ca-file"),
                                              QStringLiteral("CA certificates (PEM) for an https embeddings URL."),
                                              QStringLiteral("file"));
    const QCommandLineOption embeddingsTimeout(QStringLiteral("embeddings-timeout-ms"),
                                               QStringLiteral("Per embeddings request."), QStringLiteral("ms"));
    const QCommandLineOption missing(QStringLiteral("missing"),
                                     QStringLiteral("vectors rebuild: only entries without a vector."));
    parser.addOptions({embeddings, embeddingsModel, embeddingsCaFile, embeddingsTimeout, missing});
    const QCommandLineOption embeddingsKeyFile(QStringLiteral("embeddings-api-key-file"),
                                               QStringLiteral("File holding the embeddings endpoint's key."),
                                               QStringLiteral("file"));
    parser.addOption(embeddingsKeyFile);

    if (!parser.parse(QCoreApplication::arguments()))
        return usageError(parser.errorText());
    if (parser.isSet(help)) {
        std::fputs(kUsage, stdout);
        return 0;
    }

    const QStringList positional = parser.positionalArguments();
    if (positional.isEmpty())
        return usageError(QStringLiteral("no command given"));
    CtlRunner::Command cmd;
    cmd.name = positional.first();
    cmd.args = positional.mid(1);
    static const QHash<QString, int> arity{
        {QStringLiteral("proposals"), 0},     {QStringLiteral("approve"), 1},   {QStringLiteral("reject"), 1},
        {QStringLiteral("revoke"), 1},        {QStringLiteral("edit"), 1},      {QStringLiteral("entries"), 0},
        {QStringLiteral("audit"), 0},         {QStringLiteral("freeze"), 0},    {QStringLiteral("unfreeze"), 0},
        {QStringLiteral("drain"), 1},         {QStringLiteral("undrain"), 1},   {QStringLiteral("flush"), 0},
        {QStringLiteral("export"), 0},        {QStringLiteral("import"), 1},    {QStringLiteral("fleet"), 0},
        {QStringLiteral("audit-archive"), 0}, {QStringLiteral("variants"), 1},  {QStringLiteral("stats"), 0},
        {QStringLiteral("vectors"), 1},       {QStringLiteral("guidelines"), 2}};
    const bool operators = cmd.name == QLatin1String("operators");
    if (operators) {
        cmd.role = parser.value(role);
        cmd.operatorPasswordFile = parser.value(passwordFile);
        l0l3::OperatorsCommand::Options o;
        o.args = cmd.args;
        o.role = cmd.role;
        o.passwordFile = cmd.operatorPasswordFile;
        if (const QString why = l0l3::OperatorsCommand::checkUsage(o); !why.isEmpty())
            return usageError(why);
    } else if (cmd.name == QLatin1String("reverify")) {
        const QString sub = cmd.args.value(0);
        if (!(sub == QLatin1String("list") && cmd.args.size() == 1)
            && !(sub == QLatin1String("keep") && cmd.args.size() == 2 && !cmd.args[1].isEmpty()))
            return usageError(QStringLiteral("reverify takes \"list\" or \"keep KEY\""));
    } else if (cmd.name == QLatin1String("l1-review")) {
        const QString sub = cmd.args.value(0);
        if (!(sub == QLatin1String("list") && cmd.args.size() == 1)
            && !((sub == QLatin1String("confirm") || sub == QLatin1String("deny")) && cmd.args.size() == 2
                 && !cmd.args[1].isEmpty()))
            return usageError(QStringLiteral("l1-review takes \"list\", \"confirm ID\" or \"deny ID\""));
    } else if (cmd.name == QLatin1String("reservations")) {
        if (const QString why = l0l3::ReservationsCommand::checkUsage(cmd.args); !why.isEmpty())
            return usageError(why);
    } else if (cmd.name == QLatin1String("four-eyes")) {
        if (const QString why = l0l3::FourEyesCommand::checkUsage(cmd.args); !why.isEmpty())
            return usageError(why);
    } else if (!arity.contains(cmd.name))
        return usageError(QStringLiteral("unknown command \"%1\"").arg(cmd.name));
    if (!operators && cmd.name != QLatin1String("reverify") && cmd.name != QLatin1String("four-eyes")
        && cmd.name != QLatin1String("l1-review") && cmd.name != QLatin1String("reservations")
        && cmd.args.size() != arity.value(cmd.name))
        return usageError(QStringLiteral("%1 takes %2 argument(s)").arg(cmd.name).arg(arity.value(cmd.name)));
    if (cmd.args.size() == 1 && cmd.args.first().isEmpty())
        return usageError(QStringLiteral("%1: empty argument").arg(cmd.name));

    auto intOption = [&](const QCommandLineOption &o, qint64 *target, qint64 min) {
        if (!parser.isSet(o))
            return true;
        bool ok = false;
        const qint64 v = parser.value(o).toLongLong(&ok);
        if (!ok || v < min)
            return false;
        *target = v;
        return true;
    };
    qint64 limitV = 50, daysV = 30, expectV = 0, waitV = 1000;
    if (!intOption(limit, &limitV, 0) || !intOption(days, &daysV, 1) || !intOption(expectVersion, &expectV, 1)
        || !intOption(waitMs, &waitV, 0))
        return usageError(QStringLiteral("--limit, --days, --expect-version and --wait-ms take a positive number"));
    cmd.limit = int(qMin<qint64>(limitV, 1000000));
    cmd.days = int(qMin<qint64>(daysV, 36500));
    if (cmd.name == QLatin1String("stats"))
        cmd.days = parser.isSet(days) ? int(qMin<qint64>(daysV, 366)) : 7;
    if (cmd.name == QLatin1String("reverify"))
        cmd.reviewDays = parser.isSet(days) ? qMin<qint64>(daysV, 3650) : 0;
    cmd.expectVersion = expectV;
    cmd.waitMs = int(qMin<qint64>(waitV, 600000));
    cmd.json = parser.isSet(json);
    cmd.responseFile = parser.value(responseFile);
    cmd.intent = parser.value(intent);
    cmd.variantOf = parser.value(variantOf);
    cmd.search = parser.value(search);
    cmd.actor = parser.value(actor);
    if (cmd.actor.isEmpty())
        cmd.actor = qEnvironmentVariable("USER", QStringLiteral("l0l3-ctl"));
    if (cmd.name == QLatin1String("edit") && cmd.responseFile.isEmpty())
        return usageError(QStringLiteral("edit needs --response-file"));
    cmd.out = parser.value(outFile);
    cmd.withAudit = parser.isSet(withAudit);
    cmd.dryRun = parser.isSet(dryRun);
    cmd.prefer = parser.value(prefer);
    if (cmd.name == QLatin1String("guidelines")) {
        cmd.guidelinesFile = parser.value(file);
        if (const QString why = l0l3::GuidelinesCommand::checkUsage(cmd.args, cmd.guidelinesFile); !why.isEmpty())
            return usageError(why);
    }
    cmd.embeddings.url = parser.value(embeddings);
    cmd.embeddings.model = parser.value(embeddingsModel);
    cmd.embeddings.caFile = parser.value(embeddingsCaFile);
    qint64 embeddingsTimeoutV = cmd.embeddings.timeoutMs;
    if (!intOption(embeddingsTimeout, &embeddingsTimeoutV, 1))
        return usageError(QStringLiteral("--embeddings-timeout-ms takes a positive number"));
    cmd.embeddings.timeoutMs = int(qMin<qint64>(embeddingsTimeoutV, 600000));
    if (const QString why = cmd.embeddings.check(); !why.isEmpty())
        return usageError(why);
    cmd.missingVectors = parser.isSet(missing);
    if (cmd.embeddings.isRemote()) {
        if (parser.isSet(embeddingsKeyFile)) {
            QFile f(parser.value(embeddingsKeyFile));
            if (!f.open(QIODevice::ReadOnly))
                return usageError(QStringLiteral("cannot read %1: %2").arg(f.fileName(), f.errorString()));
            cmd.embeddings.apiKey = f.read(4096).trimmed();
        } else {
            cmd.embeddings.apiKey = qgetenv("L0L3_EMBEDDINGS_API_KEY").trimmed();
        }
    }
    if (cmd.name == QLatin1String("vectors") && cmd.args.value(0) != QLatin1String("rebuild"))
        return usageError(QStringLiteral("vectors takes \"rebuild\""));
    if (cmd.name == QLatin1String("export") && cmd.out.isEmpty())
        return usageError(QStringLiteral("export needs --out FILE"));
    if (cmd.name == QLatin1String("audit-archive")) {
        QDateTime when = QDateTime::fromString(parser.value(before), Qt::ISODate);
        if (!when.isValid())
            when = QDate::fromString(parser.value(before), Qt::ISODate).startOfDay(QTimeZone::utc());
        if (cmd.out.isEmpty() || !when.isValid())
            return usageError(QStringLiteral("audit-archive needs --before YYYY-MM-DD[THH:MM:SSZ] and --out FILE"));
        if (when.timeSpec() == Qt::LocalTime)
            when.setTimeZone(QTimeZone::utc());
        cmd.beforeMs = when.toMSecsSinceEpoch();
        if (cmd.beforeMs > QDateTime::currentMSecsSinceEpoch())
            return usageError(QStringLiteral("audit-archive --before is in the future"));
    }
    if (!cmd.prefer.isEmpty()
        && !QStringList{QStringLiteral("newer"), QStringLiteral("file"), QStringLiteral("server")}.contains(cmd.prefer))
        return usageError(QStringLiteral("--prefer takes newer, file or server"));
    for (const QString &s : parser.value(sentinel).split(u',', Qt::SkipEmptyParts)) {
        const qsizetype colon = s.lastIndexOf(u':');
        bool portOk = false;
        const int port = colon > 0 ? s.mid(colon + 1).toInt(&portOk) : 0;
        if (!portOk || port <= 0 || port > 65535)
            return usageError(QStringLiteral("--sentinel takes HOST:PORT[,HOST:PORT...]"));
        cmd.sentinels.append(s.trimmed());
    }
    if (parser.isSet(masterName))
        cmd.masterName = parser.value(masterName);
    cmd.scrape = !parser.isSet(noScrape);
    if (cmd.name == QLatin1String("import") && !QFileInfo(cmd.args.first()).isReadable())
        return usageError(QStringLiteral("cannot read %1").arg(cmd.args.first()));

    if (!parser.isSet(primary))
        return usageError(QStringLiteral("--primary is required"));
    QString why;
    auto options = l0l3::RedisConnection::Options::fromUrl(parser.value(primary), &why);
    if (!options)
        return usageError(QStringLiteral("bad --primary URL: %1").arg(why));
    // argv is readable by every local user (ps, /proc/PID/cmdline); the password itself is never repeated.
    if (!options->password.isEmpty())
        std::fputs("l0l3-ctl: warning: the password in --primary is visible to every local user (ps, /proc); "
                   "give it with --password-file FILE or L0L3_REDIS_PASSWORD instead\n",
                   stderr);
    if (options->password.isEmpty()) {
        if (parser.isSet(passwordFile) && !operators) {
            QFile f(parser.value(passwordFile));
            if (!f.open(QIODevice::ReadOnly))
                return usageError(QStringLiteral("cannot read %1: %2").arg(f.fileName(), f.errorString()));
            options->password = f.readAll().trimmed();
        } else {
            options->password = qgetenv("L0L3_REDIS_PASSWORD");
        }
    }
    if (!options->password.isEmpty() && options->user.isEmpty())
        options->user = QByteArrayLiteral("console");
    options->tls.caFile = parser.value(redisCaFile);
    options->tls.certFile = parser.value(redisCertFile);
    options->tls.keyFile = parser.value(redisKeyFile);
    if (!options->tls.enabled && (parser.isSet(redisCaFile) || parser.isSet(redisCertFile)))
        return usageError(QStringLiteral("--redis-ca-file and --redis-cert-file need a rediss:// --primary"));
    if (options->tls.certFile.isEmpty() != options->tls.keyFile.isEmpty())
        return usageError(QStringLiteral("--redis-cert-file and --redis-key-file go together"));
    options->autoReconnect = false;
    options->connectTimeoutMs = 5000;
    options->commandTimeoutMs = 10000;

    CtlRunner runner(*options, cmd);
    QObject::connect(
        &runner, &CtlRunner::done, &app, [](int code) { QCoreApplication::exit(code); }, Qt::QueuedConnection);
    QTimer::singleShot(0, &runner, &CtlRunner::start);
    return app.exec();
}
