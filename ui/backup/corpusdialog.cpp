#include "ui/backup/corpusdialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/common/formatting.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

namespace {

constexpr int kSummaryChars = 200000;

} // namespace

CorpusDialog::CorpusDialog(Mode mode, ControlClient *client, QWidget *parent)
    : QDialog(parent)
    , m_mode(mode)
    , m_client(client)
{
    const bool isExport = mode == Mode::Export;
    setWindowTitle(isExport ? tr("Export the approved corpus") : tr("Import an export file"));
    setObjectName(isExport ? QStringLiteral("corpusExportDialog") : QStringLiteral("corpusImportDialog"));

    auto *form = new QFormLayout;
    m_path = new QLineEdit(this);
    m_path->setObjectName(QStringLiteral("corpusPath"));
    m_browse = new QPushButton(tr("&Browse…"), this);
    connect(m_browse, &QPushButton::clicked, this, &CorpusDialog::browse);
    auto *pathRow = new QHBoxLayout;
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(m_browse);
    form->addRow(tr("&File:"), pathRow);
    if (isExport) {
        m_withAudit = new QCheckBox(tr("Include the &audit stream"), this);
        form->addRow(QString(), m_withAudit);
    } else {
        m_dryRun = new QCheckBox(tr("&Dry run: check and report, write nothing"), this);
        form->addRow(QString(), m_dryRun);
        m_prefer = new QComboBox(this);
        m_prefer->addItem(tr("Report them, change nothing"), int(ImportRequest::Prefer::None));
        m_prefer->addItem(tr("The newer entry wins"), int(ImportRequest::Prefer::Newer));
        m_prefer->addItem(tr("The file wins"), int(ImportRequest::Prefer::File));
        m_prefer->addItem(tr("The server wins"), int(ImportRequest::Prefer::Server));
        form->addRow(tr("&Conflicts:"), m_prefer);
    }

    m_busy = new QProgressBar(this);
    m_busy->setRange(0, 1);
    m_busy->setValue(0);
    m_busy->setTextVisible(false);
    m_progress = new QLabel(this);
    m_progress->setTextFormat(Qt::PlainText);
    m_summary = new QPlainTextEdit(this);
    m_summary->setObjectName(QStringLiteral("corpusSummary"));
    m_summary->setReadOnly(true);
    m_summary->setPlaceholderText(isExport ? tr("Entries, rejected keys and (optionally) the audit stream go to one "
                                                "checked file.")
                                           : tr("The whole file is checked before anything is written; existing "
                                                "entries that differ are conflicts."));

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    m_start = m_buttons->addButton(isExport ? tr("&Export") : tr("&Import"), QDialogButtonBox::AcceptRole);
    m_start->setDefault(true);
    connect(m_start, &QPushButton::clicked, this, &CorpusDialog::start);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_busy);
    layout->addWidget(m_progress);
    layout->addWidget(m_summary, 1);
    layout->addWidget(m_buttons);
    resize(640, 420);

    connect(m_client->worker(), &ControlWorker::corpusProgress, this, &CorpusDialog::onProgress);
    connect(m_client->worker(), &ControlWorker::corpusFinished, this, &CorpusDialog::onFinished);
}

CorpusDialog *CorpusDialog::openFor(Mode mode, ControlClient *client, QWidget *parent)
{
    auto *dialog = new CorpusDialog(mode, client, parent);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->open();
    return dialog;
}

void CorpusDialog::setPath(const QString &path)
{
    m_path->setText(path);
}

void CorpusDialog::setDryRun(bool dryRun)
{
    if (m_dryRun)
        m_dryRun->setChecked(dryRun);
}

void CorpusDialog::setWithAudit(bool withAudit)
{
    if (m_withAudit)
        m_withAudit->setChecked(withAudit);
}

void CorpusDialog::browse()
{
    const QString path = m_mode == Mode::Export
        ? QFileDialog::getSaveFileName(this, tr("Export to"), m_path->text(),
                                       tr("L0L3 export (*.jsonl);;All files (*)"))
        : QFileDialog::getOpenFileName(this, tr("Import from"), m_path->text(),
                                       tr("L0L3 export (*.jsonl);;All files (*)"));
    if (!path.isEmpty())
        m_path->setText(path);
}

void CorpusDialog::start()
{
    if (isRunning())
        return;
    const QString path = m_path->text().trimmed();
    if (path.isEmpty()) {
        m_summary->setPlainText(tr("Choose a file first."));
        return;
    }
    m_summary->clear();
    m_progress->clear();
    m_busy->setRange(0, 0);
    m_start->setEnabled(false);
    m_browse->setEnabled(false);
    if (m_mode == Mode::Export) {
        CorpusExporter::Options o;
        o.path = path;
        o.withAudit = m_withAudit->isChecked();
        o.tool = QStringLiteral("l0l3-console");
        m_requestId = m_client->exportCorpus(o);
    } else {
        CorpusImporter::Options o;
        o.path = path;
        o.dryRun = m_dryRun->isChecked();
        o.prefer = ImportRequest::Prefer(m_prefer->currentData().toInt());
        m_requestId = m_client->importCorpus(o);
    }
}

QString CorpusDialog::countsLine(const CorpusCounts &c) const
{
    if (m_mode == Mode::Export)
        return tr("%1 entries, %2 rejected keys, %3 audit records, %4 KiB written")
            .arg(c.entries)
            .arg(c.rejected)
            .arg(c.audit)
            .arg(c.bytes / 1024);
    return tr("%1 entries and %2 rejected keys handled: imported %3 (replaced %4), unchanged %5, conflicts %6, "
              "skipped %7")
        .arg(c.entries)
        .arg(c.rejected)
        .arg(c.imported)
        .arg(c.replaced)
        .arg(c.unchanged)
        .arg(c.conflicts)
        .arg(c.skipped);
}

void CorpusDialog::onProgress(quint64 requestId, const CorpusCounts &counts)
{
    if (requestId != m_requestId)
        return;
    m_progress->setText(countsLine(counts));
}

void CorpusDialog::onFinished(quint64 requestId, bool ok, const QString &error, const CorpusCounts &c)
{
    if (requestId != m_requestId)
        return;
    m_requestId = 0;
    m_busy->setRange(0, 1);
    m_busy->setValue(1);
    m_start->setEnabled(true);
    m_browse->setEnabled(true);
    m_progress->setText(countsLine(c));
    QStringList lines;
    if (!ok) {
        lines << (m_mode == Mode::Export ? tr("Export failed: %1").arg(error) : tr("Import failed: %1").arg(error));
    } else if (m_mode == Mode::Export) {
        lines << tr("Exported %1 entries, %2 rejected keys, %3 audit records to %4 (%5 bytes).")
                     .arg(c.entries)
                     .arg(c.rejected)
                     .arg(c.audit)
                     .arg(m_path->text())
                     .arg(c.bytes);
        if (c.malformed > 0)
            lines << tr("%1 stored records do not decode and are not in the file.").arg(c.malformed);
    } else {
        const bool dry = m_dryRun->isChecked();
        lines << (dry ? tr("Dry run, nothing written. It would import %1 (replace %2); unchanged %3, conflicts %4, "
                           "skipped %5.")
                      : tr("Imported %1 (replaced %2), unchanged %3, conflicts %4, skipped %5."))
                     .arg(c.imported)
                     .arg(c.replaced)
                     .arg(c.unchanged)
                     .arg(c.conflicts)
                     .arg(c.skipped);
        if (c.audit > 0)
            lines << tr("%1 audit records in the file are kept there, not written back.").arg(c.audit);
        if (c.unverifiedKeys > 0)
            lines << tr("%1 keys could not be recomputed from their entries (approved with response_format/tools).")
                         .arg(c.unverifiedKeys);
        if (!dry && c.replicasAcked >= 0)
            lines << tr("Replicas acknowledged: %1.").arg(c.replicasAcked);
        if (c.conflicts > 0) {
            lines << QString() << tr("Conflicting keys (left as they are on the server):");
            lines << c.conflictKeys;
            if (c.conflicts > c.conflictKeys.size())
                lines << tr("… and %1 more").arg(c.conflicts - c.conflictKeys.size());
        }
    }
    // File paths, keys and messages carry untrusted text: shown as plain text, hazards escaped.
    m_summary->setPlainText(Formatting::multiLine(lines.join(u'\n'), kSummaryChars));
    emit jobFinished(ok);
}

QString CorpusDialog::summaryText() const
{
    return m_summary->toPlainText();
}

QString CorpusDialog::progressText() const
{
    return m_progress->text();
}

} // namespace l0l3
