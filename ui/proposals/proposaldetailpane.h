#pragma once

#include <QWidget>

#include <optional>

#include "core/control/proposalitem.h"
#include "ui/workers/controlworker.h"

class QLabel;
class QPlainTextEdit;

namespace l0l3 {

// Everything the operator needs to judge one proposal: the prompt as sent,
// its normalised form and cache key, the proposed answer, where it was
// missed and how often, and the inputs of the savings estimate.
class ProposalDetailPane : public QWidget
{
    Q_OBJECT
public:
    explicit ProposalDetailPane(QWidget *parent = nullptr);

    void showItem(const std::optional<ProposalItem> &item);
    // Approved entries resembling the shown proposal (ignored if it is not
    // the one shown any more); note, when set, is shown below them (plain text).
    void showSimilar(const QString &proposalKey, const QList<l0l3::SimilarEntry> &entries, const QString &note = {});
    QLabel *similarLabel() const { return m_similar; }
    QLabel *l1CandidateLabel() const { return m_l1; }

    // Characters of a prompt or answer the panes show, and of a label line.
    static constexpr int kPaneChars = 20000;
    static constexpr int kLabelChars = 2000;

private:
    QLabel *m_key;
    QLabel *m_normalised;
    QLabel *m_context;
    QLabel *m_regions;
    QLabel *m_savings;
    QLabel *m_similar;
    QLabel *m_l1;
    QString m_shownKey;
    QPlainTextEdit *m_prompt;
    QPlainTextEdit *m_answer;
};

} // namespace l0l3
