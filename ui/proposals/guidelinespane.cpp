#include "ui/proposals/guidelinespane.h"

#include <QDialog>
#include <QDialogButtonBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTextBrowser>
#include <QVBoxLayout>

#include "core/common/visibletext.h"
#include "core/control/guidelines.h"
#include "ui/common/formatting.h"
#include "ui/common/rolegate.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

namespace {

// A browser that never loads anything the text names (images, style
// sheets, local files) and never follows a link.
class InertBrowser : public QTextBrowser
{
public:
    using QTextBrowser::QTextBrowser;
    QVariant loadResource(int, const QUrl &) override { return {}; }
};

} // namespace

GuidelinesPane::GuidelinesPane(ControlClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_title(new QLabel(this))
    , m_view(new InertBrowser(this))
    , m_edit(new QPushButton(tr("Edit &guidelines…"), this))
{
    setObjectName(QStringLiteral("guidelinesPane"));
    m_title->setObjectName(QStringLiteral("guidelinesTitle"));
    m_title->setTextFormat(Qt::PlainText);
    m_view->setObjectName(QStringLiteral("guidelinesView"));
    m_view->setOpenLinks(false);
    m_view->setOpenExternalLinks(false);
    m_view->setReadOnly(true);
    m_edit->setObjectName(QStringLiteral("editGuidelines"));
    m_edit->setToolTip(tr("Edit this namespace's guidelines (Markdown; admins only)"));
    RoleGate::setWanted(m_edit, false);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_title);
    layout->addWidget(m_view, 1);
    layout->addWidget(m_edit);
    connect(m_edit, &QPushButton::clicked, this, &GuidelinesPane::editGuidelines);

    ControlWorker *w = m_client->worker();
    connect(w, &ControlWorker::guidelinesRead, this, &GuidelinesPane::onRead);
    connect(w, &ControlWorker::guidelinesWritten, this, [this](quint64 id, const QString &ns, const QString &error) {
        const auto it = m_writes.find(id);
        if (it == m_writes.end())
            return;
        m_writes.erase(it);
        if (!error.isEmpty()) {
            emit statusMessage(
                tr("Guidelines of %1 not saved: %2").arg(Formatting::oneLine(ns, 100), Formatting::oneLine(error, 300)),
                0);
            return;
        }
        emit statusMessage(tr("Guidelines of %1 saved.").arg(Formatting::oneLine(ns, 100)), 5000);
        m_markdown.remove(ns);
        if (ns == m_ns)
            reload();
    });
    render();
}

void GuidelinesPane::showNamespace(const QString &ns)
{
    if (ns == m_ns)
        return;
    m_ns = ns;
    if (!m_ns.isEmpty() && !m_markdown.contains(m_ns))
        m_client->readGuidelines(m_ns);
    render();
}

void GuidelinesPane::reload()
{
    m_markdown.clear();
    m_errors.clear();
    if (!m_ns.isEmpty())
        m_client->readGuidelines(m_ns);
    render();
}

void GuidelinesPane::onRead(const QString &ns, const QString &markdown, const QString &error)
{
    if (error.isEmpty()) {
        m_markdown.insert(ns, markdown);
        m_errors.remove(ns);
    } else {
        m_errors.insert(ns, error);
    }
    if (ns == m_ns) {
        render();
        emit shown(ns);
    }
}

void GuidelinesPane::render()
{
    RoleGate::setWanted(m_edit, !m_ns.isEmpty());
    if (m_ns.isEmpty()) {
        m_title->setText(tr("Guidelines"));
        m_view->setPlainText(tr("Select a proposal to see its namespace's guidelines."));
        return;
    }
    m_title->setText(tr("Guidelines — %1").arg(Formatting::oneLine(m_ns, 100)));
    if (const QString error = m_errors.value(m_ns); !error.isEmpty()) {
        m_view->setPlainText(tr("Could not read the guidelines: %1").arg(Formatting::oneLine(error, 300)));
        return;
    }
    if (!m_markdown.contains(m_ns)) {
        m_view->setPlainText(tr("Loading…"));
        return;
    }
    const QByteArray raw = m_markdown.value(m_ns).toUtf8();
    if (raw.isEmpty()) {
        m_view->setPlainText(tr("No guidelines for this namespace yet."));
        return;
    }
    // Hazards (controls, bidi overrides) become visible escapes; Markdown's
    // own backslash escapes stay as written.
    const std::string safe = VisibleText::escape(std::string_view(raw.constData(), size_t(raw.size())),
                                                 VisibleText::KeepNewlines | VisibleText::KeepTabs);
    m_view->document()->setMarkdown(QString::fromStdString(safe),
                                    QTextDocument::MarkdownFeatures(QTextDocument::MarkdownDialectGitHub
                                                                    | QTextDocument::MarkdownNoHTML));
}

void GuidelinesPane::editGuidelines()
{
    if (m_ns.isEmpty())
        return;
    const QString ns = m_ns;
    auto *dialog = new QDialog(this);
    dialog->setObjectName(QStringLiteral("guidelinesDialog"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Guidelines of %1").arg(Formatting::oneLine(ns, 100)));
    auto *help = new QLabel(tr("Markdown, at most %1 KiB; HTML is shown as text. Empty: no guidelines. "
                               "Saving needs an admin's rights.")
                                .arg(Guidelines::kMaxBytes / 1024),
                            dialog);
    help->setWordWrap(true);
    auto *editor = new QPlainTextEdit(dialog);
    editor->setObjectName(QStringLiteral("guidelinesEditor"));
    editor->setPlainText(m_markdown.value(ns));
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, dialog);
    auto *layout = new QVBoxLayout(dialog);
    layout->addWidget(help);
    layout->addWidget(editor, 1);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::reject);
    connect(buttons, &QDialogButtonBox::accepted, dialog, [this, dialog, editor, ns] {
        const QString text = editor->toPlainText();
        if (const QString bad = Guidelines::checkText(text.toUtf8()); !bad.isEmpty()) {
            emit statusMessage(tr("Guidelines not saved: %1").arg(bad), 0);
            return;
        }
        m_writes.insert(m_client->writeGuidelines(ns, text), ns);
        dialog->accept();
    });
    dialog->resize(640, 480);
    dialog->open();
    editor->setFocus();
}

} // namespace l0l3
