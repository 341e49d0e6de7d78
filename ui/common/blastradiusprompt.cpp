#include "ui/common/blastradiusprompt.h"

#include <QAbstractButton>
#include <QMessageBox>
#include <QWidget>

#include "ui/common/formatting.h"
#include "ui/workers/controlclient.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

void BlastRadiusPrompt::ask(ControlClient *client, QWidget *parentWidget, const Request &request,
                            std::function<void()> onConfirmed)
{
    new BlastRadiusPrompt(client, parentWidget, request, std::move(onConfirmed));
}

BlastRadiusPrompt::BlastRadiusPrompt(ControlClient *client, QWidget *parentWidget, const Request &request,
                                     std::function<void()> onConfirmed)
    : QObject(parentWidget)
    , m_parentWidget(parentWidget)
    , m_request(request)
    , m_onConfirmed(std::move(onConfirmed))
{
    connect(client->worker(), &ControlWorker::servedRead, this, [this](quint64 id, const ServedCounts &counts) {
        if (id == m_requestId)
            show(counts.summary());
    });
    m_requestId = client->readServed(request.key);
}

void BlastRadiusPrompt::show(const QString &radius)
{
    auto *box = new QMessageBox(QMessageBox::Warning, m_request.title,
                                m_request.question + QStringLiteral("\n\n") + Formatting::multiLine(radius, 2000),
                                QMessageBox::Ok | QMessageBox::Cancel, m_parentWidget);
    box->setObjectName(QStringLiteral("blastRadiusConfirm"));
    box->setTextFormat(Qt::PlainText);
    box->setAttribute(Qt::WA_DeleteOnClose);
    QAbstractButton *confirm = box->button(QMessageBox::Ok);
    confirm->setText(m_request.confirmText);
    box->setDefaultButton(m_request.confirmIsDefault ? QMessageBox::Ok : QMessageBox::Cancel);
    connect(box, &QMessageBox::finished, this, [this, box, confirm] {
        if (box->clickedButton() == confirm && m_onConfirmed)
            m_onConfirmed();
        deleteLater();
    });
    box->open();
}

} // namespace l0l3
