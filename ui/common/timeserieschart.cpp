#include "ui/common/timeserieschart.h"

#include <QChart>
#include <QDateTimeAxis>
#include <QLineSeries>
#include <QTimer>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

#include "ui/common/formatting.h"

namespace l0l3 {

TimeSeriesChart::TimeSeriesChart(const QString &title, const QString &unit, QWidget *parent)
    : QChartView(parent)
    , m_x(new QDateTimeAxis)
    , m_y(new QValueAxis)
{
    auto *c = new QChart;
    c->setTitle(title);
    c->legend()->setAlignment(Qt::AlignBottom);
    c->setMargins(QMargins(4, 4, 4, 4));
    m_x->setFormat(QStringLiteral("HH:mm:ss"));
    m_x->setTickCount(4);
    m_y->setTitleText(unit);
    m_y->setLabelFormat(QStringLiteral("%g"));
    m_y->setTickCount(5);
    m_y->setRange(0, 1);
    // Small charts: Qt Charts elides labels to "..." rather than shrinking them.
    m_x->setTruncateLabels(false);
    m_y->setTruncateLabels(false);
    c->addAxis(m_x, Qt::AlignBottom);
    c->addAxis(m_y, Qt::AlignLeft);
    // QChartView made a default chart and setChart() only releases it.
    QChart *placeholder = chart();
    setChart(c);
    delete placeholder;
    setRenderHint(QPainter::Antialiasing);
    setMinimumHeight(170);
    const QDateTime now = QDateTime::currentDateTime();
    m_x->setRange(now.addSecs(-60 * m_windowMinutes), now);
}

void TimeSeriesChart::setWindowMinutes(int minutes)
{
    m_windowMinutes = std::max(1, minutes);
}

TimeSeriesChart::Line &TimeSeriesChart::lineFor(const QString &name)
{
    return m_lines[name];
}

void TimeSeriesChart::addPoint(const QString &series, const QDateTime &at, double value)
{
    Line &line = lineFor(series);
    if (std::isnan(value) || std::isinf(value))
        return;
    line.points.append(QPointF(double(at.toMSecsSinceEpoch()), value));
}

void TimeSeriesChart::commit(const QDateTime &now)
{
    const double from = double(now.addSecs(-60 * m_windowMinutes).toMSecsSinceEpoch());
    double maxY = 0;
    for (Line &line : m_lines) {
        const auto firstKept = std::find_if(line.points.cbegin(), line.points.cend(),
                                            [from](const QPointF &p) { return p.x() >= from; });
        line.points.erase(line.points.cbegin(), firstKept);
        for (const QPointF &p : std::as_const(line.points))
            maxY = std::max(maxY, p.y());
    }
    m_now = now;
    // Headroom and a readable top: 1, 2, 5 x 10^n.
    const double top = maxY <= 0 ? 1 : maxY * 1.15;
    const double mag = std::pow(10.0, std::floor(std::log10(top)));
    double nice = mag;
    for (double f : {1.0, 2.0, 5.0, 10.0}) {
        if (f * mag >= top) {
            nice = f * mag;
            break;
        }
    }
    m_top = nice;
    if (!m_publishPending) {
        m_publishPending = true;
        QTimer::singleShot(m_publishDelayMs, this, &TimeSeriesChart::publish);
    }
}

void TimeSeriesChart::publish()
{
    m_publishPending = false;
    for (auto it = m_lines.begin(); it != m_lines.end(); ++it) {
        // Created here, not on the first addPoint: a new series re-lays out
        // the whole chart, which belongs to this chart's own repaint.
        if (!it->series) {
            it->series = new QLineSeries(this);
            it->series->setName(Formatting::chartLabel(it.key())); // legends render HTML
            chart()->addSeries(it->series);
            it->series->attachAxis(m_x);
            it->series->attachAxis(m_y);
        }
        it->series->replace(it->points);
    }
    m_x->setRange(m_now.addSecs(-60 * m_windowMinutes), m_now);
    m_y->setRange(0, m_top);
}

void TimeSeriesChart::clearAll()
{
    for (Line &line : m_lines) {
        line.points.clear();
        if (line.series)
            line.series->clear();
    }
}

int TimeSeriesChart::pointCount(const QString &series) const
{
    const auto it = m_lines.constFind(series);
    return it == m_lines.cend() ? 0 : int(it->points.size());
}

} // namespace l0l3
