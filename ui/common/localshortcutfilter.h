#pragma once

#include <QObject>

class QWidget;

namespace l0l3 {

// Makes a widget handle the shortcuts of its own QActions itself: on
// ShortcutOverride it claims the key, on KeyPress it triggers the action.
// Single-key shortcuts (Enter, Backspace, E, J, K) then work whenever the
// widget has keyboard focus, independently of window activation (offscreen
// tests, a dialog that just closed, a second screen), and never fire twice.
class LocalShortcutFilter : public QObject
{
    Q_OBJECT
public:
    // Installs itself on widget (and is owned by it).
    static LocalShortcutFilter *install(QWidget *widget);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    explicit LocalShortcutFilter(QWidget *widget);
    QWidget *m_widget;
};

} // namespace l0l3
