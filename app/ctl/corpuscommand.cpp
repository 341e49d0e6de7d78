#include "app/ctl/corpuscommand.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

#include <unistd.h>

#include "app/ctl/ctloutput.h"
#include "core/common/visibletext.h"
#include "core/control/approvalservice.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

namespace {

void outJson(const QJsonObject &o)
{
    const QByteArray json = QJsonDocument(o).toJson(QJsonDocument::Compact);
    const std::string safe = VisibleText::escapeJson(std::string_view(json.constData(), size_t(json.size())));
    std::fwrite(safe.data(), 1, safe.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

} // namespace

CorpusCommand::CorpusCommand(RedisConnection *connection, ApprovalService *service, const Options &options,
                             QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_service(service)
    , m_options(options)
    , m_terminal(::isatty(STDERR_FILENO) == 1)
{
}

void CorpusCommand::start()
{
    if (m_options.isExport)
        runExport();
    else
        runImport();
}

void CorpusCommand::showProgress(const QString &line, bool last)
{
    if (!m_terminal)
        return;
    const QByteArray b = QByteArrayLiteral("\r\x1b[K") + line.toUtf8()
        + (last ? QByteArrayLiteral("\n") : QByteArray());
    std::fwrite(b.constData(), 1, size_t(b.size()), stderr);
    std::fflush(stderr);
}

void CorpusCommand::runExport()
{
    auto *exporter = new CorpusExporter(m_connection, this);
    auto line = [](const CorpusCounts &c) {
        return QStringLiteral("export: %1 entries, %2 rejected, %3 audit records, %4 KiB")
            .arg(c.entries)
            .arg(c.rejected)
            .arg(c.audit)
            .arg(c.bytes / 1024);
    };
    connect(exporter, &CorpusExporter::progress, this, [this, line](const CorpusCounts &c) { showProgress(line(c)); });
    connect(exporter, &CorpusExporter::finished, this,
            [this, line](bool ok, const QString &error, const CorpusCounts &c) {
                showProgress(line(c), true);
                if (!ok) {
                    emit done(1, QStringLiteral("l0l3-ctl: export failed: %1; no file was written").arg(error));
                    return;
                }
                if (m_options.json) {
                    outJson(QJsonObject{{QStringLiteral("file"), m_options.path},
                                        {QStringLiteral("entries"), c.entries},
                                        {QStringLiteral("rejected"), c.rejected},
                                        {QStringLiteral("audit"), c.audit},
                                        {QStringLiteral("bytes"), c.bytes},
                                        {QStringLiteral("malformed"), c.malformed}});
                } else {
                    CtlOutput::write(
                        QStringLiteral("exported %1 entries, %2 rejected keys, %3 audit records to %4 (%5 bytes)\n")
                            .arg(c.entries)
                            .arg(c.rejected)
                            .arg(c.audit)
                            .arg(CtlOutput::visible(m_options.path))
                            .arg(c.bytes));
                }
                if (c.malformed > 0) {
                    emit done(1,
                              QStringLiteral("l0l3-ctl: %1 stored record(s) do not decode and are not in the "
                                             "file; the rest is complete")
                                  .arg(c.malformed));
                    return;
                }
                emit done(0, QString());
            });
    CorpusExporter::Options o;
    o.path = m_options.path;
    o.withAudit = m_options.withAudit;
    o.source = m_connection->options().redacted();
    o.tool = QStringLiteral("l0l3-ctl");
    exporter->start(o);
}

void CorpusCommand::runImport()
{
    auto *importer = new CorpusImporter(m_service, this);
    const bool dry = m_options.dryRun;
    auto line = [dry](const CorpusCounts &c) {
        return QStringLiteral("import%1: %2 entries, %3 rejected keys; %4 imported, %5 unchanged, %6 conflicts, %7 "
                              "skipped")
            .arg(dry ? QStringLiteral(" (dry run)") : QString())
            .arg(c.entries)
            .arg(c.rejected)
            .arg(c.imported)
            .arg(c.unchanged)
            .arg(c.conflicts)
            .arg(c.skipped);
    };
    connect(importer, &CorpusImporter::progress, this, [this, line](const CorpusCounts &c) { showProgress(line(c)); });
    connect(importer, &CorpusImporter::decided, this,
            [this, dry](const QString &kind, const QString &key, const QString &outcome, const QString &message) {
                if (m_options.json)
                    return;
                // A real import lists what was not a plain restore; a dry run lists everything.
                const bool plain = outcome == QLatin1String("imported") || outcome == QLatin1String("unchanged");
                if (plain && !dry)
                    return;
                QString what = outcome;
                if (dry && outcome == QLatin1String("imported"))
                    what = QStringLiteral("would-import");
                else if (dry && outcome == QLatin1String("replaced"))
                    what = QStringLiteral("would-replace");
                QString text = CtlOutput::visible(what) + u' ' + CtlOutput::visible(kind) + u' '
                    + CtlOutput::visible(key);
                if (outcome == QLatin1String("conflict"))
                    text += QStringLiteral(": ") + CtlOutput::visible(message);
                CtlOutput::write(text + u'\n');
            });
    connect(
        importer, &CorpusImporter::finished, this,
        [this, line, dry](bool ok, const QString &error, const CorpusCounts &c) {
            showProgress(line(c), true);
            if (!ok) {
                emit done(1, QStringLiteral("l0l3-ctl: import failed: %1").arg(error));
                return;
            }
            if (m_options.json) {
                outJson(QJsonObject{{QStringLiteral("dry_run"), dry},
                                    {QStringLiteral("entries"), c.entries},
                                    {QStringLiteral("rejected"), c.rejected},
                                    {QStringLiteral("audit_in_file"), c.audit},
                                    {QStringLiteral("imported"), c.imported},
                                    {QStringLiteral("replaced"), c.replaced},
                                    {QStringLiteral("unchanged"), c.unchanged},
                                    {QStringLiteral("conflicts"), c.conflicts},
                                    {QStringLiteral("skipped"), c.skipped},
                                    {QStringLiteral("unverified_keys"), c.unverifiedKeys},
                                    {QStringLiteral("without_vector"), c.withoutVector},
                                    {QStringLiteral("replicas_acked"), c.replicasAcked},
                                    {QStringLiteral("conflict_keys"), QJsonArray::fromStringList(c.conflictKeys)}});
            } else {
                QString summary = QStringLiteral("%1imported %2 (replaced %3), unchanged %4, conflicts %5, "
                                                 "skipped %6; %7 entries, %8 rejected keys")
                                      .arg(dry ? QStringLiteral("dry run, nothing written: would have ") : QString())
                                      .arg(c.imported)
                                      .arg(c.replaced)
                                      .arg(c.unchanged)
                                      .arg(c.conflicts)
                                      .arg(c.skipped)
                                      .arg(c.entries)
                                      .arg(c.rejected);
                if (c.audit > 0)
                    summary +=
                        QStringLiteral("; %1 audit records in the file (kept there, not written back)").arg(c.audit);
                if (c.unverifiedKeys > 0)
                    summary += QStringLiteral("; %1 keys not recomputable from the entry (approved with "
                                              "response_format/tools)")
                                   .arg(c.unverifiedKeys);
                if (c.withoutVector > 0)
                    summary += QStringLiteral("; %1 entries without their L1 vector (the embeddings endpoint failed: "
                                              "l0l3-ctl vectors rebuild --missing computes them)")
                                   .arg(c.withoutVector);
                if (!dry)
                    summary += c.replicasAcked >= 0 ? QStringLiteral("; replicas acknowledged: %1").arg(c.replicasAcked)
                                                    : QStringLiteral("; replicas acknowledged: unknown");
                CtlOutput::write(summary + u'\n');
            }
            if (c.conflicts > 0) {
                emit done(3,
                          QStringLiteral("l0l3-ctl: %1 conflict(s) left as they are on the server; "
                                         "--prefer newer|file|server decides them")
                              .arg(c.conflicts));
                return;
            }
            emit done(0, QString());
        });
    CorpusImporter::Options o;
    o.path = m_options.path;
    o.dryRun = dry;
    o.actor = m_options.actor;
    o.waitMs = m_options.waitMs;
    if (m_options.prefer == QLatin1String("newer"))
        o.prefer = ImportRequest::Prefer::Newer;
    else if (m_options.prefer == QLatin1String("file"))
        o.prefer = ImportRequest::Prefer::File;
    else if (m_options.prefer == QLatin1String("server"))
        o.prefer = ImportRequest::Prefer::Server;
    importer->start(o);
}

} // namespace l0l3
