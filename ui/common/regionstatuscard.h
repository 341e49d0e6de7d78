#pragma once

#include <QColor>
#include <QFrame>
#include <QList>
#include <QString>

class QLabel;

namespace l0l3 {

// One region at a glance: its degradation state (normal, elevated, degraded,
// replica_down, offline), the key numbers, and the recent states as a strip
// (one cell per tick, newest on the right).
class RegionStatusCard : public QFrame
{
    Q_OBJECT
public:
    explicit RegionStatusCard(const QString &region, QWidget *parent = nullptr);

    QString region() const { return m_region; }
    QString state() const { return m_state; }
    void setState(const QString &state);
    void setNumbers(double rps, double hitRate, double p99Ms, qint64 lagMs, int gatewaysUp, int gatewaysTotal);
    void setLag(qint64 lagMs, bool linkUp);
    void setHistoryLength(int ticks) { m_historyLength = ticks; }
    QList<QString> history() const { return m_history; }

    static QColor colorFor(const QString &state);

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QString m_region;
    QString m_state;
    QLabel *m_title;
    QLabel *m_stateLabel;
    QLabel *m_numbers;
    QLabel *m_lag;
    QList<QString> m_history;
    int m_historyLength = 300;
};

} // namespace l0l3
