#pragma once

#include <QWidget>

class QLabel;
class QSortFilterProxyModel;
class QTableView;

namespace l0l3 {

class AuditTableModel;
class ControlClient;

// The audit stream, newest first; older pages load on scroll.
class AuditPage : public QWidget
{
    Q_OBJECT
public:
    explicit AuditPage(ControlClient *client, QWidget *parent = nullptr);

    AuditTableModel *model() const { return m_model; }
    void reload();

signals:
    void statusMessage(const QString &message, int timeoutMs);

private:
    ControlClient *m_client;
    AuditTableModel *m_model;
    QSortFilterProxyModel *m_proxy;
    QTableView *m_view;
    QLabel *m_status;
};

} // namespace l0l3
