#include "ui/audit/auditpage.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include "ui/audit/audittablemodel.h"
#include "ui/common/recordview.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

AuditPage::AuditPage(ControlClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_model(new AuditTableModel(this))
    , m_proxy(new QSortFilterProxyModel(this))
    , m_view(new QTableView(this))
    , m_status(new QLabel(this))
{
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(AuditTableModel::SortRole);
    m_proxy->setFilterKeyColumn(-1);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_view->setObjectName(QStringLiteral("auditView"));
    m_view->setModel(m_proxy);
    setUpRecordView(m_view, QAbstractItemView::ExtendedSelection);
    m_view->setColumnWidth(AuditTableModel::Time, 150);
    m_view->setColumnWidth(AuditTableModel::Key, 220);
    m_status->setTextFormat(Qt::PlainText);

    auto *filter = new QLineEdit(this);
    filter->setPlaceholderText(tr("Filter loaded records (action, key, actor, detail)"));
    filter->setClearButtonEnabled(true);
    connect(filter, &QLineEdit::textChanged, m_proxy, &QSortFilterProxyModel::setFilterFixedString);
    auto *refresh = new QPushButton(tr("Re&load"), this);
    connect(refresh, &QPushButton::clicked, this, &AuditPage::reload);

    auto *top = new QHBoxLayout;
    top->addWidget(filter, 1);
    top->addWidget(refresh);
    top->addWidget(m_status);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(m_view, 1);

    connect(m_model, &AuditTableModel::fetchMoreRequested, m_client, &ControlClient::fetchMoreAudit);
    ControlWorker *w = m_client->worker();
    connect(w, &ControlWorker::auditReset, m_model, &AuditTableModel::clear);
    connect(w, &ControlWorker::auditPage, this, [this](const QList<AuditRecord> &records, bool more) {
        m_model->appendPage(records, more);
        m_status->setText(
            tr("%n record(s)%1", nullptr, m_model->rowCount()).arg(more ? tr(" (older on scroll)") : QString()));
    });
    // Live: what any console or l0l3-ctl decided, batched by the worker.
    connect(w, &ControlWorker::auditAppended, this, [this](const QList<AuditRecord> &records) {
        m_model->prependLive(records);
        m_status->setText(tr("%n record(s), live", nullptr, m_model->rowCount()));
    });
    connect(w, &ControlWorker::auditFailed, this, [this](const QString &message) {
        m_status->setText(tr("failed"));
        emit statusMessage(tr("Audit log: %1").arg(message), 0);
    });
}

void AuditPage::reload()
{
    m_status->setText(tr("loading…"));
    m_client->reloadAudit();
}

} // namespace l0l3
