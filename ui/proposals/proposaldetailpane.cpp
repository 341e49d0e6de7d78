#include "ui/proposals/proposaldetailpane.h"

#include <QDateTime>
#include <QFormLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QVBoxLayout>

#include <algorithm>

#include "core/common/promptnormaliser.h"
#include "ui/common/formatting.h"

namespace l0l3 {

// A huge prompt or answer must not stall the layout: the panes show the
// beginning (the editor, E, holds the whole answer).
static QString paneText(const QString &text)
{
    QString shown = Formatting::multiLine(text, ProposalDetailPane::kPaneChars);
    if (text.size() > ProposalDetailPane::kPaneChars)
        shown += ProposalDetailPane::tr("\n[%1 characters in all; only the beginning is shown]").arg(text.size());
    return shown;
}

static QLabel *selectableLabel(QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setTextFormat(Qt::PlainText); // shows untrusted text: never rich text
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label->setWordWrap(true);
    return label;
}

ProposalDetailPane::ProposalDetailPane(QWidget *parent)
    : QWidget(parent)
    , m_key(selectableLabel(this))
    , m_normalised(selectableLabel(this))
    , m_context(selectableLabel(this))
    , m_regions(selectableLabel(this))
    , m_savings(selectableLabel(this))
    , m_similar(selectableLabel(this))
    , m_l1(selectableLabel(this))
    , m_prompt(new QPlainTextEdit(this))
    , m_answer(new QPlainTextEdit(this))
{
    m_prompt->setReadOnly(true);
    m_answer->setReadOnly(true);
    m_prompt->setMaximumHeight(90);
    m_prompt->setFocusPolicy(Qt::ClickFocus);
    m_answer->setFocusPolicy(Qt::ClickFocus);
    m_answer->setObjectName(QStringLiteral("detailAnswer"));
    QFont mono = m_key->font();
    mono.setFamily(QStringLiteral("monospace"));
    m_key->setFont(mono);

    auto *form = new QFormLayout;
    form->addRow(tr("Prompt:"), m_prompt);
    form->addRow(tr("Normalised:"), m_normalised);
    form->addRow(tr("Cache key:"), m_key);
    form->addRow(tr("Context:"), m_context);
    form->addRow(tr("Missed in:"), m_regions);
    form->addRow(tr("Savings:"), m_savings);
    form->addRow(tr("Similar entries:"), m_similar);
    m_similar->setObjectName(QStringLiteral("similarEntries"));
    form->addRow(tr("L1 (shadow):"), m_l1);
    m_l1->setObjectName(QStringLiteral("l1Candidate"));

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(new QLabel(tr("Proposed answer:"), this));
    layout->addWidget(m_answer, 1);
    showItem(std::nullopt);
}

void ProposalDetailPane::showItem(const std::optional<ProposalItem> &item)
{
    m_shownKey = item ? item->key : QString();
    m_similar->setText(item ? tr("looking…") : QStringLiteral("—"));
    if (!item) {
        m_prompt->setPlainText({});
        m_answer->setPlainText({});
        for (QLabel *l : {m_key, m_normalised, m_context, m_regions, m_savings, m_l1})
            l->setText(QStringLiteral("—"));
        return;
    }
    m_prompt->setPlainText(paneText(item->prompt));
    m_answer->setPlainText(paneText(item->responseText()));
    m_normalised->setText(Formatting::oneLine(
        QString::fromStdString(PromptNormaliser::normalise(item->prompt.left(kPaneChars).toStdString())), kLabelChars));
    m_key->setText(Formatting::oneLine(item->key, kLabelChars));
    QStringList context;
    if (!item->ns.isEmpty())
        context.append(tr("namespace %1").arg(Formatting::oneLine(item->ns, 120)));
    if (!item->model.isEmpty())
        context.append(tr("model %1").arg(Formatting::oneLine(item->model, 120)));
    context.append(item->system.isEmpty() ? tr("no system prompt")
                                          : tr("system: %1").arg(Formatting::oneLine(item->system, 120)));
    const qint64 ageMs = QDateTime::currentMSecsSinceEpoch() - item->tsMs;
    context.append(tr("proposed by %1, %2")
                       .arg(item->proposedRegion.isEmpty() ? tr("?") : Formatting::oneLine(item->proposedRegion, 60),
                            ageMs < 1000 ? tr("just now") : tr("%1 ago").arg(Formatting::age(ageMs))));
    if (!item->firstApprover.isEmpty()) {
        const qint64 since = QDateTime::currentMSecsSinceEpoch() - item->firstApprovedAtMs;
        context.append(
            tr("waiting for second approval: first approved by %1 %2 ago; a different user must approve "
               "the same answer")
                .arg(Formatting::oneLine(item->firstApprover, 64), Formatting::age(std::max<qint64>(since, 0))));
    }
    m_context->setText(context.join(QStringLiteral(" · ")));
    QStringList regions;
    for (auto it = item->regions.cbegin(); it != item->regions.cend(); ++it)
        regions.append(tr("%1: %2 misses").arg(Formatting::oneLine(it.key(), 60), QString::number(it.value())));
    if (!item->duplicateIds.isEmpty())
        regions.append(tr("%1 duplicate proposal(s) merged").arg(item->duplicateIds.size()));
    m_regions->setText(regions.isEmpty() ? tr("no demand recorded")
                                         : Formatting::oneLine(regions.join(QStringLiteral(" · ")), kLabelChars));
    const qint64 tokens = item->promptTokens + item->completionTokens;
    QString savings = tr("%1 = seen %2 × %3 region(s) × %4 s upstream")
                          .arg(item->savingsScore, 0, 'f', 1)
                          .arg(item->seenTotal)
                          .arg(std::max<qsizetype>(1, item->regions.size()))
                          .arg(double(item->upstreamMs) / 1000.0, 0, 'f', 2);
    if (tokens > 0)
        savings += tr(" × (1 + %1 tokens / 1000)").arg(tokens);
    m_savings->setText(savings);
    // The gateway's shadow lookup: what L1 in serve mode would have answered this miss with.
    m_l1->setText(item->l1Key.isEmpty() ? tr("no candidate (no approved entry of this scope came close, or L1 is off)")
                                        : tr("L1 would have answered with entry %1 at %2 (V attaches to it)")
                                              .arg(Formatting::oneLine(item->l1Key, 64))
                                              .arg(double(item->l1Similarity), 0, 'f', 2));
}

void ProposalDetailPane::showSimilar(const QString &proposalKey, const QList<SimilarEntry> &entries,
                                     const QString &note)
{
    if (proposalKey != m_shownKey)
        return;
    QStringList lines;
    if (entries.isEmpty())
        lines.append(tr("none among the approved entries"));
    for (const SimilarEntry &e : entries)
        lines.append(
            tr("%1 · v%2 · %3").arg(e.similarity, 0, 'f', 2).arg(e.version).arg(Formatting::oneLine(e.prompt, 100)));
    if (!note.isEmpty())
        lines.append(Formatting::oneLine(note, kLabelChars));
    m_similar->setText(lines.join(u'\n'));
}

} // namespace l0l3
