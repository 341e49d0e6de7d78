#include "ui/common/localshortcutfilter.h"

#include <QAction>
#include <QKeyEvent>
#include <QWidget>

namespace l0l3 {

LocalShortcutFilter::LocalShortcutFilter(QWidget *widget)
    : QObject(widget)
    , m_widget(widget)
{
}

LocalShortcutFilter *LocalShortcutFilter::install(QWidget *widget)
{
    auto *filter = new LocalShortcutFilter(widget);
    widget->installEventFilter(filter);
    return filter;
}

bool LocalShortcutFilter::eventFilter(QObject *watched, QEvent *event)
{
    if (watched != m_widget || (event->type() != QEvent::ShortcutOverride && event->type() != QEvent::KeyPress))
        return false;
    auto *key = static_cast<QKeyEvent *>(event);
    const QKeySequence pressed(key->keyCombination());
    for (QAction *a : m_widget->actions()) {
        if (!a->isEnabled() || !a->shortcuts().contains(pressed))
            continue;
        event->accept();
        if (event->type() == QEvent::KeyPress)
            a->trigger();
        return true;
    }
    return false;
}

} // namespace l0l3
