#include "ui/proposals/heldrowdelegate.h"

#include <QAbstractItemView>
#include <QHelpEvent>
#include <QToolTip>

namespace l0l3 {

HeldRowDelegate::HeldRowDelegate(HolderOf holderOf, QObject *parent)
    : QStyledItemDelegate(parent)
    , m_holderOf(std::move(holderOf))
{
}

void HeldRowDelegate::initStyleOption(QStyleOptionViewItem *option, const QModelIndex &index) const
{
    QStyledItemDelegate::initStyleOption(option, index);
    if (m_holderOf(index).isEmpty())
        return;
    option->font.setItalic(true);
    option->palette.setBrush(QPalette::Text, option->palette.brush(QPalette::Disabled, QPalette::Text));
}

bool HeldRowDelegate::helpEvent(QHelpEvent *event, QAbstractItemView *view, const QStyleOptionViewItem &option,
                                const QModelIndex &index)
{
    const QString holder = event && event->type() == QEvent::ToolTip ? m_holderOf(index) : QString();
    if (holder.isEmpty())
        return QStyledItemDelegate::helpEvent(event, view, option, index);
    // The holder's name came from Redis: escaped, never markup.
    QToolTip::showText(event->globalPos(), QStringLiteral("<qt>%1</qt>").arg(holder.toHtmlEscaped()), view);
    return true;
}

} // namespace l0l3
