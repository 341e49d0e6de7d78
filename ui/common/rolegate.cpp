#include "ui/common/rolegate.h"

#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QKeyEvent>
#include <QMainWindow>
#include <QMenu>
#include <QPointer>
#include <QStatusBar>
#include <QVariant>

#include "ui/common/formatting.h"

namespace l0l3 {

namespace {

constexpr const char *kBaseToolTip = "l0l3BaseToolTip";
constexpr const char *kRefusal = "l0l3RoleRefusal";
constexpr const char *kWanted = "l0l3Wanted";
constexpr const char *kTracked = "l0l3ShortcutTracked";
constexpr int kExplanationMs = 10000;

// A disabled QAction's shortcut does nothing, silently. On the application (before any widget's
// own filter), this claims a key that is the shortcut of a refused action where that shortcut
// would apply, and says in the window's status bar why nothing happens.
class RefusedShortcutFilter : public QObject
{
public:
    static void track(QAction *action)
    {
        if (!qApp || action->property(kTracked).toBool())
            return;
        action->setProperty(kTracked, true);
        static QPointer<RefusedShortcutFilter> filter;
        if (!filter) {
            filter = new RefusedShortcutFilter(qApp);
            qApp->installEventFilter(filter);
        }
        filter->m_actions.removeAll(nullptr);
        filter->m_actions.append(action);
    }

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() != QEvent::ShortcutOverride && event->type() != QEvent::KeyPress)
            return false;
        auto *focus = qobject_cast<QWidget *>(watched);
        if (!focus)
            return false;
        const QKeySequence pressed(static_cast<QKeyEvent *>(event)->keyCombination());
        for (const QPointer<QAction> &a : std::as_const(m_actions)) {
            if (!a || a->isEnabled() || RoleGate::refusal(a).isEmpty() || !a->shortcuts().contains(pressed)
                || !applies(a, focus, 0))
                continue;
            event->accept();
            if (event->type() == QEvent::KeyPress)
                explain(focus, RoleGate::refusal(a));
            return true;
        }
        return false;
    }

private:
    using QObject::QObject;

    // Whether a's shortcut would trigger with focus having the keyboard, as Qt matches it.
    static bool applies(const QAction *a, const QWidget *focus, int depth)
    {
        for (QObject *o : a->associatedObjects()) {
            auto *w = qobject_cast<QWidget *>(o);
            if (!w)
                continue;
            // A menu's actions apply where the menu is reachable (its menu bar, a parent menu).
            if (auto *menu = qobject_cast<QMenu *>(w)) {
                if (depth < 4 && a->shortcutContext() != Qt::WidgetShortcut
                    && applies(menu->menuAction(), focus, depth + 1))
                    return true;
                continue;
            }
            if (!w->isVisible())
                continue;
            switch (a->shortcutContext()) {
            case Qt::WidgetShortcut:
                if (w == focus)
                    return true;
                break;
            case Qt::WidgetWithChildrenShortcut:
                if (w == focus || w->isAncestorOf(focus))
                    return true;
                break;
            case Qt::WindowShortcut:
                if (w->window() == focus->window())
                    return true;
                break;
            case Qt::ApplicationShortcut: return true;
            }
        }
        return false;
    }

    static void explain(QWidget *focus, const QString &why)
    {
        for (QWidget *w = focus->window(); w; w = w->parentWidget() ? w->parentWidget()->window() : nullptr) {
            if (auto *main = qobject_cast<QMainWindow *>(w)) {
                main->statusBar()->showMessage(Formatting::oneLine(why, 500), kExplanationMs);
                return;
            }
        }
    }

    QList<QPointer<QAction>> m_actions;
};

void apply(QObject *control)
{
    if (!control->property(kBaseToolTip).isValid()) {
        if (auto *a = qobject_cast<QAction *>(control))
            control->setProperty(kBaseToolTip, a->toolTip());
        else if (auto *b = qobject_cast<QAbstractButton *>(control))
            control->setProperty(kBaseToolTip, b->toolTip());
    }
    const QString base = control->property(kBaseToolTip).toString();
    const QString why = control->property(kRefusal).toString();
    const QVariant wanted = control->property(kWanted);
    const bool enabled = why.isEmpty() && (!wanted.isValid() || wanted.toBool());
    const QString tip = why.isEmpty() ? base : base.isEmpty() ? why : base + u'\n' + why;
    if (auto *a = qobject_cast<QAction *>(control)) {
        a->setEnabled(enabled);
        a->setToolTip(tip);
    } else if (auto *b = qobject_cast<QAbstractButton *>(control)) {
        b->setEnabled(enabled);
        b->setToolTip(tip);
    }
}

} // namespace

void RoleGate::refuse(QObject *control, const QString &why)
{
    if (!control)
        return;
    control->setProperty(kRefusal, why);
    apply(control);
    if (auto *a = qobject_cast<QAction *>(control); a && !why.isEmpty())
        RefusedShortcutFilter::track(a);
}

void RoleGate::setWanted(QObject *control, bool wanted)
{
    if (!control)
        return;
    control->setProperty(kWanted, wanted);
    apply(control);
}

QString RoleGate::refusal(const QObject *control)
{
    return control ? control->property(kRefusal).toString() : QString();
}

QString RoleGate::label(const QObject *control)
{
    QString text;
    if (auto *a = qobject_cast<const QAction *>(control))
        text = a->text();
    else if (auto *b = qobject_cast<const QAbstractButton *>(control))
        text = b->text();
    text.remove(u'…');
    // "&&" is a literal ampersand; a single "&" marks the mnemonic.
    text.replace(QLatin1String("&&"), QStringLiteral("\x01"));
    text.remove(u'&');
    text.replace(u'\x01', u'&');
    return text.trimmed();
}

} // namespace l0l3
