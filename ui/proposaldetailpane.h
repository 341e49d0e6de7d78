#pragma once

#include <QWidget>

#include <optional>

#include "core/control/proposalitem.h"

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

private:
    QLabel *m_key;
    QLabel *m_normalised;
    QLabel *m_context;
    QLabel *m_regions;
    QLabel *m_savings;
    QPlainTextEdit *m_prompt;
    QPlainTextEdit *m_answer;
};

} // namespace l0l3
