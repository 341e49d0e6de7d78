#include "ui/common/regionstatuscard.h"

#include <QLabel>
#include <QPainter>
#include <QVBoxLayout>

#include <cmath>

#include "ui/common/formatting.h"

namespace l0l3 {

static constexpr int kStripHeight = 14;

RegionStatusCard::RegionStatusCard(const QString &region, QWidget *parent)
    : QFrame(parent)
    , m_region(region)
    , m_title(new QLabel(this))
    , m_stateLabel(new QLabel(this))
    , m_numbers(new QLabel(this))
    , m_lag(new QLabel(this))
{
    setObjectName(QStringLiteral("regionCard_") + region);
    setFrameShape(QFrame::StyledPanel);
    setMinimumWidth(190);
    QFont f = m_title->font();
    f.setBold(true);
    f.setPointSizeF(f.pointSizeF() * 1.2);
    m_title->setFont(f);
    // Region names come from gateways' metrics labels: plain text, bounded.
    for (QLabel *label : {m_title, m_numbers, m_lag})
        label->setTextFormat(Qt::PlainText);
    m_title->setText(Formatting::oneLine(region, 60));
    m_title->setToolTip(Formatting::toolTip(region));
    // Plain text, coloured through the palette: a rich-text label builds a
    // QTextDocument for every text change and every size hint.
    m_stateLabel->setTextFormat(Qt::PlainText);
    QFont bold = m_stateLabel->font();
    bold.setBold(true);
    m_stateLabel->setFont(bold);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_title);
    layout->addWidget(m_stateLabel);
    layout->addWidget(m_numbers);
    layout->addWidget(m_lag);
    layout->addSpacing(kStripHeight + 4);
    setState(QStringLiteral("unknown"));
    m_history.clear();
}

QColor RegionStatusCard::colorFor(const QString &state)
{
    if (state == QLatin1String("normal"))
        return QColor(0x2e, 0x9e, 0x4f);
    if (state == QLatin1String("elevated"))
        return QColor(0xe0, 0xb0, 0x20);
    if (state == QLatin1String("degraded"))
        return QColor(0xe0, 0x70, 0x20);
    if (state == QLatin1String("replica_down"))
        return QColor(0xc8, 0x30, 0x30);
    if (state == QLatin1String("offline"))
        return QColor(0x60, 0x20, 0x20);
    return QColor(0x90, 0x90, 0x90);
}

void RegionStatusCard::setState(const QString &state)
{
    m_state = state.isEmpty() ? QStringLiteral("unknown") : state;
    const QString text = QStringLiteral("● ") + Formatting::oneLine(m_state, 40);
    if (m_stateLabel->text() != text) {
        QPalette pal = m_stateLabel->palette();
        pal.setColor(QPalette::WindowText, colorFor(m_state));
        m_stateLabel->setPalette(pal);
        m_stateLabel->setText(text);
    }
    m_history.append(m_state);
    while (m_history.size() > m_historyLength)
        m_history.removeFirst();
    update();
}

void RegionStatusCard::setNumbers(double rps, double hitRate, double p99Ms, qint64, int gatewaysUp, int gatewaysTotal)
{
    const QString p99 = std::isnan(p99Ms) ? QStringLiteral("—") : QStringLiteral("%1 ms").arg(p99Ms, 0, 'f', 0);
    QString gateways;
    if (gatewaysTotal > 0)
        gateways = tr(" · %1/%2 gateways").arg(gatewaysUp).arg(gatewaysTotal);
    m_numbers->setText(
        tr("%1 req/s · hit %2% · p99 %3%4").arg(rps, 0, 'f', 1).arg(hitRate * 100, 0, 'f', 0).arg(p99, gateways));
}

void RegionStatusCard::setLag(qint64 lagMs, bool linkUp)
{
    if (lagMs < 0)
        m_lag->setText(tr("replication: not measured"));
    else
        m_lag->setText(tr("replication lag %1 ms%2").arg(lagMs).arg(linkUp ? QString() : tr(" (link down)")));
}

void RegionStatusCard::paintEvent(QPaintEvent *event)
{
    QFrame::paintEvent(event);
    if (m_history.isEmpty())
        return;
    QPainter p(this);
    const QRect strip(8, height() - kStripHeight - 6, width() - 16, kStripHeight);
    p.fillRect(strip, palette().window().color().darker(110));
    const int n = int(m_history.size());
    const double cell = double(strip.width()) / std::max(n, m_historyLength / 2);
    double x = strip.right() - cell * n;
    for (const QString &state : m_history) {
        p.fillRect(QRectF(x, strip.top(), std::max(1.0, cell), strip.height()), colorFor(state));
        x += cell;
    }
}

} // namespace l0l3
