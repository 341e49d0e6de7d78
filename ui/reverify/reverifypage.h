#pragma once

#include <QHash>
#include <QList>
#include <QWidget>

#include "core/control/approvalresult.h"
#include "core/control/reverifyqueue.h"

class QLabel;
class QPlainTextEdit;
class QStandardItemModel;
class QTableView;

namespace l0l3 {

class ControlClient;

// "To re-verify": approved entries past their review date (ReverifyQueue),
// most overdue first, with the Proposals page's keyboard flow on the table:
// Enter keeps the entry (the date renews; "reverify-keep" in the audit), E
// edits it (a new version, after the blast-radius confirmation), Backspace
// revokes it (after the same confirmation, whose default button is Revoke).
// A decided row leaves the table and the next one is selected.
class ReverifyPage : public QWidget
{
    Q_OBJECT
public:
    enum Column { Key, ReviewBy, Overdue, Namespace, Prompt, ApprovedBy, ColumnCount };
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit ReverifyPage(ControlClient *client, QWidget *parent = nullptr);

    QTableView *view() const { return m_view; }
    QStandardItemModel *model() const { return m_model; }
    void reload();
    void keepCurrent();
    void editCurrent();
    void revokeCurrent();
    // Keep, edit and revoke, buttons and shortcuts: what an approver may do (RoleGate).
    QList<QObject *> writeControls() const { return m_writeControls; }
    // The entry of the current row, or nullptr.
    const ReverifyItem *currentItem() const;

signals:
    void statusMessage(const QString &message, int timeoutMs);
    void writeFinished(const l0l3::ApprovalResult &result);
    // The queue was (re)loaded; n items are due.
    void loaded(int n);

private:
    void setItems(const QList<ReverifyItem> &items);
    void removeKey(const QString &key);
    void updateDetail();
    int currentRow() const;
    void track(quint64 requestId, const QString &key);

    ControlClient *m_client;
    QStandardItemModel *m_model;
    QTableView *m_view;
    QLabel *m_status;
    QPlainTextEdit *m_detail;
    QList<ReverifyItem> m_items;        // by row of m_model (no sorting proxy: most overdue first)
    QHash<quint64, QString> m_inFlight; // request id -> key
    QList<QObject *> m_writeControls;
};

} // namespace l0l3
