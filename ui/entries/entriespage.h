#pragma once

#include <QHash>
#include <QList>
#include <QWidget>

#include "core/control/approvalresult.h"

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QSortFilterProxyModel;
class QTableView;
class QTimer;

namespace l0l3 {

class ControlClient;
class EntryTableModel;

// Approved entries: paged SCAN, client-side search, revoke, and edit (which
// writes a new version through ApprovalService's version check).
class EntriesPage : public QWidget
{
    Q_OBJECT
public:
    explicit EntriesPage(ControlClient *client, QWidget *parent = nullptr);

    EntryTableModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    void reload();
    void revokeCurrent();
    void editCurrent();
    // Edit and revoke, buttons and shortcuts: what an approver may do (RoleGate).
    QList<QObject *> writeControls() const { return m_writeControls; }

signals:
    void statusMessage(const QString &message, int timeoutMs);
    void writeFinished(const l0l3::ApprovalResult &result);

private:
    static constexpr int kDetailChars = 20000; // of the prompt and of the answer in the detail pane

    int currentRow() const;
    void updateDetail();

    ControlClient *m_client;
    EntryTableModel *m_model;
    QSortFilterProxyModel *m_proxy;
    QTableView *m_view;
    QLineEdit *m_search;
    QLabel *m_status;
    QPlainTextEdit *m_detail;
    QTimer *m_searchTimer;
    QHash<quint64, QString> m_inFlight; // request id -> action
    QList<QObject *> m_writeControls;
};

} // namespace l0l3
