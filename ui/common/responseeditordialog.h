#pragma once

#include <QDialog>
#include <QString>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QSpinBox;
class QTextBrowser;
class QTimer;

namespace l0l3 {

// Edit an answer before approving it (or an approved entry's new version),
// with a live word diff against the original. Ctrl+Return accepts.
class ResponseEditorDialog : public QDialog
{
    Q_OBJECT
public:
    ResponseEditorDialog(const QString &original, const QString &acceptText, QWidget *parent = nullptr);

    void setIntent(const QString &intent);
    void setIntentVisible(bool visible);
    // Shows the review period field ("re-verify every N days", 1..ReviewPolicy::kMaxDays),
    // starting at `days`: the entry's own period, else its namespace's (ReviewPolicy). Hidden
    // until called.
    void setReviewDays(qint64 days);
    // The period the operator chose when it differs from the one it started at, else 0
    // (the entry keeps its own period, or follows its namespace's).
    qint64 reviewDays() const;
    QSpinBox *reviewDaysEdit() const { return m_reviewDays; }
    QString response() const;
    QString intent() const;
    bool isChanged() const;
    QPlainTextEdit *editor() const { return m_editor; }
    // The rendered diff, for tests.
    QString diffHtml() const;

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    static constexpr qsizetype kMaxWrappedLine = 10000; // characters; a longer line turns wrapping off

    void updateDiff();

    QString m_original;
    QString m_loaded; // m_original as the editor holds it
    QPlainTextEdit *m_editor;
    QLineEdit *m_intent;
    QLabel *m_intentLabel;
    QSpinBox *m_reviewDays;
    QLabel *m_reviewDaysLabel;
    qint64 m_initialReviewDays = 0;
    QTextBrowser *m_diff;
    QLabel *m_summary;
    QTimer *m_diffTimer;
};

} // namespace l0l3
