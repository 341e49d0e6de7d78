#pragma once

#include <QChartView>
#include <QDateTime>
#include <QHash>
#include <QList>
#include <QPointF>
#include <QString>

class QDateTimeAxis;
class QLineSeries;
class QValueAxis;

namespace l0l3 {

// A live line chart over the last N minutes: named series, one point per
// tick, old points dropped, the y axis fitted to what is visible. Points are
// collected per series and handed to Qt Charts once per commit (one
// QXYSeries::replace per series rather than a repaint-triggering signal per
// appended or removed point), publishDelayMs after it: a page with several
// charts staggers them so that each full repaint (the time axis moves every
// tick) is a short UI-thread stall of its own.
class TimeSeriesChart : public QChartView
{
    Q_OBJECT
public:
    TimeSeriesChart(const QString &title, const QString &unit, QWidget *parent = nullptr);

    void setWindowMinutes(int minutes);
    void setPublishDelayMs(int ms) { m_publishDelayMs = ms; }
    // NaN values are skipped (a gap, not a zero).
    void addPoint(const QString &series, const QDateTime &at, double value);
    // After a batch of addPoint: trim and rescale once; the chart shows it
    // publishDelayMs later.
    void commit(const QDateTime &now);
    void clearAll();
    int seriesCount() const { return int(m_lines.size()); }
    int pointCount(const QString &series) const;

private:
    struct Line
    {
        QLineSeries *series = nullptr; // created by the first publish()
        QList<QPointF> points;
    };
    Line &lineFor(const QString &name);
    void publish();

    QHash<QString, Line> m_lines;
    QDateTimeAxis *m_x;
    QValueAxis *m_y;
    int m_windowMinutes = 5;
    int m_publishDelayMs = 0;
    bool m_publishPending = false;
    QDateTime m_now;
    double m_top = 1;
};

} // namespace l0l3
