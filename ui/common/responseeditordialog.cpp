#include "ui/common/responseeditordialog.h"

#include <QDialogButtonBox>
#include <QEvent>
#include <QFormLayout>
#include <QKeyEvent>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTextBrowser>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>

#include "core/common/reviewpolicy.h"
#include "ui/common/textdiff.h"

namespace l0l3 {

static bool hasLineLongerThan(const QString &text, qsizetype limit)
{
    qsizetype start = 0;
    while (start < text.size()) {
        qsizetype end = text.indexOf(u'\n', start);
        if (end < 0)
            end = text.size();
        if (end - start > limit)
            return true;
        start = end + 1;
    }
    return false;
}

ResponseEditorDialog::ResponseEditorDialog(const QString &original, const QString &acceptText, QWidget *parent)
    : QDialog(parent)
    , m_original(original)
    , m_editor(new QPlainTextEdit(original, this))
    , m_intent(new QLineEdit(this))
    , m_intentLabel(new QLabel(tr("&Intent (optional):"), this))
    , m_reviewDays(new QSpinBox(this))
    , m_reviewDaysLabel(new QLabel(tr("Re-&verify every:"), this))
    , m_diff(new QTextBrowser(this))
    , m_summary(new QLabel(this))
    , m_diffTimer(new QTimer(this))
{
    setWindowTitle(tr("Edit answer"));
    setObjectName(QStringLiteral("responseEditor"));
    m_editor->setObjectName(QStringLiteral("responseEdit"));
    // Wrapping a very long line that has no break opportunity stalls the
    // layout; unwrapped it is one line to scroll along.
    if (hasLineLongerThan(original, kMaxWrappedLine))
        m_editor->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_intent->setObjectName(QStringLiteral("intentEdit"));
    m_intentLabel->setBuddy(m_intent);
    m_reviewDays->setObjectName(QStringLiteral("reviewDaysEdit"));
    m_reviewDays->setRange(1, int(ReviewPolicy::kMaxDays));
    m_reviewDays->setSuffix(tr(" days"));
    m_reviewDays->setToolTip(tr("The answer's review date: after this many days it appears under To re-verify."));
    m_reviewDaysLabel->setBuddy(m_reviewDays);
    m_reviewDays->setVisible(false);
    m_reviewDaysLabel->setVisible(false);
    m_summary->setTextFormat(Qt::PlainText);
    m_diff->setObjectName(QStringLiteral("responseDiff"));
    // The diff is built from escaped fragments; nothing in it is to be followed.
    m_diff->setOpenLinks(false);
    m_diff->setOpenExternalLinks(false);
    m_intent->setPlaceholderText(tr("e.g. reset-password"));
    // QPlainTextEdit turns some characters (U+2028, U+2029, CR) into its own
    // line breaks: an answer the operator did not touch must come back as the
    // bytes that were shown, not as the editor's reading of them.
    m_loaded = m_editor->toPlainText();

    auto *splitter = new QSplitter(Qt::Vertical, this);
    auto *editBox = new QWidget(splitter);
    auto *editLayout = new QVBoxLayout(editBox);
    editLayout->setContentsMargins(0, 0, 0, 0);
    editLayout->addWidget(new QLabel(tr("Answer (served verbatim on every hit):"), editBox));
    editLayout->addWidget(m_editor);
    auto *diffBox = new QWidget(splitter);
    auto *diffLayout = new QVBoxLayout(diffBox);
    diffLayout->setContentsMargins(0, 0, 0, 0);
    auto *diffHeader = new QHBoxLayout;
    diffHeader->addWidget(new QLabel(tr("Changes against the proposal:"), diffBox));
    diffHeader->addStretch();
    diffHeader->addWidget(m_summary);
    diffLayout->addLayout(diffHeader);
    diffLayout->addWidget(m_diff);
    splitter->addWidget(editBox);
    splitter->addWidget(diffBox);

    auto *form = new QFormLayout;
    form->addRow(m_intentLabel, m_intent);
    form->addRow(m_reviewDaysLabel, m_reviewDays);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(acceptText);
    buttons->button(QDialogButtonBox::Ok)->setToolTip(tr("Ctrl+Return"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    // Ctrl+Return accepts from anywhere in the dialog; the text widgets get
    // an event filter because they would otherwise take it as a newline.
    auto *acceptShortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    connect(acceptShortcut, &QShortcut::activated, this, &QDialog::accept);
    m_editor->installEventFilter(this);
    m_intent->installEventFilter(this);
    m_reviewDays->installEventFilter(this);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(splitter, 1);
    layout->addLayout(form);
    layout->addWidget(
        new QLabel(tr("Ctrl+Return: %1 · Esc: cancel").arg(QString(acceptText).remove(QLatin1Char('&'))), this));
    layout->addWidget(buttons);

    m_diffTimer->setSingleShot(true);
    m_diffTimer->setInterval(150);
    connect(m_diffTimer, &QTimer::timeout, this, &ResponseEditorDialog::updateDiff);
    connect(m_editor, &QPlainTextEdit::textChanged, m_diffTimer, qOverload<>(&QTimer::start));
    updateDiff();
    resize(760, 560);
    m_editor->setFocus();
}

bool ResponseEditorDialog::eventFilter(QObject *watched, QEvent *event)
{
    if ((watched == m_editor || watched == m_intent || watched == m_reviewDays)
        && (event->type() == QEvent::ShortcutOverride || event->type() == QEvent::KeyPress)) {
        auto *key = static_cast<QKeyEvent *>(event);
        const bool ctrlEnter = (key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter)
            && key->modifiers().testFlag(Qt::ControlModifier);
        if (ctrlEnter) {
            event->accept();
            if (event->type() == QEvent::KeyPress)
                accept();
            return true;
        }
    }
    return QDialog::eventFilter(watched, event);
}

void ResponseEditorDialog::setIntent(const QString &intent)
{
    m_intent->setText(intent);
}

void ResponseEditorDialog::setIntentVisible(bool visible)
{
    m_intent->setVisible(visible);
    m_intentLabel->setVisible(visible);
}

void ResponseEditorDialog::setReviewDays(qint64 days)
{
    m_initialReviewDays = std::clamp<qint64>(days, 1, ReviewPolicy::kMaxDays);
    m_reviewDays->setValue(int(m_initialReviewDays));
    m_reviewDays->setVisible(true);
    m_reviewDaysLabel->setVisible(true);
}

qint64 ResponseEditorDialog::reviewDays() const
{
    if (m_initialReviewDays == 0 || m_reviewDays->value() == m_initialReviewDays)
        return 0;
    return m_reviewDays->value();
}

QString ResponseEditorDialog::response() const
{
    QString text = m_editor->toPlainText();
    return text == m_loaded ? m_original : text;
}

QString ResponseEditorDialog::intent() const
{
    return m_intent->text().trimmed();
}

bool ResponseEditorDialog::isChanged() const
{
    return response() != m_original;
}

QString ResponseEditorDialog::diffHtml() const
{
    return TextDiff::toHtml(TextDiff::compute(m_original, response()));
}

void ResponseEditorDialog::updateDiff()
{
    const auto segments = TextDiff::compute(m_original, response());
    m_diff->setHtml(TextDiff::toHtml(segments));
    m_summary->setText(TextDiff::summary(segments));
}

} // namespace l0l3
