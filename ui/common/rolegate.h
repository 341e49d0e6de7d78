#pragma once

#include <QList>
#include <QString>

class QObject;

namespace l0l3 {

// What the operator's role may do, on the console's own controls. A control
// (a QAction or a QAbstractButton) is enabled when its page wants it enabled
// (setWanted: a selection, the frozen flag) and the role is not refused it
// (refuse: what Redis ACL DRYRUN answered for the logged-in user). A refused
// control keeps its own tooltip (as it was when RoleGate first saw it: set
// it before, and not after) and adds the reason below it. Pages that
// enable their controls themselves call setWanted instead of setEnabled, so a
// later state change never re-enables what the role may not do. The shortcut
// of a refused QAction, pressed where it would apply, does nothing but show
// the reason in the window's status bar (a disabled action's shortcut would
// otherwise do nothing, silently).
namespace RoleGate {

// why empty: the role may use the control.
void refuse(QObject *control, const QString &why);
void setWanted(QObject *control, bool wanted);
// Why the role may not use the control; empty when it may.
QString refusal(const QObject *control);
// The control's text without mnemonics and ellipsis: what a reason names.
QString label(const QObject *control);

} // namespace RoleGate

} // namespace l0l3
