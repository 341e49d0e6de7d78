#include "ui/l1review/l1reviewpage.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QStandardItemModel>
#include <QTableView>
#include <QTimer>

#include "ui/common/formatting.h"
#include "ui/common/localshortcutfilter.h"
#include "ui/common/recordview.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

L1ReviewPage::L1ReviewPage(ControlClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_model(new QStandardItemModel(0, ColumnCount, this))
    , m_view(new QTableView(this))
    , m_status(new QLabel(this))
    , m_detail(new QPlainTextEdit(this))
    , m_poll(new QTimer(this))
{
    m_model->setHorizontalHeaderLabels(
        {tr("Time"), tr("Similarity"), tr("Region"), tr("Request"), tr("Matched entry"), tr("Entry key")});
    m_view->setObjectName(QStringLiteral("l1ReviewView"));
    m_view->setModel(m_model);
    setUpRecordView(m_view);
    m_view->setColumnWidth(Request, 300);
    m_view->setColumnWidth(Entry, 300);
    m_detail->setReadOnly(true);
    m_status->setTextFormat(Qt::PlainText);

    const RecordCommand confirm = addRecordCommand(this, m_view, tr("&Confirm"),
                                                   {QKeySequence(Qt::Key_Return), QKeySequence(Qt::Key_Enter)},
                                                   tr("The right answer for this request"),
                                                   [this] { confirmCurrent(); });
    m_writeControls += confirm.controls();
    const RecordCommand deny = addRecordCommand(
        this, m_view, tr("&Deny"), {QKeySequence(Qt::Key_Backspace), QKeySequence(Qt::Key_D)},
        tr("The wrong answer: tighten the entry's similarity threshold past it"), [this] { denyCurrent(); });
    m_writeControls += deny.controls();
    const RecordCommand next = addRecordCommand(this, m_view, tr("Ne&xt"), {QKeySequence(Qt::Key_J)},
                                                tr("Next item (or ↓)"), [this] { moveBy(1); });
    const RecordCommand previous = addRecordCommand(this, m_view, tr("Pre&vious"), {QKeySequence(Qt::Key_K)},
                                                    tr("Previous item (or ↑)"), [this] { moveBy(-1); });
    LocalShortcutFilter::install(m_view);
    auto *refresh = new QPushButton(tr("Re&load"), this);
    connect(refresh, &QPushButton::clicked, this, &L1ReviewPage::reload);

    auto *top = new QHBoxLayout;
    top->addWidget(refresh);
    top->addWidget(confirm.button);
    top->addWidget(deny.button);
    top->addWidget(previous.button);
    top->addWidget(next.button);
    top->addWidget(m_status, 1);
    layOutRecordPage(this, top, m_view, m_detail);

    m_poll->setInterval(kPollIntervalMs);
    connect(m_poll, &QTimer::timeout, this, &L1ReviewPage::poll);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &L1ReviewPage::updateDetail);
    ControlWorker *w = m_client->worker();
    connect(w, &ControlWorker::l1ReviewLoaded, this, &L1ReviewPage::onLoaded);
    connect(w, &ControlWorker::l1ReviewFailed, this, [this](const QString &message) {
        m_loading = false;
        m_status->setText(tr("L1 review not read: %1").arg(Formatting::oneLine(message, 200)));
    });
    connect(w, &ControlWorker::decisionFinished, this, [this](quint64 id, const ApprovalResult &result) {
        const auto it = m_inFlight.find(id);
        if (it == m_inFlight.end())
            return;
        const QString reviewId = it.value();
        m_inFlight.erase(it);
        emit writeFinished(result);
        // Decided by someone else first: it leaves this queue as well.
        if (result.ok || result.error == ApprovalResult::ErrorKind::AlreadyDecided)
            removeId(reviewId);
        if (!result.ok) {
            emit statusMessage(tr("%1 failed: %2").arg(result.action, result.message), 0);
            return;
        }
        emit statusMessage(tr("%1 on %2 done (%n replica(s) acknowledged)", nullptr, result.replicasAcked)
                               .arg(result.action, result.key.left(16)),
                           5000);
    });
    // Verdicts of other consoles and l0l3-ctl (the live audit tail): their items leave.
    connect(w, &ControlWorker::auditAppended, this, [this](const QList<AuditRecord> &records) {
        static const QRegularExpression reviewRe(QStringLiteral("(?:^| )review=([0-9]{1,20}-[0-9]{1,20})(?: |$)"));
        for (const AuditRecord &r : records) {
            if (r.action != "l1-confirm" && r.action != "l1-deny")
                continue;
            const QRegularExpressionMatch m = reviewRe.match(QString::fromStdString(r.detail));
            if (m.hasMatch())
                removeId(m.captured(1));
        }
    });
}

void L1ReviewPage::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    m_poll->start();
    reload();
}

void L1ReviewPage::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_poll->stop();
}

void L1ReviewPage::reload()
{
    m_loading = true;
    m_status->setText(tr("loading…"));
    m_client->loadL1Review({});
}

void L1ReviewPage::poll()
{
    if (m_loading || m_items.size() >= L1Review::kMaxItems)
        return;
    if (!m_loadedOnce)
        return reload(); // e.g. shown before the connection was ready
    m_loading = true;
    m_client->loadL1Review(m_lastId);
}

void L1ReviewPage::onLoaded(const QString &afterId, const QList<L1ReviewItem> &items)
{
    if (afterId.isEmpty()) {
        // A full read replaces what is shown.
        m_loading = false;
        m_loadedOnce = true;
        m_items.clear();
        m_model->removeRows(0, m_model->rowCount());
        m_lastId.clear();
        append(items);
        if (m_model->rowCount() > 0)
            m_view->setCurrentIndex(m_model->index(0, 0));
        updateDetail();
    } else if (afterId == m_lastId) {
        m_loading = false;
        append(items);
    } else {
        return; // an older poll, overtaken by a reload
    }
    updateStatus();
    emit loaded(int(m_items.size()));
}

void L1ReviewPage::append(const QList<L1ReviewItem> &items)
{
    const bool hadCurrent = currentRow() >= 0;
    for (const L1ReviewItem &i : items) {
        m_lastId = i.id;
        // Decided here while the read was in flight: not shown again.
        if (std::any_of(m_inFlight.cbegin(), m_inFlight.cend(), [&i](const QString &id) { return id == i.id; }))
            continue;
        if (m_items.size() >= L1Review::kMaxItems)
            break;
        QList<QStandardItem *> row;
        auto cell = [&row](const QString &text) { row.append(new QStandardItem(text)); };
        cell(Formatting::timestamp(i.tsMs));
        cell(QString::number(i.similarity, 'f', 3));
        cell(Formatting::oneLine(i.region, 64));
        cell(Formatting::oneLine(i.prompt, 200));
        cell(i.entryPrompt.isEmpty() ? tr("(entry gone)") : Formatting::oneLine(i.entryPrompt, 200));
        cell(Formatting::oneLine(i.entry, 40));
        m_items.append(i);
        m_model->appendRow(row);
    }
    if (!hadCurrent && m_model->rowCount() > 0) {
        m_view->setCurrentIndex(m_model->index(0, 0));
        updateDetail();
    }
}

void L1ReviewPage::removeId(const QString &id)
{
    for (qsizetype row = 0; row < m_items.size(); ++row) {
        if (m_items[row].id != id)
            continue;
        const bool wasCurrent = currentRow() == row;
        m_items.removeAt(row);
        m_model->removeRow(int(row));
        // The keyboard flow: the next item (or the last one) is selected.
        if (wasCurrent && m_model->rowCount() > 0)
            m_view->setCurrentIndex(m_model->index(int(qMin<qsizetype>(row, m_model->rowCount() - 1)), 0));
        updateStatus();
        updateDetail();
        return;
    }
}

void L1ReviewPage::updateStatus()
{
    m_status->setText(tr("%n L1 answer(s) to review", nullptr, int(m_items.size())));
}

int L1ReviewPage::currentRow() const
{
    const QModelIndex idx = m_view->currentIndex();
    return idx.isValid() && idx.row() < m_items.size() ? idx.row() : -1;
}

const L1ReviewItem *L1ReviewPage::currentItem() const
{
    const int row = currentRow();
    return row < 0 ? nullptr : &m_items[row];
}

int L1ReviewPage::rowOf(const QString &reviewId) const
{
    for (qsizetype row = 0; row < m_items.size(); ++row) {
        if (m_items[row].id == reviewId)
            return int(row);
    }
    return -1;
}

void L1ReviewPage::moveBy(int delta)
{
    if (m_model->rowCount() == 0)
        return;
    const int row = qBound(0, qMax(0, currentRow()) + delta, m_model->rowCount() - 1);
    m_view->setCurrentIndex(m_model->index(row, 0));
}

void L1ReviewPage::updateDetail()
{
    const L1ReviewItem *i = currentItem();
    if (!i) {
        m_detail->clear();
        return;
    }
    // One arg() pass: a "%4" inside a prompt stays text.
    m_detail->setPlainText(
        tr("Request (%1, %2, namespace %3): %4\n\nAnswered from entry %5 at similarity %6:\n%7")
            .arg(Formatting::oneLine(i->region, 64), Formatting::timestamp(i->tsMs), Formatting::oneLine(i->ns, 200),
                 Formatting::multiLine(i->prompt, 4000), Formatting::oneLine(i->entry, 64),
                 QString::number(i->similarity, 'f', 3),
                 i->entryPrompt.isEmpty() ? tr("(the entry is gone)") : Formatting::multiLine(i->entryPrompt, 20000)));
}

void L1ReviewPage::confirmCurrent()
{
    decideCurrent(true);
}

void L1ReviewPage::denyCurrent()
{
    decideCurrent(false);
}

void L1ReviewPage::decideCurrent(bool confirmed)
{
    const L1ReviewItem *item = currentItem();
    if (!item)
        return;
    const QString id = item->id;
    // One verdict per item from this console.
    for (const QString &pending : std::as_const(m_inFlight)) {
        if (pending == id)
            return;
    }
    m_inFlight.insert(m_client->reviewL1(id, confirmed), id);
    // The next item is current at once; this one leaves when its verdict is written.
    moveBy(1);
}

} // namespace l0l3
