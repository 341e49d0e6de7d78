#include "ui/timeserieschart.h"

#include <QChart>
#include <QDateTimeAxis>
#include <QLineSeries>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

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
    setChart(c);
    setRenderHint(QPainter::Antialiasing);
    setMinimumHeight(170);
    const QDateTime now = QDateTime::currentDateTime();
    m_x->setRange(now.addSecs(-60 * m_windowMinutes), now);
}

void TimeSeriesChart::setWindowMinutes(int minutes)
{
    m_windowMinutes = std::max(1, minutes);
}

QLineSeries *TimeSeriesChart::seriesFor(const QString &name)
{
    if (QLineSeries *s = m_series.value(name))
        return s;
    auto *s = new QLineSeries(this);
    s->setName(name);
    chart()->addSeries(s);
    s->attachAxis(m_x);
    s->attachAxis(m_y);
    m_series.insert(name, s);
    return s;
}

void TimeSeriesChart::addPoint(const QString &series, const QDateTime &at, double value)
{
    QLineSeries *s = seriesFor(series);
    if (std::isnan(value) || std::isinf(value))
        return;
    s->append(double(at.toMSecsSinceEpoch()), value);
}

void TimeSeriesChart::commit(const QDateTime &now)
{
    const double from = double(now.addSecs(-60 * m_windowMinutes).toMSecsSinceEpoch());
    double maxY = 0;
    for (QLineSeries *s : std::as_const(m_series)) {
        int old = 0;
        const int n = s->count();
        while (old < n && s->at(old).x() < from)
            ++old;
        if (old > 0)
            s->removePoints(0, old);
        const auto points = s->points();
        for (const QPointF &p : points)
            maxY = std::max(maxY, p.y());
    }
    m_x->setRange(now.addSecs(-60 * m_windowMinutes), now);
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
    m_y->setRange(0, nice);
}

void TimeSeriesChart::clearAll()
{
    for (QLineSeries *s : std::as_const(m_series))
        s->clear();
}

int TimeSeriesChart::pointCount(const QString &series) const
{
    const QLineSeries *s = m_series.value(series);
    return s ? s->count() : 0;
}

} // namespace l0l3
