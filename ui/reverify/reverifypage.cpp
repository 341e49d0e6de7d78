#include "ui/reverify/reverifypage.h"

#include <QDateTime>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QStandardItemModel>
#include <QTableView>

#include "ui/common/blastradiusprompt.h"
#include "ui/common/formatting.h"
#include "ui/common/localshortcutfilter.h"
#include "ui/common/recordview.h"
#include "ui/common/responseeditordialog.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

namespace {

QString fromStd(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

ReverifyPage::ReverifyPage(ControlClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_model(new QStandardItemModel(0, ColumnCount, this))
    , m_view(new QTableView(this))
    , m_status(new QLabel(this))
    , m_detail(new QPlainTextEdit(this))
{
    m_model->setHorizontalHeaderLabels(
        {tr("Key"), tr("Review by"), tr("Overdue"), tr("Namespace"), tr("Prompt"), tr("Approved by")});
    m_view->setObjectName(QStringLiteral("reverifyView"));
    m_view->setModel(m_model);
    setUpRecordView(m_view);
    m_view->setColumnWidth(Key, 140);
    m_view->setColumnWidth(Prompt, 320);
    m_detail->setReadOnly(true);
    m_status->setTextFormat(Qt::PlainText);

    const RecordCommand keep = addRecordCommand(this, m_view, tr("&Keep"),
                                                {QKeySequence(Qt::Key_Return), QKeySequence(Qt::Key_Enter)},
                                                tr("Still true: keep it and renew its review date"),
                                                [this] { keepCurrent(); });
    const RecordCommand edit = addRecordCommand(this, m_view, tr("&Edit…"), {QKeySequence(Qt::Key_E)},
                                                tr("Write a new version of the answer"), [this] { editCurrent(); });
    const RecordCommand revoke = addRecordCommand(this, m_view, tr("Re&voke…"),
                                                  {QKeySequence(Qt::Key_Backspace), QKeySequence(Qt::Key_Delete)},
                                                  tr("No longer true: revoke it everywhere"),
                                                  [this] { revokeCurrent(); });
    m_writeControls << keep.controls() << edit.controls() << revoke.controls();
    LocalShortcutFilter::install(m_view);
    auto *refresh = new QPushButton(tr("Re&load"), this);
    connect(refresh, &QPushButton::clicked, this, &ReverifyPage::reload);

    auto *top = new QHBoxLayout;
    top->addWidget(refresh);
    top->addWidget(keep.button);
    top->addWidget(edit.button);
    top->addWidget(revoke.button);
    top->addWidget(m_status, 1);
    layOutRecordPage(this, top, m_view, m_detail);

    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &ReverifyPage::updateDetail);
    ControlWorker *w = m_client->worker();
    connect(w, &ControlWorker::reverifyLoaded, this, [this](const QList<ReverifyItem> &due, int scanned) {
        setItems(due);
        m_status->setText(tr("%n entr(y/ies) to re-verify", nullptr, int(due.size()))
                          + tr(" (of %n read)", nullptr, scanned));
        emit loaded(int(due.size()));
    });
    connect(w, &ControlWorker::reverifyFailed, this, [this](const QString &message) {
        m_status->setText(tr("failed"));
        emit statusMessage(tr("To re-verify: %1").arg(message), 0);
    });
    connect(w, &ControlWorker::decisionFinished, this, [this](quint64 id, const ApprovalResult &result) {
        const auto it = m_inFlight.find(id);
        if (it == m_inFlight.end())
            return;
        const QString key = it.value();
        m_inFlight.erase(it);
        emit writeFinished(result);
        if (!result.ok) {
            emit statusMessage(tr("%1 failed: %2").arg(result.action, result.message), 0);
            return;
        }
        emit statusMessage(tr("%1 %2 done (%n replica(s) acknowledged)", nullptr, result.replicasAcked)
                               .arg(result.action, key.left(16)),
                           5000);
        removeKey(key);
    });
    // Another console or l0l3-ctl decided an entry of this queue: it leaves it here too.
    connect(w, &ControlWorker::entriesChanged, this,
            [this](const QList<EntryItem> &upserted, const QStringList &removed) {
                for (const QString &key : removed)
                    removeKey(key);
                for (const EntryItem &e : upserted) {
                    if (e.entry.reviewByMs > QDateTime::currentMSecsSinceEpoch())
                        removeKey(QString::fromStdString(e.entry.key));
                }
            });
}

void ReverifyPage::reload()
{
    m_status->setText(tr("loading…"));
    m_client->loadReverify();
}

void ReverifyPage::setItems(const QList<ReverifyItem> &items)
{
    m_items = items;
    m_model->removeRows(0, m_model->rowCount());
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    for (const ReverifyItem &i : items) {
        const Entry &e = i.item.entry;
        QList<QStandardItem *> row;
        auto cell = [&row](const QString &text, const QVariant &sort) {
            auto *c = new QStandardItem(text);
            c->setData(sort, SortRole);
            row.append(c);
        };
        cell(Formatting::oneLine(fromStd(e.key), 40), fromStd(e.key));
        cell(Formatting::timestamp(i.dueMs)
                 + (i.derived ? tr(" (approved + %n d)", nullptr, int(i.periodDays)) : QString()),
             i.dueMs);
        cell(tr("%n day(s)", nullptr, int((now - i.dueMs) / 86400000)), now - i.dueMs);
        cell(Formatting::oneLine(fromStd(e.ns), 64), fromStd(e.ns));
        cell(Formatting::oneLine(fromStd(e.prompt), 200), fromStd(e.prompt));
        cell(Formatting::oneLine(fromStd(e.approvedBy), 64), fromStd(e.approvedBy));
        m_model->appendRow(row);
    }
    if (m_model->rowCount() > 0)
        m_view->setCurrentIndex(m_model->index(0, 0));
    updateDetail();
}

void ReverifyPage::removeKey(const QString &key)
{
    for (qsizetype row = 0; row < m_items.size(); ++row) {
        if (QString::fromStdString(m_items[row].item.entry.key) != key)
            continue;
        const bool wasCurrent = currentRow() == row;
        m_items.removeAt(row);
        m_model->removeRow(int(row));
        // The keyboard flow: the next entry (or the last one) is selected.
        if (wasCurrent && m_model->rowCount() > 0)
            m_view->setCurrentIndex(m_model->index(int(qMin<qsizetype>(row, m_model->rowCount() - 1)), 0));
        m_status->setText(tr("%n entr(y/ies) to re-verify", nullptr, m_model->rowCount()));
        updateDetail();
        return;
    }
}

int ReverifyPage::currentRow() const
{
    const QModelIndex idx = m_view->currentIndex();
    return idx.isValid() && idx.row() < m_items.size() ? idx.row() : -1;
}

const ReverifyItem *ReverifyPage::currentItem() const
{
    const int row = currentRow();
    return row < 0 ? nullptr : &m_items[row];
}

void ReverifyPage::updateDetail()
{
    const ReverifyItem *item = currentItem();
    if (!item) {
        m_detail->clear();
        return;
    }
    const Entry &e = item->item.entry;
    // One arg() pass: a "%4" inside the prompt stays text.
    m_detail->setPlainText(tr("Key: %1\nNamespace: %2\nPrompt: %3\nVersion %4, approved by %5 at %6; review by %7 "
                              "(every %8 days)\n\n%9")
                               .arg(Formatting::oneLine(fromStd(e.key), 200), Formatting::oneLine(fromStd(e.ns), 200),
                                    Formatting::multiLine(fromStd(e.prompt), 20000), QString::number(e.version),
                                    Formatting::oneLine(fromStd(e.approvedBy), 200),
                                    Formatting::timestamp(e.approvedAtMs), Formatting::timestamp(item->dueMs),
                                    QString::number(item->periodDays),
                                    Formatting::multiLine(fromStd(e.response), 20000)));
}

void ReverifyPage::track(quint64 requestId, const QString &key)
{
    m_inFlight.insert(requestId, key);
}

void ReverifyPage::keepCurrent()
{
    const ReverifyItem *item = currentItem();
    if (!item)
        return;
    const QString key = fromStd(item->item.entry.key);
    track(m_client->keepEntry(key, item->item.entry.version), key);
}

void ReverifyPage::revokeCurrent()
{
    const ReverifyItem *item = currentItem();
    if (!item)
        return;
    const Entry e = item->item.entry;
    BlastRadiusPrompt::Request r;
    r.key = fromStd(e.key);
    r.title = tr("Revoke entry");
    r.question = tr("Revoke version %1 of this entry? Every region stops serving it; the next request goes "
                    "upstream.\n\n%2")
                     .arg(e.version)
                     .arg(Formatting::oneLine(fromStd(e.prompt), 200));
    r.confirmText = tr("&Revoke");
    r.confirmIsDefault = true;
    BlastRadiusPrompt::ask(m_client, this, r, [this, e] {
        const QString key = fromStd(e.key);
        track(m_client->revoke(key, e.version), key);
    });
}

void ReverifyPage::editCurrent()
{
    const ReverifyItem *item = currentItem();
    if (!item)
        return;
    const Entry e = item->item.entry;
    auto *dialog = new ResponseEditorDialog(fromStd(e.response), tr("&Save as version %1").arg(e.version + 1), this);
    dialog->setObjectName(QStringLiteral("reverifyEditor"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setIntentVisible(false);
    dialog->setReviewDays(m_client->reviewPolicy().daysFor(e.ns, e.reviewDays));
    dialog->setWindowTitle(tr("Edit entry — %1").arg(Formatting::oneLine(fromStd(e.prompt), 60)));
    connect(dialog, &QDialog::accepted, this, [this, dialog, e] {
        if (!dialog->isChanged())
            return;
        const QString response = dialog->response();
        const qint64 reviewDays = dialog->reviewDays();
        BlastRadiusPrompt::Request r;
        r.key = fromStd(e.key);
        r.title = tr("Edit entry");
        r.question =
            tr("Save version %1 of this entry? Every region serves the new answer from now on.").arg(e.version + 1);
        r.confirmText = tr("&Save");
        r.confirmIsDefault = true;
        BlastRadiusPrompt::ask(m_client, this, r, [this, e, response, reviewDays] {
            const QString key = fromStd(e.key);
            track(m_client->editEntry(key, response, e.version, reviewDays), key);
        });
    });
    dialog->open();
}

} // namespace l0l3
