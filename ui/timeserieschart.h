#pragma once

#include <QChartView>
#include <QDateTime>
#include <QHash>
#include <QString>

class QDateTimeAxis;
class QLineSeries;
class QValueAxis;

namespace l0l3 {

// A live line chart over the last N minutes: named series, one point per
// tick, old points dropped, the y axis fitted to what is visible.
class TimeSeriesChart : public QChartView
{
    Q_OBJECT
public:
    TimeSeriesChart(const QString &title, const QString &unit, QWidget *parent = nullptr);

    void setWindowMinutes(int minutes);
    // NaN values are skipped (a gap, not a zero).
    void addPoint(const QString &series, const QDateTime &at, double value);
    // After a batch of addPoint: trim and rescale once.
    void commit(const QDateTime &now);
    void clearAll();
    int seriesCount() const { return int(m_series.size()); }
    int pointCount(const QString &series) const;

private:
    QLineSeries *seriesFor(const QString &name);

    QHash<QString, QLineSeries *> m_series;
    QDateTimeAxis *m_x;
    QValueAxis *m_y;
    int m_windowMinutes = 5;
};

} // namespace l0l3
