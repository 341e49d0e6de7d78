#include "app/ctl/ctlrunner.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTextStream>

#include <cstdio>

#include "app/ctl/corpuscommand.h"
#include "app/ctl/ctloutput.h"
#include "app/ctl/fleetcommand.h"
#include "app/ctl/foureyescommand.h"
#include "app/ctl/guidelinescommand.h"
#include "app/ctl/l1reviewcommand.h"
#include "app/ctl/operatorscommand.h"
#include "app/ctl/reservationscommand.h"
#include "app/ctl/reverifycommand.h"
#include "app/ctl/statscommand.h"
#include "app/ctl/variantscommand.h"
#include "app/ctl/vectorscommand.h"
#include "core/common/controlmessage.h"
#include "core/common/visibletext.h"
#include "core/control/approvalservice.h"
#include "core/control/auditarchiver.h"
#include "core/control/auditlog.h"
#include "core/control/entrystore.h"
#include "core/control/proposalqueue.h"
#include "core/control/servedcounts.h"

namespace l0l3 {

namespace {

void outJson(const QJsonDocument &doc, QJsonDocument::JsonFormat format)
{
    const QByteArray json = doc.toJson(format);
    const std::string safe = VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())));
    std::fwrite(safe.data(), 1, safe.size(), stdout);
    if (format == QJsonDocument::Compact)
        std::fputc('\n', stdout);
    std::fflush(stdout);
}

void err(const QString &s)
{
    const QByteArray b = s.toUtf8();
    const std::string safe = VisibleText::escape(std::string_view(b.constData(), size_t(b.size())),
                                                 VisibleText::KeepNewlines)
        + '\n';
    std::fwrite(safe.data(), 1, safe.size(), stderr);
    std::fflush(stderr);
}

QString oneLine(const QString &s, int max)
{
    QString t = s.simplified();
    return t.size() > max ? t.left(max - 1) + QChar(0x2026) : t;
}

QString fromStd(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

CtlRunner::CtlRunner(const RedisConnection::Options &options, const Command &command, QObject *parent)
    : QObject(parent)
    , m_command(command)
{
    m_connection = new RedisConnection(options, this);
    m_service = new ApprovalService(m_connection, this);
    m_service->setDefaultActor(command.actor);
    m_service->setWaitTimeoutMs(command.waitMs);
    m_service->setEmbeddings(command.embeddings);
}

CtlRunner::~CtlRunner() = default;

void CtlRunner::start()
{
    connect(m_connection, &RedisConnection::connected, this, [this] {
        if (!m_started) {
            m_started = true;
            run();
        }
    });
    connect(m_connection, &RedisConnection::error, this, [this](const QString &message) {
        if (!m_started)
            finishWith(OperationalError, QStringLiteral("l0l3-ctl: ") + message);
    });
    m_connection->open();
}

void CtlRunner::finishWith(int code, const QString &message)
{
    if (m_finished)
        return;
    m_finished = true;
    if (!message.isEmpty())
        err(message);
    emit done(code);
}

void CtlRunner::report(const ApprovalResult &r)
{
    if (!r.ok) {
        const bool conflict = r.error == ApprovalResult::ErrorKind::VersionConflict
            || r.error == ApprovalResult::ErrorKind::AlreadyDecided;
        const int code = conflict                                   ? VersionConflict
            : r.error == ApprovalResult::ErrorKind::InvalidArgument ? UsageError
                                                                    : OperationalError;
        finishWith(code,
                   QStringLiteral("l0l3-ctl: %1 failed (%2): %3")
                       .arg(m_command.name, ApprovalResult::errorName(r.error), r.message));
        return;
    }
    if (m_command.json) {
        QJsonObject o{{QStringLiteral("ok"), true},
                      {QStringLiteral("action"), r.action},
                      {QStringLiteral("key"), r.key},
                      {QStringLiteral("version"), r.version},
                      {QStringLiteral("prev_version"), r.prevVersion},
                      {QStringLiteral("replicas_acked"), r.replicasAcked}};
        if (r.awaitingSecondApproval)
            o.insert(QStringLiteral("awaiting_second_approval"), true);
        if (!r.warning.isEmpty())
            o.insert(QStringLiteral("warning"), r.warning);
        outJson(QJsonDocument(o), QJsonDocument::Compact);
    } else if (r.awaitingSecondApproval) {
        CtlOutput::write(
            QStringLiteral("first approval of %1 recorded: waiting for second approval (a different user)\n")
                .arg(CtlOutput::visible(r.key)));
    } else {
        QString line = QStringLiteral("%1 %2").arg(CtlOutput::visible(r.action), CtlOutput::visible(r.key));
        if (r.version > 0)
            line += QStringLiteral(" version %1").arg(r.version);
        line += r.replicasAcked >= 0 ? QStringLiteral("; replicas acknowledged: %1").arg(r.replicasAcked)
                                     : QStringLiteral("; replicas acknowledged: unknown");
        CtlOutput::write(line + u'\n');
    }
    if (!r.warning.isEmpty())
        err(QStringLiteral("l0l3-ctl: warning: ") + r.warning);
    finishWith(Ok);
}

void CtlRunner::run()
{
    const Command &c = m_command;
    auto cb = [this](const ApprovalResult &r) { report(r); };
    auto readResponse = [this](QString *response) {
        QFile f(m_command.responseFile);
        if (!f.open(QIODevice::ReadOnly)) {
            finishWith(UsageError,
                       QStringLiteral("l0l3-ctl: cannot read %1: %2").arg(m_command.responseFile, f.errorString()));
            return false;
        }
        *response = QString::fromUtf8(f.readAll());
        return true;
    };

    if (c.name == QLatin1String("proposals")) {
        runProposals();
    } else if (c.name == QLatin1String("entries")) {
        runEntries();
    } else if (c.name == QLatin1String("audit")) {
        runAudit();
    } else if (c.name == QLatin1String("export") || c.name == QLatin1String("import")) {
        CorpusCommand::Options o;
        o.isExport = c.name == QLatin1String("export");
        o.path = o.isExport ? c.out : c.args.value(0);
        o.withAudit = c.withAudit;
        o.dryRun = c.dryRun;
        o.prefer = c.prefer;
        o.json = c.json;
        o.actor = c.actor;
        o.waitMs = c.waitMs;
        auto *command = new CorpusCommand(m_connection, m_service, o, this);
        connect(command, &CorpusCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("audit-archive")) {
        auto *archiver = new AuditArchiver(m_connection, {c.beforeMs, c.out, c.actor}, this);
        connect(archiver, &AuditArchiver::finished, this, [this](const AuditArchiver::Result &r) {
            if (r.ok)
                CtlOutput::write(r.message + u'\n');
            finishWith(r.ok ? 0 : 1, r.ok ? QString() : QStringLiteral("l0l3-ctl: audit-archive: ") + r.message);
        });
        archiver->start();
    } else if (c.name == QLatin1String("stats")) {
        auto *command = new StatsCommand(m_connection, {c.json, c.days}, this);
        connect(command, &StatsCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("operators")) {
        OperatorsCommand::Options o{c.args, c.role, c.operatorPasswordFile, c.json, {}, c.masterName};
        for (const QString &s : c.sentinels)
            o.sentinels.append({s.left(s.lastIndexOf(u':')), s.mid(s.lastIndexOf(u':') + 1).toInt()});
        auto *command = new OperatorsCommand(m_connection, o, this);
        connect(command, &OperatorsCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("four-eyes")) {
        auto *command = new FourEyesCommand(m_connection, {c.args, c.json, c.actor}, this);
        connect(command, &FourEyesCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("reservations")) {
        auto *command = new ReservationsCommand(m_connection, c.args, c.json, this);
        connect(command, &ReservationsCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("guidelines")) {
        auto *command = new GuidelinesCommand(m_connection, c.args, c.guidelinesFile, this);
        connect(command, &GuidelinesCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("fleet")) {
        FleetCommand::Options o;
        o.json = c.json;
        o.masterName = c.masterName;
        o.scrape = c.scrape;
        for (const QString &s : c.sentinels) {
            const qsizetype colon = s.lastIndexOf(u':');
            o.sentinels.append({s.left(colon), s.mid(colon + 1).toInt()});
        }
        auto *command = new FleetCommand(m_connection, o, this);
        connect(command, &FleetCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("approve")) {
        ApprovalRequest req;
        req.proposalId = c.args.value(0);
        req.intent = c.intent;
        req.variantOf = c.variantOf;
        req.actor = c.actor;
        if (!c.responseFile.isEmpty()) {
            QString response;
            if (!readResponse(&response))
                return;
            req.response = response;
        }
        m_service->approve(req, cb);
    } else if (c.name == QLatin1String("variants")) {
        auto *command = new VariantsCommand(m_connection, {c.args.value(0), c.json}, this);
        connect(command, &VariantsCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("vectors")) {
        auto *command = new VectorsCommand(m_connection, {c.embeddings, c.missingVectors}, this);
        connect(command, &VectorsCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("reject")) {
        m_service->reject(c.args.value(0), {}, c.actor, c.days, cb);
    } else if (c.name == QLatin1String("reverify")) {
        if (c.args.value(0) == QLatin1String("keep")) {
            m_service->keep(c.args.value(1), c.expectVersion, c.actor, cb, c.reviewDays);
            return;
        }
        auto *command = new ReverifyCommand(m_connection, {c.json, c.limit}, this);
        connect(command, &ReverifyCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("l1-review")) {
        if (c.args.value(0) != QLatin1String("list")) {
            m_service->reviewL1(c.args.value(1), c.args.value(0) == QLatin1String("confirm"), c.actor, cb);
            return;
        }
        auto *command = new L1ReviewCommand(m_connection, {c.json, c.limit}, this);
        connect(command, &L1ReviewCommand::done, this,
                [this](int code, const QString &message) { finishWith(code, message); });
        command->start();
    } else if (c.name == QLatin1String("revoke")) {
        // The blast radius first (stderr): what the gateways counted this entry serving.
        ServedCounts::read(m_connection, c.args.value(0), this, [this, cb](const ServedCounts &served) {
            err(QStringLiteral("l0l3-ctl: %1").arg(served.summary()));
            m_service->revoke(m_command.args.value(0), m_command.actor, cb, m_command.expectVersion);
        });
    } else if (c.name == QLatin1String("edit")) {
        QString response;
        if (!readResponse(&response))
            return;
        const QString key = c.args.value(0);
        ServedCounts::read(m_connection, key, this, [](const ServedCounts &served) {
            err(QStringLiteral("l0l3-ctl: %1").arg(served.summary()));
        });
        if (c.expectVersion > 0) {
            m_service->edit(key, response, c.expectVersion, c.actor, cb);
            return;
        }
        // Without --expect-version the version just read is the expected one:
        // a concurrent writer in between still yields a conflict.
        auto *store = new EntryStore(m_connection, this);
        store->get(key, this, [this, key, response, cb](const std::optional<EntryItem> &item, const QString &error) {
            if (!item) {
                finishWith(OperationalError,
                           error.isEmpty() ? QStringLiteral("l0l3-ctl: no approved entry for key %1").arg(key)
                                           : QStringLiteral("l0l3-ctl: ") + error);
                return;
            }
            m_service->edit(key, response, item->entry.version, m_command.actor, cb);
        });
    } else if (c.name == QLatin1String("freeze")) {
        m_service->freezeApprovals(c.actor, cb);
    } else if (c.name == QLatin1String("unfreeze")) {
        m_service->unfreezeApprovals(c.actor, cb);
    } else if (c.name == QLatin1String("drain") || c.name == QLatin1String("undrain")) {
        const ControlMessage message{c.name == QLatin1String("drain") ? ControlMessage::Verb::Drain
                                                                      : ControlMessage::Verb::Undrain,
                                     c.args.value(0).toStdString()};
        m_service->publishControl(QString::fromStdString(encode(message)), c.actor, cb);
    } else if (c.name == QLatin1String("flush")) {
        m_service->publishControl(QString::fromStdString(encode({ControlMessage::Verb::Flush, {}})), c.actor, cb);
    } else {
        finishWith(UsageError, QStringLiteral("l0l3-ctl: unknown command %1").arg(c.name));
    }
}

void CtlRunner::runProposals()
{
    auto *queue = new ProposalQueue(m_connection, this);
    connect(queue, &ProposalQueue::loadFailed, this,
            [this](const QString &message) { finishWith(OperationalError, QStringLiteral("l0l3-ctl: ") + message); });
    connect(queue, &ProposalQueue::loadFinished, this, [this, queue](int, qint64 malformed) {
        QList<ProposalItem> items = queue->rankedItems();
        if (m_command.limit >= 0 && items.size() > m_command.limit)
            items.resize(m_command.limit);
        if (malformed > 0)
            err(QStringLiteral("l0l3-ctl: skipped %1 malformed proposal(s)").arg(malformed));
        if (m_command.json) {
            QJsonArray arr;
            for (const ProposalItem &p : std::as_const(items)) {
                QJsonObject regions;
                for (auto it = p.regions.cbegin(); it != p.regions.cend(); ++it)
                    regions.insert(it.key(), it.value());
                QJsonObject waiting;
                if (!p.firstApprover.isEmpty())
                    waiting = {{QStringLiteral("first_user"), p.firstApprover},
                               {QStringLiteral("first_at_ms"), p.firstApprovedAtMs}};
                arr.append(QJsonObject{{QStringLiteral("id"), p.id},
                                       {QStringLiteral("duplicate_ids"), QJsonArray::fromStringList(p.duplicateIds)},
                                       {QStringLiteral("key"), p.key},
                                       {QStringLiteral("prompt"), p.prompt},
                                       {QStringLiteral("system"), p.system},
                                       {QStringLiteral("ns"), p.ns},
                                       {QStringLiteral("model"), p.model},
                                       {QStringLiteral("response"), p.responseText()},
                                       {QStringLiteral("seen"), p.seenTotal},
                                       {QStringLiteral("regions"), regions},
                                       {QStringLiteral("upstream_ms"), p.upstreamMs},
                                       {QStringLiteral("prompt_tokens"), p.promptTokens},
                                       {QStringLiteral("completion_tokens"), p.completionTokens},
                                       {QStringLiteral("ts_ms"), p.tsMs},
                                       {QStringLiteral("savings"), p.savingsScore},
                                       {QStringLiteral("waiting_for_second_approval"),
                                        waiting.isEmpty() ? QJsonValue() : QJsonValue(waiting)}});
            }
            outJson(QJsonDocument(arr), QJsonDocument::Indented);
        } else {
            CtlOutput::write(QStringLiteral("%1  %2  %3  %4  %5\n")
                                 .arg(QStringLiteral("ID"), -17)
                                 .arg(QStringLiteral("SEEN"), 6)
                                 .arg(QStringLiteral("SAVINGS"), 9)
                                 .arg(QStringLiteral("REGIONS"), -20)
                                 .arg(QStringLiteral("PROMPT")));
            for (const ProposalItem &p : std::as_const(items)) {
                QStringList regions;
                for (auto it = p.regions.cbegin(); it != p.regions.cend(); ++it)
                    regions << QString(CtlOutput::visible(it.key()) + u':' + QString::number(it.value()));
                // Concatenated, not chained arg(): a "%3" inside a field stays text.
                CtlOutput::write(
                    CtlOutput::visible(p.id).leftJustified(17) + u"  " + QString::number(p.seenTotal).rightJustified(6)
                    + u"  " + QString::number(p.savingsScore, 'f', 1).rightJustified(9) + u"  "
                    + regions.join(u',').leftJustified(20) + u"  "
                    + (p.firstApprover.isEmpty() ? QString() : QStringLiteral("[waiting for second approval] "))
                    + CtlOutput::visible(oneLine(p.prompt, 60)) + u'\n');
            }
        }
        finishWith(Ok);
    });
    queue->load();
}

void CtlRunner::runEntries()
{
    auto *store = new EntryStore(m_connection, this);
    auto items = std::make_shared<QList<EntryItem>>();
    connect(store, &EntryStore::pageLoaded, this, [items](const QList<EntryItem> &page, int) { items->append(page); });
    connect(store, &EntryStore::failed, this,
            [this](const QString &message) { finishWith(OperationalError, QStringLiteral("l0l3-ctl: ") + message); });
    connect(store, &EntryStore::finished, this, [this, items](int) {
        // Newest first; the key breaks ties, so the order does not depend on SCAN's (a restore compares it).
        std::sort(items->begin(), items->end(), [](const EntryItem &a, const EntryItem &b) {
            return a.entry.approvedAtMs != b.entry.approvedAtMs ? a.entry.approvedAtMs > b.entry.approvedAtMs
                                                                : a.entry.key < b.entry.key;
        });
        if (m_command.json) {
            QJsonArray arr;
            for (const EntryItem &i : std::as_const(*items)) {
                const Entry &e = i.entry;
                arr.append(QJsonObject{{QStringLiteral("key"), fromStd(e.key)},
                                       {QStringLiteral("system"), fromStd(e.system)},
                                       {QStringLiteral("prompt"), fromStd(e.prompt)},
                                       {QStringLiteral("response"), fromStd(e.response)},
                                       {QStringLiteral("intent"), fromStd(e.intent)},
                                       {QStringLiteral("ns"), fromStd(e.ns)},
                                       {QStringLiteral("model"), fromStd(e.model)},
                                       {QStringLiteral("version"), qint64(e.version)},
                                       {QStringLiteral("approved_by"), fromStd(e.approvedBy)},
                                       {QStringLiteral("approved_at_ms"), qint64(e.approvedAtMs)},
                                       {QStringLiteral("ttl_s"), qint64(e.ttlSeconds)},
                                       {QStringLiteral("ttl_remaining_s"), i.ttlRemainingSeconds}});
            }
            outJson(QJsonDocument(arr), QJsonDocument::Indented);
        } else {
            for (const EntryItem &i : std::as_const(*items)) {
                const Entry &e = i.entry;
                CtlOutput::write(CtlOutput::visible(fromStd(e.key)) + u"  v" + QString::number(e.version) + u"  "
                                 + CtlOutput::visible(fromStd(e.approvedBy)).leftJustified(12) + u"  "
                                 + CtlOutput::visible(oneLine(fromStd(e.prompt), 60)) + u'\n');
            }
        }
        finishWith(Ok);
    });
    store->scan(m_command.search);
}

void CtlRunner::runAudit()
{
    auto *log = new AuditLog(m_connection, this);
    log->setPageSize(qBound(1, m_command.limit, 1000));
    auto records = std::make_shared<QList<AuditRecord>>();
    connect(log, &AuditLog::failed, this,
            [this](const QString &message) { finishWith(OperationalError, QStringLiteral("l0l3-ctl: ") + message); });
    // The records are printed all the same; the exit status says they are not the whole history.
    auto tamper = std::make_shared<QString>();
    connect(log, &AuditLog::tamperDetected, this, [tamper](const QString &detail) { *tamper = detail; });
    connect(log, &AuditLog::pageLoaded, this, [this, log, records, tamper](const QList<AuditRecord> &page, bool more) {
        records->append(page);
        if (more && records->size() < m_command.limit) {
            log->fetchMore();
            return;
        }
        if (records->size() > m_command.limit)
            records->resize(m_command.limit);
        if (m_command.json) {
            QJsonArray arr;
            for (const AuditRecord &r : std::as_const(*records)) {
                arr.append(QJsonObject{{QStringLiteral("id"), fromStd(r.id)},
                                       {QStringLiteral("action"), fromStd(r.action)},
                                       {QStringLiteral("key"), fromStd(r.key)},
                                       {QStringLiteral("actor"), fromStd(r.actor)},
                                       {QStringLiteral("user"), fromStd(r.user)},
                                       {QStringLiteral("ts_ms"), qint64(r.tsMs)},
                                       {QStringLiteral("version"), qint64(r.version)},
                                       {QStringLiteral("prev_version"), qint64(r.prevVersion)},
                                       {QStringLiteral("detail"), fromStd(r.detail)}});
            }
            outJson(QJsonDocument(arr), QJsonDocument::Indented);
        } else {
            for (const AuditRecord &r : std::as_const(*records)) {
                // The authenticated ACL user beside a name a service account asserted, as the console shows it.
                QString who = fromStd(r.actor);
                if (const QString user = fromStd(r.user); !user.isEmpty() && user != u"op-" + who)
                    who += QStringLiteral(" (via %1)").arg(user);
                CtlOutput::write(CtlOutput::visible(fromStd(r.id)).leftJustified(17) + u"  "
                                 + CtlOutput::visible(fromStd(r.action)).leftJustified(8) + u"  "
                                 + CtlOutput::visible(who).leftJustified(12) + u"  "
                                 + CtlOutput::visible(fromStd(r.key)) + u"  v" + QString::number(r.version) + u"<-v"
                                 + QString::number(r.prevVersion) + u"  " + CtlOutput::visible(fromStd(r.detail))
                                 + u'\n');
            }
        }
        if (!tamper->isEmpty()) {
            finishWith(OperationalError, QStringLiteral("l0l3-ctl: WARNING: ") + CtlOutput::visible(*tamper));
            return;
        }
        finishWith(Ok);
    });
    log->reload();
}

} // namespace l0l3
