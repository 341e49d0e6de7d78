#pragma once

#include <QDialog>
#include <QString>

#include "core/control/corpustransfer.h"

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;

namespace l0l3 {

class ControlClient;

// File → Export… and File → Import…: picks the file and the options, runs
// the job on the ControlWorker thread (CorpusExporter / CorpusImporter, never
// the UI thread), shows its progress and then a plain-text summary (for an
// import: imported, unchanged, conflicts, skipped, and the conflicting keys).
// Closing the dialog does not stop a running job; its result is then dropped.
class CorpusDialog : public QDialog
{
    Q_OBJECT
public:
    enum class Mode { Export, Import };

    CorpusDialog(Mode mode, ControlClient *client, QWidget *parent = nullptr);

    // A dialog that deletes itself on close, shown window-modal.
    static CorpusDialog *openFor(Mode mode, ControlClient *client, QWidget *parent);

    void setPath(const QString &path);
    void setDryRun(bool dryRun);
    void setWithAudit(bool withAudit);
    // Starts the job with the dialog's settings (the Start button).
    void start();
    bool isRunning() const { return m_requestId != 0; }
    QString summaryText() const;
    QString progressText() const;

signals:
    void jobFinished(bool ok);

private:
    void browse();
    void onProgress(quint64 requestId, const l0l3::CorpusCounts &counts);
    void onFinished(quint64 requestId, bool ok, const QString &error, const l0l3::CorpusCounts &counts);
    QString countsLine(const CorpusCounts &c) const;

    Mode m_mode;
    ControlClient *m_client;
    quint64 m_requestId = 0;
    QLineEdit *m_path = nullptr;
    QPushButton *m_browse = nullptr;
    QCheckBox *m_withAudit = nullptr;
    QCheckBox *m_dryRun = nullptr;
    QComboBox *m_prefer = nullptr;
    QProgressBar *m_busy = nullptr;
    QLabel *m_progress = nullptr;
    QPlainTextEdit *m_summary = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
    QPushButton *m_start = nullptr;
};

} // namespace l0l3
