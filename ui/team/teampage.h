#pragma once

#include <QElapsedTimer>
#include <QWidget>

#include "core/control/teamstats.h"

class QAction;
class QComboBox;
class QLabel;
class QTableWidget;
class QTimer;

namespace l0l3 {

class ControlClient;

// The team's numbers (TeamStatsCalculator): one row per operator (decisions
// today and over the window, median and p90 time per decision, approve/edit/
// reject/revoke ratios, median wait before a decision), and per day inflow vs
// outflow. Read by a TeamStatsReader on the ControlWorker's thread, every
// kRefreshMs while shown and on F5 (while the focus is in the page); this widget only fills the tables. Actor
// names are shown through Formatting::oneLine (plain text).
class TeamPage : public QWidget
{
    Q_OBJECT
public:
    static constexpr int kRefreshMs = 60000;

    explicit TeamPage(ControlClient *client, QWidget *parent = nullptr);

    // Reads the figures again (ignored while a read is under way).
    void refresh();
    void setDays(int days);
    int days() const { return m_days; }

    QTableWidget *operatorTable() const { return m_operators; }
    QTableWidget *flowTable() const { return m_flow; }
    QAction *refreshAction() const { return m_refresh; }
    const TeamStats &stats() const { return m_stats; }
    int refreshCount() const { return m_refreshes; }

signals:
    void refreshed();

protected:
    void showEvent(QShowEvent *event) override;

private:
    void show(const TeamStats &stats, const QString &error);

    ControlClient *m_client;
    QComboBox *m_window;
    QLabel *m_status;
    QTableWidget *m_operators;
    QTableWidget *m_flow;
    QAction *m_refresh;
    QTimer *m_timer;
    TeamStats m_stats;
    int m_days = 7;
    int m_refreshes = 0;
    bool m_inFlight = false;
    QElapsedTimer m_started;
};

} // namespace l0l3
